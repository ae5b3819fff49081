//! The orchestration platform's real-time dashboard (seed 003), in Rust. The .NET
//! orchestration service keeps publishing with MassTransit; this service is a receive endpoint
//! in MassTransit's topology (its `dashboard` exchange and queue bound to each message type's
//! exchange, faults in `dashboard_error`) and gets every task event typed, with MassTransit's
//! `conversationId` and headers kept. Reads `AMQP_URL` (default: the local broker) and
//! `DASHBOARD_PREFIX` (a prefix of every name, to run beside other copies on one broker);
//! Ctrl-C stops it gracefully.

use schemactl_runtime::{ConsumerConfig, HandlerError, Received};
use task_dashboard::consumers::{Dashboard, DashboardHandler};
use task_dashboard::orchestration::{TaskCompletedV1, TaskCreatedV1};

/// Prints each task's progress as it happens.
struct Board;

impl DashboardHandler for Board {
    async fn task_created_v1(&self, message: Received<TaskCreatedV1>) -> Result<(), HandlerError> {
        let task = message.payload();
        println!(
            "task {} created: {:?} by user {} (tenant {}, conversation {})",
            task.task_id,
            task.title.as_str(),
            task.user_id,
            message.envelope.tenant_id.as_deref().unwrap_or("-"),
            message
                .envelope
                .metadata
                .get("conversationId")
                .map_or("-", String::as_str),
        );
        Ok(())
    }

    async fn task_completed_v1(
        &self,
        message: Received<TaskCompletedV1>,
    ) -> Result<(), HandlerError> {
        let task = message.payload();
        println!(
            "task {} completed in {} ms ({} tokens, {})",
            task.task_id,
            task.duration_ms,
            task.tokens_used.map_or(0, |t| t),
            task.pull_request_url
                .as_deref()
                .unwrap_or("no pull request"),
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = std::env::var("DASHBOARD_PREFIX").unwrap_or_default();
    let config = ConsumerConfig {
        prefix: prefix.clone(),
        ..ConsumerConfig::default()
    };
    // Declares the endpoint (exchange, queue, bindings to the message types' exchanges).
    let consumer = Dashboard::new(Board).consume(&url, config).await?;
    println!("consuming {prefix}dashboard; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    let stats = consumer.shutdown().await?;
    println!(
        "handled {} message(s), dead-lettered {}",
        stats.handled, stats.dead_lettered
    );
    Ok(())
}
