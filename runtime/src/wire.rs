//! Envelopes on the wire: AMQP body, properties and headers in each [`Dialect`], and the
//! reverse for deliveries.
//!
//! Publishing writes the dialect of the event ([`encode`]). Consuming reads every dialect of
//! the catalog ([`decode`]): the dialect is picked by the message's CloudEvents headers and
//! content type first, then by the dialect declared for the exchange the message came
//! through; among JSON envelopes sharing `application/json`, the exchange's dialect is tried
//! first, then the standard one, then every other `json` dialect of the catalog. A message
//! that fits none is rejected naming the dialect it was read as and the field that was
//! missing or wrong.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::dialect::{Dialect, DialectBase, Location, Property, Wire};
use crate::envelope::{Envelope, ENVELOPE_VERSION};
use crate::error::Rejection;
use crate::trace::TraceContext;

/// `content_type` of CloudEvents structured mode.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// `content_type` of MassTransit's JSON envelope.
pub const MASSTRANSIT_JSON: &str = "application/vnd.masstransit+json";
/// The prefix the CloudEvents AMQP binding names; read as well as [`CE_PREFIX`].
pub const CE_PREFIX_COLON: &str = "cloudEvents:";
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

pub use crate::render::{EncodeError, HostInfo, Rendered, CE_PREFIX, JSON, TENANT_HEADER};

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
    pub message_id: String,
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

/// Encodes `env` in `dialect` (named `dialect_name`, its type value `wire_type`) for
/// `exchange`/`routing_key`, with `trace` in `traceparent`: [`crate::render::render`]'s
/// layout as lapin's types.
pub fn encode<T: Serialize>(
    env: &Envelope<T>,
    dialect: &Dialect,
    dialect_name: &str,
    wire_type: &str,
    exchange: &str,
    routing_key: &str,
    trace: &TraceContext,
) -> Result<Outgoing, EncodeError> {
    let rendered = render(env, dialect, dialect_name, wire_type, exchange, trace)?;
    outgoing(
        exchange,
        routing_key,
        rendered.body,
        rendered.properties.iter().map(|(n, v)| (*n, v.as_str())),
        rendered
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
        &env.message_id,
        &env.message_type,
    )
}

/// [`crate::render::render`] with the sending host MassTransit's envelope names (only that
/// dialect names it).
pub(crate) fn render<T: Serialize>(
    env: &Envelope<T>,
    dialect: &Dialect,
    dialect_name: &str,
    wire_type: &str,
    exchange: &str,
    trace: &TraceContext,
) -> Result<crate::render::Rendered, EncodeError> {
    let host = if dialect.base == DialectBase::Masstransit {
        HostInfo::current(&env.source_service)
    } else {
        HostInfo::default()
    };
    crate::render::render(
        env,
        dialect,
        dialect_name,
        wire_type,
        exchange,
        &trace.to_string(),
        &host,
    )
}

/// A message laid out as [`crate::render::Rendered`] (properties and headers by name, as
/// text), as lapin's types: how the publisher sends what it renders, and how an outbox
/// relay sends what was rendered into a row.
pub fn outgoing<'a>(
    exchange: &str,
    routing_key: &str,
    body: Vec<u8>,
    properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    message_id: &str,
    message_type: &str,
) -> Result<Outgoing, EncodeError> {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert(short("header", name)?, long(value));
    }
    let mut p = BasicProperties::default().with_headers(table);
    for (name, value) in properties {
        p = match name {
            "content_type" => p.with_content_type(short("contentType", value)?),
            "delivery_mode" => p.with_delivery_mode(2),
            "message_id" => p.with_message_id(short("messageId", value)?),
            "type" => p.with_type(short("type", value)?),
            "app_id" => p.with_app_id(short("sourceService", value)?),
            "timestamp" => p.with_timestamp(value.parse().unwrap_or(0)),
            "correlation_id" => p.with_correlation_id(short("correlationId", value)?),
            _ => p,
        };
    }
    Ok(Outgoing {
        exchange: short("exchange", exchange)?,
        routing_key: short("routingKey", routing_key)?,
        body,
        properties: p,
        message_id: message_id.to_owned(),
        message_type: message_type.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// A header's value as text, when it is a string.
pub fn header_str<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    amqp_text(properties.headers().as_ref()?.inner().get(name))
}

/// A header value as text, when it is a string.
fn amqp_text(value: Option<&AMQPValue>) -> Option<&str> {
    match value? {
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

/// A decoded delivery: the envelope around the raw payload, its `message_type` already the
/// catalog's name of the event version (or the type value as received when the catalog
/// maps it to none).
#[derive(Debug)]
pub struct Decoded {
    /// The envelope.
    pub envelope: Envelope<Box<RawValue>>,
    /// The dialect the message was read in.
    pub dialect: String,
    /// Its type value as received.
    pub wire_type: String,
}

/// What a delivery brings besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// Properties and headers.
    pub properties: &'a BasicProperties,
    /// The exchange it was first published to (without the consumer's prefix).
    pub exchange: &'a str,
    /// The routing key it was first published with.
    pub routing_key: &'a str,
}

fn malformed(dialect: &str, field: &str, problem: impl Into<String>) -> Rejection {
    Rejection::Dialect {
        dialect: dialect.to_owned(),
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Decodes a delivery in whichever dialect of `wire` it fits (see the module documentation).
pub fn decode(body: &[u8], delivery: Received<'_>, wire: &Wire) -> Result<Decoded, Rejection> {
    let properties = delivery.properties;
    let content_type = properties
        .content_type()
        .as_ref()
        .map(|c| c.as_str())
        .unwrap_or("");
    let declared = wire.exchange_dialect(delivery.exchange);
    let of_base = |base: DialectBase, fallback: &'static str| -> String {
        declared
            .filter(|d| wire.dialect(d).is_some_and(|d| d.base == base))
            .map(str::to_owned)
            .or_else(|| {
                // A dialect of the catalog built on `base` before the bare built-in one.
                wire.dialects()
                    .find(|(n, d)| d.base == base && *n != fallback)
                    .map(|(n, _)| n.to_owned())
            })
            .unwrap_or_else(|| fallback.to_owned())
    };
    let (envelope, dialect) = if let Some(prefix) = ce_prefix(properties) {
        let name = of_base(
            DialectBase::CloudeventsBinary,
            crate::dialect::CLOUDEVENTS_BINARY,
        );
        (decode_binary(body, properties, prefix, &name)?, name)
    } else if content_type.starts_with(CLOUDEVENTS_JSON) {
        let name = of_base(
            DialectBase::CloudeventsStructured,
            crate::dialect::CLOUDEVENTS_STRUCTURED,
        );
        (decode_structured(body, &name)?, name)
    } else if content_type.starts_with(MASSTRANSIT_JSON) {
        let name = of_base(DialectBase::Masstransit, crate::dialect::MASSTRANSIT);
        return decode_masstransit(body, properties, &name, wire);
    } else {
        decode_json_family(body, delivery, declared, wire)?
    };
    let wire_type = envelope.message_type.clone();
    Ok(resolved(envelope, dialect, wire_type, wire))
}

fn resolved(
    mut envelope: Envelope<Box<RawValue>>,
    dialect: String,
    wire_type: String,
    wire: &Wire,
) -> Decoded {
    if let Some(message_type) = wire.resolve(&dialect, &wire_type) {
        envelope.message_type = message_type.to_owned();
    }
    Decoded {
        envelope,
        dialect,
        wire_type,
    }
}

/// The JSON envelopes that share `application/json`: the exchange's dialect first, then the
/// standard one, then the catalog's `json` dialects.
fn decode_json_family(
    body: &[u8],
    delivery: Received<'_>,
    declared: Option<&str>,
    wire: &Wire,
) -> Result<(Envelope<Box<RawValue>>, String), Rejection> {
    let family = |d: &Dialect| matches!(d.base, DialectBase::Standard | DialectBase::Json);
    // Other dialects only when the body names its own type: one that reads its type from
    // the routing key or a header would take any JSON body for its own.
    let self_describing = |d: &Dialect| {
        d.base == DialectBase::Standard
            || d.fields
                .as_ref()
                .is_some_and(|f| matches!(f.kind, Location::Field(_)))
    };
    // The exchange's own dialect, then the standard one, then the rest.
    let mut candidates: Vec<&str> = declared
        .filter(|n| wire.dialect(n).is_some_and(family))
        .into_iter()
        .collect();
    let others = wire
        .dialects()
        .filter(|(_, d)| family(d) && self_describing(d))
        .map(|(n, _)| n);
    for name in std::iter::once(crate::dialect::STANDARD).chain(others) {
        if wire.dialect(name).is_some() && !candidates.contains(&name) {
            candidates.push(name);
        }
    }
    let mut first_error = None;
    for name in &candidates {
        let Some(dialect) = wire.dialect(name) else {
            continue;
        };
        let result = match dialect.base {
            DialectBase::Standard => decode_standard(body, name),
            _ => decode_json(body, delivery, dialect, name),
        };
        match result {
            Ok(envelope) => return Ok((envelope, (*name).to_owned())),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        malformed(
            crate::dialect::STANDARD,
            "body",
            "fits no dialect of the catalog",
        )
    }))
}

/// The standard envelope, with any string as its message ID.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StandardIn {
    message_id: serde_json::Value,
    message_type: serde_json::Value,
    #[serde(default)]
    envelope_version: Option<String>,
    timestamp: serde_json::Value,
    source_service: serde_json::Value,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    causation_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    partition_key: Option<String>,
    payload: Box<RawValue>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

fn text_field(dialect: &str, field: &str, value: serde_json::Value) -> Result<String, Rejection> {
    match value {
        serde_json::Value::String(s) => Ok(s),
        other => Err(malformed(
            dialect,
            field,
            format!("is {}, not a string", json_kind(&other)),
        )),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn time_field(dialect: &str, field: &str, text: &str) -> Result<DateTime<Utc>, Rejection> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            malformed(
                dialect,
                field,
                format!("`{text}` is not an RFC 3339 time: {e}"),
            )
        })
}

/// A serde error names the missing or mistyped field in its text: keep that text.
fn body_error(dialect: &str, e: serde_json::Error) -> Rejection {
    let text = e.to_string();
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("missing field"))
        .unwrap_or("body")
        .to_owned();
    malformed(dialect, &field, text)
}

fn metadata_map(values: BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    values
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

fn decode_standard(body: &[u8], dialect: &str) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let e: StandardIn = serde_json::from_slice(body).map_err(|e| body_error(dialect, e))?;
    let timestamp = text_field(dialect, "timestamp", e.timestamp)?;
    Ok(Envelope {
        message_id: text_field(dialect, "messageId", e.message_id)?,
        message_type: text_field(dialect, "messageType", e.message_type)?,
        envelope_version: e
            .envelope_version
            .unwrap_or_else(|| ENVELOPE_VERSION.to_owned()),
        timestamp: time_field(dialect, "timestamp", &timestamp)?,
        source_service: text_field(dialect, "sourceService", e.source_service)?,
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        tenant_id: e.tenant_id,
        partition_key: e.partition_key,
        payload: e.payload,
        metadata: metadata_map(e.metadata),
    })
}

/// An ID for a message that carries none: derived from its body, so a redelivery of the
/// same message gets the same ID (and identical bodies count as one message).
fn derived_id(body: &[u8]) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, body).to_string()
}

fn property_text<'a>(properties: &'a BasicProperties, property: Property) -> Option<String> {
    let short = |s: &'a Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    match property {
        Property::MessageId => short(properties.message_id()),
        Property::CorrelationId => short(properties.correlation_id()),
        Property::Type => short(properties.kind()),
        Property::AppId => short(properties.app_id()),
        Property::Timestamp => properties.timestamp().and_then(|t| {
            DateTime::<Utc>::from_timestamp(i64::try_from(t).ok()?, 0)
                .map(|t| crate::render::rfc3339(&t))
        }),
    }
}

/// A JSON object's top-level members in body order, borrowed from the body (a name is
/// copied only when it carries escapes).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// The member called `name` (the last one, when a name repeats).
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(MemberName(name)) = map.next_key()? {
                    members.push((name, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A member name, borrowed when the body holds it verbatim.
struct MemberName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// The text of a body member: `None` for `null`, an error naming the member for anything but
/// a string.
fn member_text(dialect: &str, field: &str, raw: &RawValue) -> Result<Option<String>, Rejection> {
    let text = raw.get().trim_start();
    let parse_error = |e: serde_json::Error| malformed(dialect, field, e.to_string());
    let value = match text.as_bytes().first() {
        Some(b'n') => return Ok(None),
        Some(b'"') => return serde_json::from_str(text).map(Some).map_err(parse_error),
        // Not text: parsed only for `text_field` to name its kind in the error.
        _ => serde_json::from_str(text).map_err(parse_error)?,
    };
    text_field(dialect, field, value).map(Some)
}

/// Reads the text attributes of a `json` dialect from where the dialect says they live.
struct JsonReader<'a, 'b> {
    dialect: &'a str,
    /// The body's top-level members.
    members: &'a Members<'a>,
    delivery: Received<'b>,
}

impl JsonReader<'_, '_> {
    fn read(&self, attribute: &str, location: &Location) -> Result<Option<String>, Rejection> {
        let name = self.dialect;
        Ok(match location {
            Location::Field(field) => match self.members.get(field) {
                None => None,
                Some(raw) => member_text(name, field, raw)?,
            },
            Location::Header(header) => {
                header_str(self.delivery.properties, header).map(str::to_owned)
            }
            Location::Property(p) => property_text(self.delivery.properties, *p),
            Location::RoutingKey => Some(self.delivery.routing_key.to_owned()),
            Location::Body => return Err(malformed(name, attribute, "cannot be the whole body")),
        })
    }

    fn optional(
        &self,
        attribute: &str,
        location: &Option<Location>,
    ) -> Result<Option<String>, Rejection> {
        match location {
            Some(location) => self.read(attribute, location),
            None => Ok(None),
        }
    }
}

fn decode_json(
    body: &[u8],
    delivery: Received<'_>,
    dialect: &Dialect,
    name: &str,
) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let Some(fields) = &dialect.fields else {
        return Err(malformed(name, "fields", "the dialect declares no fields"));
    };
    let whole_body = fields.payload == Location::Body;
    let members = if whole_body {
        Members(Vec::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| malformed(name, "body", format!("is not a JSON object: {e}")))?
    };
    let properties = delivery.properties;
    let reader = JsonReader {
        dialect: name,
        members: &members,
        delivery,
    };
    let kind = reader
        .read("type", &fields.kind)?
        .ok_or_else(|| malformed(name, &fields.kind.to_string(), "is missing"))?;
    let id = reader.optional("id", &fields.id)?;
    let time = reader.optional("time", &fields.time)?;
    let source = reader.optional("source", &fields.source)?;
    let tenant = reader.optional("tenant", &fields.tenant)?;
    let correlation = reader.optional("correlation", &fields.correlation)?;
    let causation = reader.optional("causation", &fields.causation)?;
    let partition = reader.optional("partition", &fields.partition)?;
    let metadata = match &fields.metadata {
        Some(Location::Field(field)) => match members.get(field) {
            None => BTreeMap::new(),
            Some(raw) => {
                match serde_json::from_str::<Option<BTreeMap<String, serde_json::Value>>>(raw.get())
                {
                    Ok(map) => metadata_map(map.unwrap_or_default()),
                    Err(_) => return Err(malformed(name, field, "is not an object")),
                }
            }
        },
        _ => BTreeMap::new(),
    };
    let payload = match &fields.payload {
        Location::Field(field) => members
            .get(field)
            .ok_or_else(|| malformed(name, field, "is missing"))?
            .to_owned(),
        _ => serde_json::from_slice(body)
            .map_err(|e| malformed(name, "body", format!("is not JSON: {e}")))?,
    };
    let timestamp = match (&time, &fields.time) {
        (Some(t), Some(location)) => time_field(name, &location.to_string(), t)?,
        _ => match properties.timestamp() {
            Some(t) => DateTime::<Utc>::from_timestamp(i64::try_from(*t).unwrap_or(0), 0)
                .unwrap_or_else(Utc::now),
            None => Utc::now(),
        },
    };
    let message_id = id
        .or_else(|| property_text(properties, Property::MessageId))
        .unwrap_or_else(|| derived_id(body));
    Ok(Envelope {
        message_id,
        message_type: kind,
        envelope_version: ENVELOPE_VERSION.to_owned(),
        timestamp,
        source_service: source
            .or_else(|| property_text(properties, Property::AppId))
            .unwrap_or_default(),
        correlation_id: correlation.or_else(|| property_text(properties, Property::CorrelationId)),
        causation_id: causation,
        tenant_id: tenant,
        partition_key: partition,
        payload,
        metadata,
    })
}

/// The CloudEvents attributes an envelope field comes from, as they were found (header
/// text in binary mode, raw JSON members in structured mode), with the extension attributes
/// that are text.
struct CeAttributes<V> {
    specversion: Option<V>,
    id: Option<V>,
    kind: Option<V>,
    source: Option<V>,
    time: Option<V>,
    datacontenttype: Option<V>,
    envelopeversion: Option<V>,
    correlationid: Option<V>,
    causationid: Option<V>,
    tenantid: Option<V>,
    partitionkey: Option<V>,
    /// Extension attributes that are text, by name.
    extensions: BTreeMap<String, String>,
}

impl<V> CeAttributes<V> {
    /// Sorts `(name, value)` pairs in one pass: envelope attributes into their slots, text
    /// extensions into `extensions` (`text` reads a value as text), the rest left out.
    fn read<'n>(
        attributes: impl Iterator<Item = (&'n str, V)>,
        text: impl Fn(&str, &V) -> Option<String>,
    ) -> CeAttributes<V> {
        let mut ce = CeAttributes {
            specversion: None,
            id: None,
            kind: None,
            source: None,
            time: None,
            datacontenttype: None,
            envelopeversion: None,
            correlationid: None,
            causationid: None,
            tenantid: None,
            partitionkey: None,
            extensions: BTreeMap::new(),
        };
        for (name, value) in attributes {
            let slot = match name {
                "specversion" => &mut ce.specversion,
                "id" => &mut ce.id,
                "type" => &mut ce.kind,
                "source" => &mut ce.source,
                "time" => &mut ce.time,
                "datacontenttype" => &mut ce.datacontenttype,
                "envelopeversion" => &mut ce.envelopeversion,
                "correlationid" => &mut ce.correlationid,
                "causationid" => &mut ce.causationid,
                "tenantid" => &mut ce.tenantid,
                "partitionkey" => &mut ce.partitionkey,
                _ => {
                    if !is_envelope_attribute(name) {
                        if let Some(t) = text(name, &value) {
                            ce.extensions.insert(name.to_owned(), t);
                        }
                    }
                    continue;
                }
            };
            *slot = Some(value);
        }
        ce
    }
}

/// The header prefix of a CloudEvents binary-mode message: the one its `specversion` has.
fn ce_prefix(properties: &BasicProperties) -> Option<&'static str> {
    let headers = properties.headers().as_ref()?;
    headers.inner().keys().find_map(|key| {
        [CE_PREFIX, CE_PREFIX_COLON]
            .into_iter()
            .find(|p| key.as_str().strip_prefix(p) == Some("specversion"))
    })
}

fn decode_binary(
    body: &[u8],
    properties: &BasicProperties,
    prefix: &str,
    dialect: &str,
) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let headers = properties.headers().as_ref().map(|h| h.inner());
    let attributes = headers
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.as_str().strip_prefix(prefix)?, value)));
    // Extensions are long strings (the binding's encoding of a CloudEvents String).
    let ce = CeAttributes::read(attributes, |_, value| match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into()),
        _ => None,
    });
    let required = |value: Option<&AMQPValue>, name: &str| {
        amqp_text(value)
            .map(str::to_owned)
            .ok_or_else(|| malformed(dialect, &format!("{prefix}{name}"), "is missing"))
    };
    let specversion = required(ce.specversion, "specversion")?;
    if specversion != "1.0" {
        return Err(malformed(
            dialect,
            &format!("{prefix}specversion"),
            format!("is `{specversion}`, not 1.0"),
        ));
    }
    let content_type =
        amqp_text(ce.datacontenttype).or(properties.content_type().as_ref().map(|c| c.as_str()));
    if let Some(ct) = content_type.filter(|ct| !is_json_media_type(ct)) {
        return Err(malformed(
            dialect,
            "datacontenttype",
            format!("is `{ct}`; the payload of a catalog event is JSON"),
        ));
    }
    let payload: Box<RawValue> = serde_json::from_slice(body)
        .map_err(|e| malformed(dialect, "body", format!("is not JSON: {e}")))?;
    let time = match amqp_text(ce.time) {
        Some(t) => time_field(dialect, &format!("{prefix}time"), t)?,
        None => Utc::now(),
    };
    Ok(Envelope {
        message_id: required(ce.id, "id")?,
        message_type: required(ce.kind, "type")?,
        envelope_version: amqp_text(ce.envelopeversion)
            .unwrap_or(ENVELOPE_VERSION)
            .to_owned(),
        timestamp: time,
        source_service: required(ce.source, "source")?,
        correlation_id: amqp_text(ce.correlationid).map(str::to_owned),
        causation_id: amqp_text(ce.causationid).map(str::to_owned),
        tenant_id: amqp_text(ce.tenantid).map(str::to_owned),
        partition_key: amqp_text(ce.partitionkey).map(str::to_owned),
        payload,
        metadata: ce.extensions,
    })
}

fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

fn is_envelope_attribute(name: &str) -> bool {
    crate::render::RESERVED_CE_ATTRIBUTES.contains(&name)
}

fn decode_structured(body: &[u8], dialect: &str) -> Result<Envelope<Box<RawValue>>, Rejection> {
    let members: Members<'_> = serde_json::from_slice(body)
        .map_err(|e| malformed(dialect, "body", format!("is not a JSON object: {e}")))?;
    let attributes = members.0.iter().map(|(name, raw)| (name.as_ref(), *raw));
    let ce = CeAttributes::read(attributes, |name, raw| {
        member_text(dialect, name, raw).ok().flatten()
    });
    let text = |raw: Option<&RawValue>, name: &str| match raw {
        Some(raw) => member_text(dialect, name, raw),
        None => Ok(None),
    };
    let required = |raw: Option<&RawValue>, name: &str| {
        text(raw, name)?.ok_or_else(|| malformed(dialect, name, "is missing"))
    };
    // An envelope extension that is not text is left out, as any other extension.
    let extension = |raw: Option<&RawValue>, name: &str| text(raw, name).ok().flatten();
    let specversion = required(ce.specversion, "specversion")?;
    if specversion != "1.0" {
        return Err(malformed(
            dialect,
            "specversion",
            format!("is `{specversion}`, not 1.0"),
        ));
    }
    if let Some(ct) =
        text(ce.datacontenttype, "datacontenttype")?.filter(|ct| !is_json_media_type(ct))
    {
        return Err(malformed(
            dialect,
            "datacontenttype",
            format!("is `{ct}`; the payload of a catalog event is JSON"),
        ));
    }
    let payload = match members.get("data") {
        Some(data) => data.to_owned(),
        None => RawValue::from_string("null".to_owned())
            .map_err(|e| malformed(dialect, "data", e.to_string()))?,
    };
    let timestamp = match text(ce.time, "time")? {
        Some(t) => time_field(dialect, "time", &t)?,
        None => Utc::now(),
    };
    Ok(Envelope {
        message_id: required(ce.id, "id")?,
        message_type: required(ce.kind, "type")?,
        envelope_version: extension(ce.envelopeversion, "envelopeversion")
            .unwrap_or_else(|| ENVELOPE_VERSION.to_owned()),
        timestamp,
        source_service: required(ce.source, "source")?,
        correlation_id: extension(ce.correlationid, "correlationid"),
        causation_id: extension(ce.causationid, "causationid"),
        tenant_id: extension(ce.tenantid, "tenantid"),
        partition_key: extension(ce.partitionkey, "partitionkey"),
        payload,
        metadata: ce.extensions,
    })
}

/// MassTransit's envelope as its deserializer reads it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MassTransitIn {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    initiator_id: Option<String>,
    #[serde(default)]
    source_address: Option<String>,
    #[serde(default)]
    destination_address: Option<String>,
    message_type: Vec<String>,
    message: Box<RawValue>,
    #[serde(default)]
    sent_time: Option<String>,
    #[serde(default)]
    headers: Option<BTreeMap<String, serde_json::Value>>,
}

fn decode_masstransit(
    body: &[u8],
    properties: &BasicProperties,
    dialect: &str,
    wire: &Wire,
) -> Result<Decoded, Rejection> {
    let e: MassTransitIn = serde_json::from_slice(body).map_err(|e| body_error(dialect, e))?;
    if e.message_type.is_empty() {
        return Err(malformed(dialect, "messageType", "is an empty array"));
    }
    let mut headers = metadata_map(e.headers.unwrap_or_default());
    let tenant = headers.remove(crate::render::MT_TENANT_HEADER);
    let partition = headers.remove(crate::render::MT_PARTITION_HEADER);
    let correlation = e
        .correlation_id
        .or(headers.remove(crate::render::MT_CORRELATION_HEADER));
    let causation = e
        .initiator_id
        .or(headers.remove(crate::render::MT_CAUSATION_HEADER));
    let mut metadata = headers;
    for (key, value) in [
        (crate::render::MT_CONVERSATION, e.conversation_id),
        (crate::render::MT_SOURCE_ADDRESS, e.source_address.clone()),
        (crate::render::MT_DESTINATION_ADDRESS, e.destination_address),
    ] {
        if let Some(v) = value {
            metadata.insert(key.to_owned(), v);
        }
    }
    let timestamp = match &e.sent_time {
        Some(t) => time_field(dialect, "sentTime", t)?,
        None => Utc::now(),
    };
    // The first URN the catalog knows: MassTransit lists the message's type first, then the
    // types it implements.
    let wire_type = e
        .message_type
        .iter()
        .find(|urn| wire.resolve(dialect, urn).is_some())
        .unwrap_or(&e.message_type[0])
        .clone();
    let source = e
        .source_address
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .map(|s| s.split('?').next().unwrap_or(s).to_owned())
        .or_else(|| property_text(properties, Property::AppId))
        .unwrap_or_default();
    let envelope = Envelope {
        message_id: e
            .message_id
            .or_else(|| property_text(properties, Property::MessageId))
            .unwrap_or_else(|| derived_id(body)),
        message_type: wire_type.clone(),
        envelope_version: ENVELOPE_VERSION.to_owned(),
        timestamp,
        source_service: source,
        correlation_id: correlation,
        causation_id: causation,
        tenant_id: tenant,
        partition_key: partition,
        payload: e.message,
        metadata,
    };
    Ok(resolved(envelope, dialect.to_owned(), wire_type, wire))
}

#[cfg(test)]
mod tests;
