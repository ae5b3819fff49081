//! `cargo build --release -p schemactl -p schemactl-bench && target/release/bench-ops
//! [--messages 10000] [--runs 5]`
//!
//! The operations side of the runtime on the broker at `AMQP_URL` and the PostgreSQL at
//! `POSTGRES_CONFIG`, with the runtime benchmarks' event (`TaskCreated.v1`, 512-byte payload,
//! persistent, to its quorum queue):
//! - **outbox**: `--messages` events published by the typed publisher directly (confirm
//!   window of the publisher's configuration) against the same number of outbox rows
//!   published by one relay (`relay_batch` until none is pending); the rows are written
//!   beforehand, 100 per transaction, and that write rate is reported too. Each run measures
//!   both, in an order that alternates; the ratio is the median of the per-run ratios.
//! - **dlq replay**: the `schemactl dlq replay` command (the release binary beside this one)
//!   on a dead-letter queue holding `--messages` dead letters of `UserEmailVerified.v1`, each
//!   decoded, validated and replayed with a confirm to the queue it failed in.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use schemactl_bench::median_f64;
use schemactl_bench::task::{payload, BoxError};
use schemactl_catalog::producers::{OrchestrationServiceOutbox, OrchestrationServicePublisher};
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::outbox::{tokio_postgres, Batch, Outbox, Relay, RelayConfig};
use schemactl_runtime::{
    confirm_all, wire, Event, PublishContext, Publisher, PublisherConfig, Topology,
};

struct Args {
    messages: usize,
    runs: usize,
}

fn args() -> Result<Args, BoxError> {
    let mut parsed = Args {
        messages: 10_000,
        runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--messages" => parsed.messages = value.parse::<usize>()?.max(100),
            "--runs" => parsed.runs = value.parse::<usize>()?.max(1),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(parsed)
}

/// Messages per second.
fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64().max(1e-9)
}

/// The broker side: the reference catalog's topology under a prefix of its own.
struct Bench {
    url: String,
    postgres: String,
    prefix: String,
    topology: Topology,
    channel: Channel,
    _connection: Connection,
}

impl Bench {
    fn config(&self) -> PublisherConfig {
        PublisherConfig {
            prefix: self.prefix.clone(),
            validate: true,
            ..schemactl_catalog::publisher_config()
        }
    }

    async fn purge(&self, queue: &str) -> Result<(), BoxError> {
        self.channel
            .queue_purge(
                format!("{}{queue}", self.prefix).as_str().into(),
                QueuePurgeOptions::default(),
            )
            .await?;
        Ok(())
    }

    /// The typed publisher directly: every message sent, confirms awaited a window at a time.
    async fn direct(&self, messages: usize) -> Result<Duration, BoxError> {
        let publisher = Publisher::connect(&self.url, self.config()).await?;
        let window = publisher.config().confirm_window;
        let typed = OrchestrationServicePublisher::new(publisher.clone());
        let task = payload();
        let started = Instant::now();
        let mut pending = Vec::with_capacity(window);
        for _ in 0..messages {
            pending.push(
                typed
                    .send_task_created_v1(&task, &PublishContext::new())
                    .await?,
            );
            if pending.len() == window {
                for r in confirm_all(std::mem::take(&mut pending)).await {
                    r?;
                }
            }
        }
        for r in confirm_all(pending).await {
            r?;
        }
        let took = started.elapsed();
        publisher.close().await;
        Ok(took)
    }

    /// Writes `messages` outbox rows (100 per transaction), then one relay publishes them;
    /// returns (write time, relay time).
    async fn outbox(&self, messages: usize, table: &str) -> Result<(Duration, Duration), BoxError> {
        let outbox = Outbox::new(self.config()).with_table(table)?;
        let (mut db, connection) =
            tokio_postgres::connect(&self.postgres, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        outbox.migrate(&db).await?;
        let writer = OrchestrationServiceOutbox::new(outbox.clone());
        let task = payload();
        let started = Instant::now();
        let mut left = messages;
        while left > 0 {
            let tx = db.transaction().await?;
            for _ in 0..left.min(100) {
                writer
                    .task_created_v1(&tx, &task, &PublishContext::new())
                    .await?;
            }
            tx.commit().await?;
            left -= left.min(100);
        }
        let wrote = started.elapsed();
        let publisher = Publisher::connect(&self.url, self.config()).await?;
        let mut relay = Relay::connect(
            &self.postgres,
            &outbox,
            publisher.clone(),
            RelayConfig::default(),
        )
        .await?;
        let started = Instant::now();
        let mut sent = 0;
        loop {
            let Batch { sent: n, failed } = relay.relay_batch().await?;
            if failed > 0 {
                return Err(format!("{failed} outbox rows failed to publish").into());
            }
            if n == 0 {
                break;
            }
            sent += n;
        }
        let relayed = started.elapsed();
        if sent != messages {
            return Err(format!("the relay sent {sent} of {messages} rows").into());
        }
        db.batch_execute(&format!("DROP TABLE {table}")).await?;
        publisher.close().await;
        Ok((wrote, relayed))
    }

    /// Fills notification-service's dead-letter queue with `messages` dead letters as its
    /// consumer writes them.
    async fn fill_dlq(&self, messages: usize) -> Result<(), BoxError> {
        self.channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .ok();
        let queue = format!("{}notification-service", self.prefix);
        let event: serde_json::Value = serde_json::from_str(UserEmailVerifiedV1::EXAMPLES[0])?;
        let mut confirms = Vec::new();
        for _ in 0..messages {
            let id = uuid::Uuid::new_v4().to_string();
            let body = serde_json::to_vec(&serde_json::json!({
                "messageId": id,
                "messageType": UserEmailVerifiedV1::MESSAGE_TYPE,
                "envelopeVersion": "1.0",
                "timestamp": "2026-12-07T10:00:00Z",
                "sourceService": "user-service",
                "payload": event,
            }))?;
            let mut headers = FieldTable::default();
            let text = |s: &str| AMQPValue::LongString(s.into());
            headers.insert(wire::REASON_HEADER.into(), text("retries-exhausted"));
            headers.insert(wire::ERROR_HEADER.into(), text("the mail relay refused"));
            headers.insert(wire::QUEUE_HEADER.into(), text(&queue));
            headers.insert(wire::ATTEMPT_HEADER.into(), AMQPValue::LongLongInt(4));
            headers.insert(
                wire::ORIGINAL_EXCHANGE_HEADER.into(),
                text(&format!("{}{}", self.prefix, UserEmailVerifiedV1::EXCHANGE)),
            );
            headers.insert(
                wire::ORIGINAL_ROUTING_KEY_HEADER.into(),
                text(UserEmailVerifiedV1::ROUTING_KEY),
            );
            headers.insert(
                wire::DEAD_LETTERED_AT_HEADER.into(),
                text("2026-12-07T10:00:01+00:00"),
            );
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_message_id(id.as_str().into())
                .with_headers(headers);
            confirms.push(
                self.channel
                    .basic_publish(
                        "".into(),
                        format!("{queue}.dlq").as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties,
                    )
                    .await?,
            );
            if confirms.len() == 256 {
                for c in confirms.drain(..) {
                    c.await?;
                }
            }
        }
        for c in confirms {
            c.await?;
        }
        Ok(())
    }

    /// `schemactl dlq replay` of the whole dead-letter queue.
    fn replay(&self, schemactl: &PathBuf, catalog: &PathBuf) -> Result<Duration, BoxError> {
        let started = Instant::now();
        let out = Command::new(schemactl)
            .arg("--catalog")
            .arg(catalog)
            .args(["dlq", "replay", "--service", "notification-service"])
            .args(["--to", "failed-queue", "--prefix", &self.prefix])
            .env("AMQP_URL", &self.url)
            .output()?;
        let took = started.elapsed();
        if !out.status.success() {
            return Err(format!(
                "schemactl dlq replay: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(took)
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let postgres = std::env::var("POSTGRES_CONFIG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let schemactl = std::env::current_exe()?.with_file_name("schemactl");
    if !schemactl.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p schemactl`",
            schemactl.display()
        )
        .into());
    }
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let prefix = format!("bench-ops-{id}.");
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let topology = schemactl_catalog::topology::catalog().with_prefix(&prefix);
    topology.declare(&channel).await?;
    let bench = Bench {
        url,
        postgres,
        prefix,
        topology,
        channel,
        _connection: connection,
    };
    let result = measure(&bench, &args, &schemactl, &catalog, id).await;
    bench.topology.delete(&bench.channel).await?;
    result
}

async fn measure(
    bench: &Bench,
    args: &Args,
    schemactl: &PathBuf,
    catalog: &PathBuf,
    id: &str,
) -> Result<(), BoxError> {
    let n = args.messages;
    let (mut direct, mut relayed, mut written, mut ratios, mut replayed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.runs {
        let table = format!("bench_outbox_{id}_{run}");
        let (d, (w, r)) = if run % 2 == 0 {
            let d = bench.direct(n).await?;
            bench.purge("dashboard").await?;
            (d, bench.outbox(n, &table).await?)
        } else {
            let o = bench.outbox(n, &table).await?;
            bench.purge("dashboard").await?;
            (bench.direct(n).await?, o)
        };
        bench.purge("dashboard").await?;
        bench.fill_dlq(n).await?;
        let replay = bench.replay(schemactl, catalog)?;
        bench.purge("notification-service").await?;
        println!(
            "run {}: direct {:.0} msg/s, relay {:.0} msg/s ({:.2}×), outbox write {:.0} msg/s, dlq replay {:.0} msg/s",
            run + 1,
            rate(n, d),
            rate(n, r),
            rate(n, r) / rate(n, d),
            rate(n, w),
            rate(n, replay)
        );
        direct.push(rate(n, d));
        relayed.push(rate(n, r));
        written.push(rate(n, w));
        ratios.push(rate(n, r) / rate(n, d));
        replayed.push(rate(n, replay));
    }
    let m = |v: Vec<f64>| median_f64(v).unwrap_or_default();
    println!();
    println!("{n} messages, {} runs, medians:", args.runs);
    println!("| case | msg/s |");
    println!("|---|---|");
    println!("| typed publisher, directly | {:.0} |", m(direct));
    println!("| outbox relay | {:.0} |", m(relayed));
    println!(
        "| relay vs publisher (median of per-run ratios) | {:.2}× |",
        m(ratios)
    );
    println!(
        "| outbox write (100 rows per transaction) | {:.0} |",
        m(written)
    );
    println!("| `schemactl dlq replay` | {:.0} |", m(replayed));
    Ok(())
}
