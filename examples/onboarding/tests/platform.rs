//! The worker joins the onboarding platform as it runs: a message published the way the
//! TypeScript onboarding service publishes it (amqplib: the payload as the JSON body,
//! `persistent: true`, tenantId, userId and stepName headers, routing key
//! `onboarding.<eventType>`) reaches the worker typed; one that breaks the schema is
//! dead-lettered to the platform's `onboarding.events.dlq`, byte for byte. Real broker, names
//! unique to the run, deleted afterwards.

#[path = "../../common/worker.rs"]
mod worker;

use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use worker::{amqp_url, unique_prefix, Broker, Worker};

/// The properties the platform's `emitOnboardingEvent` publishes with.
fn as_the_platform_publishes() -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in [
        ("tenantId", "tenant-123"),
        ("userId", "7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f"),
        ("stepName", "invite_team"),
    ] {
        headers.insert(
            name.into(),
            AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
        );
    }
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_headers(headers)
}

#[test]
fn the_worker_handles_what_the_onboarding_service_publishes() {
    let url = amqp_url();
    let prefix = unique_prefix("onboarding");
    let exchange = format!("{prefix}onboarding.events");
    let mut worker = Worker::start(
        env!("CARGO_BIN_EXE_onboarding-worker"),
        &[("AMQP_URL", &url), ("ONBOARDING_PREFIX", &prefix)],
    );
    worker.wait_for("consuming", Duration::from_secs(30));
    let broker = Broker::connect(&url);

    let completed = r#"{"tenantId":"tenant-123","userId":"7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f",
        "completedAt":"2024-02-01T10:20:00Z","completedSteps":["create_workspace","invite_team"],
        "requestedConnectors":["postgres","salesforce"]}"#;
    broker.publish(
        &exchange,
        "onboarding.completed",
        completed.as_bytes(),
        as_the_platform_publishes(),
    );
    let line = worker.wait_for("provisioning", Duration::from_secs(30));
    assert!(
        line.starts_with(
            "provisioning [postgres, salesforce] for tenant tenant-123 \
             (user 7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f, after 2 steps;"
        ),
        "{line}"
    );

    // No completedSteps: the schema requires them.
    let broken = r#"{"tenantId":"tenant-123","userId":"7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f",
        "completedAt":"2024-02-01T10:20:00Z"}"#;
    broker.publish(
        &exchange,
        "onboarding.completed",
        broken.as_bytes(),
        as_the_platform_publishes(),
    );
    let dead = broker.take(
        &format!("{prefix}onboarding.events.dlq"),
        Duration::from_secs(30),
    );
    assert_eq!(
        dead.data,
        broken.as_bytes(),
        "the dead letter is the message as sent"
    );
    let reason = dead
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-schemactl-reason").cloned());
    assert_eq!(
        reason,
        Some(AMQPValue::LongString("schema-invalid".into())),
        "{:?}",
        dead.properties.headers()
    );

    let rest = worker.interrupt();
    assert!(
        rest.contains("handled 1 message(s), dead-lettered 1"),
        "{rest}"
    );
    broker.finish(onboarding_worker::topology::catalog().with_prefix(&prefix));
}
