//! Payload validation against event schemas, with each schema compiled once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonschema::Validator;
use serde_json::Value;

/// Compiled validators by message type.
#[derive(Default)]
pub(crate) struct Validators {
    compiled: RwLock<HashMap<String, Arc<Validator>>>,
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validators").finish_non_exhaustive()
    }
}

/// Compiles `schema` (the resolved JSON Schema text of an event), asserting formats.
pub(crate) fn compile(schema: &str) -> Result<Validator, String> {
    let schema: Value = serde_json::from_str(schema).map_err(|e| e.to_string())?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
}

impl Validators {
    /// The validator of `message_type`, compiling `schema` on first use.
    pub(crate) fn get(&self, message_type: &str, schema: &str) -> Result<Arc<Validator>, String> {
        if let Some(v) = self
            .compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(message_type)
        {
            return Ok(v.clone());
        }
        let v = Arc::new(compile(schema)?);
        self.compiled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(message_type.to_owned(), v.clone());
        Ok(v)
    }
}

/// The first validation error of `value`: its JSON pointer and message.
pub(crate) fn first_error(validator: &Validator, value: &Value) -> Option<(String, String)> {
    validator
        .iter_errors(value)
        .next()
        .map(|e| (e.instance_path().to_string(), e.to_string()))
}
