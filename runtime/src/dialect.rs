//! Dialects: how an event travels on the wire.
//!
//! A dialect says where a message's ID, type, time, source, tenant, correlation and causation
//! IDs, payload and metadata live (body fields, AMQP properties, headers or the routing key),
//! how an event version's type value is written, and the content type. Four are built in:
//!
//! | dialect | body | type value (default) |
//! |---|---|---|
//! | `standard` | the StandardMessage envelope (`messageId`, `messageType`, …, `payload`) | `UserRegistered.v1` |
//! | `cloudevents-binary` | the payload; attributes in `cloudEvents_*` headers | `UserRegistered.v1` |
//! | `cloudevents-structured` | a CloudEvents 1.0 JSON event, the payload as `data` | `UserRegistered.v1` |
//! | `masstransit` | MassTransit's JSON envelope, the payload as `message` | `urn:message:<Namespace>:<Type>` (declared) |
//!
//! Any other JSON envelope is a `json` dialect declared in `catalog.toml` by field
//! locations ([`JsonFields`]), such as the Collector's `{type, timestamp, tenantId, source,
//! correlationId?, data}`. A catalog's dialects, which exchange uses which, and the type value
//! of every event version form its [`Wire`], generated into the catalog crate and handed to
//! publishers and consumers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Name of the built-in StandardMessage dialect.
pub const STANDARD: &str = "standard";
/// Name of the built-in CloudEvents binary-mode dialect.
pub const CLOUDEVENTS_BINARY: &str = "cloudevents-binary";
/// Name of the built-in CloudEvents structured-mode dialect.
pub const CLOUDEVENTS_STRUCTURED: &str = "cloudevents-structured";
/// Name of the built-in MassTransit dialect.
pub const MASSTRANSIT: &str = "masstransit";

/// What a dialect is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialectBase {
    /// The StandardMessage JSON envelope.
    Standard,
    /// CloudEvents 1.0, binary content mode.
    CloudeventsBinary,
    /// CloudEvents 1.0, structured content mode.
    CloudeventsStructured,
    /// MassTransit's JSON envelope (`application/vnd.masstransit+json`).
    Masstransit,
    /// A JSON envelope described by field locations.
    Json,
}

impl DialectBase {
    /// The content type a message of this base is published with.
    pub fn default_content_type(self) -> &'static str {
        match self {
            DialectBase::CloudeventsStructured => "application/cloudevents+json",
            DialectBase::Masstransit => "application/vnd.masstransit+json",
            _ => "application/json",
        }
    }
}

/// One dialect: a built-in one, or a `[dialects.<name>]` table of `catalog.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialect {
    /// The dialect it builds on.
    pub base: DialectBase,
    /// How an event version's type value is written: a template over `{name}`
    /// (`OrderCreated`), `{version}` (`1`), `{message_type}` (`OrderCreated.v1`),
    /// `{routing_key}` (`order.created.v1`) and `{key}` (the routing key without a trailing
    /// `.v<N>`: `order.created`). Default `{message_type}`. An event's `x-event.wireType`
    /// overrides it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_template: Option<String>,
    /// The content type published (default per base; `application/json` for `json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// How a published message ID is written: a template over `{uuid}` (default `{uuid}`;
    /// the shop writes `evt_{uuid}`). MassTransit needs a bare UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_format: Option<String>,
    /// Where each attribute lives (`json` dialects only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<JsonFields>,
    /// Headers a publisher copies from the payload: header name → JSON pointer into the
    /// payload (`userId = "/userId"`). Consumers read the payload itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub payload_headers: BTreeMap<String, String>,
}

impl Dialect {
    /// A built-in dialect with its defaults.
    pub fn builtin(base: DialectBase) -> Dialect {
        Dialect {
            base,
            type_template: None,
            content_type: None,
            id_format: None,
            fields: None,
            payload_headers: BTreeMap::new(),
        }
    }

    /// The built-in dialect called `name`, if there is one.
    pub fn builtin_named(name: &str) -> Option<Dialect> {
        let base = match name {
            STANDARD => DialectBase::Standard,
            CLOUDEVENTS_BINARY => DialectBase::CloudeventsBinary,
            CLOUDEVENTS_STRUCTURED => DialectBase::CloudeventsStructured,
            MASSTRANSIT => DialectBase::Masstransit,
            _ => return None,
        };
        Some(Dialect::builtin(base))
    }

    /// The content type it publishes with.
    pub fn content_type(&self) -> &str {
        self.content_type
            .as_deref()
            .unwrap_or_else(|| self.base.default_content_type())
    }

    /// The type value of an event version in this dialect.
    pub fn type_value(&self, name: &str, version: u32, routing_key: &str) -> String {
        let template = self.type_template.as_deref().unwrap_or("{message_type}");
        expand(template, name, version, routing_key)
    }

    /// A fresh message ID in this dialect's format.
    pub fn new_message_id(&self) -> String {
        let uuid = uuid::Uuid::new_v4().to_string();
        match &self.id_format {
            Some(format) => format.replace("{uuid}", &uuid),
            None => uuid,
        }
    }

    /// Checks the dialect's own consistency; the error says what is wrong and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(template) = &self.type_template {
            check_template(template, TYPE_PLACEHOLDERS)
                .map_err(|e| format!("`type = \"{template}\"`: {e}"))?;
        }
        if let Some(format) = &self.id_format {
            check_template(format, &["uuid"])
                .map_err(|e| format!("`id_format = \"{format}\"`: {e}"))?;
            if !format.contains("{uuid}") {
                return Err(format!(
                    "`id_format = \"{format}\"` has no `{{uuid}}`: every message would get the same ID"
                ));
            }
            if self.base == DialectBase::Masstransit && format != "{uuid}" {
                return Err("MassTransit message IDs are GUIDs: remove `id_format`".into());
            }
        }
        for (header, pointer) in &self.payload_headers {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(format!(
                    "`payload_headers.{header} = \"{pointer}\"` is not a JSON pointer: write `/{pointer}`"
                ));
            }
        }
        match (&self.fields, self.base) {
            (Some(fields), DialectBase::Json) => fields.validate(),
            (None, DialectBase::Json) => Err(
                "a `json` dialect needs a `fields` table saying where at least `type` and `payload` live"
                    .into(),
            ),
            (Some(_), _) => Err(
                "`fields` describes `json` dialects only; built-in dialects have fixed layouts"
                    .into(),
            ),
            (None, _) => Ok(()),
        }
    }
}

const TYPE_PLACEHOLDERS: &[&str] = &["name", "version", "message_type", "routing_key", "key"];

fn check_template(template: &str, known: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err("a `{` is never closed".into());
        };
        let name = &rest[start + 1..start + len];
        if !known.contains(&name) {
            let known: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            return Err(format!(
                "unknown placeholder `{{{name}}}` (known: {})",
                known.join(", ")
            ));
        }
        rest = &rest[start + len + 1..];
    }
    Ok(())
}

fn expand(template: &str, name: &str, version: u32, routing_key: &str) -> String {
    template
        .replace("{message_type}", &format!("{name}.v{version}"))
        .replace("{routing_key}", routing_key)
        .replace("{key}", unversioned(routing_key))
        .replace("{name}", name)
        .replace("{version}", &version.to_string())
}

/// `order.created.v1` → `order.created`; a key without a version suffix is returned as is.
pub fn unversioned(routing_key: &str) -> &str {
    match routing_key.rsplit_once('.') {
        Some((head, last))
            if last.len() > 1
                && last.starts_with('v')
                && last[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => routing_key,
    }
}

impl Dialect {
    /// The JSON Schema (2020-12) of a message body in this dialect, with the payload left
    /// open (each event's own schema constrains it): what other languages' consumers can
    /// validate a message's envelope against. Attributes that travel in headers or properties
    /// are named in the description.
    pub fn envelope_schema(&self, name: &str) -> serde_json::Value {
        use serde_json::json;
        let text = |description: &str| json!({"type": "string", "description": description});
        let time = |description: &str| json!({"type": "string", "format": "date-time", "description": description});
        let mut schema = match self.base {
            DialectBase::Standard => {
                let mut schema = crate::envelope::Envelope::json_schema();
                if let Some(o) = schema.as_object_mut() {
                    o.remove("$schema");
                    o.remove("title");
                }
                schema
            }
            DialectBase::CloudeventsBinary => json!({
                "description": "CloudEvents 1.0, binary content mode: the body is the payload; the attributes travel in `cloudEvents_*` headers (`cloudEvents:*` is read too)."
            }),
            DialectBase::CloudeventsStructured => json!({
                "description": "CloudEvents 1.0, structured content mode (`application/cloudevents+json`).",
                "type": "object",
                "required": ["specversion", "id", "type", "source"],
                "properties": {
                    "specversion": {"const": "1.0"},
                    "id": text("Unique per message; any string."),
                    "type": text("The event version's type value."),
                    "source": text("The producing service."),
                    "time": time("When the event happened."),
                    "datacontenttype": text("The payload's media type: JSON."),
                    "data": {"description": "The payload."}
                }
            }),
            DialectBase::Masstransit => {
                let guid = |description: &str| json!({"type": ["string", "null"], "format": "uuid", "description": description});
                json!({
                    "description": "MassTransit's JSON envelope (`application/vnd.masstransit+json`).",
                    "type": "object",
                    "required": ["messageType", "message"],
                    "properties": {
                        "messageId": guid("Unique per message."),
                        "correlationId": guid("Correlation ID, when it is a GUID."),
                        "conversationId": guid("Carried through every message of a conversation."),
                        "initiatorId": guid("The message that caused this one."),
                        "requestId": guid("Request/response correlation."),
                        "sourceAddress": {"type": ["string", "null"], "description": "The sending endpoint."},
                        "destinationAddress": {"type": ["string", "null"], "description": "The destination."},
                        "responseAddress": {"type": ["string", "null"]},
                        "faultAddress": {"type": ["string", "null"]},
                        "messageType": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "pattern": "^urn:message:"},
                            "description": "URNs of the message's type, most specific first."
                        },
                        "message": {"description": "The payload."},
                        "expirationTime": {"type": ["string", "null"]},
                        "sentTime": {"type": ["string", "null"], "format": "date-time"},
                        "headers": {"type": ["object", "null"], "description": "Headers: the tenant, and IDs that are not GUIDs."},
                        "host": {"type": ["object", "null"], "description": "The sending process."}
                    }
                })
            }
            DialectBase::Json => {
                let Some(fields) = &self.fields else {
                    return json!({});
                };
                let mut properties = serde_json::Map::new();
                let mut required = Vec::new();
                let mut elsewhere = Vec::new();
                for (attribute, location) in fields.all() {
                    let schema = match attribute {
                        "payload" => json!({"description": "The payload."}),
                        "metadata" => json!({
                            "type": ["object", "null"],
                            "description": "Free-form metadata."
                        }),
                        "time" => time("When the event happened (RFC 3339)."),
                        "type" => text("The event version's type value."),
                        other => text(&format!("The message's {other}.")),
                    };
                    match location {
                        Location::Field(field) => {
                            if matches!(attribute, "type" | "payload") {
                                required.push(field.clone());
                            }
                            properties.insert(field.clone(), schema);
                        }
                        Location::Body => {}
                        other => elsewhere.push(format!("{attribute} in {other}")),
                    }
                }
                let description = if elsewhere.is_empty() {
                    format!("The `{name}` envelope.")
                } else {
                    format!(
                        "The `{name}` envelope; elsewhere: {}.",
                        elsewhere.join(", ")
                    )
                };
                if fields.payload == Location::Body {
                    json!({"description": format!("{description} The body is the payload.")})
                } else {
                    json!({
                        "description": description,
                        "type": "object",
                        "required": required,
                        "properties": properties
                    })
                }
            }
        };
        if let Some(o) = schema.as_object_mut() {
            o.insert(
                "$schema".into(),
                "https://json-schema.org/draft/2020-12/schema".into(),
            );
            o.insert("title".into(), format!("{name} envelope").into());
        }
        schema
    }
}

/// Where an attribute of a `json` dialect lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Location {
    /// A top-level field of the JSON body.
    Field(String),
    /// The whole body (the payload of a dialect whose metadata lives elsewhere).
    Body,
    /// An AMQP header.
    Header(String),
    /// An AMQP property.
    Property(Property),
    /// The routing key the message was published with (read only: a publisher uses the
    /// event's routing key).
    RoutingKey,
}

/// AMQP properties a dialect can put an attribute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property {
    /// `message_id`.
    MessageId,
    /// `correlation_id`.
    CorrelationId,
    /// `type`.
    Type,
    /// `app_id`.
    AppId,
    /// `timestamp` (seconds).
    Timestamp,
}

impl Property {
    const ALL: [(&'static str, Property); 5] = [
        ("message_id", Property::MessageId),
        ("correlation_id", Property::CorrelationId),
        ("type", Property::Type),
        ("app_id", Property::AppId),
        ("timestamp", Property::Timestamp),
    ];

    fn name(self) -> &'static str {
        Property::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "body" {
            return Ok(Location::Body);
        }
        if s == "routing-key" {
            return Ok(Location::RoutingKey);
        }
        if let Some(name) = s.strip_prefix("header:") {
            if name.is_empty() {
                return Err("`header:` needs a header name, as in `header:tenantId`".into());
            }
            return Ok(Location::Header(name.to_owned()));
        }
        if let Some(name) = s.strip_prefix("property:") {
            return Property::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| Location::Property(*p))
                .ok_or_else(|| {
                    let names: Vec<&str> = Property::ALL.iter().map(|(n, _)| *n).collect();
                    format!(
                        "`property:{name}` is not an AMQP property a dialect can use ({})",
                        names.join(", ")
                    )
                });
        }
        if s.is_empty() || s.contains(':') {
            return Err(format!(
                "`{s}` is not a location: write a body field name, `body`, `routing-key`, `header:<name>` or `property:<name>`"
            ));
        }
        Ok(Location::Field(s.to_owned()))
    }
}

impl TryFrom<String> for Location {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Field(name) => f.write_str(name),
            Location::Body => f.write_str("body"),
            Location::Header(name) => write!(f, "header:{name}"),
            Location::Property(p) => write!(f, "property:{}", p.name()),
            Location::RoutingKey => f.write_str("routing-key"),
        }
    }
}

impl From<Location> for String {
    fn from(value: Location) -> Self {
        value.to_string()
    }
}

/// Where the attributes of a `json` dialect live (`[dialects.<name>.fields]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFields {
    /// The message ID. Without one, a consumer uses the AMQP `message_id` property, or else a
    /// UUID derived from the body (identical bodies count as one message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Location>,
    /// The type value, mapped to an event version by the catalog.
    #[serde(rename = "type")]
    pub kind: Location,
    /// The event time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Location>,
    /// The producing service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Location>,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Location>,
    /// The correlation ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Location>,
    /// The causation ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation: Option<Location>,
    /// The partition key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Location>,
    /// The payload: a body field, or `body` for the whole body.
    pub payload: Location,
    /// A body field holding an object of free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Location>,
}

impl JsonFields {
    /// Every attribute with its location, named as in `catalog.toml`.
    pub fn all(&self) -> Vec<(&'static str, &Location)> {
        let mut all = vec![("type", &self.kind), ("payload", &self.payload)];
        for (name, location) in [
            ("id", &self.id),
            ("time", &self.time),
            ("source", &self.source),
            ("tenant", &self.tenant),
            ("correlation", &self.correlation),
            ("causation", &self.causation),
            ("partition", &self.partition),
            ("metadata", &self.metadata),
        ] {
            if let Some(location) = location {
                all.push((name, location));
            }
        }
        all
    }

    fn validate(&self) -> Result<(), String> {
        match &self.payload {
            Location::Field(_) | Location::Body => {}
            other => {
                return Err(format!(
                    "`payload = \"{other}\"`: the payload is a body field or `body`"
                ))
            }
        }
        let whole_body = self.payload == Location::Body;
        let mut seen: HashMap<&Location, &str> = HashMap::new();
        for (name, location) in self.all() {
            if let Some(other) = seen.insert(location, name) {
                return Err(format!(
                    "`{other}` and `{name}` both live at `{location}`: give each its own place"
                ));
            }
            match location {
                Location::Field(_) if whole_body => {
                    return Err(format!(
                        "`{name} = \"{location}\"` is a body field, but the payload is the whole body: put `{name}` in a header or property"
                    ))
                }
                Location::Body if name != "payload" => {
                    return Err(format!("`{name} = \"body\"`: only the payload can be the whole body"))
                }
                Location::RoutingKey if name != "type" => {
                    return Err(format!(
                        "`{name} = \"routing-key\"`: only the type can be read from the routing key"
                    ))
                }
                Location::Header(_) | Location::Property(_) | Location::RoutingKey
                    if name == "metadata" =>
                {
                    return Err("`metadata` is a body field holding an object".into())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// How one event version travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WireEvent {
    /// `<EventName>.v<N>`: the catalog's name of the event version.
    pub message_type: String,
    /// The exchange it is published to.
    pub exchange: String,
    /// The dialect it travels in.
    pub dialect: String,
    /// Its type value in that dialect.
    pub wire_type: String,
}

/// A catalog's dialects, which exchange uses which, and how every event version travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireSpec", into = "WireSpec")]
pub struct Wire {
    spec: WireSpec,
    /// Dialect → type value → index into `spec.events`.
    by_type: HashMap<String, HashMap<String, usize>>,
    /// Message type → index into `spec.events`.
    by_message_type: HashMap<String, usize>,
}

/// The serialized form of a [`Wire`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WireSpec {
    /// Dialects by name, the built-in ones the catalog uses included.
    pub dialects: BTreeMap<String, Dialect>,
    /// The dialect of each exchange.
    pub exchanges: BTreeMap<String, String>,
    /// Every event version.
    pub events: Vec<WireEvent>,
}

impl TryFrom<WireSpec> for Wire {
    type Error = String;

    fn try_from(spec: WireSpec) -> Result<Self, Self::Error> {
        Wire::new(spec)
    }
}

impl From<Wire> for WireSpec {
    fn from(value: Wire) -> Self {
        value.spec
    }
}

impl Default for Wire {
    fn default() -> Self {
        Wire::standard()
    }
}

impl Wire {
    /// Checks `spec` and indexes it: every dialect valid, every exchange's and event's
    /// dialect declared, no two event versions of one dialect with the same type value.
    pub fn new(mut spec: WireSpec) -> Result<Wire, String> {
        for name in [
            STANDARD,
            CLOUDEVENTS_BINARY,
            CLOUDEVENTS_STRUCTURED,
            MASSTRANSIT,
        ] {
            if let Some(builtin) = Dialect::builtin_named(name) {
                spec.dialects.entry(name.to_owned()).or_insert(builtin);
            }
        }
        for (name, dialect) in &spec.dialects {
            dialect
                .validate()
                .map_err(|e| format!("dialect `{name}`: {e}"))?;
        }
        for (exchange, dialect) in &spec.exchanges {
            if !spec.dialects.contains_key(dialect) {
                return Err(format!(
                    "exchange `{exchange}` names dialect `{dialect}`, which is not declared"
                ));
            }
        }
        let mut by_type = HashMap::new();
        let mut by_message_type = HashMap::new();
        for (i, event) in spec.events.iter().enumerate() {
            if !spec.dialects.contains_key(&event.dialect) {
                return Err(format!(
                    "{} names dialect `{}`, which is not declared",
                    event.message_type, event.dialect
                ));
            }
            let of_dialect: &mut HashMap<String, usize> =
                by_type.entry(event.dialect.clone()).or_default();
            if let Some(j) = of_dialect.insert(event.wire_type.clone(), i) {
                let other: &WireEvent = &spec.events[j];
                return Err(format!(
                    "{} and {} both travel as type `{}` in dialect `{}`",
                    other.message_type, event.message_type, event.wire_type, event.dialect
                ));
            }
            by_message_type.insert(event.message_type.clone(), i);
        }
        Ok(Wire {
            spec,
            by_type,
            by_message_type,
        })
    }

    /// The built-in dialects only, with no events: what a consumer or publisher without a
    /// catalog's wire reads and writes (the standard dialect, CloudEvents and MassTransit,
    /// with type values equal to message types).
    pub fn standard() -> Wire {
        Wire::new(WireSpec::default()).unwrap_or_else(|_| Wire {
            spec: WireSpec::default(),
            by_type: HashMap::new(),
            by_message_type: HashMap::new(),
        })
    }

    /// Parses the JSON form written by the generator.
    pub fn from_json(json: &str) -> Result<Wire, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.spec).unwrap_or_default()
    }

    /// The serialized form.
    pub fn spec(&self) -> &WireSpec {
        &self.spec
    }

    /// The dialect called `name`.
    pub fn dialect(&self, name: &str) -> Option<&Dialect> {
        self.spec.dialects.get(name)
    }

    /// Every dialect, by name.
    pub fn dialects(&self) -> impl Iterator<Item = (&str, &Dialect)> {
        self.spec.dialects.iter().map(|(n, d)| (n.as_str(), d))
    }

    /// The dialect declared for `exchange`, by name.
    pub fn exchange_dialect(&self, exchange: &str) -> Option<&str> {
        self.spec.exchanges.get(exchange).map(String::as_str)
    }

    /// How the event version `message_type` travels.
    pub fn event(&self, message_type: &str) -> Option<&WireEvent> {
        self.by_message_type
            .get(message_type)
            .map(|&i| &self.spec.events[i])
    }

    /// The event version a type value of `dialect` selects. A type value that is itself a
    /// message type of the catalog selects that version in any dialect.
    pub fn resolve(&self, dialect: &str, wire_type: &str) -> Option<&str> {
        self.by_type
            .get(dialect)
            .and_then(|types| types.get(wire_type))
            .map(|&i| self.spec.events[i].message_type.as_str())
            .or_else(|| {
                self.by_message_type
                    .get_key_value(wire_type)
                    .map(|(k, _)| k.as_str())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_templates_expand_every_placeholder() {
        let d = Dialect {
            type_template: Some("{key}|{routing_key}|{name}|{version}|{message_type}".into()),
            ..Dialect::builtin(DialectBase::Json)
        };
        assert_eq!(
            d.type_value("OrderCreated", 2, "order.created.v2"),
            "order.created|order.created.v2|OrderCreated|2|OrderCreated.v2"
        );
        assert_eq!(unversioned("task.completed.v1"), "task.completed");
        assert_eq!(unversioned("order.created"), "order.created");
        assert_eq!(unversioned("order.v"), "order.v");
        assert_eq!(unversioned("v1"), "v1");
    }

    #[test]
    fn locations_parse_and_print_alike() {
        for text in [
            "type",
            "body",
            "routing-key",
            "header:tenantId",
            "property:message_id",
        ] {
            let location: Location = text.parse().unwrap();
            assert_eq!(location.to_string(), text);
        }
        for bad in ["", "header:", "property:priority", "x:y"] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
    }

    fn fields(payload: &str, kind: &str) -> JsonFields {
        JsonFields {
            id: None,
            kind: kind.parse().unwrap(),
            time: None,
            source: None,
            tenant: None,
            correlation: None,
            causation: None,
            partition: None,
            payload: payload.parse().unwrap(),
            metadata: None,
        }
    }

    #[test]
    fn inconsistent_dialects_are_refused_with_a_fix() {
        let json = |f: JsonFields| Dialect {
            fields: Some(f),
            ..Dialect::builtin(DialectBase::Json)
        };
        assert_eq!(json(fields("data", "type")).validate(), Ok(()));
        assert_eq!(json(fields("body", "routing-key")).validate(), Ok(()));
        let e = json(fields("body", "type")).validate().unwrap_err();
        assert!(e.contains("put `type` in a header"), "{e}");
        let e = json(fields("data", "data")).validate().unwrap_err();
        assert!(e.contains("both live at `data`"), "{e}");
        let e = json(fields("header:x", "type")).validate().unwrap_err();
        assert!(e.contains("payload is a body field"), "{e}");
        let e = Dialect::builtin(DialectBase::Json).validate().unwrap_err();
        assert!(e.contains("needs a `fields` table"), "{e}");
        let e = Dialect {
            type_template: Some("{nme}".into()),
            ..Dialect::builtin(DialectBase::Standard)
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("unknown placeholder `{nme}`"), "{e}");
    }

    #[test]
    fn two_versions_with_one_type_value_are_refused() {
        let event = |mt: &str| WireEvent {
            message_type: mt.into(),
            exchange: "orders".into(),
            dialect: STANDARD.into(),
            wire_type: "order.created".into(),
        };
        let e = Wire::new(WireSpec {
            events: vec![event("OrderCreated.v1"), event("OrderCreated.v2")],
            ..WireSpec::default()
        })
        .unwrap_err();
        assert!(
            e.contains("OrderCreated.v1 and OrderCreated.v2 both travel as type `order.created`"),
            "{e}"
        );
    }

    #[test]
    fn type_values_resolve_per_dialect_and_the_wire_round_trips_as_json() {
        let mut spec = WireSpec::default();
        spec.dialects.insert(
            "collector".into(),
            Dialect {
                type_template: Some("{key}".into()),
                fields: Some(fields("data", "type")),
                ..Dialect::builtin(DialectBase::Json)
            },
        );
        spec.exchanges
            .insert("collector-events".into(), "collector".into());
        spec.events.push(WireEvent {
            message_type: "OrderCreated.v1".into(),
            exchange: "collector-events".into(),
            dialect: "collector".into(),
            wire_type: "order.created".into(),
        });
        let wire = Wire::new(spec).unwrap();
        assert_eq!(
            wire.resolve("collector", "order.created"),
            Some("OrderCreated.v1")
        );
        assert_eq!(wire.resolve(STANDARD, "order.created"), None);
        assert_eq!(
            wire.resolve(STANDARD, "OrderCreated.v1"),
            Some("OrderCreated.v1")
        );
        assert_eq!(wire.exchange_dialect("collector-events"), Some("collector"));
        let back = Wire::from_json(&wire.to_json()).unwrap();
        assert_eq!(back, wire);
    }
}
