//! The smallest schemactl service: the `greeter` publishes `GreetingSent.v1`, the `listener`
//! consumes it, both typed from `schemas/`. Reads `AMQP_URL` (default: the local broker) and,
//! to run beside other copies on one broker, `GREETINGS_PREFIX` (a prefix of every name).

use std::num::NonZeroU64;
use std::time::Duration;

use schemactl_runtime::{
    ConsumerConfig, HandlerError, PublishContext, Publisher, PublisherConfig, Received,
};
use tokio::sync::mpsc;

// The crate's library holds the Rust that build.rs generated from schemas/.
use getting_started::consumers::{Listener, ListenerHandler};
use getting_started::greeting::GreetingSentV1;
use getting_started::producers::GreeterPublisher;
use getting_started::publisher_config;

/// The listener's handler: prints each greeting and hands it to `main`.
struct Greetings(mpsc::UnboundedSender<Received<GreetingSentV1>>);

impl ListenerHandler for Greetings {
    async fn greeting_sent_v1(
        &self,
        message: Received<GreetingSentV1>,
    ) -> Result<(), HandlerError> {
        let greeting = message.payload();
        println!(
            "received {:?} x{} from {} (message {}, attempt {})",
            greeting.text.as_str(),
            greeting.times,
            message.envelope.source_service,
            message.envelope.message_id,
            message.delivery.attempt,
        );
        // A retryable error is retried with backoff, then dead-lettered.
        self.0
            .send(message)
            .map_err(|_| HandlerError::retryable("main has stopped"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = std::env::var("GREETINGS_PREFIX").unwrap_or_default();

    // Consume: declares the catalog's topology, then reads the listener's queue.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = ConsumerConfig {
        prefix: prefix.clone(),
        ..ConsumerConfig::default()
    };
    let consumer = Listener::new(Greetings(tx)).consume(&url, config).await?;

    // Publish with confirms, in the catalog's dialects (`publisher_config()`).
    let config = PublisherConfig {
        prefix,
        ..publisher_config()
    };
    let greeter = GreeterPublisher::new(Publisher::connect(&url, config).await?);
    let greeting = GreetingSentV1 {
        greeting_id: uuid::Uuid::new_v4(),
        // A string with `minLength`, `maxLength` or `pattern` is a newtype: parse it.
        text: "Hello".parse()?,
        // `minimum: 1` makes a `NonZeroU64`.
        times: NonZeroU64::new(2).ok_or("times is at least 1")?,
        // What `required` does not list is an `Option`.
        language: Some("en".into()),
        // An open object keeps the properties it does not declare; a new event has none.
        extra: Default::default(),
    };
    let context = PublishContext::new()
        .correlation_id("getting-started")
        .tenant_id("tenant-1");
    let published = greeter.greeting_sent_v1(&greeting, &context).await?;
    println!(
        "published {} to {} with key {}",
        published.message_id, published.exchange, published.routing_key
    );

    let received = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await?
        .ok_or("the consumer stopped")?;
    assert_eq!(received.payload(), &greeting);

    // Graceful shutdown: stop taking deliveries, finish and acknowledge what is in flight.
    let stats = consumer.shutdown().await?;
    println!("handled {} message(s)", stats.handled);
    greeter.publisher().close().await;
    Ok(())
}
