//! The shop's own Go event-bus code (seed 004: its `Event`, `Publisher.Publish` and
//! `Consumer.Subscribe`, in `tests/go/src/shopclient` of the repository) against schemactl
//! services of the shop catalog, both ways, on the real broker. Every field of the shop's
//! `Event` must arrive non-empty and equal.
//!
//! Needs Debian's `golang-go`, `golang-github-rabbitmq-amqp091-go-dev` and
//! `golang-github-google-uuid-dev` (`.ci/run` installs them); the program is built in GOPATH
//! mode over them, since no module proxy is reachable. Without them the test fails saying so.

use std::future::Future;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use schemactl_runtime::{
    ConsumerConfig, Event, EventHandler, HandlerError, PublishContext, Publisher, Received,
    Topology, Uniform,
};
use serde_json::Value;
use shop_events::consumers::NotificationService;
use shop_events::orders::OrderCreatedV1;
use shop_events::producers::OmsServicePublisher;
use tokio::sync::mpsc;

mod common;
use common::{amqp_url, delete_topologies, go_program, run_go};

const COUNT: usize = 3;

/// The shop's topology under a prefix unique to the test; deleted when it drops, whether the
/// test passed or not.
struct Sandbox {
    prefix: String,
    topology: Topology,
    connection: Connection,
}

impl Sandbox {
    async fn new(test: &str) -> Sandbox {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("cannot reach RabbitMQ at {}: {e}", amqp_url()));
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("t-{test}-{}.", &id[..8]);
        let topology = shop_events::topology::catalog().with_prefix(&prefix);
        let channel = connection.create_channel().await.unwrap();
        topology
            .declare(&channel)
            .await
            .expect("declare the shop topology");
        Sandbox {
            prefix,
            topology,
            connection,
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        delete_topologies(vec![self.topology.clone()]);
    }
}

/// JSON equality with numbers compared by value: Go writes `1001` for the float64 that the
/// example spells `1001.00`.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// What the typed handler saw.
#[derive(Debug)]
struct Seen {
    message_id: String,
    message_type: &'static str,
    tenant: Option<String>,
    source: String,
    payload: Value,
}

#[derive(Clone)]
struct Record(mpsc::UnboundedSender<Seen>);

impl EventHandler for Record {
    fn handle<E: Event>(
        &self,
        message: Received<E>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let e = &message.envelope;
        let _ = self.0.send(Seen {
            message_id: e.message_id.clone(),
            message_type: E::MESSAGE_TYPE,
            tenant: e.tenant_id.clone(),
            source: e.source_service.clone(),
            payload: serde_json::to_value(&e.payload).unwrap(),
        });
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn the_shops_go_code_and_schemactl_understand_each_other() {
    let client = go_program("shopclient");
    let sandbox = Sandbox::new("go").await;
    let url = amqp_url();
    let example: Value = serde_json::from_str(OrderCreatedV1::EXAMPLES[0]).unwrap();

    // Go → schemactl.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = NotificationService::new(Uniform(Record(tx)))
        .consume(
            &url,
            ConsumerConfig {
                prefix: sandbox.prefix.clone(),
                ..ConsumerConfig::default()
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("order.json");
    std::fs::write(&payload, OrderCreatedV1::EXAMPLES[0]).unwrap();
    let exchange = format!("{}{}", sandbox.prefix, OrderCreatedV1::EXCHANGE);
    let count = COUNT.to_string();
    run_go(
        &client,
        &[
            "publish",
            &url,
            &exchange,
            OrderCreatedV1::ROUTING_KEY,
            "tenant_abc",
            &payload.to_string_lossy(),
            &count,
        ],
    )
    .await;
    let mut seen = Vec::new();
    while seen.len() < COUNT {
        let s = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {COUNT} Go messages handled", seen.len()))
            .unwrap();
        seen.push(s);
    }
    for s in &seen {
        assert_eq!(s.message_type, OrderCreatedV1::MESSAGE_TYPE);
        assert!(s.message_id.starts_with("evt_"), "{s:?}");
        assert_eq!(s.tenant.as_deref(), Some("tenant_abc"));
        assert_eq!(s.source, "oms-service");
        assert_eq!(s.payload, example);
    }
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!((stats.handled, stats.dead_lettered), (COUNT as u64, 0));

    // schemactl → Go: the analytics service's queue, which no schemactl consumer reads here
    // (emptied first: it also received what the Go publisher sent above).
    let queue = sandbox
        .topology
        .service("analytics-service")
        .expect("the analytics service consumes")
        .queue
        .clone();
    let channel = sandbox.connection.create_channel().await.unwrap();
    channel
        .queue_purge(queue.as_str().into(), Default::default())
        .await
        .unwrap();
    let publisher = OmsServicePublisher::new(
        Publisher::connect(
            &url,
            schemactl_runtime::PublisherConfig {
                prefix: sandbox.prefix.clone(),
                ..shop_events::publisher_config()
            },
        )
        .await
        .unwrap(),
    );
    let order: OrderCreatedV1 = serde_json::from_value(example.clone()).unwrap();
    for i in 0..COUNT {
        let ctx = PublishContext::new()
            .tenant_id("tenant_abc")
            .correlation_id(format!("req_{i}"))
            .metadata("user_id", "user_123");
        publisher.order_created_v1(&order, &ctx).await.unwrap();
    }
    let report = run_go(&client, &["consume", &url, &queue, &count, "20000"]).await;
    assert_eq!(report["received"], COUNT, "{report}");
    for event in report["events"].as_array().unwrap() {
        let text = |f: &str| event[f].as_str().unwrap_or_default().to_owned();
        assert!(text("id").starts_with("evt_"), "{event}");
        assert_eq!(text("type"), OrderCreatedV1::WIRE_TYPE);
        assert_eq!(text("source"), "oms-service");
        assert_eq!(text("tenant_id"), "tenant_abc");
        assert!(text("correlation_id").starts_with("req_"), "{event}");
        assert_ne!(text("timestamp"), "0001-01-01T00:00:00Z", "{event}");
        assert!(
            same_json(&event["data"], &example),
            "{} != {example}",
            event["data"]
        );
        assert_eq!(event["metadata"]["user_id"], "user_123");
    }
}
