//! Broker faults during a stream of confirmed publishes: every connection force-closed
//! (`rabbitmqctl close_all_connections`) and the broker app stopped and started
//! (`rabbitmqctl stop_app` / `start_app`). Every message the publisher saw confirmed must
//! reach the consumer; duplicates are allowed and counted.
//!
//! Its own test binary: cargo runs test binaries one after another, so the faults cannot
//! disturb the other broker tests.
//!
//! When messages go missing the test says where they are: what the broker holds in every
//! queue of the sandbox (kept for inspection), the consumer's own view (session state,
//! deliveries in flight and unacknowledged) and which message IDs are missing, with the
//! moment each was confirmed relative to the faults. `scripts/fault-soak.sh` runs it
//! repeatedly beside CPU hogs.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{amqp_url, example, rabbitmqctl, Recorder, Sandbox};
use futures_util::stream::{FuturesUnordered, StreamExt};
use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::{ConsumerConfig, ConsumerHandle, PublishContext, SessionState, Uniform};

const MESSAGES: usize = 20_000;

/// Longest wait for any state the test waits on.
const PATIENCE: Duration = Duration::from_secs(120);

/// Polls `condition` every 20 ms until it holds; panics naming `what` after [`PATIENCE`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The moments of the run, to place a missing message's confirm among the faults.
#[derive(Debug, Default, Clone, Copy)]
struct Timeline {
    closed: Duration,
    stopped: Duration,
    started: Duration,
}

impl Timeline {
    fn phase(&self, at: Duration) -> &'static str {
        if at < self.closed {
            "before the connections were closed"
        } else if at < self.stopped {
            "between closing the connections and stopping the app"
        } else if at < self.started {
            "while the app was stopped"
        } else {
            "after the app was started again"
        }
    }
}

/// Everything known about missing messages, printed before the test fails.
async fn explain_missing(
    sandbox: &Sandbox,
    consumer: &ConsumerHandle,
    missing: &[(String, Duration)],
    timeline: Timeline,
) {
    eprintln!("{} confirmed messages were never consumed.", missing.len());
    eprintln!("timeline: {timeline:?}");
    eprintln!("consumer: {:#?}", consumer.state());
    eprintln!("broker:\n{}", sandbox.broker_report().await);
    let (first, last) = (missing[0].1, missing[missing.len() - 1].1);
    eprintln!(
        "missing messages were confirmed from {first:?} ({}) to {last:?} ({})",
        timeline.phase(first),
        timeline.phase(last)
    );
    for (id, at) in missing.iter().take(10) {
        eprintln!("  {id} confirmed at {at:?}, {}", timeline.phase(*at));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_confirmed_message_is_lost_across_broker_faults() {
    // Recovery and reconnection are logged: a failure shows what the clients went through.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("schemactl_runtime=info,lapin=warn")
        .with_test_writer()
        .try_init();
    let sandbox = Sandbox::new("fault").await;
    let (recorder, mut rx) = Recorder::new();
    let consumer = Arc::new(
        NotificationService::new(Uniform(recorder))
            .consume(
                &amqp_url(),
                ConsumerConfig {
                    prefetch: 500,
                    validate: false,
                    declare: false,
                    ..sandbox.consumer_config()
                },
            )
            .await
            .unwrap(),
    );
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let payload = example::<UserEmailVerifiedV1>();

    let confirmed_count = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let faults = {
        let confirmed = confirmed_count.clone();
        let consumer = consumer.clone();
        tokio::spawn(async move {
            let mut timeline = Timeline::default();
            wait_until("a fifth of the messages confirmed", || {
                confirmed.load(Ordering::Relaxed) >= MESSAGES / 5
            })
            .await;
            timeline.closed = started.elapsed();
            rabbitmqctl(&["close_all_connections", "schemactl fault test"]).await;
            let closed_at = confirmed.load(Ordering::Relaxed);
            wait_until("half of the messages confirmed", || {
                confirmed.load(Ordering::Relaxed) >= MESSAGES / 2
            })
            .await;
            timeline.stopped = started.elapsed();
            rabbitmqctl(&["stop_app"]).await;
            let stopped_at = confirmed.load(Ordering::Relaxed);
            // Stay down until the consumer has failed to reconnect at least once, so clients
            // must open new connections, not just retry on old ones.
            wait_until("the consumer to fail a reconnection attempt", || {
                matches!(consumer.state().session, SessionState::Reconnecting { attempts, .. } if attempts >= 1)
            })
            .await;
            timeline.started = started.elapsed();
            rabbitmqctl(&["start_app"]).await;
            (closed_at, stopped_at, timeline)
        })
    };

    // Each confirm is awaited on a task of its own: a pending confirm holds a slot of the
    // window until it is awaited, so the publishing loop must not be the one awaiting them.
    let mut confirms = FuturesUnordered::new();
    let mut failed = Vec::new();
    for _ in 0..MESSAGES {
        match publisher
            .send_user_email_verified_v1(&payload, &PublishContext::new())
            .await
        {
            Ok(pending) => {
                let confirmed = confirmed_count.clone();
                confirms.push(tokio::spawn(async move {
                    let r = pending.confirmed().await;
                    if r.is_ok() {
                        confirmed.fetch_add(1, Ordering::Relaxed);
                    }
                    r.map(|p| (p, started.elapsed()))
                }));
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let mut confirmed = HashMap::new();
    while let Some(r) = confirms.next().await {
        match r.expect("confirm task") {
            Ok((p, at)) => {
                confirmed.insert(p.message_id, at);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let publish_time = started.elapsed();
    let (closed_at, stopped_at, timeline) = faults.await.expect("fault injection");
    assert!(
        closed_at < MESSAGES && stopped_at < MESSAGES,
        "the faults hit mid-stream"
    );

    let mut seen = HashSet::new();
    let mut duplicates = 0usize;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !confirmed.keys().all(|id| seen.contains(id)) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => {
                if !seen.insert(r.message_id) {
                    duplicates += 1;
                }
            }
            _ => break,
        }
    }
    let mut missing: Vec<(String, Duration)> = confirmed
        .iter()
        .filter(|(id, _)| !seen.contains(*id))
        .map(|(id, at)| (id.clone(), *at))
        .collect();
    missing.sort_by_key(|(_, at)| *at);
    let lost = missing.len();
    eprintln!(
        "broker faults: {} confirmed of {MESSAGES} in {publish_time:?} ({} failed after retries), \
         connections closed at {closed_at}, app stopped at {stopped_at}; {} consumed, {duplicates} duplicates, {lost} lost",
        confirmed.len(),
        failed.len(),
        seen.len(),
    );
    if lost > 0 {
        explain_missing(&sandbox, &consumer, &missing, timeline).await;
    }
    assert_eq!(lost, 0, "confirmed messages never consumed");
    assert!(
        failed.is_empty(),
        "publishes that failed despite retries: {:?}",
        &failed[..failed.len().min(3)]
    );
    assert_eq!(confirmed.len(), MESSAGES);
    let consumer = Arc::into_inner(consumer).expect("the fault task has ended");
    assert!(
        consumer.stats().sessions >= 3,
        "the consumer opened a new session after each fault: {:?}",
        consumer.stats()
    );
    consumer
        .shutdown()
        .await
        .expect("consumer survived the faults");
}
