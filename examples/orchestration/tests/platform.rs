//! The dashboard joins the orchestration platform as it runs: messages laid out as
//! MassTransit 8 writes them (`testdata/masstransit/`, provenance in its README), published
//! as MassTransit publishes them (to the message type's fanout exchange, content type
//! `application/vnd.masstransit+json`), reach it typed, MassTransit's conversation ID and
//! headers kept. Real broker, names unique to the run, deleted afterwards.

#[path = "../../common/worker.rs"]
mod worker;

use std::time::Duration;

use lapin::BasicProperties;
use schemactl_runtime::Event;
use serde_json::{json, Value};
use task_dashboard::orchestration::{TaskCompletedV1, TaskCreatedV1};
use worker::{amqp_url, unique_prefix, Broker, Worker};

const TASK_CREATED: &str = include_str!("../../../testdata/masstransit/task-created.json");

#[test]
fn the_dashboard_handles_what_masstransit_publishes() {
    let url = amqp_url();
    let prefix = unique_prefix("dashboard");
    let mut worker = Worker::start(
        env!("CARGO_BIN_EXE_task-dashboard"),
        &[("AMQP_URL", &url), ("DASHBOARD_PREFIX", &prefix)],
    );
    worker.wait_for("consuming", Duration::from_secs(30));
    let broker = Broker::connect(&url);
    let publish = |exchange: &str, body: &[u8]| {
        let properties = BasicProperties::default()
            .with_content_type("application/vnd.masstransit+json".into())
            .with_delivery_mode(2);
        broker.publish(&format!("{prefix}{exchange}"), "", body, properties);
    };

    publish(TaskCreatedV1::EXCHANGE, TASK_CREATED.as_bytes());
    let line = worker.wait_for("created", Duration::from_secs(30));
    assert_eq!(
        line,
        "task e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b created: \"Fix flaky login test\" \
         by user 7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f (tenant tenant-123, \
         conversation 2f4b0000-8ed5-0015-9c8d-08dc1b6f4b1f)"
    );

    // The same envelope around a TaskCompletedEvent.
    let mut completed: Value = serde_json::from_str(TASK_CREATED).unwrap();
    completed["messageId"] = json!("2f4b0000-8ed5-0015-5a0b-08dc1b6f4b2a");
    completed["messageType"] = json!([TaskCompletedV1::WIRE_TYPE]);
    completed["destinationAddress"] = json!(format!(
        "rabbitmq://localhost/{}",
        TaskCompletedV1::EXCHANGE
    ));
    completed["message"] = json!({
        "taskId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
        "taskType": "bug_fix",
        "complexity": "simple",
        "strategy": "single_shot",
        "tokensUsed": 1200,
        "durationMs": 4200,
        "pullRequestUrl": "https://git.example.com/pr/7"
    });
    publish(
        TaskCompletedV1::EXCHANGE,
        &serde_json::to_vec(&completed).unwrap(),
    );
    let line = worker.wait_for("completed", Duration::from_secs(30));
    assert_eq!(
        line,
        "task e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b completed in 4200 ms \
         (1200 tokens, https://git.example.com/pr/7)"
    );

    let rest = worker.interrupt();
    assert!(
        rest.contains("handled 2 message(s), dead-lettered 0"),
        "{rest}"
    );
    broker.finish(task_dashboard::topology::catalog().with_prefix(&prefix));
}
