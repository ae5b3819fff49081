//! `schemactl dlq` against the real broker: a schemactl consumer dead-letters messages through
//! its real failure paths (retries exhausted, schema-invalid, malformed), then `list`, `show` and `export` read them without removing any, `replay`
//! re-publishes the valid ones (they reach the consumer again, attempt 1) and keeps the one
//! today's schema rejects, and `purge` removes only what it selects, after archiving it.
//!
//! Every name carries a prefix unique to the run; the sandbox deletes what it declared.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::dlq::{self, DeadLetterQueue, DlqError, Target, Writer};
use schemactl_runtime::wire;
use schemactl_runtime::{Event, HandlerError, PublishContext, Uniform};
use serde_json::{json, Value};

#[path = "../../tests/common/mod.rs"]
mod common;
use common::{amqp_url, example, receive, Recorder, Sandbox};

fn schemactl(sandbox: &Sandbox, args: &[&str]) -> Output {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    Command::new(env!("CARGO_BIN_EXE_schemactl"))
        .arg("--catalog")
        .arg(catalog)
        .args(["dlq"])
        .args(args)
        .args(["--prefix", &sandbox.prefix])
        .env("AMQP_URL", amqp_url())
        .output()
        .expect("run schemactl")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn exits(o: &Output, code: i32) -> (String, String) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

async fn publish_raw(sandbox: &Sandbox, body: &[u8]) {
    let channel = sandbox.connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            format!("{}user.events", sandbox.prefix).as_str().into(),
            UserEmailVerifiedV1::ROUTING_KEY.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let _ = channel.close(200, "done".into()).await;
}

/// The runtime API on a message the broker itself dead-lettered (expired): `x-death` read,
/// the copy re-published where it came from, confirmed, then removed.
#[tokio::test]
async fn a_message_the_broker_dead_lettered_is_read_from_x_death_and_replayed() {
    let sandbox = Sandbox::empty("dlq-broker").await;
    let source = format!("{}expiring", sandbox.prefix);
    let dead = format!("{}expired.dlq", sandbox.prefix);
    let channel = &sandbox.channel;
    let declare = |name: String, arguments: FieldTable| async move {
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::default(),
                arguments,
            )
            .await
            .unwrap();
    };
    declare(dead.clone(), FieldTable::default()).await;
    let mut expiring = FieldTable::default();
    expiring.insert("x-message-ttl".into(), AMQPValue::LongInt(0));
    expiring.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    expiring.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead.as_str().into()),
    );
    declare(source.clone(), expiring).await;
    let body = br#"{"orderId": 42}"#;
    channel
        .basic_publish(
            "".into(),
            source.as_str().into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_message_id("m-42".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        sandbox
            .depth_reaches(&dead, 1, Duration::from_secs(10))
            .await,
        1
    );

    let queue = DeadLetterQueue::open(&sandbox.connection, &dead)
        .await
        .unwrap();
    let mut scan = queue.scan(None).await.unwrap();
    let letter = scan.next().await.unwrap().expect("the expired message");
    assert!(scan.next().await.unwrap().is_none(), "one message");
    assert_eq!(letter.writer, Writer::Broker);
    assert_eq!(letter.reason.as_deref(), Some("expired"));
    assert_eq!(letter.queue.as_deref(), Some(source.as_str()));
    assert_eq!(letter.exchange.as_deref(), Some(""));
    assert_eq!(letter.routing_key.as_deref(), Some(source.as_str()));
    assert_eq!(letter.message_id.as_deref(), Some("m-42"));
    assert!(letter.dead_lettered_at.is_some());
    assert_eq!(letter.body, body);
    // Re-published to the expiring queue, it expires again and comes back, x-death counted.
    scan.replay(&letter, Target::Original).await.unwrap();
    scan.remove(&letter).await.unwrap();
    assert_eq!(scan.finish().await.unwrap(), 0);
    assert_eq!(
        sandbox
            .depth_reaches(&dead, 1, Duration::from_secs(10))
            .await,
        1
    );
    let mut scan = queue.scan(None).await.unwrap();
    let back = scan
        .next()
        .await
        .unwrap()
        .expect("the replayed copy, expired again");
    assert_eq!(back.body, body);
    assert_eq!(
        wire::header_u64(&back.properties, dlq::REPLAYED_HEADER),
        Some(1)
    );
    assert_eq!(scan.finish().await.unwrap(), 1, "returned to the queue");
    queue.close().await;
    // The broker requeues asynchronously: wait (bounded) for the count to show it.
    assert_eq!(
        sandbox
            .depth_reaches(&dead, 1, Duration::from_secs(10))
            .await,
        1
    );
    let missing = DeadLetterQueue::open(&sandbox.connection, &format!("{}absent", sandbox.prefix))
        .await
        .unwrap_err();
    assert!(matches!(missing, DlqError::NoQueue { .. }), "{missing}");
    for q in [source, dead] {
        channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_exported_replayed_and_purged_without_loss() {
    let sandbox = Sandbox::new("dlq").await;
    let dlq = format!("{}.dlq", sandbox.queue("notification-service"));
    // The handler fails (retryably) until the "fix" is deployed.
    let fixed = Arc::new(AtomicBool::new(false));
    let (recorder, mut rx) = Recorder::with({
        let fixed = fixed.clone();
        move |_| {
            if fixed.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(HandlerError::retryable("the mail relay refused"))
            }
        }
    });
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(&amqp_url(), sandbox.consumer_config())
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(sandbox.publisher().await);
    let mut rejected_ids = Vec::new();
    for _ in 0..3 {
        let mut event = example::<UserEmailVerifiedV1>();
        event.user_id = uuid::Uuid::new_v4();
        let published = publisher
            .user_email_verified_v1(&event, &PublishContext::new())
            .await
            .unwrap();
        rejected_ids.push(published.message_id.clone());
    }
    publish_raw(&sandbox, b"{not json").await;
    let invalid_id = uuid::Uuid::new_v4().to_string();
    let invalid = json!({
        "messageId": invalid_id,
        "messageType": "UserEmailVerified.v1",
        "envelopeVersion": "1.0",
        "timestamp": "2026-12-07T10:00:00Z",
        "sourceService": "user-service",
        "payload": {"userId": 7},
    });
    publish_raw(&sandbox, &serde_json::to_vec(&invalid).unwrap()).await;
    // Each failing message is tried max_attempts (4) times: 12 handler calls.
    assert_eq!(
        receive(&mut rx, 12, Duration::from_secs(30)).await.len(),
        12
    );
    assert_eq!(
        sandbox
            .depth_reaches(&dlq, 5, Duration::from_secs(10))
            .await,
        5,
        "3 retries exhausted, 1 malformed, 1 schema-invalid"
    );

    // list: depth and reasons; nothing moves.
    let (out, _) = exits(
        &schemactl(&sandbox, &["list", "--service", "notification-service"]),
        0,
    );
    assert!(out.contains("holds 5"), "{out}");
    assert!(
        out.contains("malformed 1, retries-exhausted 3, schema-invalid 1"),
        "{out}"
    );
    assert_eq!(
        sandbox.depth_reaches(&dlq, 5, Duration::from_secs(5)).await,
        5
    );

    // show: the selected messages with reason, error and origin; nothing moves.
    let (out, err) = exits(
        &schemactl(
            &sandbox,
            &[
                "show",
                "--service",
                "notification-service",
                "--reason",
                "retries-exhausted",
            ],
        ),
        0,
    );
    assert_eq!(
        out.matches("error: the mail relay refused").count(),
        3,
        "{out}"
    );
    assert_eq!(
        out.matches("reason: retries-exhausted, attempt 4").count(),
        3,
        "{out}"
    );
    for id in &rejected_ids {
        assert!(
            out.contains(&format!("UserEmailVerified.v1 id {id}")),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("from exchange `{}user.events`", sandbox.prefix)),
        "{out}"
    );
    assert!(
        err.contains("3 selected, left in place; 5 returned"),
        "{err}"
    );
    assert_eq!(
        sandbox.depth_reaches(&dlq, 5, Duration::from_secs(5)).await,
        5
    );

    // export: every message, bodies byte for byte; nothing moves.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("all.jsonl");
    exits(
        &schemactl(
            &sandbox,
            &[
                "export",
                "--service",
                "notification-service",
                "--out",
                archive.to_str().unwrap(),
            ],
        ),
        0,
    );
    let exported = lines(&archive);
    assert_eq!(exported.len(), 5);
    let malformed: Vec<&Value> = exported
        .iter()
        .filter(|r| r["reason"] == "malformed")
        .collect();
    assert_eq!(malformed.len(), 1);
    assert_eq!(
        malformed[0]["body_base64"], "e25vdCBqc29u",
        "`{{not json` kept"
    );
    assert!(exported.iter().any(|r| r["body"] == invalid));
    assert_eq!(
        sandbox.depth_reaches(&dlq, 5, Duration::from_secs(5)).await,
        5
    );

    // replay, dry run: what would go and what would stay; nothing moves.
    fixed.store(true, Ordering::SeqCst);
    let selection = [
        "--service",
        "notification-service",
        "--reason",
        "retries-exhausted",
        "--reason",
        "schema-invalid",
    ];
    let dry: Vec<&str> = ["replay", "--dry-run"]
        .into_iter()
        .chain(selection)
        .collect();
    let (out, _) = exits(&schemactl(&sandbox, &dry), 1);
    assert_eq!(out.matches("would replay UserEmailVerified.v1").count(), 3);
    assert!(
        out.contains(&format!(
            "kept UserEmailVerified.v1 {invalid_id}: invalid at payload /"
        )) && out.contains("\"email\" is a required property"),
        "{out}"
    );
    assert_eq!(
        sandbox.depth_reaches(&dlq, 5, Duration::from_secs(5)).await,
        5
    );

    // replay of one message to the queue it failed in only: read in its original dialect.
    let (out, _) = exits(
        &schemactl(
            &sandbox,
            &["replay", "--to", "failed-queue", "--id", &rejected_ids[0]],
        ),
        0,
    );
    assert!(
        out.contains(&format!(
            "replayed UserEmailVerified.v1 {} to queue `{}`",
            rejected_ids[0],
            sandbox.queue("notification-service")
        )),
        "{out}"
    );
    let mut again = receive(&mut rx, 1, Duration::from_secs(10)).await;
    assert_eq!(
        sandbox.depth_reaches(&dlq, 4, Duration::from_secs(5)).await,
        4
    );

    // replay: the valid ones reach the consumer again at attempt 1, the invalid one stays.
    let replay: Vec<&str> = ["replay", "--rate", "50"]
        .into_iter()
        .chain(selection)
        .collect();
    let (out, err) = exits(&schemactl(&sandbox, &replay), 1);
    assert_eq!(
        out.matches("replayed UserEmailVerified.v1").count(),
        2,
        "{out}"
    );
    assert!(err.contains("2 replayed, 1 kept"), "{err}");
    again.extend(receive(&mut rx, 2, Duration::from_secs(10)).await);
    let mut got: Vec<String> = again.iter().map(|r| r.message_id.clone()).collect();
    got.sort();
    rejected_ids.sort();
    assert_eq!(got, rejected_ids, "the same messages, same IDs");
    assert!(again.iter().all(|r| r.attempt == 1), "attempts start again");
    assert_eq!(
        sandbox.depth_reaches(&dlq, 2, Duration::from_secs(5)).await,
        2
    );

    // purge needs --yes, and removes only what it selects, after archiving it.
    let purge = [
        "purge",
        "--service",
        "notification-service",
        "--reason",
        "malformed",
    ];
    exits(&schemactl(&sandbox, &purge), 2);
    assert_eq!(
        sandbox.depth_reaches(&dlq, 2, Duration::from_secs(5)).await,
        2
    );
    let purged = dir.path().join("purged.jsonl");
    let with_archive: Vec<&str> = purge
        .into_iter()
        .chain(["--yes", "--export", purged.to_str().unwrap()])
        .collect();
    exits(&schemactl(&sandbox, &with_archive), 0);
    let archived = lines(&purged);
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["reason"], "malformed");
    assert_eq!(
        sandbox.depth_reaches(&dlq, 1, Duration::from_secs(5)).await,
        1
    );
    // Over every service, the dead-letter queue of a service not deployed yet (deleted here)
    // is skipped with a note and the others are still read; naming that service is an error.
    let absent = sandbox
        .topology
        .services
        .iter()
        .find(|s| s.service == "analytics-service")
        .map(|s| s.dead_letter_queue.clone())
        .expect("analytics-service consumes");
    assert_ne!(absent, dlq);
    sandbox
        .channel
        .queue_delete(absent.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete a dead-letter queue");
    let (out, _) = exits(&schemactl(&sandbox, &["show"]), 0);
    assert!(
        out.contains(&format!(
            "{absent} (analytics-service): does not exist (topology not declared); skipped"
        )),
        "{out}"
    );
    assert_eq!(out.matches("  reason: ").count(), 1, "{out}");
    let (_, err) = exits(
        &schemactl(&sandbox, &["show", "--service", "analytics-service"]),
        1,
    );
    assert!(err.contains("does not exist on the broker"), "{err}");
    assert_eq!(
        sandbox.depth_reaches(&dlq, 1, Duration::from_secs(5)).await,
        1
    );
    exits(
        &schemactl(
            &sandbox,
            &["purge", "--service", "notification-service", "--yes"],
        ),
        0,
    );
    assert_eq!(
        sandbox.depth_reaches(&dlq, 0, Duration::from_secs(5)).await,
        0
    );

    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (stats.handled, stats.retried, stats.dead_lettered),
        (3, 9, 5)
    );
}

#[test]
fn a_dead_broker_and_an_unknown_service_are_input_errors() {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_schemactl"))
            .arg("--catalog")
            .arg(&catalog)
            .arg("dlq")
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["list", "--url", "amqp://guest:secret@127.0.0.1:1/%2f"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot connect to the broker at amqp://guest:***@127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    let o = run(&["show", "--service", "no-such-service"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no consuming service `no-such-service`"),
        "{err}"
    );
    assert!(err.contains("notification-service"), "{err}");
}
