//! The orchestration platform's TaskService (seed 003), in Rust: it persists each task to
//! PostgreSQL and publishes `TaskCreated` through a transactional outbox, so that the task and
//! its event commit together or not at all, and runs the outbox relay beside it.
//!
//! Each line on standard input is the title of a task to create. A line starting with `!`
//! creates the task and its event and then rolls the transaction back, as a failed request
//! would: neither the task nor the event survives. Reads `AMQP_URL`, `POSTGRES_CONFIG`
//! (libpq style), `TASK_PREFIX` (a prefix of every exchange name), `TASKS_TABLE` and
//! `OUTBOX_TABLE`; Ctrl-C stops it after the relay's current batch.

use std::time::Duration;

use schemactl_runtime::outbox::{tokio_postgres, Outbox, Relay, RelayConfig};
use schemactl_runtime::{PublishContext, Publisher, PublisherConfig};
use task_dashboard::orchestration::TaskCreatedV1;
use task_dashboard::producers::OrchestrationServiceOutbox;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let postgres = env_or(
        "POSTGRES_CONFIG",
        "host=127.0.0.1 user=postgres dbname=test",
    );
    let tasks = env_or("TASKS_TABLE", "tasks");
    let config = PublisherConfig {
        prefix: env_or("TASK_PREFIX", ""),
        ..task_dashboard::publisher_config()
    };
    let outbox =
        Outbox::new(config.clone()).with_table(&env_or("OUTBOX_TABLE", "schemactl_outbox"))?;

    let (mut db, connection) = tokio_postgres::connect(&postgres, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    outbox.migrate(&db).await?;
    db.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {tasks} (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL,
            title text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )"
    ))
    .await?;

    // The relay: its own PostgreSQL connection and a publisher with confirms.
    let publisher = Publisher::connect(&url, config).await?;
    let relay = Relay::connect(
        &postgres,
        &outbox,
        publisher,
        RelayConfig {
            idle_wait: Duration::from_millis(50),
            ..RelayConfig::default()
        },
    )
    .await?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));

    // Requests: one title per line, read on a thread of their own.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let writer = OrchestrationServiceOutbox::new(outbox);
    let user = uuid::Uuid::new_v4();
    println!("task service ready; one task title per line, Ctrl-C stops");
    loop {
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(line) = line else {
            // Standard input closed: keep relaying until Ctrl-C.
            tokio::signal::ctrl_c().await?;
            break;
        };
        let (title, fail) = match line.strip_prefix('!') {
            Some(title) => (title.trim(), true),
            None => (line.trim(), false),
        };
        let task = TaskCreatedV1 {
            task_id: uuid::Uuid::new_v4(),
            user_id: user,
            title: title.parse()?,
            description: None,
            extra: Default::default(),
        };
        // The task and its event, in one transaction.
        let tx = db.transaction().await?;
        tx.execute(
            &format!("INSERT INTO {tasks} (id, user_id, title) VALUES ($1::text::uuid, $2::text::uuid, $3)"),
            &[&task.task_id.to_string(), &task.user_id.to_string(), &title],
        )
        .await?;
        let staged = writer
            .task_created_v1(&tx, &task, &PublishContext::new())
            .await?;
        if fail {
            tx.rollback().await?;
            println!(
                "task {} rolled back: neither it nor its event was kept",
                task.task_id
            );
        } else {
            tx.commit().await?;
            println!(
                "task {} saved with its event (outbox row {}, message {})",
                task.task_id, staged.id, staged.message_id
            );
        }
    }
    let _ = stop.send(true);
    let stats = relay.await??;
    println!(
        "relayed {} event(s), {} failed attempt(s)",
        stats.sent, stats.failed
    );
    Ok(())
}
