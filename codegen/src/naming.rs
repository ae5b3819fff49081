//! The Rust identifiers generated code takes from JSON names, derived in one place so that the
//! lint can see a collision before rustc does.
//!
//! Struct fields and enum variants are named by typify; [`field`] and [`variants`] follow its
//! rules (case conversion with `heck`, characters outside identifiers turned into word breaks,
//! a leading non-letter prefixed with `x`, a keyword suffixed with `_`; for variants, a second
//! attempt that spells the dropped characters as `X`). Two JSON names that come out as one
//! identifier would give a struct two fields of the same name, or make typify give up on an
//! enum: [`first_collision`] finds them so the lint can name both.

use heck::{ToPascalCase, ToSnakeCase, ToUpperCamelCase};
use unicode_ident::{is_xid_continue, is_xid_start};

/// A letter case of a generated identifier.
#[derive(Debug, Clone, Copy)]
enum Case {
    Pascal,
    Snake,
}

/// `input` as an identifier of `case`, as typify spells it.
fn sanitize(input: &str, case: Case) -> String {
    let to_case = |s: &str| match case {
        Case::Pascal => s.to_pascal_case(),
        Case::Snake => s.to_snake_case(),
    };
    let out = match input {
        "+1" => "plus1".to_owned(),
        "-1" => "minus1".to_owned(),
        _ => to_case(
            &input
                .replace('\'', "")
                .replace(|c| !is_xid_continue(c), "-"),
        ),
    };
    let out = match out.chars().next() {
        None => to_case("x"),
        Some(c) if is_xid_start(c) => out,
        Some(_) => format!("{}{out}", to_case("x")),
    };
    if typify::accept_as_ident(&out) {
        out
    } else {
        format!("{out}_")
    }
}

/// The field of a struct that holds an open object's undeclared properties.
pub const EXTRA: &str = "extra";

/// The struct field a property named `json` becomes: `userId` → `user_id`, `type` → `type_`.
pub fn field(json: &str) -> String {
    sanitize(json, Case::Snake)
}

/// The enum variant a string value becomes at first: `in-progress` → `InProgress`.
pub fn variant(json: &str) -> String {
    sanitize(json, Case::Pascal)
}

/// The variants a string `enum` becomes, in order; `None` when no spelling makes them
/// distinct (typify cannot generate the enum).
pub fn variants(values: &[&str]) -> Option<Vec<String>> {
    let distinct =
        |names: &[String]| first_collision(names.iter().map(|n| (n.clone(), ()))).is_none();
    let plain: Vec<String> = values.iter().map(|v| variant(v)).collect();
    if distinct(&plain) {
        return Some(plain);
    }
    let spelled: Vec<String> = values
        .iter()
        .map(|v| {
            sanitize(
                &v.replace(|c: char| c == '_' || !is_xid_continue(c), "X"),
                Case::Pascal,
            )
        })
        .collect();
    distinct(&spelled).then_some(spelled)
}

/// Whether an event name is spelled as the Rust type generated for it (`UserRegistered`, not
/// `USER_REGISTERED` or `HTTPRequest`).
pub fn is_type_name(name: &str) -> bool {
    name.to_upper_camel_case() == name
}

/// The type name an event name is generated as: `HTTPRequest` → `HttpRequest`.
pub fn type_name(name: &str) -> String {
    name.to_upper_camel_case()
}

/// The first identifier two sources share, with both sources, in the order given.
pub fn first_collision<S: Clone>(
    names: impl IntoIterator<Item = (String, S)>,
) -> Option<(String, S, S)> {
    let mut seen: std::collections::HashMap<String, S> = std::collections::HashMap::new();
    for (ident, source) in names {
        if let Some(first) = seen.get(&ident) {
            return Some((ident, first.clone(), source));
        }
        seen.insert(ident, source);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_spelled_as_typify_spells_them() {
        for (json, rust) in [
            ("userId", "user_id"),
            ("user_id", "user_id"),
            ("type", "type_"),
            ("Type", "type_"),
            ("self", "self_"),
            ("1st", "x1st"),
            ("@timestamp", "timestamp"),
            ("kebab-case", "kebab_case"),
            ("a.b", "a_b"),
            ("日本", "日本"),
            ("", "x"),
        ] {
            assert_eq!(field(json), rust, "{json}");
        }
    }

    #[test]
    fn variants_fall_back_to_spelling_dropped_characters() {
        assert_eq!(
            variants(&["in-progress", "done"]).unwrap(),
            ["InProgress", "Done"]
        );
        // `a-b` and `A_B` are both `AB` at first; spelled out they differ.
        assert_eq!(variants(&["a-b", "A_B"]).unwrap(), ["AXb", "Axb"]);
        assert_eq!(variants(&["a b", "a-b"]), None);
    }

    #[test]
    fn collisions_name_both_sources_in_order() {
        let names = ["fooBar", "baz", "foo_bar"].map(|n| (field(n), n));
        assert_eq!(
            first_collision(names),
            Some(("foo_bar".to_owned(), "fooBar", "foo_bar"))
        );
        assert_eq!(
            first_collision([("a".to_owned(), 1), ("b".to_owned(), 2)]),
            None
        );
    }

    #[test]
    fn event_names_must_be_their_own_type_name() {
        assert!(is_type_name("UserRegistered"));
        assert!(is_type_name("OAuthTokenIssued"));
        assert!(!is_type_name("CLOSE"));
        assert_eq!(type_name("CLOSE"), "Close");
        assert!(!is_type_name("HTTPRequest"));
        assert_eq!(type_name("HTTPRequest"), "HttpRequest");
    }
}
