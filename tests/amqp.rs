//! The generated stubs and the runtime against the real broker at `AMQP_URL`: typed round
//! trips, routing, retries and dead letters, idempotency, shutdown and topology. Every test
//! works under a prefix of its own and deletes what it declared.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use common::{amqp_url, example, receive, wait_until, Recorder, Sandbox};
use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use schemactl_catalog::consumers::{NotificationService, OnboardingService};
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::{UserEmailVerifiedV1, UserRegisteredV2};
use schemactl_runtime::consumer::start;
use schemactl_runtime::idempotency::{
    IdempotencyStore, MemoryStore, PostgresStore, RedisStore, Ttl,
};
use schemactl_runtime::topology::{RetryDelay, RetryQueue};
use schemactl_runtime::wire::{self, header_str, header_u64};
use schemactl_runtime::{
    ConsumeError, ConsumerConfig, ConsumerHandle, Dispatch, DispatchVisitor, Event, EventVisitor,
    HandlerError, PublishContext, PublishError, PublishErrorKind, Published, Publisher,
    TraceContext, Uniform,
};
use serde_json::{json, Value};

type Job<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Starts a consumer for every consuming service of the catalog.
struct StartAll {
    config: ConsumerConfig,
    starts: Vec<Job<Result<ConsumerHandle, ConsumeError>>>,
}

impl DispatchVisitor for StartAll {
    fn visit<D: Dispatch>(&mut self, dispatch: D) {
        let config = self.config.clone();
        self.starts.push(Box::pin(async move {
            start(
                &amqp_url(),
                &schemactl_catalog::topology::catalog(),
                schemactl_catalog::wire(),
                dispatch,
                config,
            )
            .await
        }));
    }
}

/// Publishes every example of every event version; records who should receive what.
struct PublishAll {
    publisher: Publisher,
    trace: TraceContext,
    jobs: Vec<Job<Result<Published, PublishError>>>,
    expected: Vec<(String, &'static str, Value)>,
    /// The prefixed topology: where each consumer's queue is.
    topology: schemactl_runtime::Topology,
}

impl EventVisitor for PublishAll {
    fn visit<E: Event>(&mut self) {
        for text in E::EXAMPLES {
            let payload: E = serde_json::from_str(text).expect("example");
            let value = serde_json::to_value(&payload).expect("serialize");
            for consumer in E::CONSUMERS {
                let queue = self
                    .topology
                    .service(consumer)
                    .map(|s| s.queue.clone())
                    .expect("every consumer has a queue");
                self.expected.push((queue, E::MESSAGE_TYPE, value.clone()));
            }
            let publisher = self.publisher.clone();
            let ctx = PublishContext {
                trace: Some(self.trace),
                ..PublishContext::new().correlation_id("round-trip")
            };
            self.jobs.push(Box::pin(
                async move { publisher.publish(&payload, &ctx).await },
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_version_round_trips_to_exactly_its_consumers() {
    let sandbox = Sandbox::new("roundtrip").await;
    let (recorder, mut rx) = Recorder::new();
    let mut consumers = StartAll {
        config: ConsumerConfig {
            declare: false,
            ..sandbox.consumer_config()
        },
        starts: Vec::new(),
    };
    schemactl_catalog::consumers::visit_all(&recorder, &mut consumers);
    let mut handles = Vec::new();
    for s in consumers.starts {
        handles.push(s.await.expect("consumer starts"));
    }
    assert_eq!(handles.len(), sandbox.topology.services.len());

    let mut publish = PublishAll {
        publisher: sandbox.publisher().await,
        trace: TraceContext::new_root(),
        jobs: Vec::new(),
        expected: Vec::new(),
        topology: sandbox.topology.clone(),
    };
    schemactl_catalog::visit_events(&mut publish);
    let published = futures_util::future::join_all(publish.jobs).await;
    for p in &published {
        assert!(p.is_ok(), "{p:?}");
    }
    let mut expected = publish.expected;
    assert!(
        expected.len() > published.len(),
        "events fan out to several consumers"
    );

    let received = receive(&mut rx, expected.len(), Duration::from_secs(30)).await;
    let mut got: Vec<(String, &'static str, Value)> = Vec::new();
    for r in &received {
        assert_eq!(
            r.trace.map(|t| t.trace_id),
            Some(publish.trace.trace_id),
            "traceparent propagates"
        );
        assert_eq!(r.correlation_id.as_deref(), Some("round-trip"));
        assert_eq!(r.attempt, 1);
        got.push((r.queue.clone(), r.message_type, r.payload.clone()));
    }
    let key = |e: &(String, &'static str, Value)| (e.0.clone(), e.1, e.2.to_string());
    expected.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, g.1), (&e.0, e.1));
        assert!(
            schemactl_runtime::examples::same_json_value(&g.2, &e.2),
            "{} changed on the way:\n{}\n{}",
            g.1,
            g.2,
            e.2
        );
    }

    // Nothing else was delivered and nothing is left: each queue is bound to exactly its keys.
    let mut delivered = 0;
    for h in handles {
        let stats = h.shutdown().await.expect("clean shutdown");
        assert_eq!(stats.handled, stats.delivered);
        assert_eq!(stats.dead_lettered, 0);
        delivered += stats.delivered;
    }
    assert_eq!(delivered as usize, expected.len());
    for s in &sandbox.topology.services {
        assert_eq!(sandbox.depth(&s.queue).await, 0, "{}", s.queue);
        assert_eq!(
            sandbox.depth(&s.dead_letter_queue).await,
            0,
            "{}",
            s.dead_letter_queue
        );
    }
}

#[tokio::test]
async fn an_unroutable_publish_is_an_error_naming_exchange_and_key() {
    let sandbox = Sandbox::empty("unroutable").await;
    // The exchanges exist, no queue is bound.
    let exchanges_only = schemactl_runtime::Topology {
        exchanges: sandbox.topology.exchanges.clone(),
        ..Default::default()
    };
    exchanges_only.declare(&sandbox.channel).await.unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let err = publisher
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .expect_err("unroutable");
    match err.kind() {
        PublishErrorKind::Unroutable {
            exchange,
            routing_key,
            reply_code,
            ..
        } => {
            assert_eq!(exchange, &format!("{}user.events", sandbox.prefix));
            assert_eq!(routing_key, "user.email.verified.v1");
            assert_eq!(*reply_code, 312);
        }
        other => panic!("expected Unroutable, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("user.email.verified.v1") && text.contains("user.events"),
        "{text}"
    );

    // A missing exchange closes the channel: the error says so, and the next publish works.
    let lost = Publisher::connect(
        &amqp_url(),
        schemactl_runtime::PublisherConfig {
            prefix: format!("{}missing.", sandbox.prefix),
            ..sandbox.publisher_config()
        },
    )
    .await
    .unwrap();
    let err = lost
        .publish(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .expect_err("no such exchange");
    assert!(
        matches!(err.kind(), PublishErrorKind::Broker { attempts: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("NOT_FOUND"), "{err}");
    let err = publisher
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .expect_err("still unroutable, on a working channel");
    assert!(matches!(err.kind(), PublishErrorKind::Unroutable { .. }));
}

#[tokio::test]
async fn an_invalid_payload_is_refused_before_it_is_published() {
    let sandbox = Sandbox::new("invalid").await;
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let mut payload = example::<UserRegisteredV2>();
    let mut value = serde_json::to_value(&payload).unwrap();
    value["contact"]["email"] = json!("not an e-mail");
    payload = serde_json::from_value(value).unwrap();
    let err = publisher
        .user_registered_v2(&payload, &PublishContext::new())
        .await
        .expect_err("invalid");
    match err.kind() {
        PublishErrorKind::Invalid {
            message_type,
            pointer,
            ..
        } => {
            assert_eq!(message_type, "UserRegistered.v2");
            assert_eq!(pointer, "/contact/email");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        sandbox.depth(&sandbox.queue("notification-service")).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_with_backoff_then_dead_lettered() {
    let sandbox = Sandbox::new("retry").await;
    let (recorder, mut rx) = Recorder::with(|r| {
        Err(HandlerError::retryable(format!(
            "attempt {} failed",
            r.attempt
        )))
    });
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let mut dead = sandbox.dead_letters("notification-service").await;
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let sent = publisher
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .unwrap();

    let route = sandbox
        .topology
        .service(&sandbox.queue("notification-service"))
        .cloned();
    let route = route.or_else(|| {
        sandbox
            .topology
            .services
            .iter()
            .find(|s| s.service == "notification-service")
            .cloned()
    });
    let route = route.expect("notification-service has a queue");
    let attempts = route.max_attempts() as usize;
    assert_eq!(attempts, 4, "catalog.toml: max_attempts = 4");
    let calls = receive(&mut rx, attempts, Duration::from_secs(20)).await;
    let delivery = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("dead letter arrives")
        .expect("stream open")
        .expect("delivery");
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        (1..=attempts as u32).collect::<Vec<_>>()
    );
    assert!(calls.iter().all(|c| c.message_id == sent.message_id));
    for (pair, retry) in calls.windows(2).zip(&route.retry_queues) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(retry.delay_ms),
            "attempt {} came {gap:?} after the previous, before its {} ms delay",
            pair[1].attempt,
            retry.delay_ms
        );
    }
    let p = &delivery.properties;
    assert_eq!(
        header_str(p, wire::REASON_HEADER),
        Some("retries-exhausted")
    );
    assert_eq!(header_str(p, wire::ERROR_HEADER), Some("attempt 4 failed"));
    assert_eq!(header_u64(p, wire::ATTEMPT_HEADER), Some(4));
    assert_eq!(
        header_str(p, wire::QUEUE_HEADER),
        Some(sandbox.queue("notification-service").as_str())
    );
    assert_eq!(
        header_str(p, wire::ORIGINAL_ROUTING_KEY_HEADER),
        Some("user.email.verified.v1")
    );
    assert_eq!(
        p.message_id().as_ref().map(|m| m.to_string()),
        Some(sent.message_id.to_string())
    );
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (stats.retried, stats.dead_lettered, stats.handled),
        (3, 1, 0)
    );
    // Exactly N deliveries: nothing is left in the retry queues.
    for r in &route.retry_queues {
        assert_eq!(sandbox.depth(&r.queue).await, 0, "{}", r.queue);
    }
    assert!(rx.try_recv().is_err(), "no delivery after the dead letter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_held_by_the_consumer_need_no_retry_queues() {
    // The catalog with `[defaults.retry] delay = "consumer"` for the notification service:
    // its retries go back to its own queue after the delay, and it has no retry queues.
    let mut sandbox = Sandbox::empty("consumer-retry").await;
    let mut topology = schemactl_catalog::topology::catalog();
    let service = topology
        .services
        .iter_mut()
        .find(|s| s.service == "notification-service")
        .expect("notification-service consumes");
    let delays = [50, 100, 150];
    let retry_names: Vec<String> = service
        .retry_queues
        .iter()
        .map(|r| r.queue.clone())
        .collect();
    service.retry_queues = delays
        .iter()
        .map(|&delay_ms| RetryQueue {
            queue: service.queue.clone(),
            delay_ms,
            delayed_by: RetryDelay::Consumer,
        })
        .collect();
    topology.queues.retain(|q| !retry_names.contains(&q.name));
    sandbox.topology = topology.with_prefix(&sandbox.prefix);
    sandbox.topology.declare(&sandbox.channel).await.unwrap();

    let (recorder, mut rx) = Recorder::with(|r| {
        if r.attempt < 3 {
            Err(HandlerError::retryable(format!(
                "attempt {} failed",
                r.attempt
            )))
        } else {
            Ok(())
        }
    });
    let consumer = start(
        &amqp_url(),
        &topology,
        schemactl_catalog::wire(),
        NotificationService::new(Uniform(recorder)),
        ConsumerConfig {
            declare: false,
            ..sandbox.consumer_config()
        },
    )
    .await
    .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let sent = publisher
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .unwrap();
    let calls = receive(&mut rx, 3, Duration::from_secs(20)).await;
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(calls.iter().all(|c| c.message_id == sent.message_id));
    for (pair, delay) in calls.windows(2).zip(delays) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(delay),
            "attempt {} came {gap:?} after the previous, before its {delay} ms delay",
            pair[1].attempt
        );
    }
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (stats.retried, stats.handled, stats.dead_lettered),
        (2, 1, 0)
    );
    assert_eq!(
        sandbox.depth(&sandbox.queue("notification-service")).await,
        0
    );
    // No retry queue was declared.
    let probe = sandbox.connection.create_channel().await.unwrap();
    let retry_1 = format!("{}notification-service.retry.1", sandbox.prefix);
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let missing = probe
        .queue_declare(retry_1.as_str().into(), passive, FieldTable::default())
        .await;
    assert!(missing.is_err(), "{retry_1} exists");
}

#[tokio::test]
async fn a_permanent_handler_error_is_dead_lettered_at_once() {
    let sandbox = Sandbox::new("permanent").await;
    let (recorder, mut rx) = Recorder::with(|_| Err(HandlerError::permanent("account closed")));
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let mut dead = sandbox.dead_letters("notification-service").await;
    UserServicePublisher::new(sandbox.publisher().await)
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("dead letter")
        .unwrap()
        .unwrap();
    assert_eq!(
        header_str(&delivery.properties, wire::REASON_HEADER),
        Some("handler-rejected")
    );
    assert_eq!(
        header_str(&delivery.properties, wire::ERROR_HEADER),
        Some("account closed")
    );
    assert_eq!(receive(&mut rx, 1, Duration::from_secs(1)).await.len(), 1);
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!((stats.retried, stats.dead_lettered), (0, 1));
}

async fn publish_raw(
    sandbox: &Sandbox,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) {
    let channel = sandbox.connection.create_channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            format!("{}user.events", sandbox.prefix).as_str().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_queue_at_once_with_the_reason() {
    let sandbox = Sandbox::new("poison").await;
    let (recorder, mut rx) = Recorder::new();
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let mut dead = sandbox.dead_letters("notification-service").await;
    let json_props = BasicProperties::default().with_content_type("application/json".into());
    let envelope = |message_type: &str, payload: Value| {
        serde_json::to_vec(&json!({
            "messageId": uuid::Uuid::new_v4(),
            "messageType": message_type,
            "envelopeVersion": "1.0",
            "timestamp": "2024-01-15T10:00:00Z",
            "sourceService": "user-service",
            "payload": payload,
        }))
        .unwrap()
    };
    let mut valid: Value = serde_json::from_str(UserEmailVerifiedV1::EXAMPLES[0]).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("user.email.verified.v1", b"{not json".to_vec(), "malformed"),
        (
            "user.email.verified.v1",
            envelope("UserEmailVerified.v1", json!({"userId": 7})),
            "schema-invalid",
        ),
        (
            "user.email.verified.v1",
            envelope("UserEmailVerified.v9", valid.clone()),
            "unknown-message-type",
        ),
    ];
    for (key, body, _) in &cases {
        publish_raw(&sandbox, key, body, json_props.clone()).await;
    }
    let mut reasons = Vec::new();
    for _ in &cases {
        let d = tokio::time::timeout(Duration::from_secs(10), dead.next())
            .await
            .expect("dead letter")
            .unwrap()
            .unwrap();
        assert_eq!(
            header_u64(&d.properties, wire::ATTEMPT_HEADER),
            Some(1),
            "never retried"
        );
        let error = header_str(&d.properties, wire::ERROR_HEADER)
            .unwrap_or("")
            .to_owned();
        let reason = header_str(&d.properties, wire::REASON_HEADER)
            .unwrap_or("")
            .to_owned();
        if reason == "schema-invalid" {
            assert!(
                error.contains("UserEmailVerified.v1")
                    && error.contains("\"email\" is a required property"),
                "{error}"
            );
        }
        let body_kept = cases.iter().any(|(_, body, _)| body == &d.data);
        assert!(body_kept, "the dead letter carries the original body");
        reasons.push(reason);
    }
    reasons.sort();
    let mut want: Vec<&str> = cases.iter().map(|c| c.2).collect();
    want.sort();
    assert_eq!(reasons, want);
    // A good message after the poison ones is handled.
    valid["userId"] = json!(uuid::Uuid::new_v4().to_string());
    publish_raw(
        &sandbox,
        "user.email.verified.v1",
        &envelope("UserEmailVerified.v1", valid),
        json_props,
    )
    .await;
    let handled = receive(&mut rx, 1, Duration::from_secs(10)).await;
    assert_eq!(handled[0].message_type, "UserEmailVerified.v1");
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (stats.dead_lettered, stats.handled, stats.retried),
        (3, 1, 0)
    );
    assert_eq!(
        sandbox.depth(&sandbox.queue("notification-service")).await,
        0
    );
}

async fn duplicates_reach_the_handler_once(store: Arc<dyn IdempotencyStore>, test: &str) {
    let sandbox = Sandbox::new(test).await;
    let (recorder, mut rx) = Recorder::new();
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(
            &amqp_url(),
            ConsumerConfig {
                idempotency: Some(store),
                ..sandbox.consumer_config()
            },
        )
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let id = uuid::Uuid::new_v4().to_string();
    let ctx = PublishContext::new().message_id(id.clone());
    for _ in 0..3 {
        publisher
            .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &ctx)
            .await
            .unwrap();
    }
    let other = publisher
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .unwrap();
    wait_until("4 deliveries settled", Duration::from_secs(10), || {
        let s = consumer.stats();
        s.handled + s.duplicates == 4
    })
    .await;
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!((stats.handled, stats.duplicates), (2, 2));
    let mut ids: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|r| r.message_id)
        .collect();
    ids.sort();
    let mut want = vec![id, other.message_id];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn duplicate_message_ids_reach_the_handler_once_in_memory() {
    duplicates_reach_the_handler_once(Arc::new(MemoryStore::new()), "dup-memory").await;
}

#[tokio::test]
async fn duplicate_message_ids_reach_the_handler_once_with_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = common::unique_prefix("dup-redis");
    let store = RedisStore::connect(&url, &prefix, Ttl::default())
        .await
        .unwrap_or_else(|e| panic!("Redis at {url}: {e}; start it or set REDIS_URL"));
    duplicates_reach_the_handler_once(Arc::new(store.clone()), "dup-redis").await;
    // Clean up the keys this test wrote.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "one completed mark per message");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut con)
        .await
        .unwrap();
}

#[tokio::test]
async fn duplicate_message_ids_reach_the_handler_once_with_postgres() {
    let config = std::env::var("POSTGRES_CONFIG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let table = format!(
        "schemactl_idem_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let store = Arc::new(
        PostgresStore::connect(&config, &table, Ttl::default())
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL ({config}): {e}; start it or set POSTGRES_CONFIG")
            }),
    );
    duplicates_reach_the_handler_once(store.clone(), "dup-postgres").await;
    store.drop_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_work_and_loses_nothing() {
    let sandbox = Sandbox::new("shutdown").await;
    let (recorder, mut rx) = Recorder::new();
    // Handlers wait for a permit from the test: 40 at first, so the shutdown below starts
    // with work in flight and most of the stream unhandled, however fast the machine.
    let first_batch = 40;
    let gate = Arc::new(tokio::sync::Semaphore::new(first_batch));
    #[derive(Clone)]
    struct Gated(Recorder, Arc<tokio::sync::Semaphore>);
    impl schemactl_runtime::EventHandler for Gated {
        async fn handle<E: Event>(
            &self,
            message: schemactl_runtime::Received<E>,
        ) -> Result<(), HandlerError> {
            self.1
                .acquire()
                .await
                .expect("the gate stays open")
                .forget();
            self.0.handle(message).await
        }
    }
    let concurrency = 8;
    let consumer = OnboardingService::new(Uniform(Gated(recorder, gate.clone())))
        .consume(
            &amqp_url(),
            ConsumerConfig {
                prefetch: 50,
                concurrency,
                ..sandbox.consumer_config()
            },
        )
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let total = 300;
    let mut pending = Vec::new();
    for _ in 0..total {
        pending.push(
            publisher
                .send_user_email_verified_v1(
                    &example::<UserEmailVerifiedV1>(),
                    &PublishContext::new(),
                )
                .await
                .unwrap(),
        );
    }
    for r in schemactl_runtime::confirm_all(pending).await {
        r.unwrap();
    }
    let first = receive(&mut rx, first_batch, Duration::from_secs(10)).await;
    assert_eq!(first.len(), first_batch);
    // Stop taking deliveries, then let the handlers already started finish.
    let _ = consumer.shutdown_trigger().send(true);
    gate.add_permits(usize::try_from(total).expect("small"));
    let stats = consumer.join().await.unwrap();
    let handled = stats.handled;
    let (least, most) = (first_batch, first_batch + concurrency);
    assert!(
        (least..=most).contains(&usize::try_from(handled).expect("small")),
        "shut down mid-stream: {handled} handled, expected {least} to {most}"
    );
    // Every handled message was acked (else it would be back in the queue) and every other
    // one is still there.
    let unhandled = u32::try_from(total - handled).expect("fewer than 300");
    let left = sandbox
        .depth_reaches(
            &sandbox.queue("onboarding-service"),
            unhandled,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        u64::from(left) + handled,
        total,
        "handled {handled}, left {left}"
    );
}

#[tokio::test]
async fn declaring_the_topology_twice_is_a_no_op_and_conflicts_are_named() {
    let sandbox = Sandbox::new("declare").await;
    UserServicePublisher::new(sandbox.publisher().await)
        .user_email_verified_v1(&example::<UserEmailVerifiedV1>(), &PublishContext::new())
        .await
        .unwrap();
    sandbox
        .topology
        .declare(&sandbox.channel)
        .await
        .expect("second declare");
    assert_eq!(
        sandbox.depth(&sandbox.queue("notification-service")).await,
        1
    );

    // A queue that exists with other arguments: the error names it.
    let other = Sandbox::empty("declare-conflict").await;
    let name = other.queue("notification-service");
    other
        .channel
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let err = other
        .topology
        .declare(&other.channel)
        .await
        .expect_err("conflict");
    let text = err.to_string();
    assert!(
        text.contains(&format!("queue `{name}`")) && text.contains("PRECONDITION_FAILED"),
        "{text}"
    );
    let channel = other.connection.create_channel().await.unwrap();
    channel
        .queue_delete(
            name.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
}

#[test]
fn the_generated_topology_is_the_catalog_plan() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let catalog = schemactl_codegen::load(&root, &Default::default()).expect("catalog lints");
    assert_eq!(
        schemactl_codegen::topology::plan(&catalog),
        schemactl_catalog::topology::catalog()
    );
}

/// `rabbitmqctl import_definitions` accepts the export (`schemactl topology` prints the same
/// document), and the broker then has every queue and exchange it names.
#[tokio::test]
async fn the_definitions_export_imports_into_rabbitmq() {
    let sandbox = Sandbox::empty("definitions").await;
    let definitions = sandbox.topology.rabbitmq_definitions("/");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("definitions.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&definitions).unwrap()).unwrap();
    common::rabbitmqctl(&["import_definitions".as_ref(), file.as_os_str()]).await;
    // The import is asynchronous: wait until the last queue exists, then check them all.
    let last = sandbox.topology.queues.last().unwrap().name.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let channel = sandbox.connection.create_channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if channel
            .queue_declare(last.as_str().into(), passive, FieldTable::default())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{last} was not imported"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for q in &sandbox.topology.queues {
        assert_eq!(sandbox.depth(&q.name).await, 0, "{}", q.name);
    }
    // Declaring over the imported definitions is a no-op: same arguments.
    sandbox
        .topology
        .declare(&sandbox.channel)
        .await
        .expect("declare over the import");
}

/// `cargo run --example collector-flow` completes the whole flow against the broker.
#[tokio::test]
async fn collector_flow_example_runs_end_to_end() {
    let out = tokio::process::Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "collector-flow"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AMQP_URL", amqp_url())
        .output()
        .await
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "collector-flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for hop in [
        "orders-service       ◀ OfferApproved.v1",
        "inventory-service    ◀ OrderCreated.v1",
        "procurement-service  ◀ StockLow.v1",
        "delivery-service     ◀ OrderConfirmed.v1",
        "inventory-service    ◀ DeliveryDispatched.v1",
        "invoices-service     ◀ DeliveryConfirmed.v1",
        "accounting-service   ◀ InvoiceIssued.v1",
        "payment-service      ◀ InvoiceIssued.v1",
        "crm-service          ◀ InvoicePaid.v1",
    ] {
        assert!(stdout.contains(hop), "no `{hop}` in:\n{stdout}");
    }
    assert!(stdout.contains("on every hop"), "{stdout}");
}
