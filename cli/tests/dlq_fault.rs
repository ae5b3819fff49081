//! `schemactl dlq replay` when the broker drops every connection in the middle of it: no
//! message is lost. Each dead letter ends either still in the dead-letter queue or replayed
//! to the service's queue (a message whose removal was cut off may be in both, as
//! at-least-once allows), and a second replay finishes the job.
//!
//! In a test binary of its own: `rabbitmqctl close_all_connections` would cut the
//! connections of any test running beside it.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::{confirm_all, HandlerError, PublishContext, Uniform};

#[path = "../../tests/common/mod.rs"]
mod common;
use common::{amqp_url, example, rabbitmqctl, Recorder, Sandbox};

const MESSAGES: usize = 3000;

/// `schemactl dlq replay` of the service's dead letters to its queue, at most `rate` a second.
fn replay(sandbox: &Sandbox, rate: u32) -> Command {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut command = Command::new(env!("CARGO_BIN_EXE_schemactl"));
    command
        .arg("--catalog")
        .arg(catalog)
        .args(["dlq", "replay", "--service", "notification-service", "--to"])
        .args(["failed-queue", "--prefix", &sandbox.prefix])
        .args(["--rate", &rate.to_string()])
        .env("AMQP_URL", amqp_url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_cut_off_by_the_broker_loses_nothing() {
    let mut sandbox = Sandbox::new("dlq-fault").await;
    let queue = sandbox.queue("notification-service");
    let dlq = format!("{queue}.dlq");

    // Fill the dead-letter queue through the consumer: every message is rejected.
    let (recorder, _rx) = Recorder::with(|_| Err(HandlerError::permanent("rejected")));
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let mut ids = HashSet::new();
    for chunk in 0..MESSAGES / 100 {
        let mut pending = Vec::new();
        for _ in 0..100 {
            let mut event = example::<UserEmailVerifiedV1>();
            event.user_id = uuid::Uuid::new_v4();
            pending.push(
                publisher
                    .send_user_email_verified_v1(&event, &PublishContext::new())
                    .await
                    .unwrap(),
            );
        }
        for published in confirm_all(pending).await {
            ids.insert(published.unwrap().message_id);
        }
        assert_eq!(ids.len(), (chunk + 1) * 100);
    }
    let depth = sandbox
        .depth_reaches(&dlq, MESSAGES as u32, Duration::from_secs(60))
        .await;
    assert_eq!(depth, MESSAGES as u32);
    consumer.shutdown().await.unwrap();

    // Replay to the service's own queue (no consumer now), paced so that it is still running
    // when the cut lands (`rabbitmqctl` takes a second or two to start); cut every
    // connection midway.
    let child = replay(&sandbox, 500).spawn().unwrap();
    let started = std::time::Instant::now();
    loop {
        let replayed = sandbox.depth(&queue).await;
        if replayed >= MESSAGES as u32 / 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay did not start: {replayed} replayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rabbitmqctl(&["close_all_connections", "dlq replay fault test"]).await;
    let cut = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert_ne!(
        cut.status.code(),
        Some(0),
        "the replay was cut off: {stderr}"
    );

    // The sandbox's own connection was closed too.
    sandbox.reconnect().await;
    // The broker returns the messages the cut replay held to the DLQ as it closes the
    // channel; wait (bounded) until every message is accounted for.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (in_dlq, in_queue) = loop {
        let (in_dlq, in_queue) = (sandbox.depth(&dlq).await, sandbox.depth(&queue).await);
        if (in_dlq + in_queue) as usize >= MESSAGES || std::time::Instant::now() >= deadline {
            break (in_dlq, in_queue);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        in_dlq > 0 && in_queue > 0,
        "cut in the middle: {in_dlq} still dead-lettered, {in_queue} replayed"
    );
    assert!(
        (in_dlq + in_queue) as usize >= MESSAGES,
        "{in_dlq} + {in_queue} < {MESSAGES}: messages were lost ({stderr})"
    );

    // Replaying again finishes the job; every message is in the queue, at least once. The
    // broker may still be returning the letters the cut replay held (a quorum queue applies
    // the returns asynchronously) when a replay reads the depth it stops at, so a letter
    // can arrive after it: replay until the DLQ stays empty, at most 5 times.
    let mut replays = 0;
    loop {
        let done = replay(&sandbox, 100_000).output().unwrap();
        assert_eq!(
            done.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        replays += 1;
        let left = sandbox.depth_reaches(&dlq, 0, Duration::from_secs(5)).await;
        if left == 0 {
            break;
        }
        assert!(
            replays < 5,
            "{left} letters still in {dlq} after {replays} replays"
        );
    }
    let total = sandbox.depth(&queue).await as usize;
    let replayed = sandbox
        .take_ids(&queue, total, Duration::from_secs(10))
        .await;
    let unique: HashSet<String> = replayed.iter().cloned().collect();
    assert_eq!(unique, ids, "every dead letter was replayed");
    eprintln!(
        "{MESSAGES} dead letters; cut with {in_queue} replayed and {in_dlq} in the DLQ; \
         {} duplicates after {replays} more replay(s)",
        replayed.len() - unique.len()
    );
}
