//! The shop catalog's topology against the platform's own: seed 004's Go services declare
//! theirs (`tests/go/src/shoptopology` of the repository), schemactl declares the catalog's,
//! and the broker is asked what each made. Then `verify` and `adopt` on the broker the Go
//! program prepared: no difference; exactly the one argument changed by hand; only what is
//! missing created, nothing that exists touched.
//!
//! Reads the broker through the management API (port 15672 beside `AMQP_URL`; `.ci/run`
//! enables the plugin) and over AMQP alone. Every name carries a prefix unique to the run,
//! and everything declared is deleted at the end, passed or failed.

use std::collections::{BTreeMap, BTreeSet};

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use schemactl_runtime::topology::management::ManagementApi;
use schemactl_runtime::topology::{Finding, Object, Observed, VerifyOptions};
use schemactl_runtime::Topology;
use serde_json::Value;

mod common;
use common::{amqp_url, delete_topologies, go_program, run_go};

/// Deletes the shop topology under each prefix when dropped, whether the test passed or not.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let topologies = self
            .0
            .iter()
            .map(|p| shop_events::topology::catalog().with_prefix(p))
            .collect();
        delete_topologies(topologies);
    }
}

fn prefix(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{kind}-{}.", &id[..8])
}

async fn connect() -> Connection {
    Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("cannot reach RabbitMQ at {}: {e}", amqp_url()))
}

async fn observe(api: &ManagementApi) -> Observed {
    api.observe().await.unwrap_or_else(|e| {
        panic!("{e}: enable the management plugin (`rabbitmq-plugins enable rabbitmq_management`; .ci/run does)")
    })
}

/// What the broker has under `prefix`, with the prefix taken off every name (and off the
/// dead-letter exchange argument), a queue declared without `x-queue-type` counted as the
/// classic queue it is, and the default exchange's implicit bindings left out.
fn under(observed: &Observed, prefix: &str) -> Observed {
    let strip = |s: &str| s.strip_prefix(prefix).map(str::to_owned);
    let mut out = Observed::default();
    for (name, e) in &observed.exchanges {
        if let Some(name) = strip(name) {
            out.exchanges.insert(name, e.clone());
        }
    }
    for (name, (durable, args)) in &observed.queues {
        let Some(name) = strip(name) else { continue };
        let mut args = args.clone();
        args.entry("x-queue-type")
            .or_insert_with(|| Value::String("classic".into()));
        if let Some(Value::String(dlx)) = args.get_mut("x-dead-letter-exchange") {
            *dlx = dlx.strip_prefix(prefix).unwrap_or(dlx).to_owned();
        }
        out.queues.insert(name, (*durable, args));
    }
    for (exchange, queue, key) in &observed.bindings {
        if let (Some(e), Some(q)) = (strip(exchange), strip(queue)) {
            out.bindings.insert((e, q, key.clone()));
        }
    }
    for (source, destination, key) in &observed.exchange_bindings {
        if let (Some(s), Some(d)) = (strip(source), strip(destination)) {
            out.exchange_bindings.insert((s, d, key.clone()));
        }
    }
    out
}

fn differences<T: Ord + std::fmt::Debug + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> String {
    format!(
        "only the platform's: {:?}\nonly the catalog's: {:?}",
        a.difference(b).collect::<Vec<_>>(),
        b.difference(a).collect::<Vec<_>>()
    )
}

fn keys<V>(map: &BTreeMap<String, V>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_declares_what_the_platform_declares() {
    let url = amqp_url();
    let go = go_program("shoptopology");
    let (theirs, ours) = (prefix("go"), prefix("rs"));
    let _cleanup = Cleanup(vec![theirs.clone(), ours.clone()]);
    run_go(&go, &["declare", &url, &theirs]).await;
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    shop_events::topology::catalog()
        .with_prefix(&ours)
        .declare(&channel)
        .await
        .expect("declare the shop catalog's topology");
    let api = ManagementApi::beside(&url).unwrap();
    let observed = observe(&api).await;
    let (platform, catalog) = (under(&observed, &theirs), under(&observed, &ours));
    assert_eq!(platform.exchanges.len(), 7, "{:?}", platform.exchanges);
    assert_eq!(platform.queues.len(), 8, "{:?}", platform.queues);
    assert_eq!(
        keys(&platform.exchanges),
        keys(&catalog.exchanges),
        "exchanges: {}",
        differences(&keys(&platform.exchanges), &keys(&catalog.exchanges))
    );
    assert_eq!(platform.exchanges, catalog.exchanges, "exchange types");
    assert_eq!(
        keys(&platform.queues),
        keys(&catalog.queues),
        "queues: {}",
        differences(&keys(&platform.queues), &keys(&catalog.queues))
    );
    for (name, queue) in &platform.queues {
        assert_eq!(Some(queue), catalog.queues.get(name), "queue {name}");
    }
    assert_eq!(
        platform.bindings,
        catalog.bindings,
        "bindings: {}",
        differences(&platform.bindings, &catalog.bindings)
    );
    assert_eq!(
        platform.exchange_bindings,
        catalog.exchange_bindings,
        "exchange bindings: {}",
        differences(&platform.exchange_bindings, &catalog.exchange_bindings)
    );
    let _ = connection.close(200, "done".into()).await;
}

/// Deletes `queue` and declares it again as the platform would, but with messages
/// expiring after an hour, bound as before.
async fn change_ttl_by_hand(connection: &Connection, prefix: &str, queue: &str) {
    let channel = connection.create_channel().await.unwrap();
    let name = format!("{prefix}{queue}");
    channel
        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let mut args = FieldTable::default();
    let dlx = format!("{prefix}deadletter");
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(dlx.as_str().into()),
    );
    let dlk = format!("{queue}.failed");
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dlk.as_str().into()),
    );
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(3_600_000));
    channel
        .queue_declare(name.as_str().into(), QueueDeclareOptions::durable(), args)
        .await
        .unwrap();
    let exchange = format!("{prefix}products");
    channel
        .queue_bind(
            name.as_str().into(),
            exchange.as_str().into(),
            "product.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = channel.close(200, "changed".into()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_and_adopt_the_running_platform() {
    let url = amqp_url();
    let go = go_program("shoptopology");
    let theirs = prefix("go");
    let _cleanup = Cleanup(vec![theirs.clone()]);
    run_go(&go, &["declare", &url, &theirs]).await;
    let connection = connect().await;
    let topology: Topology = shop_events::topology::catalog().with_prefix(&theirs);
    let api = ManagementApi::beside(&url).unwrap();
    let http = VerifyOptions {
        management: Some(api.clone()),
    };
    let amqp = VerifyOptions::default();

    // The platform as its Go services declared it: nothing to report.
    let report = topology.verify(&connection, &http).await.unwrap();
    assert!(report.findings.is_empty(), "{report}");
    assert!(report.matches());
    let report = topology.verify(&connection, &amqp).await.unwrap();
    assert_eq!(report.differences().count(), 0, "{report}");
    let unchecked = report.findings.len();
    assert_eq!(
        unchecked,
        topology.bindings.len() + topology.exchange_bindings.len(),
        "over AMQP only the bindings go unchecked: {report}"
    );

    // One argument changed by hand: exactly that one is reported, by both readers, and
    // verifying changes nothing.
    change_ttl_by_hand(&connection, &theirs, "search.products").await;
    // Only this test's objects: other tests declare and delete theirs meanwhile.
    let before = under(&observe(&api).await, &theirs);
    let queue = Object::Queue(format!("{theirs}search.products"));
    let expected = vec![Finding::Differs {
        object: queue.clone(),
        setting: "x-message-ttl".into(),
        expected: "86400000".into(),
        actual: "3600000".into(),
    }];
    let report = topology.verify(&connection, &http).await.unwrap();
    assert_eq!(report.findings, expected, "{report}");
    assert!(!report.matches());
    let report = topology.verify(&connection, &amqp).await.unwrap();
    let found: Vec<&Finding> = report.differences().collect();
    assert_eq!(found, expected.iter().collect::<Vec<_>>(), "{report}");
    assert_eq!(
        under(&observe(&api).await, &theirs),
        before,
        "verify changed the broker"
    );

    // A queue missing: adopt creates it and its binding, and nothing else; the changed
    // argument stays as it is, reported.
    let channel = connection.create_channel().await.unwrap();
    let telegram = format!("{theirs}telegram.notifications");
    channel
        .queue_delete(telegram.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let before = under(&observe(&api).await, &theirs);
    let report = topology.adopt(&connection, &http).await.unwrap();
    let binding = Object::Binding {
        exchange: format!("{theirs}notifications"),
        queue: telegram.clone(),
        routing_key: "notification.telegram".into(),
    };
    assert_eq!(
        report.created,
        vec![Object::Queue(telegram.clone()), binding],
        "{report}"
    );
    assert!(report.findings.contains(&expected[0]), "{report}");
    let after = under(&observe(&api).await, &theirs);
    let added: BTreeSet<&String> = after
        .queues
        .keys()
        .filter(|q| !before.queues.contains_key(*q))
        .collect();
    assert_eq!(
        added,
        BTreeSet::from([&"telegram.notifications".to_owned()])
    );
    let mut untouched = after.clone();
    untouched.queues.remove("telegram.notifications");
    untouched
        .bindings
        .retain(|(_, q, _)| q != "telegram.notifications");
    assert_eq!(untouched, before, "adopt touched what existed");
    let ttl = &after.queues["search.products"].1["x-message-ttl"];
    assert_eq!(ttl, 3_600_000);
    let report = topology.verify(&connection, &http).await.unwrap();
    assert_eq!(report.findings, expected, "{report}");
    let _ = connection.close(200, "done".into()).await;
}
