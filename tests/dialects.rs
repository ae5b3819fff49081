//! Every platform's envelope on the real broker: messages laid out as each platform's own
//! code writes them reach schemactl's typed handlers, what schemactl publishes in MassTransit's
//! dialect has every field MassTransit reads, and a message that fits no dialect is
//! dead-lettered once, with a reason naming the dialect and the field.

mod common;

use std::time::Duration;

use common::{amqp_url, example, receive, wait_until, Recorder, Sandbox};
use futures_util::StreamExt;
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use schemactl_catalog::consumers::Dashboard;
use schemactl_catalog::consumers::{AnalyticsService, InventoryService, MlClassifier};
use schemactl_catalog::orchestration::TaskCreatedV1;
use schemactl_catalog::producers::OrchestrationServicePublisher;
use schemactl_catalog::{order::OrderCreatedV1, user::UserDeactivatedV1};
use schemactl_runtime::topology::management::ManagementApi;
use schemactl_runtime::{wire, Event, HandlerError, PublishContext, Uniform};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(20);

fn headers(pairs: &[(&str, &str)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in pairs {
        table.insert(
            (*name).into(),
            AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
        );
    }
    table
}

/// The exchange MassTransit publishes `TaskCreatedEvent` to (its message type's entity name).
const MASSTRANSIT_TASK_CREATED: &str = "CodingAgent.SharedKernel.Domain.Events:TaskCreatedEvent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masstransit_events_travel_in_masstransits_topology() {
    let sandbox = Sandbox::new("mt-topology").await;
    let p = &sandbox.prefix;
    let observed = ManagementApi::beside(&amqp_url())
        .unwrap()
        .observe()
        .await
        .unwrap_or_else(|e| panic!("{e}: enable the management plugin (.ci/run does)"));
    let fanout = Some(&("fanout".to_owned(), true));
    let entity = format!("{p}{MASSTRANSIT_TASK_CREATED}");
    assert_eq!(observed.exchanges.get(&entity), fanout, "{entity}");
    // The catalog's orchestration exchange stands for MassTransit's topology: not declared.
    assert!(!observed
        .exchanges
        .contains_key(&format!("{p}orchestration.events")));
    for service in ["dashboard", "ml-classifier"] {
        // The receive endpoint: an exchange named after the queue, bound to it, which the
        // message type's exchange is bound to; `_error` and `_skipped` beside it.
        let endpoint = format!("{p}{service}");
        assert_eq!(observed.exchanges.get(&endpoint), fanout, "{endpoint}");
        let to_endpoint = (entity.clone(), endpoint.clone(), String::new());
        assert!(
            observed.exchange_bindings.contains(&to_endpoint),
            "{to_endpoint:?}"
        );
        let to_queue = (endpoint.clone(), endpoint.clone(), String::new());
        assert!(observed.bindings.contains(&to_queue), "{to_queue:?}");
        for suffix in ["_error", "_skipped"] {
            let name = format!("{endpoint}{suffix}");
            assert_eq!(observed.exchanges.get(&name), fanout, "{name}");
            assert!(observed.queues.contains_key(&name), "{name}");
            let binding = (name.clone(), name.clone(), String::new());
            assert!(observed.bindings.contains(&binding), "{binding:?}");
        }
    }

    // What MassTransit publishes reaches the endpoint; a fault lands in its `_error` queue.
    let (recorder, mut rx) = Recorder::with(|_| Err(HandlerError::permanent("not today")));
    let consumer = Dashboard::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/masstransit/task-created.json"),
    )
    .unwrap();
    publish_raw(
        &sandbox,
        MASSTRANSIT_TASK_CREATED,
        "",
        &fixture,
        json_properties("application/vnd.masstransit+json"),
    )
    .await;
    let calls = receive(&mut rx, 1, Duration::from_secs(20)).await;
    assert_eq!(calls[0].message_type, TaskCreatedV1::MESSAGE_TYPE);
    let error_queue = format!("{p}dashboard_error");
    let depth = sandbox
        .depth_reaches(&error_queue, 1, Duration::from_secs(20))
        .await;
    assert_eq!(depth, 1, "{error_queue}");
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!((stats.dead_lettered, stats.handled), (1, 0));
}

async fn publish_raw(
    sandbox: &Sandbox,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) {
    sandbox
        .channel
        .basic_publish(
            format!("{}{exchange}", sandbox.prefix).as_str().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
}

fn json_properties(content_type: &str) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(content_type.into())
        .with_delivery_mode(2)
}

#[tokio::test]
async fn messages_written_by_each_platform_reach_typed_handlers() {
    let sandbox = Sandbox::new("dialects").await;
    let (recorder, mut rx) = Recorder::new();
    let mut consumers = Vec::new();
    consumers.push(
        InventoryService::new(Uniform(recorder.clone()))
            .consume(&amqp_url(), sandbox.consumer_config())
            .await
            .unwrap(),
    );
    consumers.push(
        MlClassifier::new(Uniform(recorder.clone()))
            .consume(&amqp_url(), sandbox.consumer_config())
            .await
            .unwrap(),
    );
    consumers.push(
        AnalyticsService::new(Uniform(recorder))
            .consume(&amqp_url(), sandbox.consumer_config())
            .await
            .unwrap(),
    );

    // The Collector's event bus (amqplib): its envelope, no message ID property.
    let order: Value = serde_json::from_str(OrderCreatedV1::EXAMPLES[0]).unwrap();
    let collector = json!({
        "type": "order.created",
        "timestamp": "2024-01-15T10:35:00.000Z",
        "tenantId": "tenant-123",
        "source": "orders-service",
        "correlationId": "corr-123",
        "data": order,
    });
    publish_raw(
        &sandbox,
        OrderCreatedV1::EXCHANGE,
        OrderCreatedV1::ROUTING_KEY,
        collector.to_string().as_bytes(),
        json_properties("application/json"),
    )
    .await;

    // MassTransit 8 (seed 003), from the fixture.
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/masstransit/task-created.json"),
    )
    .unwrap();
    // MassTransit publishes to its message type's exchange, with no routing key.
    assert_eq!(TaskCreatedV1::EXCHANGE, MASSTRANSIT_TASK_CREATED);
    publish_raw(
        &sandbox,
        MASSTRANSIT_TASK_CREATED,
        "",
        &fixture,
        json_properties("application/vnd.masstransit+json")
            .with_message_id("2f4b0000-8ed5-0015-5a0b-08dc1b6f4b1e".into()),
    )
    .await;

    // CloudEvents binary mode with the AMQP binding's `cloudEvents:` prefix, an ID that is no
    // UUID, and the catalog's message type as its type.
    let deactivated: Value = serde_json::from_str(UserDeactivatedV1::EXAMPLES[0]).unwrap();
    publish_raw(
        &sandbox,
        UserDeactivatedV1::EXCHANGE,
        UserDeactivatedV1::ROUTING_KEY,
        deactivated.to_string().as_bytes(),
        json_properties("application/json").with_headers(headers(&[
            ("cloudEvents:specversion", "1.0"),
            ("cloudEvents:id", "A234-1234-1234"),
            ("cloudEvents:type", UserDeactivatedV1::MESSAGE_TYPE),
            ("cloudEvents:source", "/user-service"),
            ("cloudEvents:tenantid", "tenant-9"),
        ])),
    )
    .await;

    let got = receive(&mut rx, 3, PATIENCE).await;
    let by_type = |t: &str| {
        got.iter()
            .find(|r| r.message_type == t)
            .unwrap_or_else(|| panic!("{t} was not handled: {got:?}"))
    };
    let order_record = by_type(OrderCreatedV1::MESSAGE_TYPE);
    assert_eq!(order_record.payload, order);
    assert_eq!(order_record.correlation_id.as_deref(), Some("corr-123"));
    assert!(uuid::Uuid::parse_str(&order_record.message_id).is_ok());
    let task = by_type(TaskCreatedV1::MESSAGE_TYPE);
    assert_eq!(task.message_id, "2f4b0000-8ed5-0015-5a0b-08dc1b6f4b1e");
    assert_eq!(
        task.payload,
        serde_json::from_slice::<Value>(&fixture).unwrap()["message"]
    );
    let user = by_type(UserDeactivatedV1::MESSAGE_TYPE);
    assert_eq!(user.message_id, "A234-1234-1234");
    assert_eq!(user.payload, deactivated);
    for consumer in consumers {
        let stats = consumer.shutdown().await.unwrap();
        assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    }
}

#[tokio::test]
async fn what_schemactl_publishes_for_masstransit_has_every_field_its_deserializer_reads() {
    let sandbox = Sandbox::new("mt-out").await;
    let publisher = OrchestrationServicePublisher::new(sandbox.publisher().await);
    let task = example::<TaskCreatedV1>();
    let ctx = PublishContext::new()
        .correlation_id("0e6c3b8e-6c1d-4a5e-9b7a-1f2e3d4c5b6a")
        .tenant_id("tenant-123");
    let sent = publisher.task_created_v1(&task, &ctx).await.unwrap();
    // ml-classifier's queue receives TaskCreated; nobody consumes it in this test.
    let queue = sandbox.queue("ml-classifier");
    let got = sandbox
        .channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the message is in the queue");
    let props = &got.delivery.properties;
    assert_eq!(
        props.content_type().as_ref().map(|c| c.as_str()),
        Some(wire::MASSTRANSIT_JSON)
    );
    let body: Value = serde_json::from_slice(&got.delivery.data).unwrap();
    let guid = |field: &str| {
        let text = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("`{field}` is a string: {body}"));
        uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("`{field}` is a GUID: {e}"));
        text.to_owned()
    };
    assert_eq!(guid("messageId"), sent.message_id);
    assert_eq!(
        guid("correlationId"),
        "0e6c3b8e-6c1d-4a5e-9b7a-1f2e3d4c5b6a"
    );
    guid("conversationId");
    assert_eq!(
        body["messageType"],
        json!([TaskCreatedV1::WIRE_TYPE]),
        "an array of URNs"
    );
    assert!(
        TaskCreatedV1::WIRE_TYPE.starts_with("urn:message:CodingAgent.SharedKernel.Domain.Events:")
    );
    assert_eq!(body["message"], serde_json::to_value(&task).unwrap());
    let sent_time = body["sentTime"].as_str().expect("sentTime is a string");
    chrono::DateTime::parse_from_rfc3339(sent_time).expect("sentTime is ISO-8601");
    for address in ["sourceAddress", "destinationAddress"] {
        let uri = body[address].as_str().unwrap_or_default();
        assert!(uri.starts_with("rabbitmq://"), "{address}: {uri}");
    }
    assert_eq!(body["headers"]["tenantId"], "tenant-123");
    assert!(body["host"].is_object());
}

#[tokio::test]
async fn messages_that_fit_no_dialect_are_dead_lettered_once_naming_the_field() {
    let sandbox = Sandbox::new("dialect-dlq").await;
    let (recorder, mut rx) = Recorder::new();
    let consumer = InventoryService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let mut dead = sandbox.dead_letters("inventory-service").await;
    let order: Value = serde_json::from_str(OrderCreatedV1::EXAMPLES[0]).unwrap();
    let cases = [
        (
            json!({"timestamp": "2024-01-15T10:35:00Z", "data": order}),
            "malformed",
            "`type` is missing",
        ),
        (
            json!({"type": 7, "data": order}),
            "malformed",
            "`type` is a number, not a string",
        ),
        (
            json!({"type": "order.created", "timestamp": "soon", "data": order}),
            "malformed",
            "`timestamp`",
        ),
        (
            json!({"type": "order.exploded", "data": order}),
            "unknown-message-type",
            "order.exploded",
        ),
    ];
    for (body, _, _) in &cases {
        publish_raw(
            &sandbox,
            OrderCreatedV1::EXCHANGE,
            OrderCreatedV1::ROUTING_KEY,
            body.to_string().as_bytes(),
            json_properties("application/json"),
        )
        .await;
    }
    let mut letters = Vec::new();
    while letters.len() < cases.len() {
        let next = tokio::time::timeout(PATIENCE, dead.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {} dead letters", letters.len(), cases.len()))
            .expect("dead-letter stream")
            .expect("delivery");
        let header = |name: &str| {
            wire::header_str(&next.properties, name)
                .unwrap_or_default()
                .to_owned()
        };
        letters.push((header(wire::REASON_HEADER), header(wire::ERROR_HEADER)));
    }
    for ((_, reason, needle), (got_reason, error)) in cases.iter().zip(&letters) {
        assert_eq!(reason, got_reason, "{error}");
        assert!(error.contains(needle), "`{needle}` not in: {error}");
        if *reason == "malformed" {
            assert!(error.contains("dialect `collector`"), "{error}");
        }
    }
    wait_until("every message settled", PATIENCE, || {
        consumer.stats().dead_lettered == cases.len() as u64
    })
    .await;
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (
            stats.delivered,
            stats.dead_lettered,
            stats.requeued,
            stats.handled
        ),
        (cases.len() as u64, cases.len() as u64, 0, 0),
        "each delivered once, dead-lettered once, never requeued"
    );
    assert!(rx.try_recv().is_err(), "no handler ran");
    assert_eq!(
        sandbox
            .depth_reaches(&sandbox.queue("inventory-service"), 0, PATIENCE)
            .await,
        0
    );
}
