//! Bad input never panics: truncated, non-UTF-8, huge, deeply nested and self-referencing
//! schemas all end in diagnostics (or, for valid odd shapes, in generated code).

use std::fs;
use std::path::Path;

use schemactl_codegen::{load, rust, LoadOptions};

const NESTING: usize = 60;
const TOML: &str = "[catalog]\nname = \"t\"\nversion = \"1\"\n[defaults]\nexchange = \"ev\"\n[exchanges.ev]\ntype = \"topic\"\n[services.a]\n";

fn event(body: &str) -> String {
    format!(
        r#"{{"title": "Thing", "description": "d", "x-event": {{"producer": "a"}}, "examples": [{{}}], {body}}}"#
    )
}

/// Loads a one-event catalog and renders it; returns the diagnostics as text.
fn run(schema: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("catalog.toml"), TOML).unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    fs::write(dir.path().join("d/Thing.v1.json"), schema).unwrap();
    outcome(dir.path())
}

fn outcome(root: &Path) -> String {
    let result = std::panic::catch_unwind(|| match load(root, &LoadOptions::default()) {
        Err(d) => d.to_string(),
        Ok(c) => match rust::render(&c) {
            Err(d) => d.to_string(),
            Ok(files) => format!("ok: {} files", files.len()),
        },
    });
    result.unwrap_or_else(|_| panic!("panicked on input in {}", root.display()))
}

#[test]
fn truncated_documents() {
    let full =
        event(r#""type": "object", "properties": {"a": {"type": "string", "description": "x"}}"#);
    for cut in (1..full.len()).step_by(7) {
        let text = run(&full.as_bytes()[..cut]);
        assert!(text.contains("error["), "cut at {cut}: {text}");
    }
}

#[test]
fn non_utf8_and_binary() {
    let text = run(b"{\"title\": \"Th\xc3\x28ing\"}");
    assert!(
        text.contains("error[io]") && text.contains("not UTF-8"),
        "{text}"
    );
    let text = run(&[0u8, 159, 146, 150, 255]);
    assert!(text.contains("error[io]"), "{text}");
}

#[test]
fn deeply_nested() {
    // Deeper than serde_json's recursion limit: a syntax diagnostic, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = run(deep.as_bytes());
    assert!(text.contains("error[json-syntax]"), "{text}");
    // Nested schemas within the limit still generate.
    let mut schema = r#"{"type": "string", "description": "leaf"}"#.to_owned();
    for i in 0..NESTING {
        schema = format!(
            r#"{{"type": "object", "description": "level {i}", "properties": {{"n": {schema}}}}}"#
        );
    }
    let text = run(event(&format!(
        r#""type": "object", "properties": {{"root": {schema}}}"#
    ))
    .as_bytes());
    assert!(text.contains("error[nesting-depth]"), "{text}");
}

#[test]
fn huge_files() {
    let mut props = String::new();
    for i in 0..20_000 {
        props.push_str(&format!(
            r#""f{i}": {{"type": "integer", "description": "f"}},"#
        ));
    }
    props.pop();
    let text = run(event(&format!(r#""type": "object", "properties": {{{props}}}"#)).as_bytes());
    assert!(text.starts_with("ok"), "{}", &text[..text.len().min(300)]);
    let big = vec![b' '; 17 * 1024 * 1024];
    let text = run(&big);
    assert!(text.contains("larger than"), "{text}");
}

#[test]
fn self_references() {
    for body in [
        r##""$ref": "#""##,
        r##""$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}"##,
        r##""type": "object", "properties": {"me": {"$ref": "#", "description": "x"}}"##,
        r##""type": "object", "properties": {"n": {"$ref": "#/$defs/Node", "description": "x"}}, "$defs": {"Node": {"type": "object", "description": "n", "properties": {"next": {"$ref": "#/$defs/Node"}}}}"##,
        r##""$ref": "Thing.v1.json""##,
        r##""type": "object", "properties": {"a": {"$ref": "#/properties/a", "description": "x"}}"##,
    ] {
        let text = run(event(body).as_bytes());
        assert!(
            text.starts_with("ok") || text.contains("error["),
            "{body}: {text}"
        );
    }
    let text =
        run(event(r##""$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}"##).as_bytes());
    assert!(text.contains("error[ref-cycle]"), "{text}");
}

#[test]
fn odd_but_valid_json() {
    for body in [
        "true",
        "false",
        "null",
        "[]",
        "1e400",
        r#""text""#,
        "{}",
        r#"{"title": 5}"#,
        r#"{"x-event": []}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "examples": "no"}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "properties": {"a": {"enum": [1, "a", null]}}}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "type": ["object", "array", "null"]}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "properties": {"a": {"not": {"not": {}}}}}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "allOf": [{"type": "string"}, {"type": "integer"}]}"#,
        r#"{"title": "Thing", "x-event": {"producer": "a"}, "properties": {"a": {"type": "integer", "default": "x", "description": "d"}}}"#,
    ] {
        let text = run(body.as_bytes());
        assert!(!text.is_empty(), "{body}");
    }
}

/// Loads a one-event catalog whose event references the shared file `common/S.json`, holding
/// `shared`, and renders it.
fn run_shared(shared: &str) -> String {
    run_shared_files(&[("S.json", shared)])
}

/// Like [`run_shared`], with more files in `common/`.
fn run_shared_files(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("catalog.toml"), TOML).unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    fs::create_dir(dir.path().join("common")).unwrap();
    let body = r#""type": "object", "properties": {"s": {"$ref": "../common/S.json", "description": "x"}}"#;
    fs::write(dir.path().join("d/Thing.v1.json"), event(body)).unwrap();
    for (name, text) in files {
        fs::write(dir.path().join("common").join(name), text).unwrap();
    }
    outcome(dir.path())
}

#[test]
fn odd_shared_definitions() {
    for shared in [
        r##"{"oneOf": [{"$ref": "#"}, {"type": "string"}]}"##,
        r##"{"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]}"##,
        r##"{"allOf": [{"type": "string"}, {"type": "integer"}]}"##,
        r##"{"enum": []}"##,
        r##"{"type": "object", "properties": {"x": {"$ref": "../d/Thing.v1.json"}}}"##,
    ] {
        let text = run_shared(shared);
        assert!(
            text.starts_with("ok") || text.contains("error["),
            "{shared}: {text}"
        );
    }
    let text = run_shared(r##"{"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#"}}}"##);
    assert!(text.contains("error[ref-cycle]"), "{text}");
    // Enum values that typify cannot tell apart are found by the lint, at their pointer.
    let text = run_shared(r#"{"type": "string", "enum": ["a", "A"]}"#);
    assert!(
        text.contains("common/S.json") && text.contains("error[name-collision] at /enum"),
        "{text}"
    );
    // typify gives up on the shared type space: the diagnostic names the shared file, not
    // every event that references it.
    let text = run_shared(
        r#"{"oneOf": [{"type": "string", "enum": ["x"]}, {"type": "string", "enum": ["X"]}]}"#,
    );
    assert!(
        text.contains("common/S.json") && text.contains("error[name-collision] at /oneOf"),
        "{text}"
    );
    let text = run_shared(r#"{"type": "string", "enum": [1]}"#);
    assert!(
        text.contains("error[codegen]")
            && text.contains("common/S.json")
            && text.contains("shared definitions")
            && !text.contains("Thing.v1.json"),
        "{text}"
    );
}

#[test]
fn type_names_never_merge() {
    // `S.kind` is an inline enum typify names `SKind`, the name of the definition in
    // `SKind.json`: in one type space typify would make them one type.
    let text = run_shared_files(&[
        (
            "S.json",
            r#"{"type": "object", "properties": {"kind": {"enum": ["home", "work"]}, "k": {"$ref": "SKind.json"}}}"#,
        ),
        (
            "SKind.json",
            r#"{"type": "object", "properties": {"n": {"type": "integer"}}}"#,
        ),
    ]);
    assert!(
        text.contains("error[codegen]")
            && text.contains("both generate a Rust type named `SKind`")
            && text.contains("common/SKind.json")
            && text.contains("common/S.json")
            && text.contains("give it a `title`"),
        "{text}"
    );
    // With a title the inline enum has a name of its own.
    let text = run_shared_files(&[
        (
            "S.json",
            r#"{"type": "object", "properties": {"kind": {"title": "Place", "enum": ["home", "work"]}, "k": {"$ref": "SKind.json"}}}"#,
        ),
        (
            "SKind.json",
            r#"{"type": "object", "properties": {"n": {"type": "integer"}}}"#,
        ),
    ]);
    assert!(text.starts_with("ok"), "{text}");
    // Within one event: the inline `kind` enum of `Thing` and the definition `ThingKind`.
    let text = run(event(
        r##""type": "object", "properties": {"kind": {"enum": ["a", "b"], "description": "x"}, "k": {"$ref": "#/$defs/ThingKind", "description": "x"}}, "$defs": {"ThingKind": {"type": "object", "description": "x", "properties": {"n": {"type": "integer", "description": "x"}}}}"##,
    )
    .as_bytes());
    assert!(
        text.contains("error[codegen] at /$defs/ThingKind")
            && text.contains("the definition `ThingKind` (d/Thing.v1.json#/$defs/ThingKind) and the event's schema both generate a Rust type named `ThingKind`"),
        "{text}"
    );
}
