//! Payload schemas for other languages: each event version's bundled, self-contained schema
//! without schemactl's `x-event` extension, so that validators in strict mode (ajv) accept it.

use std::path::PathBuf;

use crate::model::Catalog;
use crate::rust::Files;

/// `<domain>/<EventName>.v<N>.json`, one per event version.
pub fn payload_schemas(catalog: &Catalog) -> Files {
    catalog
        .versions()
        .map(|v| {
            let mut schema = v.resolved.clone();
            if let Some(object) = schema.as_object_mut() {
                object.remove("x-event");
            }
            let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            text.push('\n');
            (
                PathBuf::from(&v.domain).join(format!("{}.v{}.json", v.name, v.version)),
                text,
            )
        })
        .collect()
}
