//! Envelopes on the wire: AMQP body, properties and headers for each [`EnvelopeProfile`], and
//! the reverse for deliveries (every profile is accepted, whatever the catalog publishes).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::envelope::{Envelope, EnvelopeProfile, ENVELOPE_VERSION};
use crate::error::Rejection;
use crate::trace::{TraceContext, TRACEPARENT_HEADER};

/// `content_type` of the standard envelope and of CloudEvents binary mode.
pub const JSON: &str = "application/json";
/// `content_type` of CloudEvents structured mode.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// Prefix of CloudEvents attributes in AMQP headers (binary mode).
pub const CE_PREFIX: &str = "cloudEvents_";
/// Header counting deliveries of a message through the retry queues (1 = first delivery).
pub const ATTEMPT_HEADER: &str = "x-schemactl-attempt";
/// Header naming why a message was dead-lettered (`malformed`, `schema-invalid`, …).
pub const REASON_HEADER: &str = "x-schemactl-reason";
/// Header with the error message that sent a message to a retry or dead-letter queue.
pub const ERROR_HEADER: &str = "x-schemactl-error";
/// Header naming the queue a dead letter was consumed from.
pub const QUEUE_HEADER: &str = "x-schemactl-queue";
/// Header with the exchange a message was first published to.
pub const ORIGINAL_EXCHANGE_HEADER: &str = "x-schemactl-original-exchange";
/// Header with the routing key a message was first published with.
pub const ORIGINAL_ROUTING_KEY_HEADER: &str = "x-schemactl-original-routing-key";
/// Header with the time a message was dead-lettered (RFC 3339).
pub const DEAD_LETTERED_AT_HEADER: &str = "x-schemactl-dead-lettered-at";
/// Header with the tenant ID (standard profile), for routing and inspection without parsing.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// Why an envelope cannot be put on the wire.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The payload or envelope failed to serialize.
    #[error("cannot serialize: {0}")]
    Json(#[from] serde_json::Error),
    /// An AMQP short string (message ID, correlation ID, …) is over 255 bytes.
    #[error("`{field}` is {len} bytes; AMQP short strings hold at most 255")]
    TooLong {
        /// The property.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A metadata key cannot be a CloudEvents extension attribute.
    #[error(
        "metadata key `{0}` is not a CloudEvents extension name (lowercase a-z and 0-9, 1 to 20 characters)"
    )]
    ExtensionName(String),
}

/// A message ready for `basic_publish`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Exchange.
    pub exchange: ShortString,
    /// Routing key.
    pub routing_key: ShortString,
    /// Body.
    pub body: Vec<u8>,
    /// Properties and headers.
    pub properties: BasicProperties,
    /// The envelope's message ID.
    pub message_id: Uuid,
    /// The envelope's message type.
    pub message_type: String,
}

pub(crate) fn short(field: &'static str, value: &str) -> Result<ShortString, EncodeError> {
    ShortString::try_new(value).map_err(|_| EncodeError::TooLong {
        field,
        len: value.len(),
    })
}

pub(crate) fn long(value: impl Into<Vec<u8>>) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.into()))
}

#[derive(Serialize)]
struct CloudEvent<'a, T> {
    specversion: &'static str,
    id: String,
    #[serde(rename = "type")]
    kind: &'a str,
    source: &'a str,
    time: String,
    datacontenttype: &'static str,
    #[serde(flatten)]
    extensions: BTreeMap<String, &'a str>,
    data: &'a T,
}

/// CloudEvents extension attributes of an envelope: its optional fields and its metadata.
fn extensions<T>(env: &Envelope<T>) -> Result<BTreeMap<String, &str>, EncodeError> {
    let mut ext = BTreeMap::new();
    for (key, value) in [
        ("correlationid", &env.correlation_id),
        ("causationid", &env.causation_id),
        ("tenantid", &env.tenant_id),
        ("partitionkey", &env.partition_key),
    ] {
        if let Some(v) = value {
            ext.insert(key.to_owned(), v.as_str());
        }
    }
    ext.insert("envelopeversion".to_owned(), env.envelope_version.as_str());
    for (key, value) in &env.metadata {
        let valid = (1..=20).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid || RESERVED_CE_ATTRIBUTES.contains(&key.as_str()) {
            return Err(EncodeError::ExtensionName(key.clone()));
        }
        ext.insert(key.clone(), value.as_str());
    }
    Ok(ext)
}

/// CloudEvents context attributes an extension must not shadow.
const RESERVED_CE_ATTRIBUTES: &[&str] = &[
    "specversion",
    "id",
    "type",
    "source",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
    "correlationid",
    "causationid",
    "tenantid",
    "partitionkey",
    "envelopeversion",
];

/// Encodes `env` for `exchange`/`routing_key` in `profile`, with `trace` in `traceparent`.
pub fn encode<T: Serialize>(
    env: &Envelope<T>,
    profile: EnvelopeProfile,
    exchange: &str,
    routing_key: &str,
    trace: &TraceContext,
) -> Result<Outgoing, EncodeError> {
    let mut headers = FieldTable::default();
    headers.insert(TRACEPARENT_HEADER.into(), long(trace.to_string()));
    let time = || {
        env.timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (body, content_type) = match profile {
        EnvelopeProfile::Standard => {
            if let Some(tenant) = &env.tenant_id {
                headers.insert(TENANT_HEADER.into(), long(tenant.as_str()));
            }
            (json(env)?, JSON)
        }
        EnvelopeProfile::CloudeventsBinary => {
            let mut put = |name: &str, value: &str| {
                headers.insert(format!("{CE_PREFIX}{name}").into(), long(value));
            };
            put("specversion", "1.0");
            put("id", &env.message_id.to_string());
            put("type", &env.message_type);
            put("source", &env.source_service);
            put("time", &time());
            for (key, value) in extensions(env)? {
                put(&key, value);
            }
            (json(&env.payload)?, JSON)
        }
        EnvelopeProfile::CloudeventsStructured => {
            let event = CloudEvent {
                specversion: "1.0",
                id: env.message_id.to_string(),
                kind: &env.message_type,
                source: &env.source_service,
                time: time(),
                datacontenttype: JSON,
                extensions: extensions(env)?,
                data: &env.payload,
            };
            (json(&event)?, CLOUDEVENTS_JSON)
        }
    };
    let mut properties = BasicProperties::default()
        .with_content_type(content_type.into())
        .with_delivery_mode(2)
        .with_message_id(short("messageId", &env.message_id.to_string())?)
        .with_type(short("messageType", &env.message_type)?)
        .with_app_id(short("sourceService", &env.source_service)?)
        .with_timestamp(u64::try_from(env.timestamp.timestamp()).unwrap_or(0))
        .with_headers(headers);
    if let Some(id) = &env.correlation_id {
        properties = properties.with_correlation_id(short("correlationId", id)?);
    }
    Ok(Outgoing {
        exchange: short("exchange", exchange)?,
        routing_key: short("routingKey", routing_key)?,
        body,
        properties,
        message_id: env.message_id,
        message_type: env.message_type.clone(),
    })
}

/// Serializes into a buffer sized for a typical message, sparing the regrowths of an empty
/// one.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, value)?;
    Ok(body)
}

/// A header's value as text, when it is a string.
pub fn header_str<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

/// A header's value as an unsigned integer, when it is one.
pub fn header_u64(properties: &BasicProperties, name: &str) -> Option<u64> {
    let value = properties.headers().as_ref()?.inner().get(name)?;
    let n: i128 = match value {
        AMQPValue::ShortShortInt(v) => (*v).into(),
        AMQPValue::ShortShortUInt(v) => (*v).into(),
        AMQPValue::ShortInt(v) => (*v).into(),
        AMQPValue::ShortUInt(v) => (*v).into(),
        AMQPValue::LongInt(v) => (*v).into(),
        AMQPValue::LongUInt(v) => (*v).into(),
        AMQPValue::LongLongInt(v) => (*v).into(),
        AMQPValue::Timestamp(v) => (*v).into(),
        _ => return None,
    };
    u64::try_from(n).ok()
}

#[derive(serde::Deserialize)]
struct StructuredEvent {
    specversion: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    source: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(flatten)]
    extensions: BTreeMap<String, serde_json::Value>,
}

fn parse_id(id: &str) -> Result<Uuid, Rejection> {
    Uuid::parse_str(id)
        .map_err(|e| Rejection::Malformed(format!("message ID `{id}` is not a UUID: {e}")))
}

/// Decodes a delivery's body and properties into an envelope around the raw payload.
pub fn decode(
    body: &[u8],
    properties: &BasicProperties,
) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let content_type = properties
        .content_type()
        .as_ref()
        .map(|c| c.as_str())
        .unwrap_or("");
    if header_str(properties, &format!("{CE_PREFIX}specversion")).is_some() {
        return decode_binary(body, properties);
    }
    if content_type.starts_with(CLOUDEVENTS_JSON) {
        return decode_structured(body);
    }
    serde_json::from_slice::<Envelope<Box<RawValue>>>(body)
        .map_err(|e| Rejection::Malformed(format!("the body is not a standard envelope: {e}")))
}

fn decode_binary(
    body: &[u8],
    properties: &BasicProperties,
) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let attr = |name: &str| header_str(properties, &format!("{CE_PREFIX}{name}"));
    let required = |name: &str| {
        attr(name).ok_or_else(|| {
            Rejection::Malformed(format!("CloudEvents header `{CE_PREFIX}{name}` is missing"))
        })
    };
    let specversion = required("specversion")?;
    if specversion != "1.0" {
        return Err(Rejection::Malformed(format!(
            "CloudEvents specversion `{specversion}` is not 1.0"
        )));
    }
    let payload: Box<RawValue> = serde_json::from_slice(body)
        .map_err(|e| Rejection::Malformed(format!("the body is not JSON: {e}")))?;
    let mut metadata = BTreeMap::new();
    if let Some(headers) = properties.headers() {
        for (key, value) in headers.inner() {
            let Some(name) = key.as_str().strip_prefix(CE_PREFIX) else {
                continue;
            };
            if is_envelope_attribute(name) {
                continue;
            }
            if let AMQPValue::LongString(s) = value {
                metadata.insert(
                    name.to_owned(),
                    String::from_utf8_lossy(s.as_bytes()).into(),
                );
            }
        }
    }
    Ok(Envelope {
        message_id: parse_id(required("id")?)?,
        message_type: required("type")?.to_owned(),
        envelope_version: attr("envelopeversion")
            .unwrap_or(ENVELOPE_VERSION)
            .to_owned(),
        timestamp: parse_time(attr("time"))?,
        source_service: required("source")?.to_owned(),
        correlation_id: attr("correlationid").map(str::to_owned),
        causation_id: attr("causationid").map(str::to_owned),
        tenant_id: attr("tenantid").map(str::to_owned),
        partition_key: attr("partitionkey").map(str::to_owned),
        payload,
        metadata,
    })
}

fn is_envelope_attribute(name: &str) -> bool {
    RESERVED_CE_ATTRIBUTES.contains(&name)
}

fn parse_time(time: Option<&str>) -> Result<DateTime<Utc>, Rejection> {
    match time {
        None => Ok(Utc::now()),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Rejection::Malformed(format!("CloudEvents time `{t}`: {e}"))),
    }
}

fn decode_structured(body: &[u8]) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let event: StructuredEvent = serde_json::from_slice(body).map_err(|e| {
        Rejection::Malformed(format!("the body is not a structured CloudEvent: {e}"))
    })?;
    if event.specversion != "1.0" {
        return Err(Rejection::Malformed(format!(
            "CloudEvents specversion `{}` is not 1.0",
            event.specversion
        )));
    }
    let text = |name: &str| {
        event
            .extensions
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let metadata = event
        .extensions
        .iter()
        .filter(|(k, _)| !is_envelope_attribute(k))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let payload = match event.data {
        Some(data) => data,
        None => RawValue::from_string("null".to_owned())
            .map_err(|e| Rejection::Malformed(e.to_string()))?,
    };
    Ok(Envelope {
        message_id: parse_id(&event.id)?,
        message_type: event.kind,
        envelope_version: text("envelopeversion").unwrap_or_else(|| ENVELOPE_VERSION.to_owned()),
        timestamp: event.time.unwrap_or_else(Utc::now),
        source_service: event.source,
        correlation_id: text("correlationid"),
        causation_id: text("causationid"),
        tenant_id: text("tenantid"),
        partition_key: text("partitionkey"),
        payload,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope<serde_json::Value> {
        Envelope {
            message_id: Uuid::new_v4(),
            message_type: "OrderCreated.v1".into(),
            envelope_version: ENVELOPE_VERSION.into(),
            timestamp: "2024-01-15T10:35:00.250Z".parse().unwrap(),
            source_service: "orders-service".into(),
            correlation_id: Some("corr-123".into()),
            causation_id: Some("cause-1".into()),
            tenant_id: Some("tenant-123".into()),
            partition_key: None,
            payload: serde_json::json!({"orderId": "o-1", "total": "10.00"}),
            metadata: [("region".to_owned(), "eu1".to_owned())].into(),
        }
    }

    #[test]
    fn every_profile_round_trips() {
        let env = envelope();
        let trace = TraceContext::new_root();
        for profile in [
            EnvelopeProfile::Standard,
            EnvelopeProfile::CloudeventsBinary,
            EnvelopeProfile::CloudeventsStructured,
        ] {
            let out = encode(&env, profile, "orders", "order.created", &trace).unwrap();
            assert_eq!(out.properties.delivery_mode(), &Some(2));
            assert_eq!(
                out.properties.message_id().as_ref().map(|s| s.as_str()),
                Some(env.message_id.to_string().as_str())
            );
            assert_eq!(
                header_str(&out.properties, TRACEPARENT_HEADER),
                Some(trace.to_string().as_str())
            );
            let back = decode(&out.body, &out.properties).unwrap();
            let payload: serde_json::Value = serde_json::from_str(back.payload.get()).unwrap();
            assert_eq!(back.map(|_| payload), env, "{profile:?}");
        }
    }

    #[test]
    fn binary_mode_puts_attributes_in_headers_and_the_payload_in_the_body() {
        let env = envelope();
        let out = encode(
            &env,
            EnvelopeProfile::CloudeventsBinary,
            "orders",
            "order.created",
            &TraceContext::new_root(),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out.body).unwrap(),
            env.payload
        );
        assert_eq!(
            header_str(&out.properties, "cloudEvents_type"),
            Some("OrderCreated.v1")
        );
        assert_eq!(
            header_str(&out.properties, "cloudEvents_time"),
            Some("2024-01-15T10:35:00.250Z")
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut env = envelope();
        env.correlation_id = Some("x".repeat(300));
        let trace = TraceContext::new_root();
        assert!(matches!(
            encode(&env, EnvelopeProfile::Standard, "e", "k", &trace),
            Err(EncodeError::TooLong {
                field: "correlationId",
                len: 300
            })
        ));
        let mut env = envelope();
        env.metadata.insert("Bad-Key".into(), "v".into());
        assert!(matches!(
            encode(&env, EnvelopeProfile::CloudeventsBinary, "e", "k", &trace),
            Err(EncodeError::ExtensionName(k)) if k == "Bad-Key"
        ));
        let props = BasicProperties::default().with_content_type(JSON.into());
        for body in [&b"{"[..], b"[]", b"{\"messageId\": 1}", &[0xff, 0xfe]] {
            assert!(matches!(decode(body, &props), Err(Rejection::Malformed(_))));
        }
        let ce = BasicProperties::default().with_content_type(CLOUDEVENTS_JSON.into());
        assert!(matches!(
            decode(br#"{"specversion":"0.3","id":"x","type":"t","source":"s"}"#, &ce),
            Err(Rejection::Malformed(m)) if m.contains("0.3")
        ));
    }
}
