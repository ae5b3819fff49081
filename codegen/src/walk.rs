//! Schema-aware traversal: visits subschemas only, never data (`enum`, `const`, `examples`,
//! `default` and `x-*` extensions are values, not schemas, whatever they contain).

use serde_json::Value;

use crate::source::escape_segment;

/// Keywords whose value is one subschema.
pub const SCHEMA_KEYWORDS: &[&str] = &[
    "additionalProperties",
    "propertyNames",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];

/// Keywords whose value is an array of subschemas.
pub const SCHEMA_ARRAY_KEYWORDS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// Keywords whose value is a map of subschemas.
pub const SCHEMA_MAP_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// The direct subschemas of `schema`, each with the pointer suffix that reaches it.
pub fn children(schema: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    let Value::Object(map) = schema else {
        return out;
    };
    for (key, value) in map {
        let k = escape_segment(key);
        if SCHEMA_KEYWORDS.contains(&key.as_str()) {
            out.push((format!("/{k}"), value));
        } else if SCHEMA_ARRAY_KEYWORDS.contains(&key.as_str()) {
            if let Value::Array(items) = value {
                for (i, item) in items.iter().enumerate() {
                    out.push((format!("/{k}/{i}"), item));
                }
            }
        } else if SCHEMA_MAP_KEYWORDS.contains(&key.as_str()) {
            if let Value::Object(entries) = value {
                for (name, item) in entries {
                    out.push((format!("/{k}/{}", escape_segment(name)), item));
                }
            }
        } else if key == "items" {
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        out.push((format!("/items/{i}"), item));
                    }
                }
                other => out.push(("/items".to_owned(), other)),
            }
        } else if key == "dependencies" {
            // draft-07: each entry is a schema or an array of property names.
            if let Value::Object(entries) = value {
                for (name, item) in entries {
                    if !item.is_array() {
                        out.push((format!("/dependencies/{}", escape_segment(name)), item));
                    }
                }
            }
        }
    }
    out
}

/// Visits `schema` and every subschema below it, pre-order, with its JSON pointer.
pub fn visit<'a>(schema: &'a Value, pointer: &str, f: &mut dyn FnMut(&str, &'a Value)) {
    visit_with_depth(schema, pointer, 0, &mut |p, _, node| f(p, node));
}

/// Like [`visit`], also passing how many subschemas deep each node is (the root is 0).
pub fn visit_with_depth<'a>(
    schema: &'a Value,
    pointer: &str,
    depth: usize,
    f: &mut dyn FnMut(&str, usize, &'a Value),
) {
    f(pointer, depth, schema);
    for (suffix, child) in children(schema) {
        visit_with_depth(child, &format!("{pointer}{suffix}"), depth + 1, f);
    }
}

/// Applies `f` to every schema object below and including `schema`, allowing edits.
/// `f` runs on a node before its children are visited.
pub fn visit_mut(schema: &mut Value, f: &mut dyn FnMut(&mut serde_json::Map<String, Value>)) {
    visit_mut_in(schema, None, &mut |m, _| f(m));
}

/// An edit of one schema object, given the keyword it sits under.
pub type SchemaEditor<'f> = dyn FnMut(&mut serde_json::Map<String, Value>, Option<&str>) + 'f;

/// Like [`visit_mut`], telling `f` the keyword each object schema sits under (`None` for the
/// root): `Some("anyOf")` for an alternative written inline, `Some("properties")` for a
/// property's schema.
pub fn visit_mut_in(schema: &mut Value, parent: Option<&str>, f: &mut SchemaEditor<'_>) {
    let Value::Object(map) = schema else {
        return;
    };
    f(map, parent);
    for (key, value) in map.iter_mut() {
        let key = key.as_str();
        if SCHEMA_KEYWORDS.contains(&key) {
            visit_mut_in(value, Some(key), f);
        } else if SCHEMA_ARRAY_KEYWORDS.contains(&key) || key == "items" {
            match value {
                Value::Array(items) => items.iter_mut().for_each(|v| visit_mut_in(v, Some(key), f)),
                other if key == "items" => visit_mut_in(other, Some(key), f),
                _ => {}
            }
        } else if SCHEMA_MAP_KEYWORDS.contains(&key) || key == "dependencies" {
            if let Value::Object(entries) = value {
                entries
                    .values_mut()
                    .filter(|v| !v.is_array())
                    .for_each(|v| visit_mut_in(v, Some(key), f));
            }
        }
    }
}

/// Resolves a JSON pointer (RFC 6901) inside `value`.
pub fn lookup<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    value.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_schemas_not_data() {
        let schema = json!({
            "properties": {"a/b": {"type": "string"}, "c": {"items": [{"type": "null"}]}},
            "enum": [{"$ref": "not-a-schema"}],
            "default": {"properties": {}},
            "x-event": {"properties": {}},
            "anyOf": [true, {"not": {}}]
        });
        let mut seen = Vec::new();
        visit(&schema, "", &mut |p, _| seen.push(p.to_owned()));
        assert_eq!(
            seen,
            [
                "",
                "/properties/a~1b",
                "/properties/c",
                "/properties/c/items/0",
                "/anyOf/0",
                "/anyOf/1",
                "/anyOf/1/not"
            ]
        );
    }
}
