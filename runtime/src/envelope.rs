//! The standard envelope: the JSON object every event payload travels in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// Version of the envelope format written by this crate.
pub const ENVELOPE_VERSION: &str = "1.0";

/// The standard envelope (`StandardMessage<T>`): identity, type, provenance and correlation of
/// a message, around its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Unique per message; the idempotency key of consumers.
    pub message_id: Uuid,
    /// `<EventName>.v<N>`, e.g. `UserRegistered.v1`: selects the payload type.
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
        Envelope {
            message_id: Uuid::new_v4(),
            message_type: E::MESSAGE_TYPE.to_owned(),
            envelope_version: ENVELOPE_VERSION.to_owned(),
            timestamp: Utc::now(),
            source_service: source_service.into(),
            correlation_id: None,
            causation_id: None,
            tenant_id: None,
            partition_key: None,
            payload,
            metadata: BTreeMap::new(),
        }
    }
}

impl Envelope<serde_json::Value> {
    /// The envelope's JSON Schema, with the payload left open (`payload` is any JSON value).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Envelope<serde_json::Value>))
            .unwrap_or(serde_json::Value::Null)
    }
}
