//! The standard envelope's JSON Schema, derived from the runtime's Rust type with schemars,
//! as a generated file beside the Rust tree.

use std::path::PathBuf;

use schemactl_runtime::Envelope;

use crate::model::Catalog;
use crate::rust::Files;

/// Name of the file under `<out>/envelope/`.
pub const SCHEMA_FILE: &str = "envelope.schema.json";

/// `envelope.schema.json`: the envelope every payload travels in under the `standard`
/// profile, with `payload` left open (each event's schema constrains it); and
/// `dialects/<name>.schema.json`, the body of a message in each dialect the catalog's events
/// travel in (JSON Schema 2020-12, the payload left open).
pub fn files(catalog: &Catalog) -> Files {
    let mut files = Files::from([(PathBuf::from(SCHEMA_FILE), schema_text())]);
    let Ok(wire) = catalog.wire() else {
        return files;
    };
    let used: std::collections::BTreeSet<&str> = wire
        .spec()
        .events
        .iter()
        .map(|e| e.dialect.as_str())
        .collect();
    for name in used {
        if let Some(dialect) = wire.dialect(name) {
            let mut text =
                serde_json::to_string_pretty(&dialect.envelope_schema(name)).unwrap_or_default();
            text.push('\n');
            files.insert(
                PathBuf::from("dialects").join(format!("{name}.schema.json")),
                text,
            );
        }
    }
    files
}

/// The envelope's JSON Schema, titled `Envelope`.
pub fn schema() -> serde_json::Value {
    let mut schema = Envelope::json_schema();
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), "Envelope".into());
    }
    schema
}

/// [`schema`] as the text of `envelope.schema.json`.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}
