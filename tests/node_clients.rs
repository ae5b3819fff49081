//! The platforms' own Node.js stack against schemactl services, both ways, on the real
//! broker: amqplib publishers writing the Collector's envelope, StandardMessage and
//! CloudEvents (binary, `cloudEvents:` prefix) reach schemactl's typed handlers; what
//! schemactl publishes in the Collector's and the standard dialect is read by amqplib
//! consumers that check every envelope field and validate the payload with ajv in strict mode
//! against the exported schema (`generated/schemas/`). The Collector's side publishes on, and
//! binds a queue of its own with, the bare event type its services use (`order.created`).
//!
//! Needs Node.js and `npm ci --prefix tests/node` (`.ci/run` does both); without them the
//! test fails saying so.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{amqp_url, example, receive, Recorder, Sandbox};
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use schemactl_catalog::consumers::{AnalyticsService, InventoryService, NotificationService};
use schemactl_catalog::order::OrderCreatedV1;
use schemactl_catalog::producers::{OrdersServicePublisher, UserServicePublisher};
use schemactl_catalog::user::{UserDeactivatedV1, UserEmailVerifiedV1};
use schemactl_runtime::{Event, PublishContext, Uniform};
use serde_json::Value;

const COUNT: usize = 3;

/// The routing key the Collector's services publish `order.created` on and bind their queues
/// with (seed 001's integration table).
const COLLECTOR_ORDER_CREATED: &str = "order.created";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/node/<script>` and returns the JSON line it prints.
async fn node(script: &str, args: &[&str]) -> Value {
    let dir = manifest().join("tests/node");
    assert!(
        dir.join("node_modules/amqplib").is_dir(),
        "the Node.js clients' packages are not installed: run `npm ci --prefix tests/node` (.ci/run does)"
    );
    let out = tokio::process::Command::new("node")
        .current_dir(&dir)
        .arg(script)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run node (Node.js 20 is needed): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("node {script}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    assert!(
        out.status.success(),
        "node {script} {args:?} failed: {value}\nstderr: {stderr}"
    );
    value
}

/// The first example of `E` in a file, for the Node.js publisher, with properties the schema
/// does not declare (as a newer producer would send) at its root and in each object of its
/// arrays: the typed handler must receive them too. Returns the file and the payload in it.
fn example_file<E: Event>(dir: &tempfile::TempDir) -> (PathBuf, Value) {
    let mut payload: Value = serde_json::from_str(E::EXAMPLES[0]).unwrap();
    let undeclared = serde_json::json!({"by": "node", "n": [1, 2.5, null]});
    for value in payload.as_object_mut().unwrap().values_mut() {
        for item in value.as_array_mut().into_iter().flatten() {
            if let Some(item) = item.as_object_mut() {
                item.insert("addedByNewerProducer".into(), undeclared.clone());
            }
        }
    }
    payload["addedByNewerProducer"] = undeclared;
    let path = dir.path().join(format!("{}.json", E::MESSAGE_TYPE));
    std::fs::write(&path, payload.to_string()).unwrap();
    (path, payload)
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn node_publishers_reach_schemactl_typed_handlers() {
    let sandbox = Sandbox::new("node-in").await;
    let (recorder, mut rx) = Recorder::new();
    let url = amqp_url();
    let consumers = vec![
        InventoryService::new(Uniform(recorder.clone()))
            .consume(&url, sandbox.consumer_config())
            .await
            .unwrap(),
        NotificationService::new(Uniform(recorder.clone()))
            .consume(&url, sandbox.consumer_config())
            .await
            .unwrap(),
        AnalyticsService::new(Uniform(recorder))
            .consume(&url, sandbox.consumer_config())
            .await
            .unwrap(),
    ];
    let files = tempfile::tempdir().unwrap();
    let count = COUNT.to_string();
    let publish = |dialect: &'static str,
                   exchange: String,
                   key: &'static str,
                   ty: &'static str,
                   file: PathBuf| {
        let (url, count) = (url.clone(), count.clone());
        async move {
            let file = file.to_string_lossy().into_owned();
            let args = [dialect, &url, &exchange, key, ty, &file, &count];
            strings(&node("publish.mjs", &args).await["published"])
        }
    };
    // The Collector's services publish on the bare event type (seed 001), which is the
    // catalog's routing key.
    assert_eq!(OrderCreatedV1::ROUTING_KEY, COLLECTOR_ORDER_CREATED);
    let (order_file, order) = example_file::<OrderCreatedV1>(&files);
    let (verified_file, verified) = example_file::<UserEmailVerifiedV1>(&files);
    let (deactivated_file, deactivated) = example_file::<UserDeactivatedV1>(&files);
    let collector = publish(
        "collector",
        format!("{}{}", sandbox.prefix, OrderCreatedV1::EXCHANGE),
        COLLECTOR_ORDER_CREATED,
        OrderCreatedV1::WIRE_TYPE,
        order_file,
    )
    .await;
    let standard = publish(
        "standard",
        format!("{}{}", sandbox.prefix, UserEmailVerifiedV1::EXCHANGE),
        UserEmailVerifiedV1::ROUTING_KEY,
        UserEmailVerifiedV1::WIRE_TYPE,
        verified_file,
    )
    .await;
    let cloudevents = publish(
        "cloudevents",
        format!("{}{}", sandbox.prefix, UserDeactivatedV1::EXCHANGE),
        UserDeactivatedV1::ROUTING_KEY,
        UserDeactivatedV1::MESSAGE_TYPE,
        deactivated_file,
    )
    .await;

    // UserDeactivated.v1 reaches both the notification and the analytics service.
    let got = receive(&mut rx, 4 * COUNT, Duration::from_secs(30)).await;
    let of = |t: &'static str| got.iter().filter(move |r| r.message_type == t);
    let ids =
        |t: &'static str| -> BTreeSet<String> { of(t).map(|r| r.message_id.clone()).collect() };
    let correlations = |t: &'static str| -> BTreeSet<String> {
        of(t).filter_map(|r| r.correlation_id.clone()).collect()
    };
    assert_eq!(correlations(OrderCreatedV1::MESSAGE_TYPE), collector);
    assert_eq!(ids(UserEmailVerifiedV1::MESSAGE_TYPE), standard);
    assert_eq!(ids(UserDeactivatedV1::MESSAGE_TYPE), cloudevents);
    assert_eq!(of(UserDeactivatedV1::MESSAGE_TYPE).count(), 2 * COUNT);
    // What the handler received, written back, is what Node.js sent: undeclared properties too.
    assert!(order["lineItems"][0]["addedByNewerProducer"].is_object());
    for (t, sent) in [
        (OrderCreatedV1::MESSAGE_TYPE, order),
        (UserEmailVerifiedV1::MESSAGE_TYPE, verified),
        (UserDeactivatedV1::MESSAGE_TYPE, deactivated),
    ] {
        for r in of(t) {
            assert!(
                r.payload == sent,
                "{t}: payload changed\n  sent:     {sent}\n  received: {}",
                r.payload
            );
        }
    }
    for consumer in consumers {
        let stats = consumer.shutdown().await.unwrap();
        assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    }
}

#[tokio::test]
async fn node_consumers_read_what_schemactl_publishes() {
    let sandbox = Sandbox::new("node-out").await;
    let config = sandbox.publisher_config();
    let url = amqp_url();
    let orders = OrdersServicePublisher::new(
        schemactl_runtime::Publisher::connect(&url, config.clone())
            .await
            .unwrap(),
    );
    let users = UserServicePublisher::new(
        schemactl_runtime::Publisher::connect(&url, config)
            .await
            .unwrap(),
    );
    // A Collector service's own queue, bound as the Collector's services bind: on the bare
    // event type. It expires a minute after it is last used, should the test fail before
    // deleting it.
    let collector_queue = format!("{}collector-inventory", sandbox.prefix);
    let mut expires = FieldTable::default();
    expires.insert("x-expires".into(), AMQPValue::LongInt(60_000));
    sandbox
        .channel
        .queue_declare(
            collector_queue.as_str().into(),
            QueueDeclareOptions::durable(),
            expires,
        )
        .await
        .unwrap();
    let exchange = format!("{}{}", sandbox.prefix, OrderCreatedV1::EXCHANGE);
    sandbox
        .channel
        .queue_bind(
            collector_queue.as_str().into(),
            exchange.as_str().into(),
            COLLECTOR_ORDER_CREATED.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let ctx = |i: usize| {
        PublishContext::new()
            .tenant_id("tenant-123")
            .correlation_id(format!("corr-{i}"))
    };
    for i in 0..COUNT {
        orders
            .order_created_v1(&example::<OrderCreatedV1>(), &ctx(i))
            .await
            .unwrap();
        users
            .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &ctx(i))
            .await
            .unwrap();
    }
    let schemas = manifest().join("generated/schemas");
    let count = COUNT.to_string();
    for (dialect, queue, schema, wire_type) in [
        (
            "collector",
            collector_queue.clone(),
            "order/OrderCreated.v1.json",
            OrderCreatedV1::WIRE_TYPE,
        ),
        (
            "collector",
            sandbox.queue("inventory-service"),
            "order/OrderCreated.v1.json",
            OrderCreatedV1::WIRE_TYPE,
        ),
        (
            "standard",
            sandbox.queue("notification-service"),
            "user/UserEmailVerified.v1.json",
            UserEmailVerifiedV1::WIRE_TYPE,
        ),
    ] {
        let schema = schemas.join(schema).to_string_lossy().into_owned();
        let report = node(
            "consume.mjs",
            &[dialect, &url, &queue, &count, &schema, wire_type, "20000"],
        )
        .await;
        assert_eq!(report["received"], COUNT, "{dialect}: {report}");
        let correlations: BTreeSet<&str> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["correlationId"].as_str().unwrap_or_default())
            .collect();
        let want: BTreeSet<String> = (0..COUNT).map(|i| format!("corr-{i}")).collect();
        assert_eq!(
            correlations,
            want.iter().map(String::as_str).collect(),
            "{dialect}"
        );
        assert!(report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["tenantId"] == "tenant-123"));
    }
    sandbox
        .channel
        .queue_delete(collector_queue.as_str().into(), Default::default())
        .await
        .unwrap();
}
