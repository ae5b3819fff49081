//! The event every runtime benchmark sends: `TaskCreated.v1` with a 512-byte payload, laid
//! out in any dialect of the catalog.

use std::sync::Arc;

use schemactl_catalog::orchestration::TaskCreatedV1;
use schemactl_runtime::{Dialect, Event, Wire};

/// Bytes of the JSON payload.
pub const PAYLOAD_BYTES: usize = 512;

/// Errors of the benchmark commands.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `TaskCreated.v1` whose JSON payload is exactly [`PAYLOAD_BYTES`] long.
pub fn payload() -> TaskCreatedV1 {
    let mut task: TaskCreatedV1 =
        serde_json::from_str(TaskCreatedV1::EXAMPLES[0]).expect("the example deserializes");
    task.description = Some(String::new());
    let base = serde_json::to_vec(&task).expect("serializes").len();
    task.description = Some("x".repeat(PAYLOAD_BYTES.saturating_sub(base)));
    debug_assert_eq!(serde_json::to_vec(&task).unwrap().len(), PAYLOAD_BYTES);
    task
}

/// The catalog's wire with the event's dialect replaced by `dialect` (a built-in one or one
/// of the catalog's): the same event, laid out another way.
pub fn bench_wire(dialect: Option<&str>) -> Result<Arc<Wire>, BoxError> {
    let wire = schemactl_catalog::wire();
    let Some(name) = dialect else {
        return Ok(wire);
    };
    let replacement = wire
        .dialect(name)
        .cloned()
        .or_else(|| Dialect::builtin_named(name))
        .ok_or_else(|| format!("unknown dialect {name}"))?;
    // A dialect that reads the type from the routing key cannot carry this event's type value.
    if let Some(fields) = &replacement.fields {
        if fields.kind == schemactl_runtime::dialect::Location::RoutingKey {
            return Err(format!(
                "dialect {name} reads the type from the routing key, which for {} is not its type value `{}`",
                TaskCreatedV1::MESSAGE_TYPE,
                TaskCreatedV1::WIRE_TYPE
            )
            .into());
        }
    }
    let mut spec = wire.spec().clone();
    spec.dialects
        .insert(TaskCreatedV1::DIALECT.to_owned(), replacement);
    Ok(Arc::new(Wire::new(spec)?))
}

/// One typed message as the typed publisher puts it on the wire: body, properties and
/// headers. The raw case publishes exactly this, so the ratio isolates the runtime's own
/// per-message work.
pub fn typed_message(
    task: &TaskCreatedV1,
    prefix: &str,
    dialect: Option<&str>,
) -> schemactl_runtime::wire::Outgoing {
    let envelope = schemactl_runtime::Envelope::new(TaskCreatedV1::PRODUCER, task.clone());
    let wire = bench_wire(dialect).expect("the dialect exists");
    let dialect = wire
        .dialect(TaskCreatedV1::DIALECT)
        .expect("the catalog declares the event's dialect");
    schemactl_runtime::wire::encode(
        &envelope,
        dialect,
        TaskCreatedV1::DIALECT,
        TaskCreatedV1::WIRE_TYPE,
        &format!("{prefix}{}", TaskCreatedV1::EXCHANGE),
        TaskCreatedV1::ROUTING_KEY,
        &schemactl_runtime::TraceContext::new_root(),
    )
    .expect("the message encodes")
}
