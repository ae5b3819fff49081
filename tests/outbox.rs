//! The transactional outbox on the real PostgreSQL and broker: an event written in a
//! transaction is published after its commit and never after a rollback; rows are published
//! in the order written; a relay whose transaction dies between the publish and the mark
//! publishes again, and an idempotent consumer handles each event once; several relays share
//! rows through `SKIP LOCKED` and publish each once; a failed publish waits for its backoff
//! and is retried; old sent rows are deleted.
//!
//! Each test uses tables and a broker sandbox unique to the run, and drops them at the end.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use schemactl_catalog::consumers::Dashboard;
use schemactl_catalog::orchestration::TaskCreatedV1;
use schemactl_catalog::producers::OrchestrationServiceOutbox;
use schemactl_runtime::idempotency::MemoryStore;
use schemactl_runtime::outbox::{tokio_postgres, Batch, Client, Outbox, Relay, RelayConfig};
use schemactl_runtime::{ConsumerConfig, PublishContext, Publisher, Uniform};

mod common;
use common::{amqp_url, example, receive, Recorder, Sandbox};

fn postgres_config() -> String {
    std::env::var("POSTGRES_CONFIG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A PostgreSQL connection with an application table `tasks_<id>` and an outbox table
/// `outbox_<id>`, both dropped by [`Db::drop_tables`].
struct Db {
    client: Client,
    tasks: String,
    outbox: Outbox,
}

impl Db {
    async fn new(sandbox: &Sandbox) -> Db {
        let config = postgres_config();
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL ({config}): {e}; start it or set POSTGRES_CONFIG")
            });
        tokio::spawn(connection);
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let tasks = format!("tasks_{id}");
        client
            .batch_execute(&format!(
                "CREATE TABLE {tasks} (id text PRIMARY KEY, title text NOT NULL)"
            ))
            .await
            .unwrap();
        let outbox = Outbox::new(sandbox.publisher_config())
            .with_table(&format!("outbox_{id}"))
            .unwrap();
        outbox.migrate(&client).await.unwrap();
        Db {
            client,
            tasks,
            outbox,
        }
    }

    /// Writes a task and its `TaskCreated.v1` in one transaction; commits when `commit`.
    async fn create_task(&mut self, title: &str, commit: bool) -> (TaskCreatedV1, String) {
        let mut event = example::<TaskCreatedV1>();
        event.task_id = uuid::Uuid::new_v4();
        event.title = title.parse().unwrap();
        let writer = OrchestrationServiceOutbox::new(self.outbox.clone());
        let tx = self.client.transaction().await.unwrap();
        tx.execute(
            &format!("INSERT INTO {} (id, title) VALUES ($1, $2)", self.tasks),
            &[&event.task_id.to_string(), &title],
        )
        .await
        .unwrap_or_else(|e| panic!("insert the task: {e}"));
        let staged = writer
            .task_created_v1(&tx, &event, &PublishContext::new())
            .await
            .unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
        (event, staged.message_id)
    }

    async fn count(&self, condition: &str) -> i64 {
        self.client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {} WHERE {condition}",
                    self.outbox.table()
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn relay(&self, publisher: Publisher) -> Relay {
        self.relay_with_batch(publisher, RelayConfig::default().batch)
            .await
    }

    async fn relay_with_batch(&self, publisher: Publisher, batch: usize) -> Relay {
        let config = RelayConfig {
            idle_wait: Duration::from_millis(20),
            batch,
            ..RelayConfig::default()
        };
        Relay::connect(&postgres_config(), &self.outbox, publisher, config)
            .await
            .unwrap()
    }

    async fn drop_tables(&self) {
        self.client
            .batch_execute(&format!(
                "DROP TABLE {}; DROP TABLE {}",
                self.tasks,
                self.outbox.table()
            ))
            .await
            .unwrap();
    }
}

/// Takes `n` messages from the dashboard's queue, in queue order.
async fn take(sandbox: &Sandbox, n: usize) -> Vec<String> {
    sandbox
        .take_ids(&sandbox.queue("dashboard"), n, Duration::from_secs(10))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_published_after_its_commit_in_order_and_never_after_a_rollback() {
    let sandbox = Sandbox::new("outbox").await;
    let mut db = Db::new(&sandbox).await;
    let mut committed = Vec::new();
    for i in 0..20 {
        committed.push(db.create_task(&format!("task {i}"), true).await.1);
        if i == 10 {
            db.create_task("rolled back", false).await;
        }
    }
    assert_eq!(db.count("true").await, 20, "the rollback left no row");
    let tasks: i64 = db
        .client
        .query_one(&format!("SELECT count(*) FROM {}", db.tasks), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tasks, 20);

    let mut relay = db.relay(sandbox.publisher().await).await;
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        Batch {
            sent: 20,
            failed: 0
        }
    );
    assert_eq!(
        take(&sandbox, 20).await,
        committed,
        "each committed event, once, in the order written"
    );
    assert_eq!(db.count("sent_at IS NOT NULL AND attempts = 1").await, 20);
    assert_eq!(relay.relay_batch().await.unwrap(), Batch::default());

    // Retention: a row sent longer ago than it is deleted, a recent one is kept.
    db.client
        .execute(
            &format!(
                "UPDATE {} SET sent_at = now() - interval '8 days' WHERE id = (SELECT min(id) FROM {})",
                db.outbox.table(),
                db.outbox.table()
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(relay.clean_up().await.unwrap(), 1);
    assert_eq!(db.count("true").await, 19);
    db.drop_tables().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_dies_before_marking_publishes_again_and_the_consumer_handles_once() {
    let sandbox = Sandbox::new("outbox-redo").await;
    let mut db = Db::new(&sandbox).await;
    let (recorder, mut rx) = Recorder::new();
    let consumer = Dashboard::new(Uniform(recorder))
        .consume(
            &amqp_url(),
            ConsumerConfig {
                idempotency: Some(Arc::new(MemoryStore::new())),
                ..sandbox.consumer_config()
            },
        )
        .await
        .unwrap();
    let mut written = Vec::new();
    for i in 0..10 {
        written.push(db.create_task(&format!("task {i}"), true).await.1);
    }
    // The relay's transaction dies after the broker confirmed the batch and before the rows
    // are marked sent: a trigger refuses the mark, as a crash or a lost connection would.
    let table = db.outbox.table().to_owned();
    db.client
        .batch_execute(&format!(
            "CREATE FUNCTION {table}_refuse() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'the relay died before marking'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse BEFORE UPDATE ON {table}
             FOR EACH ROW WHEN (NEW.sent_at IS NOT NULL) EXECUTE FUNCTION {table}_refuse();"
        ))
        .await
        .unwrap();
    let mut relay = db.relay(sandbox.publisher().await).await;
    let died = relay.relay_batch().await.unwrap_err();
    assert!(died.to_string().contains("mark rows sent"), "{died}");
    let first = receive(&mut rx, 10, Duration::from_secs(10)).await;
    assert_eq!(
        db.count("sent_at IS NULL").await,
        10,
        "every row still pending"
    );

    // Recovered: the same rows are published again, with the same message IDs.
    db.client
        .batch_execute(&format!(
            "DROP TRIGGER refuse ON {table}; DROP FUNCTION {table}_refuse()"
        ))
        .await
        .unwrap();
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        Batch {
            sent: 10,
            failed: 0
        }
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while consumer.state().stats.duplicates < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            consumer.state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = consumer.shutdown().await.unwrap();
    assert_eq!(
        (stats.delivered, stats.handled, stats.duplicates),
        (20, 10, 10),
        "each event delivered twice, handled once"
    );
    assert!(rx.try_recv().is_err(), "the handler saw no repeat");
    let handled: Vec<String> = first.iter().map(|r| r.message_id.clone()).collect();
    let mut want = written.clone();
    want.sort();
    let mut got = handled;
    got.sort();
    assert_eq!(got, want);
    db.drop_tables().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_relays_publish_each_row_once() {
    const ROWS: usize = 600;
    let sandbox = Sandbox::new("outbox-relays").await;
    let mut db = Db::new(&sandbox).await;
    let mut written = HashSet::new();
    for i in 0..ROWS {
        written.insert(db.create_task(&format!("task {i}"), true).await.1);
    }
    let mut relays = Vec::new();
    for _ in 0..3 {
        relays.push(db.relay_with_batch(sandbox.publisher().await, 50).await);
    }
    // Three relays take rows at the same moment: each gets a batch of its own.
    let [r1, r2, r3] = &mut relays[..] else {
        unreachable!("three relays")
    };
    let mut sent = 0;
    for _ in 0..2 {
        let (a, b, c) = tokio::join!(r1.relay_batch(), r2.relay_batch(), r3.relay_batch());
        for batch in [a, b, c] {
            assert_eq!(
                batch.unwrap(),
                Batch {
                    sent: 50,
                    failed: 0
                }
            );
            sent += 50;
        }
    }
    // The rest as services run them: each relay until it is stopped.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running: Vec<_> = relays
        .into_iter()
        .map(|relay| {
            let mut stopped = stopped.clone();
            tokio::spawn(relay.run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        })
        .collect();
    let received = take(&sandbox, ROWS).await;
    let _ = stop.send(true);
    for relay in running {
        let stats = relay.await.unwrap().unwrap();
        assert_eq!(stats.failed, 0);
        sent += stats.sent;
    }
    assert_eq!(sent, ROWS as u64, "no row was published by two relays");
    let unique: HashSet<String> = received.iter().cloned().collect();
    assert_eq!(unique.len(), ROWS, "no duplicates");
    assert_eq!(unique, written);
    assert_eq!(db.count("sent_at IS NULL").await, 0);
    // Nothing more arrives: every row was published once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sandbox.depth(&sandbox.queue("dashboard")).await, 0);
    db.drop_tables().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_waits_for_its_backoff_then_is_retried() {
    let sandbox = Sandbox::new("outbox-retry").await;
    let mut db = Db::new(&sandbox).await;
    // Rows written for an exchange the broker does not have yet.
    let (_, message_id) = db.create_task("too early", true).await;
    let table = db.outbox.table().to_owned();
    let missing = format!("{}missing.", sandbox.prefix);
    db.client
        .execute(
            &format!("UPDATE {table} SET exchange = $1 || exchange"),
            &[&missing],
        )
        .await
        .unwrap();
    let mut relay = db.relay(sandbox.publisher().await).await;
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        Batch { sent: 0, failed: 1 }
    );
    let row = db
        .client
        .query_one(
            &format!("SELECT attempts, last_error, next_attempt_at > now() FROM {table}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    let error: String = row.get(1);
    assert!(error.contains(&missing), "{error}");
    assert!(
        row.get::<_, bool>(2),
        "the next attempt waits for its backoff"
    );
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        Batch::default(),
        "not due yet"
    );
    // The exchange is fixed; when the row is due it is published with its message ID.
    db.client
        .execute(
            &format!("UPDATE {table} SET exchange = substr(exchange, $1), next_attempt_at = now()"),
            &[&(i32::try_from(missing.len()).unwrap() + 1)],
        )
        .await
        .unwrap();
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        Batch { sent: 1, failed: 0 }
    );
    assert_eq!(take(&sandbox, 1).await, vec![message_id]);
    assert_eq!(
        db.count("sent_at IS NOT NULL AND attempts = 2 AND last_error IS NULL")
            .await,
        1
    );
    db.drop_tables().await;
}
