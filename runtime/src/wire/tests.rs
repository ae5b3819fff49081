use serde_json::{json, Value};

use super::*;
use crate::dialect::{JsonFields, WireEvent, WireSpec, CLOUDEVENTS_BINARY, STANDARD};

const ORDER: &str = "OrderCreated.v1";

fn fields(pairs: &[(&str, &str)]) -> JsonFields {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.parse::<Location>().unwrap())
    };
    JsonFields {
        id: get("id"),
        kind: get("type").unwrap(),
        time: get("time"),
        source: get("source"),
        tenant: get("tenant"),
        correlation: get("correlation"),
        causation: get("causation"),
        partition: get("partition"),
        payload: get("payload").unwrap(),
        metadata: get("metadata"),
    }
}

/// A wire with the seeds' envelopes: one exchange and one event per dialect.
fn wire() -> Wire {
    let json_dialect = |fields: JsonFields, template: &str| Dialect {
        type_template: Some(template.into()),
        fields: Some(fields),
        ..Dialect::builtin(DialectBase::Json)
    };
    let mut spec = WireSpec::default();
    spec.dialects.insert(
        "collector".into(),
        json_dialect(
            fields(&[
                ("type", "type"),
                ("time", "timestamp"),
                ("tenant", "tenantId"),
                ("source", "source"),
                ("correlation", "correlationId"),
                ("payload", "data"),
            ]),
            "{key}",
        ),
    );
    spec.dialects.insert(
        "shop".into(),
        Dialect {
            id_format: Some("evt_{uuid}".into()),
            ..json_dialect(
                fields(&[
                    ("id", "id"),
                    ("type", "type"),
                    ("source", "source"),
                    ("time", "timestamp"),
                    ("tenant", "tenant_id"),
                    ("correlation", "correlation_id"),
                    ("payload", "data"),
                    ("metadata", "metadata"),
                ]),
                "{key}",
            )
        },
    );
    spec.dialects.insert(
        "onboarding".into(),
        Dialect {
            payload_headers: [("userId".to_owned(), "/userId".to_owned())].into(),
            ..json_dialect(
                fields(&[
                    ("type", "routing-key"),
                    ("tenant", "header:tenantId"),
                    ("payload", "body"),
                ]),
                "{key}",
            )
        },
    );
    spec.dialects.insert(
        "orchestration".into(),
        Dialect {
            type_template: Some(
                "urn:message:CodingAgent.SharedKernel.Domain.Events:{name}Event".into(),
            ),
            ..Dialect::builtin(DialectBase::Masstransit)
        },
    );
    spec.dialects.insert(
        "ce".into(),
        Dialect {
            type_template: Some("com.example.{key}".into()),
            ..Dialect::builtin(DialectBase::CloudeventsBinary)
        },
    );
    for (exchange, dialect, event, wire_type) in [
        ("collector-events", "collector", ORDER, "order.created"),
        ("orders", "shop", "ShopOrderCreated.v1", "order.created"),
        (
            "onboarding.events",
            "onboarding",
            "OnboardingCompleted.v1",
            "onboarding.completed",
        ),
        (
            "orchestration.events",
            "orchestration",
            "TaskCreated.v1",
            "urn:message:CodingAgent.SharedKernel.Domain.Events:TaskCreatedEvent",
        ),
        (
            "ce.events",
            "ce",
            "UserDeactivated.v1",
            "com.example.user.deactivated",
        ),
        (
            "user.events",
            STANDARD,
            "UserRegistered.v2",
            "UserRegistered.v2",
        ),
    ] {
        spec.exchanges.insert(exchange.into(), dialect.into());
        spec.events.push(WireEvent {
            message_type: event.into(),
            exchange: exchange.into(),
            dialect: dialect.into(),
            wire_type: wire_type.into(),
        });
    }
    Wire::new(spec).unwrap()
}

fn envelope(message_type: &str, id: &str) -> Envelope<Value> {
    Envelope {
        message_id: id.into(),
        message_type: message_type.into(),
        envelope_version: ENVELOPE_VERSION.into(),
        timestamp: "2024-01-15T10:35:00.250Z".parse().unwrap(),
        source_service: "orders-service".into(),
        correlation_id: Some("corr-123".into()),
        causation_id: None,
        tenant_id: Some("tenant-123".into()),
        partition_key: None,
        payload: json!({"orderId": "o-1", "userId": "u-7", "total": "10.00"}),
        metadata: BTreeMap::new(),
    }
}

fn send(wire: &Wire, env: &Envelope<Value>, exchange: &str, routing_key: &str) -> Outgoing {
    let event = wire.event(&env.message_type).unwrap();
    let dialect = wire.dialect(&event.dialect).unwrap();
    encode(
        env,
        dialect,
        &event.dialect,
        &event.wire_type,
        exchange,
        routing_key,
        &TraceContext::new_root(),
    )
    .unwrap()
}

fn receive(wire: &Wire, out: &Outgoing, exchange: &str) -> Result<Decoded, Rejection> {
    decode(
        &out.body,
        Received {
            properties: &out.properties,
            exchange,
            routing_key: out.routing_key.as_str(),
        },
        wire,
    )
}

fn body(out: &Outgoing) -> Value {
    serde_json::from_slice(&out.body).unwrap()
}

#[test]
fn every_dialect_round_trips_through_encode_and_decode() {
    let wire = wire();
    for (message_type, exchange, routing_key) in [
        (ORDER, "collector-events", "order.created"),
        ("ShopOrderCreated.v1", "orders", "order.created"),
        (
            "OnboardingCompleted.v1",
            "onboarding.events",
            "onboarding.completed",
        ),
        ("TaskCreated.v1", "orchestration.events", "task.created"),
        ("UserDeactivated.v1", "ce.events", "user.deactivated"),
        ("UserRegistered.v2", "user.events", "user.registered.v2"),
    ] {
        let event = wire.event(message_type).unwrap();
        let id = wire.dialect(&event.dialect).unwrap().new_message_id();
        let mut env = envelope(message_type, &id);
        // The onboarding dialect's time is the AMQP timestamp property: whole seconds.
        env.timestamp = "2024-01-15T10:35:00Z".parse().unwrap();
        let out = send(&wire, &env, exchange, routing_key);
        let back = receive(&wire, &out, exchange).unwrap();
        assert_eq!(back.dialect, event.dialect, "{message_type}");
        assert_eq!(back.wire_type, event.wire_type, "{message_type}");
        let mut got = back
            .envelope
            .map(|p| serde_json::from_str::<Value>(p.get()).unwrap());
        // MassTransit keeps the conversation and addresses it carried.
        got.metadata.clear();
        assert_eq!(got, env, "{message_type} in {}", event.dialect);
    }
}

#[test]
fn the_collector_envelope_is_written_as_the_collector_writes_it() {
    let wire = wire();
    let env = envelope(ORDER, "3f1c4c9e-5d1a-4a57-9d7e-2c2b7a7f3a10");
    let out = send(&wire, &env, "collector-events", "order.created");
    assert_eq!(
        body(&out),
        json!({
            "type": "order.created",
            "source": "orders-service",
            "timestamp": "2024-01-15T10:35:00.250Z",
            "tenantId": "tenant-123",
            "correlationId": "corr-123",
            "data": {"orderId": "o-1", "userId": "u-7", "total": "10.00"},
        })
    );
    assert_eq!(
        out.properties.content_type().as_ref().unwrap().as_str(),
        JSON
    );
    assert_eq!(
        out.properties.kind().as_ref().unwrap().as_str(),
        "order.created"
    );
}

#[test]
fn a_collector_message_without_an_id_gets_one_derived_from_its_body() {
    let wire = wire();
    // As the Collector's amqplib code publishes: no message_id property.
    let body = br#"{"type":"order.created","timestamp":"2024-01-15T10:35:00.000Z","tenantId":"t","source":"orders-service","data":{"orderId":"o-1"}}"#;
    let properties = BasicProperties::default().with_content_type(JSON.into());
    let received = Received {
        properties: &properties,
        exchange: "collector-events",
        routing_key: "order.created",
    };
    let a = decode(body, received, &wire).unwrap();
    let b = decode(body, received, &wire).unwrap();
    assert_eq!(a.envelope.message_type, ORDER);
    assert_eq!(a.envelope.message_id, b.envelope.message_id);
    assert!(Uuid::parse_str(&a.envelope.message_id).is_ok());
    assert_eq!(a.envelope.correlation_id, None);
}

#[test]
fn the_shop_envelope_carries_string_ids_and_any_metadata() {
    let wire = wire();
    let mut env = envelope("ShopOrderCreated.v1", "evt_123456789");
    env.metadata.insert("user_id".into(), "user_123".into());
    let out = send(&wire, &env, "orders", "order.created");
    let b = body(&out);
    assert_eq!(b["id"], "evt_123456789");
    assert_eq!(b["tenant_id"], "tenant-123");
    assert_eq!(b["metadata"], json!({"user_id": "user_123"}));
    // As the shop's Go code writes it: nanosecond time, a non-string metadata value.
    let go = br#"{"id":"evt_1","type":"order.created","source":"oms-service","timestamp":"2024-01-15T10:30:00.123456789Z","tenant_id":"tenant_abc","data":{"order_id":"o"},"metadata":{"version":"1.0","retries":2}}"#;
    let properties = BasicProperties::default().with_content_type(JSON.into());
    let back = decode(
        go,
        Received {
            properties: &properties,
            exchange: "orders",
            routing_key: "order.created",
        },
        &wire,
    )
    .unwrap();
    assert_eq!(back.envelope.message_id, "evt_1");
    assert_eq!(back.envelope.message_type, "ShopOrderCreated.v1");
    assert_eq!(back.envelope.metadata["retries"], "2");
    assert_eq!(back.envelope.tenant_id.as_deref(), Some("tenant_abc"));
}

#[test]
fn the_onboarding_dialect_carries_tenant_and_user_in_headers_and_the_payload_as_body() {
    let wire = wire();
    let env = envelope("OnboardingCompleted.v1", "id-1");
    let out = send(&wire, &env, "onboarding.events", "onboarding.completed");
    assert_eq!(body(&out), env.payload);
    assert_eq!(header_str(&out.properties, "tenantId"), Some("tenant-123"));
    assert_eq!(header_str(&out.properties, "userId"), Some("u-7"));
}

#[test]
fn masstransit_messages_are_laid_out_as_its_serializer_writes_them() {
    let wire = wire();
    let id = Uuid::new_v4().to_string();
    let env = envelope("TaskCreated.v1", &id);
    let out = send(&wire, &env, "orchestration.events", "task.created");
    let b = body(&out);
    assert_eq!(
        out.properties.content_type().as_ref().unwrap().as_str(),
        MASSTRANSIT_JSON
    );
    assert_eq!(b["messageId"], id.as_str());
    assert_eq!(
        b["messageType"],
        json!(["urn:message:CodingAgent.SharedKernel.Domain.Events:TaskCreatedEvent"])
    );
    assert_eq!(b["message"], env.payload);
    assert_eq!(b["sentTime"], "2024-01-15T10:35:00.250Z");
    // A correlation ID that is not a GUID cannot be MassTransit's correlationId.
    assert!(b.get("correlationId").is_none());
    assert_eq!(b["headers"]["correlationId"], "corr-123");
    assert_eq!(b["headers"]["tenantId"], "tenant-123");
    assert_eq!(b["conversationId"], id.as_str());
    assert!(b["host"]["processId"].is_u64());
}

#[test]
fn cloudevents_accepts_both_header_prefixes_any_id_and_mapped_types() {
    let wire = wire();
    let mut headers = FieldTable::default();
    for (name, value) in [
        ("specversion", "1.0"),
        ("id", "A234-1234-1234"),
        ("type", "com.example.user.deactivated"),
        ("source", "/user-service"),
        ("time", "2018-04-05T17:31:00Z"),
    ] {
        headers.insert(format!("cloudEvents:{name}").into(), long(value));
    }
    let properties = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_headers(headers);
    let back = decode(
        br#"{"userId":"u-1"}"#,
        Received {
            properties: &properties,
            exchange: "elsewhere",
            routing_key: "user.deactivated",
        },
        &wire,
    )
    .unwrap();
    assert_eq!(back.dialect, "ce");
    assert_eq!(back.envelope.message_id, "A234-1234-1234");
    assert_eq!(back.envelope.message_type, "UserDeactivated.v1");
    assert_eq!(back.wire_type, "com.example.user.deactivated");
}

#[test]
fn envelope_members_are_read_by_name_whatever_their_spelling() {
    let wire = wire();
    let read = |body: &[u8], content_type: &str, exchange: &str| {
        decode_body(&wire, body, content_type, exchange, "order.created")
    };
    // An escaped member name is the name it spells; `null` is absent; the payload is kept
    // byte for byte.
    let body = br#"{"ty\u0070e":"order.created","timestamp":"2024-01-15T10:35:00Z",
        "tenantId":null,"source":"collector","data":{"orderId":"o-1", "n": 1.50}}"#;
    let back = read(body, JSON, "collector-events").unwrap();
    assert_eq!(
        (back.dialect.as_str(), back.wire_type.as_str()),
        ("collector", "order.created")
    );
    assert_eq!(back.envelope.message_type, ORDER);
    assert_eq!(back.envelope.tenant_id, None);
    assert_eq!(back.envelope.source_service, "collector");
    assert_eq!(
        back.envelope.payload.get(),
        r#"{"orderId":"o-1", "n": 1.50}"#
    );

    // CloudEvents structured mode: text extensions become metadata, others are left out.
    let body = br#"{"specversion":"1.0","id":"e-1","type":"OrderCreated.v1","source":"/s",
        "tenantid":"t-1","region":"eu","attempts":3,"data":{"orderId":"o-1"}}"#;
    let back = read(body, CLOUDEVENTS_JSON, "x").unwrap();
    assert_eq!(back.envelope.message_id, "e-1");
    assert_eq!(back.envelope.tenant_id.as_deref(), Some("t-1"));
    assert_eq!(
        back.envelope.metadata,
        BTreeMap::from([("region".to_owned(), "eu".to_owned())])
    );
    // An attribute of the wrong type is named, as is a missing one.
    for (body, field, problem) in [
        (
            &br#"{"specversion":"1.0","id":7,"type":"t","source":"s"}"#[..],
            "id",
            "is a number, not a string",
        ),
        (
            br#"{"specversion":"1.0","id":"1","type":"t"}"#,
            "source",
            "is missing",
        ),
        (
            br#"{"specversion":"1.0","id":"1","type":["t"],"source":"s"}"#,
            "type",
            "is an array, not a string",
        ),
    ] {
        match read(body, CLOUDEVENTS_JSON, "x").unwrap_err() {
            Rejection::Dialect {
                field: f,
                problem: p,
                ..
            } => assert_eq!((f.as_str(), p.as_str()), (field, problem)),
            other => panic!("{other:?}"),
        }
    }
}

/// Decodes `body` arriving with only a content type, through `exchange` with `routing_key`.
fn decode_body(
    wire: &Wire,
    body: &[u8],
    content_type: &str,
    exchange: &str,
    routing_key: &str,
) -> Result<Decoded, Rejection> {
    let properties = BasicProperties::default().with_content_type(content_type.into());
    decode(
        body,
        Received {
            properties: &properties,
            exchange,
            routing_key,
        },
        wire,
    )
}

fn rejection(wire: &Wire, body: &[u8], content_type: &str, exchange: &str) -> Rejection {
    decode_body(wire, body, content_type, exchange, "k").unwrap_err()
}

#[test]
fn a_message_that_fits_no_dialect_is_rejected_naming_the_dialect_and_the_field() {
    let wire = wire();
    let cases: [(&[u8], &str, &str, &str, &str); 6] = [
        (
            br#"{"timestamp":"2024-01-15T10:35:00Z","data":{}}"#,
            JSON,
            "collector-events",
            "collector",
            "type",
        ),
        (
            br#"{"type":7,"data":{}}"#,
            JSON,
            "collector-events",
            "collector",
            "type",
        ),
        (
            br#"{"type":"order.created","timestamp":"yesterday","data":{}}"#,
            JSON,
            "collector-events",
            "collector",
            "timestamp",
        ),
        (
            br#"{"type":"order.created"}"#,
            JSON,
            "collector-events",
            "collector",
            "data",
        ),
        (
            br#"{"messageType":[],"message":{}}"#,
            MASSTRANSIT_JSON,
            "x",
            "orchestration",
            "messageType",
        ),
        (
            br#"{"specversion":"0.3","id":"1","type":"t","source":"s"}"#,
            CLOUDEVENTS_JSON,
            "x",
            "cloudevents-structured",
            "specversion",
        ),
    ];
    for (body, content_type, exchange, dialect, field) in cases {
        match rejection(&wire, body, content_type, exchange) {
            Rejection::Dialect {
                dialect: d,
                field: f,
                ..
            } => {
                assert_eq!(
                    (d.as_str(), f.as_str()),
                    (dialect, field),
                    "{}",
                    String::from_utf8_lossy(body)
                );
            }
            other => panic!("{other:?}"),
        }
    }
    let r = rejection(&wire, b"\xff\xfe", JSON, "collector-events");
    assert_eq!(r.reason(), "malformed");
    assert!(r.to_string().contains("dialect `collector`"), "{r}");
}

#[test]
fn a_standard_message_on_another_dialects_exchange_is_still_read() {
    let wire = wire();
    let env = envelope(ORDER, "id-9");
    let out = encode(
        &env,
        wire.dialect(STANDARD).unwrap(),
        STANDARD,
        ORDER,
        "collector-events",
        "order.created",
        &TraceContext::new_root(),
    )
    .unwrap();
    let back = receive(&wire, &out, "collector-events").unwrap();
    assert_eq!(back.dialect, STANDARD);
    assert_eq!(back.envelope.message_type, ORDER);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let wire = Wire::standard();
    let mut env = envelope("X.v1", "id");
    env.correlation_id = Some("x".repeat(300));
    let trace = TraceContext::new_root();
    let standard = wire.dialect(STANDARD).unwrap();
    assert!(matches!(
        encode(&env, standard, STANDARD, "X.v1", "e", "k", &trace),
        Err(EncodeError::TooLong {
            field: "correlationId",
            len: 300
        })
    ));
    let mut env = envelope("X.v1", "id");
    env.metadata.insert("Bad-Key".into(), "v".into());
    let binary = wire.dialect(CLOUDEVENTS_BINARY).unwrap();
    assert!(matches!(
        encode(&env, binary, CLOUDEVENTS_BINARY, "X.v1", "e", "k", &trace),
        Err(EncodeError::ExtensionName(k)) if k == "Bad-Key"
    ));
    for body in [&b"{"[..], b"[]", b"{\"messageId\": 1}", &[0xff, 0xfe]] {
        assert_eq!(rejection(&wire, body, JSON, "e").reason(), "malformed");
    }
}

#[test]
fn what_each_dialect_writes_validates_against_its_envelope_schema() {
    let wire = wire();
    for event in &wire.spec().events {
        let dialect = wire.dialect(&event.dialect).unwrap();
        let schema = dialect.envelope_schema(&event.dialect);
        let validator = crate::validate::compile(&schema.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", event.dialect));
        let mut env = envelope(&event.message_type, &dialect.new_message_id());
        env.metadata.insert("origin".into(), "test".into());
        let env = Envelope {
            correlation_id: Some(uuid::Uuid::new_v4().to_string()),
            ..env
        };
        let out = send(&wire, &env, &event.exchange, "k");
        let body = body(&out);
        assert_eq!(
            crate::validate::first_error(&validator, &body),
            None,
            "{} in {}: {body}",
            event.message_type,
            event.dialect
        );
    }
    // And a body that is not the dialect's is not valid.
    let collector = wire
        .dialect("collector")
        .unwrap()
        .envelope_schema("collector");
    let validator = crate::validate::compile(&collector.to_string()).unwrap();
    assert!(crate::validate::first_error(&validator, &json!({"data": {}})).is_some());
}
