//! Shared helpers of the broker tests: a sandbox of the catalog's topology under a prefix
//! unique to the test, deleted when the sandbox drops (kept for inspection when the test
//! fails, and deleted by the next run), and a handler that records what it receives.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use schemactl_runtime::{
    ConsumerConfig, Event, EventHandler, HandlerError, Publisher, PublisherConfig, Received,
    Topology,
};
use serde_json::Value;
use tokio::sync::mpsc;

/// The broker under test: `AMQP_URL`, or the local default.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Runs the local RabbitMQ's `rabbitmqctl` and asserts that it succeeded.
pub async fn rabbitmqctl<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .expect("rabbitmqctl runs (the broker tests need the local RabbitMQ's CLI)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A name prefix unique to this test run and test.
pub fn unique_prefix(test: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{test}-{}.", &id[..8])
}

/// The catalog's topology under a unique prefix, on a live connection. Dropping it deletes
/// every queue and exchange it names.
pub struct Sandbox {
    pub prefix: String,
    /// The prefixed topology.
    pub topology: Topology,
    pub connection: Connection,
    pub channel: Channel,
}

impl Sandbox {
    /// Connects and declares the catalog's topology under a fresh prefix.
    pub async fn new(test: &str) -> Sandbox {
        let sandbox = Sandbox::empty(test).await;
        sandbox
            .topology
            .declare(&sandbox.channel)
            .await
            .expect("declare the topology");
        sandbox
    }

    /// Connects without declaring anything.
    pub async fn empty(test: &str) -> Sandbox {
        let url = amqp_url();
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot reach RabbitMQ at {url}: {e}; start it (`rabbitmq-server -detached`) or set AMQP_URL"
                )
            });
        let channel = connection.create_channel().await.expect("channel");
        delete_kept_sandboxes(&channel).await;
        let prefix = unique_prefix(test);
        let topology = schemactl_catalog::topology::catalog().with_prefix(&prefix);
        Sandbox {
            prefix,
            topology,
            connection,
            channel,
        }
    }

    /// Opens a new connection and channel (after a fault closed them); the topology stays.
    pub async fn reconnect(&mut self) {
        self.connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("reconnect to the broker");
        self.channel = self.connection.create_channel().await.expect("channel");
    }

    /// The (prefixed) queue of a consuming service.
    pub fn queue(&self, service: &str) -> String {
        match self.topology.service(service) {
            Some(s) => s.queue.clone(),
            None => format!("{}{service}", self.prefix),
        }
    }

    pub fn publisher_config(&self) -> PublisherConfig {
        PublisherConfig {
            prefix: self.prefix.clone(),
            validate: true,
            ..schemactl_catalog::publisher_config()
        }
    }

    pub async fn publisher(&self) -> Publisher {
        Publisher::connect(&amqp_url(), self.publisher_config())
            .await
            .expect("publisher connects")
    }

    pub fn consumer_config(&self) -> ConsumerConfig {
        ConsumerConfig {
            prefix: self.prefix.clone(),
            ..ConsumerConfig::default()
        }
    }

    /// Messages ready in `queue` (a passive declare).
    pub async fn depth(&self, queue: &str) -> u32 {
        let channel = self.connection.create_channel().await.expect("channel");
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("queue {queue}: {e}"));
        let _ = channel.close(200, "done".into()).await;
        q.message_count()
    }

    /// Waits until `queue` holds `want` ready messages or `within` passes, and returns the
    /// last depth seen: the broker requeues a closed channel's unacked messages
    /// asynchronously, so a count taken at once may still miss them.
    pub async fn depth_reaches(&self, queue: &str, want: u32, within: Duration) -> u32 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let depth = self.depth(queue).await;
            if depth == want || tokio::time::Instant::now() >= deadline {
                return depth;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Takes `n` messages from `queue` (removing them) and returns their message IDs in
    /// queue order, or panics naming how many arrived within `within`.
    pub async fn take_ids(&self, queue: &str, n: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            let got = self
                .channel
                .basic_get(
                    queue.into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap_or_else(|e| panic!("take from {queue}: {e}"));
            match got {
                Some(m) => ids.push(
                    m.delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                ),
                None => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{} of {n} messages reached {queue} within {within:?}",
                        ids.len()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        ids
    }

    /// A raw consumer of a service's dead-letter queue.
    pub async fn dead_letters(&self, service: &str) -> lapin::Consumer {
        let channel = self.connection.create_channel().await.expect("channel");
        channel
            .basic_consume(
                format!("{}.dlq", self.queue(service)).as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume the dead-letter queue")
    }
}

/// Where the prefixes of sandboxes kept after a failed test are recorded, one file each.
fn kept_sandboxes_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kept-broker-sandboxes")
}

/// Deletes what earlier failed runs kept for inspection.
async fn delete_kept_sandboxes(channel: &Channel) {
    let Ok(entries) = std::fs::read_dir(kept_sandboxes_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let prefix = entry.file_name().to_string_lossy().into_owned();
        let topology = schemactl_catalog::topology::catalog().with_prefix(&prefix);
        match topology.delete(channel).await {
            Ok(()) => {
                let _ = std::fs::remove_file(entry.path());
                eprintln!("deleted the queues and exchanges a failed run kept under `{prefix}`");
            }
            Err(e) => eprintln!("cannot delete the sandbox kept under `{prefix}` yet: {e}"),
        }
    }
}

impl Sandbox {
    /// What the broker holds in this sandbox's queues (ready, unacknowledged, consumers), from
    /// `rabbitmqctl list_queues`: printed when a broker test fails.
    pub async fn broker_report(&self) -> String {
        let out = tokio::process::Command::new("rabbitmqctl")
            .args([
                "list_queues",
                "-q",
                "--no-table-headers",
                "name",
                "type",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
            ])
            .output()
            .await;
        let out = match out {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                return format!(
                    "rabbitmqctl list_queues failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            }
            Err(e) => return format!("cannot run rabbitmqctl: {e}"),
        };
        let mut report = String::from("queue\ttype\tready\tunacked\tconsumers\n");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with(&self.prefix))
            .collect();
        rows.sort_unstable();
        for row in rows {
            report.push_str(row);
            report.push('\n');
        }
        report
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the queues for inspection; the next run of any broker test deletes them.
            let dir = kept_sandboxes_dir();
            let kept = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join(&self.prefix), b""));
            match kept {
                Ok(()) => eprintln!(
                    "the test failed: its queues and exchanges are kept under `{}` for inspection \
                     (`rabbitmqctl list_queues name messages_ready messages_unacknowledged consumers`); \
                     the next broker test run deletes them",
                    self.prefix
                ),
                Err(e) => eprintln!("cannot record the kept sandbox `{}`: {e}", self.prefix),
            }
            return;
        }
        let topology = self.topology.clone();
        // Drop cannot await: delete on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let Ok(conn) =
                    Connection::connect(&amqp_url(), ConnectionProperties::default()).await
                else {
                    return;
                };
                if let Ok(channel) = conn.create_channel().await {
                    if let Err(e) = topology.delete(&channel).await {
                        eprintln!("cleanup: {e}");
                    }
                }
                let _ = conn.close(200, "cleanup".into()).await;
            });
        })
        .join();
    }
}

/// What a [`Recorder`] saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub queue: String,
    pub message_type: &'static str,
    pub message_id: String,
    pub payload: Value,
    pub attempt: u32,
    pub trace: Option<schemactl_runtime::TraceContext>,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub at: Instant,
}

/// Decides a handler's outcome from what it received.
pub type Outcome = Arc<dyn Fn(&Record) -> Result<(), HandlerError> + Send + Sync>;

/// Records every event it handles, then returns what `outcome` decides.
#[derive(Clone)]
pub struct Recorder {
    pub tx: mpsc::UnboundedSender<Record>,
    pub outcome: Outcome,
}

impl Recorder {
    pub fn new() -> (Recorder, mpsc::UnboundedReceiver<Record>) {
        Recorder::with(|_| Ok(()))
    }

    pub fn with(
        outcome: impl Fn(&Record) -> Result<(), HandlerError> + Send + Sync + 'static,
    ) -> (Recorder, mpsc::UnboundedReceiver<Record>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Recorder {
                tx,
                outcome: Arc::new(outcome),
            },
            rx,
        )
    }
}

impl EventHandler for Recorder {
    fn handle<E: Event>(
        &self,
        message: Received<E>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let record = Record {
            queue: message.delivery.queue.clone(),
            message_type: E::MESSAGE_TYPE,
            message_id: message.envelope.message_id.clone(),
            payload: serde_json::to_value(&message.envelope.payload).expect("serialize"),
            attempt: message.delivery.attempt,
            trace: message.delivery.trace,
            correlation_id: message.envelope.correlation_id.clone(),
            causation_id: message.envelope.causation_id.clone(),
            at: Instant::now(),
        };
        let outcome = (self.outcome)(&record);
        let _ = self.tx.send(record);
        std::future::ready(outcome)
    }
}

/// Receives `n` records, or panics naming how many arrived within `timeout`.
pub async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Record>,
    n: usize,
    timeout: Duration,
) -> Vec<Record> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => out.push(r),
            Ok(None) => break,
            Err(_) => panic!("received {} of {n} messages within {timeout:?}", out.len()),
        }
    }
    out
}

/// Waits until `condition` holds, checking every 10 ms, or panics after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first example of event `E`, typed.
pub fn example<E: Event>() -> E {
    serde_json::from_str(E::EXAMPLES[0]).expect("example deserializes")
}
