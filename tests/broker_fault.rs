//! Broker faults during a stream of confirmed publishes: every connection force-closed
//! (`rabbitmqctl close_all_connections`) and the broker app stopped and started
//! (`rabbitmqctl stop_app` / `start_app`). Every message the publisher saw confirmed must
//! reach the consumer; duplicates are allowed and counted.
//!
//! Its own test binary: cargo runs test binaries one after another, so the faults cannot
//! disturb the other broker tests.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{amqp_url, example, rabbitmqctl, Recorder, Sandbox};
use futures_util::stream::{FuturesUnordered, StreamExt};
use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::{ConsumerConfig, PublishContext, Uniform};

const MESSAGES: usize = 20_000;

async fn wait_for(counter: &AtomicUsize, at_least: usize) {
    while counter.load(Ordering::Relaxed) < at_least {
        tokio::time::sleep(Duration::from_millis(20)).await;
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
    let consumer = NotificationService::new(Uniform(recorder))
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
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let payload = example::<UserEmailVerifiedV1>();

    let confirmed_count = Arc::new(AtomicUsize::new(0));
    let faults = {
        let confirmed = confirmed_count.clone();
        tokio::spawn(async move {
            wait_for(&confirmed, MESSAGES / 5).await;
            rabbitmqctl(&["close_all_connections", "schemactl fault test"]).await;
            let closed_at = confirmed.load(Ordering::Relaxed);
            wait_for(&confirmed, MESSAGES / 2).await;
            rabbitmqctl(&["stop_app"]).await;
            let stopped_at = confirmed.load(Ordering::Relaxed);
            // Stay down long enough that clients must reconnect, not just retry.
            tokio::time::sleep(Duration::from_secs(3)).await;
            rabbitmqctl(&["start_app"]).await;
            (closed_at, stopped_at)
        })
    };

    let started = Instant::now();
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
                    r
                }));
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let mut confirmed = HashSet::new();
    while let Some(r) = confirms.next().await {
        match r.expect("confirm task") {
            Ok(p) => {
                confirmed.insert(p.message_id);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let publish_time = started.elapsed();
    let (closed_at, stopped_at) = faults.await.expect("fault injection");
    assert!(
        closed_at < MESSAGES && stopped_at < MESSAGES,
        "the faults hit mid-stream"
    );

    let mut seen = HashSet::new();
    let mut duplicates = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !confirmed.is_subset(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => {
                if !seen.insert(r.message_id) {
                    duplicates += 1;
                }
            }
            _ => break,
        }
    }
    let lost = confirmed.difference(&seen).count();
    eprintln!(
        "broker faults: {} confirmed of {MESSAGES} in {publish_time:?} ({} failed after retries), \
         connections closed at {closed_at}, app stopped at {stopped_at}; {} consumed, {duplicates} duplicates, {lost} lost",
        confirmed.len(),
        failed.len(),
        seen.len(),
    );
    assert_eq!(lost, 0, "confirmed messages never consumed");
    assert!(
        failed.is_empty(),
        "publishes that failed despite retries: {:?}",
        &failed[..failed.len().min(3)]
    );
    assert_eq!(confirmed.len(), MESSAGES);
    consumer
        .shutdown()
        .await
        .expect("consumer survived the faults");
}
