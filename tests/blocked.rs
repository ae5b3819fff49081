//! A broker that blocks publishers: a memory alarm raised with `rabbitmqctl
//! set_vm_memory_high_watermark 0` makes RabbitMQ send `connection.blocked` and stop reading
//! from publishing connections. The publisher reports the block, a send waits for it at most
//! `blocked_timeout` and then fails having sent nothing, a send made during the block goes out
//! once the alarm clears, and every message seen confirmed is in the queue.
//!
//! Its own test binary: cargo runs test binaries one after another, so the alarm, which blocks
//! every publisher of the broker, cannot disturb the other broker tests. The watermark is put
//! back however the test ends.

mod common;

use std::time::Duration;

use common::{amqp_url, example, rabbitmqctl, wait_until, Sandbox};
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::{Event, PublishContext, PublishErrorKind, Publisher, PublisherConfig};

/// The broker's memory watermark, read at the start and restored on drop (even when the test
/// panics), so the alarm never outlives the test.
struct MemoryAlarm {
    watermark: String,
}

impl MemoryAlarm {
    async fn raise() -> MemoryAlarm {
        let out = tokio::process::Command::new("rabbitmqctl")
            .args(["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."])
            .output()
            .await
            .expect("rabbitmqctl runs");
        let watermark = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && watermark.parse::<f64>().is_ok(),
            "the broker's memory watermark: {watermark:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rabbitmqctl(&["set_vm_memory_high_watermark", "0"]).await;
        MemoryAlarm { watermark }
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        let restored = std::process::Command::new("rabbitmqctl")
            .args(["set_vm_memory_high_watermark", &self.watermark])
            .status();
        assert!(
            restored.is_ok_and(|s| s.success()),
            "restore the memory watermark to {} (`rabbitmqctl set_vm_memory_high_watermark {}`)",
            self.watermark,
            self.watermark
        );
    }
}

#[tokio::test]
async fn a_blocked_broker_holds_sends_back_and_loses_nothing() {
    let sandbox = Sandbox::new("blocked").await;
    let queue = sandbox.queue(UserEmailVerifiedV1::CONSUMERS[0]);
    let config = |blocked_timeout| PublisherConfig {
        blocked_timeout,
        confirm_timeout: Duration::from_secs(1),
        ..sandbox.publisher_config()
    };
    // One publisher waits out the block, the other gives up after two seconds.
    let patient = Publisher::connect(&amqp_url(), config(Duration::from_secs(120)))
        .await
        .expect("publisher connects");
    let impatient = Publisher::connect(&amqp_url(), config(Duration::from_secs(2)))
        .await
        .expect("publisher connects");
    let payload: UserEmailVerifiedV1 = example();
    let ctx = PublishContext::new();
    for publisher in [&patient, &impatient] {
        publisher.publish(&payload, &ctx).await.expect("confirmed");
    }
    assert_eq!(
        sandbox
            .depth_reaches(&queue, 2, Duration::from_secs(10))
            .await,
        2
    );

    let alarm = MemoryAlarm::raise().await;
    // RabbitMQ says `connection.blocked` when a connection next publishes: the message that
    // meets the block is sent, and its confirm waits for the broker to unblock.
    let held = tokio::spawn({
        let (patient, payload) = (patient.clone(), payload.clone());
        async move { patient.publish(&payload, &PublishContext::new()).await }
    });
    let error = impatient
        .publish(&payload, &ctx)
        .await
        .expect_err("no confirm while blocked");
    assert!(
        matches!(error.kind(), PublishErrorKind::Blocked { sent: true, .. }),
        "{error}"
    );
    wait_until(
        "both publishers see the block",
        Duration::from_secs(20),
        || impatient.blocked().is_some() && patient.blocked().is_some(),
    )
    .await;
    let reason = impatient.blocked().unwrap_or_default();
    assert!(reason.contains("memory"), "the broker's reason: {reason}");

    // Once the block is known, a send waits at most `blocked_timeout`, then fails having sent
    // nothing.
    let started = tokio::time::Instant::now();
    let error = impatient
        .publish(&payload, &ctx)
        .await
        .expect_err("no send while blocked");
    let waited = started.elapsed();
    assert!(
        matches!(error.kind(), PublishErrorKind::Blocked { sent: false, .. }),
        "{error}"
    );
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("nothing was sent"), "{error}");
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&waited),
        "waited {waited:?}"
    );
    assert!(
        !held.is_finished(),
        "the held message is not reported before the unblock"
    );

    drop(alarm);
    let published = tokio::time::timeout(Duration::from_secs(60), held)
        .await
        .expect("the held send ends once unblocked")
        .expect("task")
        .expect("confirmed after the block");
    assert_eq!(published.attempts, 1, "sent once, not again: {published:?}");
    wait_until(
        "both publishers see the unblock",
        Duration::from_secs(20),
        || impatient.blocked().is_none() && patient.blocked().is_none(),
    )
    .await;
    impatient.publish(&payload, &ctx).await.expect("confirmed");

    // Two before the block; the held one; the one the impatient publisher sent as the block
    // began (reported unconfirmed, delivered once the broker read it); one after. The send
    // refused while blocked is not there.
    assert_eq!(
        sandbox
            .depth_reaches(&queue, 5, Duration::from_secs(10))
            .await,
        5
    );
    impatient.close().await;
    patient.close().await;
}
