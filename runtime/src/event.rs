use serde::de::DeserializeOwned;
use serde::Serialize;

/// One event version of a catalog. Implemented by generated code, one impl per
/// `<domain>/<EventName>.v<N>.json`.
pub trait Event: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Event name, e.g. `UserRegistered`.
    const NAME: &'static str;
    /// Major version.
    const VERSION: u32;
    /// The envelope's `messageType`, e.g. `UserRegistered.v1`.
    const MESSAGE_TYPE: &'static str;
    /// Routing key, e.g. `user.registered.v1`.
    const ROUTING_KEY: &'static str;
    /// Exchange the event is published to.
    const EXCHANGE: &'static str;
    /// The producing service.
    const PRODUCER: &'static str;
    /// The consuming services.
    const CONSUMERS: &'static [&'static str];
    /// Whether the version is deprecated.
    const DEPRECATED: bool;
    /// The resolved, self-contained JSON Schema of the payload.
    const SCHEMA: &'static str;
    /// The example payloads of the schema, as JSON.
    const EXAMPLES: &'static [&'static str];
    /// The dialect it travels in (see [`crate::dialect`]): the event's own, else its
    /// exchange's, else the catalog's default.
    const DIALECT: &'static str = crate::dialect::STANDARD;
    /// Its type value in that dialect (`UserRegistered.v1`, `order.created`, a MassTransit
    /// URN, …).
    const WIRE_TYPE: &'static str = Self::MESSAGE_TYPE;
}

/// Receives every event type of a catalog from the generated `visit_events` function.
pub trait EventVisitor {
    /// Called once per event version.
    fn visit<E: Event>(&mut self);
}

/// The message type and schema of an event version, for consumers that validate payloads
/// before dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// `<EventName>.v<N>`.
    pub message_type: &'static str,
    /// The resolved JSON Schema.
    pub schema: &'static str,
}

impl EventInfo {
    /// The info of event `E`.
    pub const fn of<E: Event>() -> Self {
        EventInfo {
            message_type: E::MESSAGE_TYPE,
            schema: E::SCHEMA,
        }
    }
}
