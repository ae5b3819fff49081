//! Seed 003's flow with a transactional outbox, as deployed: `task-dashboard` consumes, and
//! `task-service` writes each task and its `TaskCreated` in one PostgreSQL transaction while
//! its relay publishes committed events. A committed task reaches the dashboard with the
//! message ID the outbox gave it; a rolled-back one leaves no task, no row and no message.
//! Real broker and PostgreSQL; names unique to the run, deleted afterwards.

#[path = "../../common/worker.rs"]
mod worker;

use std::time::Duration;

use schemactl_runtime::outbox::tokio_postgres;
use worker::{amqp_url, unique_prefix, Broker, Worker};

fn postgres_config() -> String {
    std::env::var("POSTGRES_CONFIG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// `task <id> …` → `<id>`.
fn task_id(line: &str) -> String {
    line.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn tasks_and_their_events_commit_together() {
    let url = amqp_url();
    let prefix = unique_prefix("outbox-flow");
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (tasks, outbox) = (format!("tasks_{id}"), format!("outbox_{id}"));
    let mut dashboard = Worker::start(
        env!("CARGO_BIN_EXE_task-dashboard"),
        &[("AMQP_URL", &url), ("DASHBOARD_PREFIX", &prefix)],
    );
    dashboard.wait_for("consuming", Duration::from_secs(30));
    let postgres = postgres_config();
    let mut service = Worker::start(
        env!("CARGO_BIN_EXE_task-service"),
        &[
            ("AMQP_URL", &url),
            ("POSTGRES_CONFIG", &postgres),
            ("TASK_PREFIX", &prefix),
            ("TASKS_TABLE", &tasks),
            ("OUTBOX_TABLE", &outbox),
        ],
    );
    service.wait_for("ready", Duration::from_secs(30));

    service.write_line("Fix flaky login test");
    let first = service.wait_for("saved", Duration::from_secs(10));
    service.write_line("!Rename the billing module");
    let rolled_back = service.wait_for("rolled back", Duration::from_secs(10));
    service.write_line("Upgrade the CI image");
    let second = service.wait_for("saved", Duration::from_secs(10));

    let seen_first = dashboard.wait_for("created", Duration::from_secs(30));
    let seen_second = dashboard.wait_for("created", Duration::from_secs(30));
    assert_eq!(task_id(&seen_first), task_id(&first), "{seen_first}");
    assert!(
        seen_first.contains("\"Fix flaky login test\""),
        "{seen_first}"
    );
    assert_eq!(task_id(&seen_second), task_id(&second), "{seen_second}");

    let relayed = service.interrupt();
    assert!(
        relayed.contains("relayed 2 event(s), 0 failed"),
        "{relayed}"
    );
    let handled = dashboard.interrupt();
    assert!(handled.contains("handled 2 message(s)"), "{handled}");
    assert!(!handled.contains(&task_id(&rolled_back)), "{handled}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (db, connection) = tokio_postgres::connect(&postgres, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let ids: Vec<String> = db
            .query(
                &format!("SELECT id::text FROM {tasks} ORDER BY created_at"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, vec![task_id(&first), task_id(&second)]);
        let sent: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM {outbox} WHERE sent_at IS NOT NULL"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(sent, 2);
        db.batch_execute(&format!("DROP TABLE {tasks}; DROP TABLE {outbox}"))
            .await
            .unwrap();
    });
    Broker::connect(&url).finish(task_dashboard::topology::catalog().with_prefix(&prefix));
}
