//! A synthetic catalog: N events of 20 fields each, with nested objects, arrays, enums,
//! formats and references to shared definitions.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

const DOMAINS: usize = 20;

/// Writes a catalog of `n` events under `root`.
pub fn write_catalog(root: &Path, n: usize) -> std::io::Result<()> {
    fs::create_dir_all(root.join("common"))?;
    let mut toml = String::from(
        "[catalog]\nname = \"synthetic\"\nversion = \"1.0.0\"\n\n[defaults]\nexchange = \"bench.events\"\n\n[exchanges.\"bench.events\"]\ntype = \"topic\"\n\n",
    );
    for s in 0..10 {
        toml.push_str(&format!(
            "[services.svc-{s}]\ndescription = \"Service {s}.\"\n"
        ));
    }
    fs::write(root.join("catalog.toml"), toml)?;
    write_json(
        &root.join("common/Money.json"),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Money", "description": "An amount in a currency.", "type": "object",
            "properties": {
                "amount": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "Decimal amount."},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP", "UAH"], "description": "Currency."}
            },
            "required": ["amount", "currency"]
        }),
    )?;
    write_json(
        &root.join("common/Address.json"),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Address", "description": "A postal address.", "type": "object",
            "properties": {
                "street": {"type": "string", "description": "Street and number."},
                "city": {"type": "string", "description": "City."},
                "postcode": {"type": "string", "maxLength": 16, "description": "Postal code."},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166 country."}
            },
            "required": ["street", "city", "country"]
        }),
    )?;
    for i in 0..n {
        let domain = format!("domain{}", i % DOMAINS);
        let name = format!("Thing{i}Happened");
        fs::create_dir_all(root.join(&domain))?;
        write_json(
            &root.join(&domain).join(format!("{name}.v1.json")),
            &event(i, &name),
        )?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    fs::write(
        path,
        serde_json::to_string_pretty(value).unwrap_or_default(),
    )
}

fn event(i: usize, name: &str) -> Value {
    let mut props = serde_json::Map::new();
    let mut example = serde_json::Map::new();
    props.insert(
        "id".into(),
        json!({"type": "string", "format": "uuid", "description": "Entity ID."}),
    );
    example.insert("id".into(), json!("0f8fad5b-d9cb-469f-a165-70867728950e"));
    props.insert(
        "at".into(),
        json!({"type": "string", "format": "date-time", "description": "When it happened."}),
    );
    example.insert("at".into(), json!("2024-05-01T12:00:00Z"));
    props.insert(
        "price".into(),
        json!({"$ref": "../common/Money.json", "description": "Price."}),
    );
    example.insert("price".into(), json!({"amount": "9.99", "currency": "EUR"}));
    props.insert(
        "shipTo".into(),
        json!({"$ref": "../common/Address.json", "description": "Destination."}),
    );
    example.insert(
        "shipTo".into(),
        json!({"street": "1 Main St", "city": "Kyiv", "country": "UA"}),
    );
    props.insert("status".into(), json!({"type": "string", "enum": ["new", "active", "done", format!("s{i}")], "description": "Status."}));
    example.insert("status".into(), json!("active"));
    props.insert(
        "lines".into(),
        json!({
            "type": "array", "description": "Lines.", "minItems": 1,
            "items": {"type": "object", "description": "A line.", "properties": {
                "sku": {"type": "string", "description": "SKU."},
                "quantity": {"type": "integer", "minimum": 1, "description": "Units."},
                "unit": {"type": "string", "enum": ["pcs", "kg", "m"], "description": "Unit."}
            }, "required": ["sku", "quantity"]}
        }),
    );
    example.insert(
        "lines".into(),
        json!([{"sku": "A-1", "quantity": 2, "unit": "pcs"}]),
    );
    props.insert(
        "meta".into(),
        json!({
            "type": "object", "description": "Nested metadata.",
            "properties": {
                "source": {"type": "string", "description": "Source."},
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
                "audit": {"type": "object", "description": "Audit.", "properties": {
                    "by": {"type": "string", "format": "email", "description": "Who."},
                    "reason": {"type": "string", "maxLength": 200, "description": "Why."}
                }}
            }
        }),
    );
    example.insert(
        "meta".into(),
        json!({"source": "web", "tags": ["x"], "audit": {"by": "a@example.com"}}),
    );
    for f in 0..13 {
        let (schema, value) = match f % 4 {
            0 => (
                json!({"type": "string", "description": "Text field."}),
                json!("text"),
            ),
            1 => (
                json!({"type": "integer", "minimum": 0, "description": "Count field."}),
                json!(f),
            ),
            2 => (
                json!({"type": "number", "description": "Ratio field."}),
                json!(0.5),
            ),
            _ => (
                json!({"type": "boolean", "description": "Flag field."}),
                json!(true),
            ),
        };
        props.insert(format!("field{f}"), schema);
        example.insert(format!("field{f}"), value);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "description": format!("Synthetic event {i}."),
        "type": "object",
        "x-event": {"producer": format!("svc-{}", i % 10), "consumers": [format!("svc-{}", (i + 1) % 10)]},
        "properties": props,
        "required": ["id", "at", "status", "lines"],
        "examples": [example]
    })
}
