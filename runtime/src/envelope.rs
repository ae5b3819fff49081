//! The standard envelope: the JSON object every event payload travels in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::trace::TraceContext;
use crate::Event;

/// Version of the envelope format written by this crate.
pub const ENVELOPE_VERSION: &str = "1.0";

/// The standard envelope (`StandardMessage<T>`): identity, type, provenance and correlation of
/// a message, around its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Unique per message; the idempotency key of consumers. A UUID when schemactl publishes
    /// it (with the dialect's prefix, if any); any string a dialect carries when received.
    pub message_id: String,
    /// `<EventName>.v<N>`, e.g. `UserRegistered.v1`: selects the payload type. On the wire it
    /// is written as the event's type value in its dialect (`order.created`, a MassTransit
    /// URN, …).
    pub message_type: String,
    /// Version of the envelope format itself.
    pub envelope_version: String,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// The producing service.
    pub source_service: String,
    /// Ties together every message caused by one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The `messageId` of the message that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Tenant the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Entity key for consumers that need per-entity ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// The event payload.
    pub payload: T,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl<E: Event> Envelope<E> {
    /// Wraps `payload` with a fresh message ID and the current time.
    pub fn new(source_service: impl Into<String>, payload: E) -> Self {
        Envelope::with_context(source_service, payload, &PublishContext::default())
    }

    /// Wraps `payload`, taking IDs, correlation and metadata from `ctx` (a fresh message ID
    /// and the current time where `ctx` gives none).
    pub fn with_context(
        source_service: impl Into<String>,
        payload: E,
        ctx: &PublishContext,
    ) -> Self {
        Envelope {
            message_id: ctx
                .message_id
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            message_type: E::MESSAGE_TYPE.to_owned(),
            envelope_version: ENVELOPE_VERSION.to_owned(),
            timestamp: ctx.timestamp.unwrap_or_else(Utc::now),
            source_service: source_service.into(),
            correlation_id: ctx.correlation_id.clone(),
            causation_id: ctx.causation_id.clone(),
            tenant_id: ctx.tenant_id.clone(),
            partition_key: ctx.partition_key.clone(),
            payload,
            metadata: ctx.metadata.clone(),
        }
    }
}

impl<T> Envelope<T> {
    /// The same envelope around another payload.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Envelope<U> {
        Envelope {
            message_id: self.message_id,
            message_type: self.message_type,
            envelope_version: self.envelope_version,
            timestamp: self.timestamp,
            source_service: self.source_service,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            tenant_id: self.tenant_id,
            partition_key: self.partition_key,
            payload: f(self.payload),
            metadata: self.metadata,
        }
    }
}

/// The catalog-wide default dialect as `[envelope] profile` names it (the built-in dialects
/// other than MassTransit). `[defaults] dialect` names any dialect, declared ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EnvelopeProfile {
    /// The JSON envelope (`messageId`, `messageType`, …, `payload`) as the body.
    #[default]
    Standard,
    /// CloudEvents 1.0, binary content mode: the payload is the body, the attributes are
    /// `cloudEvents_*` headers.
    CloudeventsBinary,
    /// CloudEvents 1.0, structured content mode: one `application/cloudevents+json` body.
    CloudeventsStructured,
}

impl EnvelopeProfile {
    /// The name of the built-in dialect it stands for.
    pub fn dialect(self) -> &'static str {
        match self {
            EnvelopeProfile::Standard => crate::dialect::STANDARD,
            EnvelopeProfile::CloudeventsBinary => crate::dialect::CLOUDEVENTS_BINARY,
            EnvelopeProfile::CloudeventsStructured => crate::dialect::CLOUDEVENTS_STRUCTURED,
        }
    }
}

/// What a publisher sets on an envelope besides the payload: correlation, tenancy,
/// metadata and trace context. `Default` gives a fresh message ID and the current time.
///
/// ```
/// use schemactl_runtime::PublishContext;
///
/// let context = PublishContext::new()
///     .correlation_id("checkout-42")
///     .tenant_id("tenant-1");
/// assert_eq!(context.correlation_id.as_deref(), Some("checkout-42"));
/// ```
///
/// A handler that publishes because of the message it handles passes
/// [`PublishContext::caused_by`] that message: the correlation ID, tenant, metadata and trace
/// travel on, and the causation ID names the cause.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishContext {
    /// Message ID to use (a retry of a business operation may reuse one); fresh when `None`
    /// (a UUID in the format of the event's dialect).
    pub message_id: Option<String>,
    /// Event time; now when `None`.
    pub timestamp: Option<DateTime<Utc>>,
    /// Correlation ID.
    pub correlation_id: Option<String>,
    /// The `messageId` of the message that caused this one.
    pub causation_id: Option<String>,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Partition key.
    pub partition_key: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Parent trace context; a new trace is started when `None`.
    pub trace: Option<TraceContext>,
}

impl PublishContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of a message published while handling `cause`: same correlation ID (or
    /// the cause's message ID when it has none), `causationId` = the cause's message ID,
    /// same tenant, the metadata its dialect carried (MassTransit's `conversationId`, the
    /// shop's `metadata`), and the same trace.
    pub fn caused_by<E>(cause: &crate::Received<E>) -> Self {
        let env = &cause.envelope;
        PublishContext {
            correlation_id: Some(
                env.correlation_id
                    .clone()
                    .unwrap_or_else(|| env.message_id.clone()),
            ),
            causation_id: Some(env.message_id.clone()),
            tenant_id: env.tenant_id.clone(),
            metadata: env.metadata.clone(),
            trace: cause.delivery.trace,
            ..Self::default()
        }
    }

    /// Sets the correlation ID.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// Sets the partition key.
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Sets the message ID.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl Envelope<serde_json::Value> {
    /// The envelope's JSON Schema, with the payload left open (`payload` is any JSON value).
    pub fn json_schema() -> serde_json::Value {
        // Draft 2019-09, where `format: uuid` is defined (draft-07 leaves it unchecked).
        let schema = schemars::gen::SchemaSettings::draft2019_09()
            .into_generator()
            .into_root_schema_for::<Envelope<serde_json::Value>>();
        serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
    }
}

/// Where and how a message was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The queue it was consumed from.
    pub queue: String,
    /// The exchange it was first published to.
    pub exchange: String,
    /// The routing key it was first published with.
    pub routing_key: String,
    /// Whether the broker delivered it before (a lost ack, a consumer restart).
    pub redelivered: bool,
    /// Delivery attempt through the retry queues: 1 for the first.
    pub attempt: u32,
    /// The sender's trace context (`traceparent` header), when valid.
    pub trace: Option<TraceContext>,
    /// The dialect the message was read in (`standard`, `collector`, `masstransit`, …).
    pub dialect: String,
    /// The message's type value as it travelled (`order.created`, a MassTransit URN, …).
    pub wire_type: String,
}

/// A delivered event: its envelope with the typed payload, and delivery details.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<E> {
    /// The envelope.
    pub envelope: Envelope<E>,
    /// Delivery details.
    pub delivery: DeliveryInfo,
}

impl<E> Received<E> {
    /// The payload.
    pub fn payload(&self) -> &E {
        &self.envelope.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{compile, first_error};

    #[test]
    fn the_envelope_schema_accepts_envelopes_and_rejects_broken_ones() {
        let schema = Envelope::json_schema();
        let validator = compile(&schema.to_string()).expect("the derived schema compiles");
        let envelope = Envelope {
            message_id: Uuid::new_v4().to_string(),
            message_type: "UserRegistered.v1".into(),
            envelope_version: ENVELOPE_VERSION.into(),
            timestamp: Utc::now(),
            source_service: "user-service".into(),
            correlation_id: Some("req-1".into()),
            causation_id: None,
            tenant_id: Some("acme".into()),
            partition_key: None,
            payload: serde_json::json!({"userId": "u-1"}),
            metadata: BTreeMap::from([("origin".into(), "test".into())]),
        };
        let mut value = serde_json::to_value(&envelope).unwrap();
        assert_eq!(first_error(&validator, &value), None);
        value.as_object_mut().unwrap().remove("messageId");
        let (_, message) = first_error(&validator, &value).expect("messageId is required");
        assert!(message.contains("messageId"), "{message}");
        value["messageId"] = 42.into();
        assert!(first_error(&validator, &value).is_some());
    }
}
