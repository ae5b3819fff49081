//! The onboarding platform's connector-provisioning worker (seed 000), in Rust. The
//! TypeScript onboarding service keeps publishing as it does; this worker reads the queue the
//! platform already has (`onboarding.events`, dead letters to `onboarding.events.dlq`) and
//! gets each `onboarding.completed` typed, with the tenant from the message's `tenantId`
//! header. Reads `AMQP_URL` (default: the local broker) and `ONBOARDING_PREFIX` (a prefix of
//! every name, to run beside other copies on one broker); Ctrl-C stops it gracefully.

use onboarding_worker::consumers::{ConnectorProvisioning, ConnectorProvisioningHandler};
use onboarding_worker::onboarding::OnboardingCompletedV1;
use schemactl_runtime::{ConsumerConfig, HandlerError, Received};

/// Provisions the connectors a tenant asked for.
struct Provisioner;

impl ConnectorProvisioningHandler for Provisioner {
    async fn onboarding_completed_v1(
        &self,
        message: Received<OnboardingCompletedV1>,
    ) -> Result<(), HandlerError> {
        let done = message.payload();
        // The platform's `tenantId` header is the envelope's tenant.
        let tenant = message.envelope.tenant_id.as_deref().unwrap_or("-");
        let connectors: Vec<&str> = done
            .requested_connectors
            .iter()
            .map(|c| c.as_str())
            .collect();
        println!(
            "provisioning [{}] for tenant {tenant} (user {}, after {} steps; message {}, attempt {})",
            connectors.join(", "),
            done.user_id,
            done.completed_steps.len(),
            message.envelope.message_id,
            message.delivery.attempt,
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = std::env::var("ONBOARDING_PREFIX").unwrap_or_default();
    let config = ConsumerConfig {
        prefix: prefix.clone(),
        ..ConsumerConfig::default()
    };
    // Declares what is missing of the catalog's topology, then reads the worker's queue.
    let consumer = ConnectorProvisioning::new(Provisioner)
        .consume(&url, config)
        .await?;
    println!("consuming {prefix}onboarding.events; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    let stats = consumer.shutdown().await?;
    println!(
        "handled {} message(s), dead-lettered {}",
        stats.handled, stats.dead_lettered
    );
    Ok(())
}
