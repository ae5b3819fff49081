//! The field table of an event version, read by the docs' field pages and by `check`: every
//! property of its bundled schema, nested ones flattened to paths (`lines[].sku`), with the
//! Rust type the generator gives it, whether it is required, its constraints and its
//! description.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToUpperCamelCase;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{EventVersion, SharedDefinitions};
use crate::source::escape_segment;

/// One row of a field table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Path from the payload root: `customer.address.city`, `lines[].sku`.
    pub path: String,
    /// Nesting depth (0 for top-level properties).
    pub depth: usize,
    /// JSON pointer of the property's schema in the bundled schema, e.g.
    /// `/definitions/Line/properties/sku`.
    pub pointer: String,
    /// The Rust type of the generated field, as typify names it.
    pub rust_type: String,
    /// Whether the property is required by its object.
    pub required: bool,
    /// Constraints in schema terms: `format: uuid`, `maxLength: 64`, `enum: a | b`.
    pub constraints: Vec<String>,
    /// The property's description.
    pub description: Option<String>,
}

/// Nesting followed at most; deeper (or recursive) fields end the path.
const MAX_DEPTH: usize = 8;

/// The field table of `schema` (a bundled event schema whose references are `#` or
/// `#/definitions/<Name>`); `type_name` is the Rust name of its root type.
pub fn fields(schema: &Value, type_name: &str) -> Vec<Field> {
    table(schema, type_name, &Names::new())
}

/// The field table of the event version `v`, whose catalog's shared definitions are `shared`.
/// A shared definition the event's bundle names otherwise (because a definition of the event's
/// own has its name) shows as its type in the `shared` module (`shared::Money`).
pub fn fields_of(v: &EventVersion, shared: &SharedDefinitions) -> Vec<Field> {
    let names: Names = shared
        .used_by(v)
        .filter_map(|(local, _, shared)| {
            let (local, shared) = (local.to_upper_camel_case(), shared.to_upper_camel_case());
            (local != shared).then(|| (local, format!("shared::{shared}")))
        })
        .collect();
    table(&v.resolved, &v.rust.type_name, &names)
}

/// Rust names of definitions that differ from the bundle's, by the bundle's (upper camel case).
type Names = BTreeMap<String, String>;

fn table(schema: &Value, type_name: &str, names: &Names) -> Vec<Field> {
    let mut rows = Vec::new();
    let types = crate::rust::field_types(schema, names).unwrap_or_default();
    let mut table = Table {
        root: schema,
        rows: &mut rows,
        on_path: BTreeSet::from([String::new()]),
        names,
        types: &types,
    };
    if let Some(obj) = schema.as_object() {
        table.object(obj, "", "", type_name, 0);
    }
    rows
}

struct Table<'a> {
    root: &'a Value,
    rows: &'a mut Vec<Field>,
    /// Pointers of the definitions being expanded on the current path (`""` for the root),
    /// so recursive types end.
    on_path: BTreeSet<String>,
    /// Definitions whose Rust name is not the bundle's.
    names: &'a Names,
    /// The type of each field of each struct, from typify's type space (see
    /// [`crate::rust::field_types`]); a field not found there is predicted from its schema.
    types: &'a BTreeMap<String, BTreeMap<String, String>>,
}

impl<'a> Table<'a> {
    fn object(
        &mut self,
        obj: &'a Map<String, Value>,
        at: &str,
        prefix: &str,
        parent: &str,
        depth: usize,
    ) {
        let Some(Value::Object(props)) = obj.get("properties") else {
            return;
        };
        let required: BTreeSet<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let is_required = required.contains(name.as_str());
            let generated = self
                .types
                .get(parent)
                .and_then(|fields| fields.get(&crate::naming::field(name)));
            // The struct the property's value (or its items) becomes, named as generated.
            let hint = generated
                .map(|t| innermost(t).to_owned())
                .filter(|t| self.types.contains_key(t))
                .unwrap_or_else(|| format!("{parent}{}", name.to_upper_camel_case()));
            let rust_type = match generated {
                Some(t) => t.clone(),
                None => {
                    let t = type_of(prop, &hint, self.names);
                    if !is_required && !t.starts_with("Option<") && !has_default(prop) {
                        format!("Option<{t}>")
                    } else {
                        t
                    }
                }
            };
            let pointer = format!("{at}/properties/{}", escape_segment(name));
            let (target, def, target_at) = self.deref(prop, &pointer);
            self.rows.push(Field {
                path: path.clone(),
                depth,
                pointer,
                rust_type,
                required: is_required,
                constraints: constraints(target),
                description: description(prop).or_else(|| description(target)),
            });
            self.nested(target, def, &target_at, &path, &hint, depth);
        }
    }

    /// Descends into an object, or into the items of an array, under `path`.
    #[allow(clippy::too_many_arguments)]
    fn nested(
        &mut self,
        schema: &'a Value,
        def: Option<String>,
        at: &str,
        path: &str,
        hint: &str,
        depth: usize,
    ) {
        if depth + 1 >= MAX_DEPTH {
            return;
        }
        // A definition (or the root, `#`) already being expanded on this path ends it.
        let tracked = def.is_some() || at.is_empty();
        if tracked && !self.on_path.insert(at.to_owned()) {
            return;
        }
        // A struct the type space has is the one generated; otherwise the name is predicted.
        let known = self.types.contains_key(hint);
        let name = match def.as_deref() {
            Some(def) if !known => def,
            _ => hint,
        }
        .to_owned();
        if let Some(obj) = schema.as_object() {
            if obj.contains_key("properties") {
                self.object(obj, at, path, &name, depth + 1);
            } else if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
                let (target, item_def, item_at) = self.deref(items, &format!("{at}/items"));
                let item_hint = if known {
                    name.clone()
                } else {
                    format!("{name}Item")
                };
                let item_path = format!("{path}[]");
                self.nested(target, item_def, &item_at, &item_path, &item_hint, depth);
            }
        }
        if tracked {
            self.on_path.remove(at);
        }
    }

    /// Follows a `$ref` to a definition of the bundle: the target, the definition's name and
    /// the target's pointer (`at` when there is no reference).
    fn deref(&self, schema: &'a Value, at: &str) -> (&'a Value, Option<String>, String) {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return (schema, None, at.to_owned());
        };
        let pointer = reference.strip_prefix('#').unwrap_or(reference);
        match self.root.pointer(pointer) {
            Some(target) => (
                target,
                definition_name(reference, self.names),
                pointer.to_owned(),
            ),
            None => (schema, None, at.to_owned()),
        }
    }
}

/// The innermost type of `rust_type`: `Line` for `Option<Vec<Line>>`.
fn innermost(rust_type: &str) -> &str {
    let mut t = rust_type;
    while let Some(inner) = ["Option<", "Vec<", "Box<"]
        .iter()
        .find_map(|w| t.strip_prefix(w).and_then(|t| t.strip_suffix('>')))
    {
        t = inner;
    }
    t
}

fn description(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn has_default(schema: &Value) -> bool {
    schema.get("default").is_some()
}

fn definition_name(reference: &str, names: &Names) -> Option<String> {
    let name = reference
        .strip_prefix("#/definitions/")
        .or_else(|| reference.strip_prefix("#/$defs/"))?
        .to_upper_camel_case();
    Some(names.get(&name).cloned().unwrap_or(name))
}

/// The Rust type typify generates for `schema`; `hint` names inline types that need one
/// (the parent type's name followed by the property's).
pub fn rust_type(schema: &Value, hint: &str) -> String {
    type_of(schema, hint, &Names::new())
}

/// [`rust_type`], with definitions renamed by `names`.
fn type_of(schema: &Value, hint: &str, names: &Names) -> String {
    let Some(obj) = schema.as_object() else {
        return match schema {
            Value::Bool(false) => "!".to_owned(),
            _ => "serde_json::Value".to_owned(),
        };
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        return definition_name(reference, names).unwrap_or_else(|| "Self".to_owned());
    }
    if ["enum", "oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return hint.to_owned();
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
    let inner = match non_null.as_slice() {
        ["string"] => string_type(obj, hint),
        ["integer"] => integer_type(obj),
        ["number"] => "f64".to_owned(),
        ["boolean"] => "bool".to_owned(),
        ["array"] => {
            let item = obj
                .get("items")
                .map(|i| type_of(i, &format!("{hint}Item"), names))
                .unwrap_or_else(|| "serde_json::Value".to_owned());
            format!("Vec<{item}>")
        }
        ["object"] if obj.contains_key("properties") => hint.to_owned(),
        ["object"] => match obj.get("additionalProperties") {
            Some(v @ Value::Object(_)) => {
                format!(
                    "HashMap<String, {}>",
                    type_of(v, &format!("{hint}Value"), names)
                )
            }
            _ => "serde_json::Map<String, serde_json::Value>".to_owned(),
        },
        [] => "serde_json::Value".to_owned(),
        _ => hint.to_owned(),
    };
    if types.contains(&"null") && !non_null.is_empty() {
        format!("Option<{inner}>")
    } else {
        inner
    }
}

fn string_type(obj: &Map<String, Value>, hint: &str) -> String {
    if ["pattern", "minLength", "maxLength"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return hint.to_owned();
    }
    match obj.get("format").and_then(Value::as_str) {
        Some("uuid") => "uuid::Uuid",
        Some("date-time") => "chrono::DateTime<chrono::Utc>",
        Some("date") => "chrono::NaiveDate",
        Some("ipv4") => "std::net::Ipv4Addr",
        Some("ipv6") => "std::net::Ipv6Addr",
        _ => "String",
    }
    .to_owned()
}

fn integer_type(obj: &Map<String, Value>) -> String {
    let format = obj.get("format").and_then(Value::as_str);
    if let Some(
        f @ ("int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64"),
    ) = format
    {
        return f.replace("int", "i").replace("ui", "u");
    }
    let min = obj
        .get("minimum")
        .or_else(|| obj.get("exclusiveMinimum"))
        .and_then(Value::as_f64);
    if min.is_some_and(|m| m >= 0.0) {
        "u64".to_owned()
    } else {
        "i64".to_owned()
    }
}

/// The constraints of `schema`, one `keyword: value` string each.
pub fn constraints(schema: &Value) -> Vec<String> {
    let Some(obj) = schema.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in [
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "const",
        "default",
    ] {
        if let Some(v) = obj.get(key) {
            out.push(format!("{key}: {}", scalar(v)));
        }
    }
    if let Some(Value::Array(values)) = obj.get("enum") {
        let shown: Vec<String> = values.iter().map(scalar).collect();
        out.push(format!("enum: {}", shown.join(" | ")));
    }
    if let Some(Value::Array(items)) = obj.get("items").and_then(|i| i.get("enum")) {
        let shown: Vec<String> = items.iter().map(scalar).collect();
        out.push(format!("items enum: {}", shown.join(" | ")));
    }
    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.push("additionalProperties: false".to_owned());
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_arrays_and_definitions_become_paths() {
        let schema = json!({
            "title": "Order",
            "type": "object",
            "required": ["id", "lines"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "description": "The id."},
                "note": {"type": ["string", "null"], "maxLength": 10},
                "lines": {"type": "array", "items": {"$ref": "#/definitions/Line"}},
                "next": {"$ref": "#"}
            },
            "definitions": {
                "Line": {
                    "type": "object",
                    "required": ["sku"],
                    "properties": {
                        "sku": {"type": "string", "description": "Stock unit."},
                        "qty": {"type": "integer", "minimum": 1},
                        "kind": {"enum": ["a", "b"]}
                    }
                }
            }
        });
        let rows = fields(&schema, "Order");
        let shown: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|f| (f.path.as_str(), f.rust_type.as_str(), f.required))
            .collect();
        assert_eq!(
            shown,
            [
                ("id", "uuid::Uuid", true),
                ("note", "Option<OrderNote>", false),
                ("lines", "Vec<Line>", true),
                ("lines[].sku", "String", true),
                // As generated: a positive minimum makes typify choose a non-zero integer.
                ("lines[].qty", "Option<std::num::NonZeroU64>", false),
                ("lines[].kind", "Option<LineKind>", false),
                ("next", "Option<Box<Order>>", false),
            ]
        );
        assert_eq!(rows[0].constraints, ["format: uuid"]);
        assert_eq!(rows[0].description.as_deref(), Some("The id."));
        assert_eq!(rows[5].constraints, ["enum: a | b"]);
        assert_eq!(rows[3].depth, 1);
        assert_eq!(rows[3].pointer, "/definitions/Line/properties/sku");
        assert_eq!(rows[1].pointer, "/properties/note");
    }

    #[test]
    fn recursive_definitions_end() {
        let schema = json!({
            "type": "object",
            "properties": {"tree": {"$ref": "#/definitions/Node"}},
            "definitions": {"Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
            }}}
        });
        let rows = fields(&schema, "T");
        let paths: Vec<&str> = rows.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["tree", "tree.children"]);
    }
}
