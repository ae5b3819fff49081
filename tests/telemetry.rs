//! Counters and histograms through the `metrics` facade, and spans named after the
//! OpenTelemetry messaging conventions with the W3C trace carried from publisher to consumer.
//!
//! Its own test binary: it installs a process-wide metrics recorder and tracing subscriber.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{amqp_url, example, receive, wait_until, Recorder, Sandbox};
use metrics::{SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::telemetry;
use schemactl_runtime::{HandlerError, PublishContext, Uniform};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// A span's name and its fields as recorded so far.
type SpanFields = (String, HashMap<String, String>);

/// Every span, by span ID.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, SpanFields>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().insert(id.into_u64(), (name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<HashMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

type Snapshot = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

/// Counter value and histogram sample count of `name` whose labels include all of `labels`.
fn metric(snapshot: &Snapshot, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> u64 {
    let matches = |key: &CompositeKey| {
        key.kind() == kind
            && key.key().name() == name
            && labels
                .iter()
                .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
    };
    snapshot
        .iter()
        .filter(|(key, ..)| matches(key))
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(_) => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_histograms_and_spans_follow_each_message() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only metrics recorder");
    let spans = Spans::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone()))
        .expect("the only subscriber");

    let sandbox = Sandbox::new("telemetry").await;
    // "retry-once" fails its first attempt; "reject" is refused for good; the rest succeed.
    let (handler, mut rx) = Recorder::with(|r| match r.correlation_id.as_deref() {
        Some("retry-once") if r.attempt == 1 => Err(HandlerError::retryable("flaky")),
        Some("reject") => Err(HandlerError::permanent("rejected")),
        _ => Ok(()),
    });
    let consumer = NotificationService::new(Uniform(handler))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let payload = example::<UserEmailVerifiedV1>();
    let mut sent = Vec::new();
    for correlation in ["ok", "retry-once", "reject"] {
        let ctx = PublishContext::new().correlation_id(correlation);
        sent.push(
            publisher
                .user_email_verified_v1(&payload, &ctx)
                .await
                .unwrap(),
        );
    }
    // ok, retry-once ×2, reject: four handler calls.
    let calls = receive(&mut rx, 4, Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 4);
    wait_until(
        "the consumer settled every message",
        Duration::from_secs(10),
        || {
            let s = consumer.stats();
            s.handled == 2 && s.retried == 1 && s.dead_lettered == 1
        },
    )
    .await;
    consumer.shutdown().await.unwrap();

    let exchange = format!("{}user.events", sandbox.prefix);
    let queue = sandbox.queue("notification-service");
    let mt = ("message_type", "UserEmailVerified.v1");
    // One snapshot: taking it drains what it reports.
    let snapshot = snapshotter.snapshot().into_vec();
    let counter =
        |name, labels: &[(&str, &str)]| metric(&snapshot, MetricKind::Counter, name, labels);
    let histogram =
        |name, labels: &[(&str, &str)]| metric(&snapshot, MetricKind::Histogram, name, labels);
    assert_eq!(
        counter(telemetry::PUBLISHED, &[("exchange", &exchange), mt]),
        3
    );
    assert_eq!(
        counter(telemetry::PUBLISH_FAILED, &[("exchange", &exchange)]),
        0
    );
    assert_eq!(counter(telemetry::CONSUMED, &[("queue", &queue), mt]), 2);
    assert_eq!(counter(telemetry::RETRIED, &[("queue", &queue), mt]), 1);
    assert_eq!(
        counter(
            telemetry::DEAD_LETTERED,
            &[("queue", &queue), mt, ("reason", "handler-rejected")]
        ),
        1
    );
    assert_eq!(
        histogram(telemetry::CONFIRM_LATENCY, &[("exchange", &exchange), mt]),
        3
    );
    assert_eq!(
        histogram(telemetry::HANDLER_LATENCY, &[("queue", &queue), mt]),
        4
    );

    // Spans: one `publish` per message, one `process` per delivery, in the same trace.
    let publishes: Vec<_> = spans
        .named("publish")
        .into_iter()
        .filter(|f| f.get("messaging.destination.name") == Some(&exchange))
        .collect();
    assert_eq!(publishes.len(), 3);
    for p in &publishes {
        assert_eq!(p["otel.name"], format!("publish {exchange}"));
        assert_eq!(p["otel.kind"], "producer");
        assert_eq!(p["messaging.system"], "rabbitmq");
        assert_eq!(
            p["messaging.rabbitmq.destination.routing_key"],
            "user.email.verified.v1"
        );
    }
    let processes: Vec<_> = spans
        .named("process")
        .into_iter()
        .filter(|f| f.get("messaging.destination.subscription.name") == Some(&queue))
        .collect();
    assert_eq!(processes.len(), 4);
    for sent in &sent {
        let id = sent.message_id.to_string();
        let publish = publishes
            .iter()
            .find(|p| p["messaging.message.id"] == id)
            .expect("a publish span per message");
        let deliveries: Vec<_> = processes
            .iter()
            .filter(|p| p.get("messaging.message.id") == Some(&id))
            .collect();
        assert!(!deliveries.is_empty(), "no process span for {id}");
        for d in deliveries {
            assert_eq!(d["otel.name"], format!("process {queue}"));
            assert_eq!(d["otel.kind"], "consumer");
            assert_eq!(d["trace_id"], publish["trace_id"], "one trace per message");
        }
    }
    let outcomes: Vec<String> = {
        let mut o: Vec<_> = processes
            .iter()
            .filter_map(|p| p.get("schemactl.outcome").cloned())
            .collect();
        o.sort();
        o
    };
    assert_eq!(
        outcomes,
        ["dead-lettered", "handled", "handled", "retried"].map(String::from)
    );
}
