//! Checks that an event's example payloads are real: each validates against the event's
//! schema, deserializes into the generated type and serializes back to the same value.

use chrono::DateTime;
use serde_json::Value;

use crate::{Event, EventVisitor};

/// Whether two JSON values are equal, comparing strings that are both RFC 3339 timestamps
/// as instants (`…T08:00:00.000Z` and `…T08:00:00Z` are the same `date-time`).
pub fn same_json_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json_value(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json_value(v, w))
        }
        (Value::String(x), Value::String(y)) => {
            x == y
                || matches!(
                    (DateTime::parse_from_rfc3339(x), DateTime::parse_from_rfc3339(y)),
                    (Ok(p), Ok(q)) if p == q
                )
        }
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Verifies every example of `E`; returns how many were checked.
pub fn verify_examples<E: Event>() -> Result<usize, String> {
    let schema: Value = serde_json::from_str(E::SCHEMA)
        .map_err(|e| format!("{}: SCHEMA is not JSON: {e}", E::MESSAGE_TYPE))?;
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("{}: schema does not compile: {e}", E::MESSAGE_TYPE))?;
    for (i, text) in E::EXAMPLES.iter().enumerate() {
        let original: Value = serde_json::from_str(text)
            .map_err(|e| format!("{} example {i}: not JSON: {e}", E::MESSAGE_TYPE))?;
        if let Some(error) = validator.iter_errors(&original).next() {
            return Err(format!(
                "{} example {i} is invalid at {}: {error}",
                E::MESSAGE_TYPE,
                error.instance_path()
            ));
        }
        let typed: E = serde_json::from_value(original.clone())
            .map_err(|e| format!("{} example {i} does not deserialize: {e}", E::MESSAGE_TYPE))?;
        let again = serde_json::to_value(&typed)
            .map_err(|e| format!("{} example {i} does not serialize: {e}", E::MESSAGE_TYPE))?;
        if !same_json_value(&original, &again) {
            return Err(format!(
                "{} example {i} changes in a round trip:\n  before: {original}\n  after:  {again}",
                E::MESSAGE_TYPE
            ));
        }
    }
    Ok(E::EXAMPLES.len())
}

/// Runs [`verify_examples`] on every event version it visits, e.g. through a generated
/// catalog's `visit_events`, and records the outcome.
#[derive(Debug, Default)]
pub struct ExampleChecker {
    /// Message types visited, in order.
    pub message_types: Vec<&'static str>,
    /// Routing keys visited, in order.
    pub routing_keys: Vec<&'static str>,
    /// Examples verified.
    pub examples: usize,
    /// Message types that have no example.
    pub without_examples: Vec<&'static str>,
    /// One message per event version whose examples failed.
    pub failures: Vec<String>,
}

impl EventVisitor for ExampleChecker {
    fn visit<E: Event>(&mut self) {
        self.message_types.push(E::MESSAGE_TYPE);
        self.routing_keys.push(E::ROUTING_KEY);
        match verify_examples::<E>() {
            Ok(0) => self.without_examples.push(E::MESSAGE_TYPE),
            Ok(n) => self.examples += n,
            Err(e) => self.failures.push(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_compare_as_instants() {
        assert!(same_json_value(
            &json!({"t": "2024-01-15T08:00:00.000Z"}),
            &json!({"t": "2024-01-15T08:00:00Z"})
        ));
        assert!(same_json_value(
            &json!(["2024-01-15T10:00:00+02:00"]),
            &json!(["2024-01-15T08:00:00Z"])
        ));
        assert!(!same_json_value(
            &json!({"t": "2024-01-15T08:00:01Z"}),
            &json!({"t": "2024-01-15T08:00:00Z"})
        ));
        assert!(!same_json_value(
            &json!({"a": 1}),
            &json!({"a": 1, "b": null})
        ));
        assert!(!same_json_value(&json!("x"), &json!("y")));
    }
}
