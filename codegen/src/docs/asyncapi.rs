//! The catalog as an AsyncAPI 3.0 document: one channel per event version (the routing key
//! is its address; AMQP channel bindings 0.3.0 name the exchange), send and receive
//! operations per service, messages with their payload schemas, examples and the envelope's
//! headers.
//!
//! Payload schemas are the bundled event schemas, with their definitions moved under
//! `components/schemas` (a `$ref` inside an AsyncAPI document resolves against the document):
//! an event's own definitions as `<EventName.vN>.<Name>`, the catalog's shared definitions
//! once each, as `shared.<Name>` (the names of the generated Rust `shared` module).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{Catalog, EventVersion, SharedDefinitions};
use crate::topology;
use schemactl_runtime::dialect::{Dialect, DialectBase, Location};

/// The AsyncAPI version written.
pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The AMQP bindings version written.
pub const AMQP_BINDINGS_VERSION: &str = "0.3.0";

/// The AsyncAPI 3.0 document of `catalog`.
pub fn document(catalog: &Catalog) -> Value {
    let plan = topology::plan(catalog);
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    let mut schemas = Map::new();
    // One envelope component per dialect in use: the body around the payload.
    for v in catalog.versions() {
        let component = envelope_component(&v.dialect);
        if !schemas.contains_key(&component) {
            let mut envelope = super::dialect_of(catalog, v).envelope_schema(&v.dialect);
            if let Some(o) = envelope.as_object_mut() {
                o.remove("$schema");
            }
            schemas.insert(component, envelope);
        }
    }
    let shared = &catalog.shared_definitions;
    if let Some(defs) = shared.schema.get("definitions").and_then(Value::as_object) {
        for (name, def) in defs {
            let mut def = def.clone();
            rewrite_refs(&mut def, &|target| target.map(shared_component));
            schemas.insert(shared_component(name), def);
        }
    }
    for v in catalog.versions() {
        let key = v.message_type.clone();
        let (payload, definitions) = payload_schema(v, &key, shared);
        schemas.insert(key.clone(), payload);
        schemas.extend(definitions);
        messages.insert(key.clone(), message(catalog, v, &key));
        let exchange = catalog.exchange(&v.catalog_exchange);
        channels.insert(
            key.clone(),
            json!({
                "address": v.routing_key,
                "title": format!("{} on {}", v.routing_key, v.exchange),
                "description": format!("{} published to exchange `{}` with routing key `{}`.", key, v.exchange, v.routing_key),
                "messages": { &key: { "$ref": format!("#/components/messages/{key}") } },
                "bindings": { "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": v.exchange,
                        "type": catalog.exchange_kind(v).as_str(),
                        "durable": exchange.is_none_or(|x| x.durable),
                        "autoDelete": false,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDINGS_VERSION,
                }},
            }),
        );
        let channel = json!({ "$ref": format!("#/channels/{key}") });
        let message_ref = json!([{ "$ref": format!("#/channels/{key}/messages/{key}") }]);
        operations.insert(
            format!("{}.send.{key}", v.producer),
            json!({
                "action": "send",
                "channel": channel,
                "title": format!("{} publishes {key}", v.producer),
                "summary": v.trigger.clone().unwrap_or_else(|| format!("Publish {key}.")),
                "tags": [{ "name": v.producer }],
                "messages": message_ref,
                "bindings": { "amqp": {
                    "deliveryMode": 2,
                    "mandatory": true,
                    "timestamp": true,
                    "bindingVersion": AMQP_BINDINGS_VERSION,
                }},
            }),
        );
        for consumer in &v.consumers {
            let queue = plan.service(consumer).map(|q| q.queue.clone());
            let mut op = json!({
                "action": "receive",
                "channel": channel,
                "title": format!("{consumer} consumes {key}"),
                "summary": v.purpose.clone().unwrap_or_else(|| format!("Consume {key}.")),
                "tags": [{ "name": consumer }],
                "messages": message_ref,
                "bindings": { "amqp": { "ack": true, "bindingVersion": AMQP_BINDINGS_VERSION } },
            });
            if let (Some(q), Some(o)) = (queue, op.as_object_mut()) {
                o.insert(
                    "description".into(),
                    format!(
                        "Delivered through queue `{q}`, bound to `{}` with key `{}`.",
                        v.exchange, v.routing_key
                    )
                    .into(),
                );
            }
            operations.insert(format!("{consumer}.receive.{key}"), op);
        }
    }
    let info = &catalog.config.catalog;
    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": format!("{} events", info.name),
            "version": info.version,
            "description": info.description.clone().unwrap_or_default(),
            "tags": catalog.services.keys().map(|s| json!({ "name": s })).collect::<Vec<_>>(),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ broker the catalog's topology is declared on.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
        },
    })
}

/// `document` as YAML.
pub fn to_yaml(document: &Value) -> String {
    serde_yaml_ng::to_string(document).unwrap_or_default()
}

/// `document` as pretty JSON.
pub fn to_json(document: &Value) -> String {
    let mut s = serde_json::to_string_pretty(document).unwrap_or_default();
    s.push('\n');
    s
}

/// The component name of the shared definition `name`.
fn shared_component(name: &str) -> String {
    format!("shared.{name}")
}

/// The event's bundled schema with references rewritten into `components/schemas`, and its
/// own definitions as components named `<key>.<Definition>`; its shared definitions are the
/// catalog's `shared.<Name>` components.
fn payload_schema(
    v: &EventVersion,
    key: &str,
    shared: &SharedDefinitions,
) -> (Value, Map<String, Value>) {
    let mut schema = v.resolved.clone();
    let mut definitions = Map::new();
    // The catalog-wide names of the definitions the bundle copied from shared files.
    let shared: BTreeMap<&str, &str> = shared.used_by(v).map(|(l, _, s)| (l, s)).collect();
    let shared_name = |name: &str| shared.get(name).copied();
    let component = |name: &str| match shared_name(name) {
        Some(shared) => shared_component(shared),
        None => format!("{key}.{name}"),
    };
    if let Some(o) = schema.as_object_mut() {
        for k in ["$schema", "$id", "x-event", "examples"] {
            o.remove(k);
        }
        if let Some(Value::Object(defs)) = o.remove("definitions") {
            for (name, def) in defs {
                if shared_name(&name).is_none() {
                    definitions.insert(component(&name), def);
                }
            }
        }
    }
    let target = |name: Option<&str>| Some(name.map_or_else(|| key.to_owned(), component));
    rewrite_refs(&mut schema, &target);
    for def in definitions.values_mut() {
        rewrite_refs(def, &target);
    }
    (schema, definitions)
}

/// Points the bundle's references (`#` as `None`, `#/definitions/<Name>` as `Some(Name)`) at
/// the `components/schemas` entry `component` names (a reference it names none for is left).
fn rewrite_refs(schema: &mut Value, component: &dyn Fn(Option<&str>) -> Option<String>) {
    crate::walk::visit_mut(schema, &mut |node| {
        if let Some(Value::String(r)) = node.get_mut("$ref") {
            let target = if r == "#" {
                None
            } else if let Some(name) = r.strip_prefix("#/definitions/") {
                Some(name)
            } else {
                return;
            };
            if let Some(at) = component(target) {
                *r = format!("#/components/schemas/{at}");
            }
        }
    });
}

/// The component name of a dialect's envelope schema.
fn envelope_component(dialect: &str) -> String {
    format!("Envelope.{dialect}")
}

/// Where the payload and the type value sit in a dialect's body, when the body is not the
/// payload itself.
fn body_fields(dialect: &Dialect) -> Option<(String, Option<String>)> {
    match dialect.base {
        DialectBase::Standard => Some(("payload".into(), Some("messageType".into()))),
        DialectBase::CloudeventsStructured => Some(("data".into(), Some("type".into()))),
        DialectBase::Masstransit => Some(("message".into(), None)),
        DialectBase::CloudeventsBinary => None,
        DialectBase::Json => {
            let fields = dialect.fields.as_ref()?;
            let Location::Field(payload) = &fields.payload else {
                return None;
            };
            let kind = match &fields.kind {
                Location::Field(kind) => Some(kind.clone()),
                _ => None,
            };
            Some((payload.clone(), kind))
        }
    }
}

/// The AMQP headers a message of `v` carries, by name, as `render` writes them.
fn header_schemas(dialect: &Dialect, v: &EventVersion) -> Map<String, Value> {
    let text = |d: String| json!({ "type": "string", "description": d });
    let mut headers = Map::new();
    headers.insert(
        "traceparent".into(),
        json!({
            "type": "string",
            "description": "W3C trace context of the publishing span.",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        }),
    );
    match dialect.base {
        DialectBase::Standard => {
            headers.insert(
                "x-tenant-id".into(),
                text("The envelope's tenantId, when set.".into()),
            );
        }
        DialectBase::CloudeventsBinary => {
            headers.insert("cloudEvents_specversion".into(), json!({ "const": "1.0" }));
            headers.insert("cloudEvents_type".into(), json!({ "const": v.wire_type }));
            for (name, d) in [
                ("id", "The message ID."),
                ("source", "The producing service."),
                ("time", "When the event happened (RFC 3339)."),
                ("correlationid", "Correlation ID."),
                ("causationid", "Causation ID."),
                ("tenantid", "Tenant ID."),
                ("partitionkey", "Partition key."),
                ("envelopeversion", "Envelope version."),
            ] {
                headers.insert(format!("cloudEvents_{name}"), text(d.into()));
            }
        }
        DialectBase::Json => {
            if let Some(fields) = &dialect.fields {
                for (attribute, location) in fields.all() {
                    if let Location::Header(name) = location {
                        headers.insert(name.clone(), text(format!("The message's {attribute}.")));
                    }
                }
            }
            for (name, pointer) in &dialect.payload_headers {
                headers.insert(
                    name.clone(),
                    text(format!("Copied from the payload at `{pointer}`.")),
                );
            }
        }
        DialectBase::CloudeventsStructured | DialectBase::Masstransit => {}
    }
    headers
}

fn message(catalog: &Catalog, v: &EventVersion, key: &str) -> Value {
    let payload_ref = json!({ "$ref": format!("#/components/schemas/{key}") });
    let dialect = super::dialect_of(catalog, v);
    let headers = json!({ "type": "object", "properties": header_schemas(&dialect, v) });
    let payload = match body_fields(&dialect) {
        None => payload_ref,
        Some((payload_field, type_field)) => {
            let mut properties = Map::new();
            properties.insert(payload_field, payload_ref);
            match type_field {
                Some(field) => {
                    properties.insert(field, json!({ "const": v.wire_type }));
                }
                None => {
                    properties.insert(
                        "messageType".into(),
                        json!({ "contains": { "const": v.wire_type } }),
                    );
                }
            }
            json!({
                "allOf": [
                    { "$ref": format!("#/components/schemas/{}", envelope_component(&v.dialect)) },
                    { "type": "object", "properties": properties },
                ],
            })
        }
    };
    let content_type = dialect.content_type().to_owned();
    let examples: Vec<Value> = v
        .examples
        .iter()
        .enumerate()
        .map(|(i, example)| {
            json!({
                "name": format!("example-{i}"),
                "summary": format!("Example {i} of {key}"),
                "payload": super::sample_message(catalog, v, example)
                    .ok()
                    .and_then(|m| serde_json::from_slice::<Value>(&m.body).ok())
                    .unwrap_or(Value::Null),
            })
        })
        .collect();
    let mut description = v.description.clone().unwrap_or_default();
    if let Some(note) = &v.deprecated {
        description = format!("**Deprecated.** {note}\n\n{description}");
    }
    json!({
        "name": key,
        "title": format!("{} v{}", v.name, v.version),
        "summary": v.trigger.clone().unwrap_or_else(|| v.description.clone().unwrap_or_default()),
        "description": description,
        "contentType": content_type,
        "headers": headers,
        "payload": payload,
        "examples": examples,
        "bindings": { "amqp": { "messageType": v.wire_type, "bindingVersion": AMQP_BINDINGS_VERSION } },
    })
}
