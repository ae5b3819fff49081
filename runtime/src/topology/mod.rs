//! The RabbitMQ topology a catalog implies: exchanges, one queue per consuming service with
//! its bindings, per-queue retry queues and dead-letter queues.
//!
//! The data types here are plain values (computed by `schemactl-codegen` from the catalog and
//! emitted as a constructor in the generated `topology` module). With the `amqp` feature,
//! [`Topology::declare`] creates them on a broker, [`Topology::verify`] compares a running
//! broker with them without changing it, and [`Topology::adopt`] creates only what is missing
//! (see [`DeclareMode`]); [`Topology::rabbitmq_definitions`] exports them as a definitions
//! file for `rabbitmqctl import_definitions`.
//!
//! Retries go through the default exchange: a failed message is published to
//! `<queue>.retry.<n>`, whose `x-message-ttl` is the n-th backoff delay and whose dead-letter
//! target is the default exchange with the main queue's name as routing key, so the message
//! returns to the queue when the delay expires. One queue per delay keeps expiry in order
//! (a TTL queue only expires its head).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The AMQP exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// Routes by routing-key pattern.
    Topic,
    /// Routes to every bound queue.
    Fanout,
    /// Routes by exact routing key.
    Direct,
    /// Routes by header values.
    Headers,
}

impl ExchangeKind {
    /// The AMQP name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Topic => "topic",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Direct => "direct",
            ExchangeKind::Headers => "headers",
        }
    }

    /// Whether the routing key selects queues (so two events on one key collide).
    pub fn routes_by_key(self) -> bool {
        matches!(self, ExchangeKind::Topic | ExchangeKind::Direct)
    }
}

/// RabbitMQ queue type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// Classic queues.
    Classic,
    /// Replicated quorum queues.
    #[default]
    Quorum,
}

impl QueueType {
    /// The value of the `x-queue-type` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// A durable exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Exchange name.
    pub name: String,
    /// Exchange type.
    pub kind: ExchangeKind,
    /// Survives a broker restart.
    pub durable: bool,
}

/// A queue and the arguments it is declared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// Queue name.
    pub name: String,
    /// `x-queue-type`.
    pub queue_type: QueueType,
    /// `x-dead-letter-exchange` (`""` is the default exchange).
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`.
    pub dead_letter_routing_key: Option<String>,
    /// `x-message-ttl` in milliseconds (retry queues, or a queue whose messages expire).
    pub message_ttl_ms: Option<u64>,
    /// `x-max-length`: the most messages the queue holds.
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`: the most message body bytes the queue holds.
    pub max_length_bytes: Option<u64>,
    /// `x-overflow`: what happens when a length limit is reached.
    pub overflow: Option<Overflow>,
    /// `x-delivery-limit` (quorum queues): deliveries before the broker dead-letters a message.
    pub delivery_limit: Option<u64>,
}

/// What a queue does when it is full (`x-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest messages.
    DropHead,
    /// Refuse new messages (publishers with confirms get a nack).
    RejectPublish,
    /// Refuse new messages and dead-letter them.
    RejectPublishDlx,
}

impl Overflow {
    /// The value of the `x-overflow` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// The value of a queue argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentValue {
    /// A string (`x-queue-type`, `x-dead-letter-exchange`, …).
    Text(String),
    /// An integer (`x-message-ttl`, `x-max-length`, …).
    Integer(i64),
}

impl ArgumentValue {
    /// The value as JSON, as the management API and definitions files write it.
    pub fn to_json(&self) -> Value {
        match self {
            ArgumentValue::Text(s) => json!(s),
            ArgumentValue::Integer(i) => json!(i),
        }
    }
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Source exchange.
    pub exchange: String,
    /// Destination queue.
    pub queue: String,
    /// Binding key (ignored by fanout exchanges).
    pub routing_key: String,
}

/// A binding of an exchange to another: messages `source` routes with `routing_key` also go
/// to `destination` (an exchange that gathers the events of several others, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeBinding {
    /// The exchange messages come from.
    pub source: String,
    /// The exchange they also go to.
    pub destination: String,
    /// Binding key (`#` for everything a topic exchange routes).
    pub routing_key: String,
}

/// Everything a consuming service's queue needs at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceQueue {
    /// The consuming service.
    pub service: String,
    /// Its main queue.
    pub queue: String,
    /// Retry queues, the first retry first; `retry_queues.len() + 1` is the attempt limit.
    pub retry_queues: Vec<RetryQueue>,
    /// Exchange dead letters are published to.
    pub dead_letter_exchange: String,
    /// Routing key of this queue's dead letters on that exchange.
    pub dead_letter_routing_key: String,
    /// The dead-letter queue.
    pub dead_letter_queue: String,
    /// Message types the service subscribes to.
    pub message_types: Vec<String>,
}

impl ServiceQueue {
    /// Deliveries a message gets before it is dead-lettered (the first included).
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_queues.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }
}

/// One delay step of a queue's retry ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryQueue {
    /// Where the message goes for this retry: `<queue>.retry.<n>` when the broker holds it
    /// for the delay, the main queue itself when the consumer does.
    pub queue: String,
    /// Delay before the message returns to the main queue, in milliseconds.
    pub delay_ms: u64,
    /// Who holds the message for the delay.
    #[serde(default)]
    pub delayed_by: RetryDelay,
}

/// Who holds a message that waits for its next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryDelay {
    /// A retry queue per step, whose `x-message-ttl` returns the message to the main queue
    /// (survives consumer restarts; adds queues to the topology).
    #[default]
    Queue,
    /// The consumer: it keeps the delivery unacknowledged for the delay, then re-publishes it
    /// to its own queue with the next attempt number and acknowledges the original once the
    /// copy is confirmed (no extra queues: how platforms that retry in code do it; a
    /// waiting message holds one prefetch slot, and is redelivered at once, attempt
    /// unchanged, if the consumer stops while it waits).
    Consumer,
}

/// The exchanges, queues and bindings of a catalog.
///
/// The generated `topology::catalog()` returns the catalog's. A consumer declares it before
/// consuming (`ConsumerConfig::declare`); on a broker whose objects other services already
/// declared, compare first and create only what is missing:
///
/// ```no_run
/// use lapin::{Connection, ConnectionProperties};
/// use schemactl_runtime::topology::VerifyOptions;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// let connection = Connection::connect(url, ConnectionProperties::default()).await?;
/// let topology = getting_started::topology::catalog();
///
/// // Changes nothing: every missing object and every differing argument.
/// let report = topology.verify(&connection, &VerifyOptions::default()).await?;
/// for difference in report.differences() {
///     println!("{difference}");
/// }
/// // Creates what is missing, never touches what exists.
/// if !report.matches() {
///     println!("{}", topology.adopt(&connection, &VerifyOptions::default()).await?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Topology {
    /// Exchanges, by name.
    pub exchanges: Vec<Exchange>,
    /// Queues, by name.
    pub queues: Vec<Queue>,
    /// Bindings of queues to exchanges.
    pub bindings: Vec<Binding>,
    /// Bindings of exchanges to exchanges.
    #[serde(default)]
    pub exchange_bindings: Vec<ExchangeBinding>,
    /// The consuming services' queues, by service.
    pub services: Vec<ServiceQueue>,
}

impl Topology {
    /// The queue of a consuming service.
    pub fn service(&self, name: &str) -> Option<&ServiceQueue> {
        self.services.iter().find(|s| s.service == name)
    }

    /// The same topology with `prefix` in front of every exchange and queue name, for running
    /// several isolated copies on one virtual host (tests, preview environments). The default
    /// exchange (`""`) keeps its name.
    pub fn with_prefix(&self, prefix: &str) -> Topology {
        let p = |name: &str| prefixed(prefix, name);
        Topology {
            exchanges: self
                .exchanges
                .iter()
                .map(|e| Exchange {
                    name: p(&e.name),
                    ..e.clone()
                })
                .collect(),
            queues: self
                .queues
                .iter()
                .map(|q| Queue {
                    name: p(&q.name),
                    dead_letter_exchange: q.dead_letter_exchange.as_deref().map(p),
                    // A retry queue dead-letters through the default exchange by queue name.
                    dead_letter_routing_key: match q.dead_letter_exchange.as_deref() {
                        Some("") => q.dead_letter_routing_key.as_deref().map(p),
                        _ => q.dead_letter_routing_key.clone(),
                    },
                    ..q.clone()
                })
                .collect(),
            bindings: self
                .bindings
                .iter()
                .map(|b| Binding {
                    exchange: p(&b.exchange),
                    queue: p(&b.queue),
                    routing_key: b.routing_key.clone(),
                })
                .collect(),
            exchange_bindings: self
                .exchange_bindings
                .iter()
                .map(|b| ExchangeBinding {
                    source: p(&b.source),
                    destination: p(&b.destination),
                    routing_key: b.routing_key.clone(),
                })
                .collect(),
            services: self
                .services
                .iter()
                .map(|s| ServiceQueue {
                    queue: p(&s.queue),
                    retry_queues: s
                        .retry_queues
                        .iter()
                        .map(|r| RetryQueue {
                            queue: p(&r.queue),
                            ..r.clone()
                        })
                        .collect(),
                    dead_letter_exchange: p(&s.dead_letter_exchange),
                    dead_letter_queue: p(&s.dead_letter_queue),
                    ..s.clone()
                })
                .collect(),
        }
    }

    /// The topology as a RabbitMQ definitions document (the JSON `rabbitmqctl
    /// import_definitions` and the management API's `POST /api/definitions` accept), for
    /// virtual host `vhost`.
    pub fn rabbitmq_definitions(&self, vhost: &str) -> Value {
        let exchanges: Vec<Value> = self
            .exchanges
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "vhost": vhost,
                    "type": e.kind.as_str(),
                    "durable": e.durable,
                    "auto_delete": false,
                    "internal": false,
                    "arguments": {}
                })
            })
            .collect();
        let queues: Vec<Value> = self
            .queues
            .iter()
            .map(|q| {
                json!({
                    "name": q.name,
                    "vhost": vhost,
                    "durable": true,
                    "auto_delete": false,
                    "arguments": q.arguments_json()
                })
            })
            .collect();
        let bindings: Vec<Value> = self
            .bindings
            .iter()
            .map(|b| {
                json!({
                    "source": b.exchange,
                    "vhost": vhost,
                    "destination": b.queue,
                    "destination_type": "queue",
                    "routing_key": b.routing_key,
                    "arguments": {}
                })
            })
            .chain(self.exchange_bindings.iter().map(|b| {
                json!({
                    "source": b.source,
                    "vhost": vhost,
                    "destination": b.destination,
                    "destination_type": "exchange",
                    "routing_key": b.routing_key,
                    "arguments": {}
                })
            }))
            .collect();
        json!({ "exchanges": exchanges, "queues": queues, "bindings": bindings })
    }
}

impl Queue {
    /// A queue of type `queue_type` with no other arguments.
    pub fn new(name: impl Into<String>, queue_type: QueueType) -> Queue {
        Queue {
            name: name.into(),
            queue_type,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            message_ttl_ms: None,
            max_length: None,
            max_length_bytes: None,
            overflow: None,
            delivery_limit: None,
        }
    }

    /// The queue's `x-` arguments, in a stable order.
    pub fn arguments(&self) -> Vec<(&'static str, ArgumentValue)> {
        let text = |s: &str| ArgumentValue::Text(s.to_owned());
        let int = |n: u64| ArgumentValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let mut args = vec![("x-queue-type", text(self.queue_type.as_str()))];
        let optional = [
            (
                "x-dead-letter-exchange",
                self.dead_letter_exchange.as_deref().map(text),
            ),
            (
                "x-dead-letter-routing-key",
                self.dead_letter_routing_key.as_deref().map(text),
            ),
            ("x-message-ttl", self.message_ttl_ms.map(int)),
            ("x-max-length", self.max_length.map(int)),
            ("x-max-length-bytes", self.max_length_bytes.map(int)),
            ("x-overflow", self.overflow.map(|o| text(o.as_str()))),
            ("x-delivery-limit", self.delivery_limit.map(int)),
        ];
        args.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        args
    }

    /// The queue's `x-` arguments as JSON, in a stable order.
    pub fn arguments_json(&self) -> serde_json::Map<String, Value> {
        self.arguments()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_json()))
            .collect()
    }
}

/// `name` with `prefix` in front, except the default exchange `""`.
pub fn prefixed(prefix: &str, name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("{prefix}{name}")
    }
}

/// Retry delays in milliseconds: `initial`, `initial × multiplier`, … capped at `max`, one per
/// retry (`max_attempts - 1` of them).
pub fn retry_delays(max_attempts: u32, initial_ms: u64, max_ms: u64, multiplier: f64) -> Vec<u64> {
    let mut delays = Vec::new();
    let mut delay = initial_ms as f64;
    for _ in 1..max_attempts {
        // `as` saturates on overflow and NaN becomes 0: both are then capped by `max_ms`.
        delays.push((delay.round() as u64).min(max_ms));
        delay *= multiplier;
    }
    delays
}

#[cfg(feature = "amqp")]
mod declare;
#[cfg(feature = "management")]
pub mod management;
#[cfg(feature = "amqp")]
pub use declare::{
    compare, DeclareError, DeclareMode, Finding, Object, Observed, Report, VerifyOptions,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        assert_eq!(retry_delays(4, 100, 5000, 5.0), vec![100, 500, 2500]);
        assert_eq!(retry_delays(5, 100, 1000, 5.0), vec![100, 500, 1000, 1000]);
        assert_eq!(retry_delays(1, 100, 1000, 5.0), Vec::<u64>::new());
        assert_eq!(retry_delays(3, 10, 1000, f64::INFINITY), vec![10, 1000]);
    }

    #[test]
    fn prefix_renames_everything_but_the_default_exchange() {
        let t = Topology {
            exchanges: vec![Exchange {
                name: "orders".into(),
                kind: ExchangeKind::Topic,
                durable: true,
            }],
            queues: vec![Queue {
                dead_letter_exchange: Some(String::new()),
                dead_letter_routing_key: Some("svc".into()),
                message_ttl_ms: Some(100),
                ..Queue::new("svc.retry.1", QueueType::Classic)
            }],
            bindings: vec![Binding {
                exchange: "orders".into(),
                queue: "svc".into(),
                routing_key: "order.created".into(),
            }],
            exchange_bindings: vec![],
            services: vec![],
        };
        let p = t.with_prefix("t1.");
        assert_eq!(p.exchanges[0].name, "t1.orders");
        assert_eq!(p.queues[0].name, "t1.svc.retry.1");
        assert_eq!(p.queues[0].dead_letter_exchange.as_deref(), Some(""));
        assert_eq!(
            p.queues[0].dead_letter_routing_key.as_deref(),
            Some("t1.svc")
        );
        assert_eq!(p.bindings[0].routing_key, "order.created");
        let defs = p.rabbitmq_definitions("/");
        assert_eq!(defs["queues"][0]["arguments"]["x-message-ttl"], 100);
        assert_eq!(defs["bindings"][0]["source"], "t1.orders");
    }
}
