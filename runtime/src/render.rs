//! Rendering an envelope in a dialect: the body, the content type, the headers and the AMQP
//! properties a message carries, as plain data. The publisher puts exactly this on the wire
//! (`wire::encode`), and the docs show exactly this as each event's sample message.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::dialect::{Dialect, DialectBase, Location, Property};
use crate::envelope::Envelope;

/// Header with the W3C trace context.
pub use crate::trace::TRACEPARENT_HEADER;
/// `content_type` of the standard envelope, CloudEvents binary mode and `json` dialects.
pub const JSON: &str = "application/json";
/// Prefix of CloudEvents attributes in AMQP headers (binary mode) as this crate writes them.
pub const CE_PREFIX: &str = "cloudEvents_";
/// Header with the tenant ID (standard dialect), for routing and inspection without parsing.
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
    /// The dialect needs a value the envelope does not have.
    #[error("dialect `{dialect}`: {message}")]
    Dialect {
        /// The dialect.
        dialect: String,
        /// What is missing or wrong.
        message: String,
    },
}

/// A message as a dialect lays it out: what `basic.publish` sends, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The body.
    pub body: Vec<u8>,
    /// AMQP properties by name (`content_type`, `delivery_mode`, `message_id`, `type`,
    /// `app_id`, `timestamp` in seconds, `correlation_id`), in that order.
    pub properties: Vec<(&'static str, String)>,
    /// AMQP headers (all string-valued), `traceparent` first.
    pub headers: Vec<(String, String)>,
}

/// Lays `env` out in `dialect` (named `dialect_name`; the event's type value is
/// `wire_type`) for `exchange`, with `traceparent` as the W3C trace header and `host` as the
/// sender MassTransit's envelope names.
pub fn render<T: Serialize>(
    env: &Envelope<T>,
    dialect: &Dialect,
    dialect_name: &str,
    wire_type: &str,
    exchange: &str,
    traceparent: &str,
    host: &HostInfo,
) -> Result<Rendered, EncodeError> {
    let mut headers = vec![(TRACEPARENT_HEADER.to_owned(), traceparent.to_owned())];
    let mut properties: Vec<(&'static str, String)> = vec![
        ("content_type", dialect.content_type().to_owned()),
        ("delivery_mode", "2".to_owned()),
        ("message_id", env.message_id.clone()),
        ("type", wire_type.to_owned()),
        ("app_id", env.source_service.clone()),
        ("timestamp", env.timestamp.timestamp().max(0).to_string()),
    ];
    if let Some(id) = &env.correlation_id {
        properties.push(("correlation_id", id.clone()));
    }
    let body = match dialect.base {
        DialectBase::Standard => {
            if let Some(tenant) = &env.tenant_id {
                headers.push((TENANT_HEADER.to_owned(), tenant.clone()));
            }
            json(&StandardOut { env, wire_type })?
        }
        DialectBase::CloudeventsBinary => {
            let mut put = |name: &str, value: &str| {
                headers.push((format!("{CE_PREFIX}{name}"), value.to_owned()));
            };
            put("specversion", "1.0");
            put("id", &env.message_id);
            put("type", wire_type);
            put("source", &env.source_service);
            put("time", &rfc3339(&env.timestamp));
            for (key, value) in extensions(env)? {
                put(&key, value);
            }
            json(&env.payload)?
        }
        DialectBase::CloudeventsStructured => json(&CloudEvent {
            specversion: "1.0",
            id: &env.message_id,
            kind: wire_type,
            source: &env.source_service,
            time: rfc3339(&env.timestamp),
            datacontenttype: JSON,
            extensions: extensions(env)?,
            data: &env.payload,
        })?,
        DialectBase::Masstransit => json(&MassTransitOut {
            env,
            wire_type,
            exchange,
            host,
        })?,
        DialectBase::Json => {
            let Some(fields) = &dialect.fields else {
                return Err(EncodeError::Dialect {
                    dialect: dialect_name.to_owned(),
                    message: "a `json` dialect needs its `fields`".into(),
                });
            };
            let mut body_fields: Vec<(&str, BodyValue<'_, T>)> = Vec::new();
            let time = rfc3339(&env.timestamp);
            let kind = Some(fields.kind.clone());
            let texts: [(&Option<Location>, Option<&str>); 8] = [
                (&fields.id, Some(env.message_id.as_str())),
                (&kind, Some(wire_type)),
                (&fields.source, Some(env.source_service.as_str())),
                (&fields.time, Some(time.as_str())),
                (&fields.tenant, env.tenant_id.as_deref()),
                (&fields.correlation, env.correlation_id.as_deref()),
                (&fields.causation, env.causation_id.as_deref()),
                (&fields.partition, env.partition_key.as_deref()),
            ];
            for (location, value) in texts {
                let (Some(location), Some(value)) = (location, value) else {
                    continue;
                };
                match location {
                    Location::Field(name) => body_fields.push((name, BodyValue::Text(value))),
                    Location::Header(name) => headers.push((name.clone(), value.to_owned())),
                    Location::Property(p) => set_property(&mut properties, *p, value),
                    Location::Body | Location::RoutingKey => {}
                }
            }
            if !dialect.payload_headers.is_empty() {
                let payload = serde_json::to_value(&env.payload)?;
                for (header, pointer) in &dialect.payload_headers {
                    match payload.pointer(pointer) {
                        Some(serde_json::Value::String(s)) => {
                            headers.push((header.clone(), s.clone()))
                        }
                        Some(serde_json::Value::Null) | None => {}
                        Some(other) => headers.push((header.clone(), other.to_string())),
                    }
                }
            }
            match &fields.payload {
                Location::Field(name) => {
                    body_fields.push((name, BodyValue::Payload(&env.payload)));
                    if let Some(Location::Field(meta)) = &fields.metadata {
                        if !env.metadata.is_empty() {
                            body_fields.push((meta, BodyValue::Metadata(&env.metadata)));
                        }
                    }
                    json(&BodyObject(body_fields))?
                }
                _ => json(&env.payload)?,
            }
        }
    };
    Ok(Rendered {
        body,
        properties,
        headers,
    })
}

/// Puts `value` in the property a dialect names (the timestamp property always carries the
/// envelope's time).
fn set_property(properties: &mut Vec<(&'static str, String)>, property: Property, value: &str) {
    let name = match property {
        Property::MessageId => "message_id",
        Property::CorrelationId => "correlation_id",
        Property::Type => "type",
        Property::AppId => "app_id",
        Property::Timestamp => return,
    };
    match properties.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value.to_owned(),
        None => properties.push((name, value.to_owned())),
    }
}

pub(crate) fn rfc3339(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serializes into a buffer sized for a typical message, sparing the regrowths of an empty
/// one.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, value)?;
    Ok(body)
}

struct StandardOut<'a, T> {
    env: &'a Envelope<T>,
    wire_type: &'a str,
}

impl<T: Serialize> Serialize for StandardOut<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.env;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("messageId", &e.message_id)?;
        map.serialize_entry("messageType", self.wire_type)?;
        map.serialize_entry("envelopeVersion", &e.envelope_version)?;
        map.serialize_entry("timestamp", &e.timestamp)?;
        map.serialize_entry("sourceService", &e.source_service)?;
        for (key, value) in [
            ("correlationId", &e.correlation_id),
            ("causationId", &e.causation_id),
            ("tenantId", &e.tenant_id),
            ("partitionKey", &e.partition_key),
        ] {
            if let Some(v) = value {
                map.serialize_entry(key, v)?;
            }
        }
        map.serialize_entry("payload", &e.payload)?;
        if !e.metadata.is_empty() {
            map.serialize_entry("metadata", &e.metadata)?;
        }
        map.end()
    }
}

/// A value of a `json` dialect's body.
enum BodyValue<'a, T> {
    Text(&'a str),
    Payload(&'a T),
    Metadata(&'a BTreeMap<String, String>),
}

/// A `json` dialect's body: its fields in order.
struct BodyObject<'a, T>(Vec<(&'a str, BodyValue<'a, T>)>);

impl<T: Serialize> Serialize for BodyObject<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            match value {
                BodyValue::Text(t) => map.serialize_entry(name, t)?,
                BodyValue::Payload(p) => map.serialize_entry(name, p)?,
                BodyValue::Metadata(m) => map.serialize_entry(name, m)?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct CloudEvent<'a, T> {
    specversion: &'static str,
    id: &'a str,
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
pub(crate) const RESERVED_CE_ATTRIBUTES: &[&str] = &[
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

/// Metadata keys of a received MassTransit message that are envelope fields, not headers.
pub(crate) const MT_CONVERSATION: &str = "conversationId";
pub(crate) const MT_SOURCE_ADDRESS: &str = "sourceAddress";
pub(crate) const MT_DESTINATION_ADDRESS: &str = "destinationAddress";
/// MassTransit headers that carry envelope attributes without a MassTransit field (or whose
/// value is not a GUID, which MassTransit's own fields require).
pub(crate) const MT_TENANT_HEADER: &str = "tenantId";
pub(crate) const MT_CORRELATION_HEADER: &str = "correlationId";
pub(crate) const MT_CAUSATION_HEADER: &str = "causationId";
pub(crate) const MT_PARTITION_HEADER: &str = "partitionKey";

/// MassTransit's JSON envelope as its serializer writes it (`JsonMessageEnvelope`).
struct MassTransitOut<'a, T> {
    env: &'a Envelope<T>,
    wire_type: &'a str,
    exchange: &'a str,
    host: &'a HostInfo,
}

fn is_guid(value: &str) -> bool {
    Uuid::parse_str(value).is_ok()
}

impl<T: Serialize> Serialize for MassTransitOut<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.env;
        fn guid(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| is_guid(v))
        }
        let meta = |k: &str| e.metadata.get(k).map(String::as_str);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("messageId", &e.message_id)?;
        if let Some(c) = guid(&e.correlation_id) {
            map.serialize_entry("correlationId", c)?;
        }
        let conversation = meta(MT_CONVERSATION)
            .or(guid(&e.correlation_id))
            .unwrap_or(&e.message_id);
        map.serialize_entry("conversationId", conversation)?;
        if let Some(c) = guid(&e.causation_id) {
            map.serialize_entry("initiatorId", c)?;
        }
        let source = meta(MT_SOURCE_ADDRESS)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("rabbitmq://localhost/{}", e.source_service));
        map.serialize_entry("sourceAddress", &source)?;
        let destination = format!("rabbitmq://localhost/{}?type=fanout", self.exchange);
        map.serialize_entry("destinationAddress", &destination)?;
        map.serialize_entry("messageType", &[self.wire_type])?;
        map.serialize_entry("message", &e.payload)?;
        map.serialize_entry("sentTime", &rfc3339(&e.timestamp))?;
        let mut headers: BTreeMap<&str, &str> = e
            .metadata
            .iter()
            .filter(|(k, _)| {
                ![MT_CONVERSATION, MT_SOURCE_ADDRESS, MT_DESTINATION_ADDRESS].contains(&k.as_str())
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(t) = &e.tenant_id {
            headers.insert(MT_TENANT_HEADER, t);
        }
        if let Some(p) = &e.partition_key {
            headers.insert(MT_PARTITION_HEADER, p);
        }
        for (header, value) in [
            (MT_CORRELATION_HEADER, &e.correlation_id),
            (MT_CAUSATION_HEADER, &e.causation_id),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !is_guid(v)) {
                headers.insert(header, v);
            }
        }
        map.serialize_entry("headers", &headers)?;
        map.serialize_entry("host", self.host)?;
        map.end()
    }
}

/// Who sends a message: MassTransit's `host` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    /// The machine.
    pub machine_name: String,
    /// The process's executable name.
    pub process_name: String,
    /// The process ID.
    pub process_id: u32,
    /// The sending service (MassTransit names the .NET assembly here).
    pub assembly: String,
    /// The runtime's version.
    pub assembly_version: String,
    /// What sent it.
    pub framework_version: String,
}

impl HostInfo {
    /// This process, sending for `source`. The machine and process are looked up once.
    pub fn current(source: &str) -> HostInfo {
        static PROCESS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        let (machine_name, process_name) = PROCESS.get_or_init(|| {
            (
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned()),
                std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .unwrap_or_default(),
            )
        });
        HostInfo {
            machine_name: machine_name.clone(),
            process_name: process_name.clone(),
            process_id: std::process::id(),
            assembly: source.to_owned(),
            assembly_version: env!("CARGO_PKG_VERSION").to_owned(),
            framework_version: "schemactl-runtime".to_owned(),
        }
    }
}
