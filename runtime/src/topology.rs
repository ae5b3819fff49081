//! The RabbitMQ topology a catalog implies: exchanges, one queue per consuming service with
//! its bindings, per-queue retry queues and dead-letter queues.
//!
//! The data types here are plain values (computed by `schemactl-codegen` from the catalog and
//! emitted as a constructor in the generated `topology` module); [`Topology::declare`] (feature
//! `amqp`) declares them on a broker and [`Topology::rabbitmq_definitions`] exports them as a
//! definitions file for `rabbitmqctl import_definitions`.
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
    /// `x-message-ttl` in milliseconds (retry queues).
    pub message_ttl_ms: Option<u64>,
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
    /// Queue name, `<queue>.retry.<n>`.
    pub queue: String,
    /// Delay before the message returns to the main queue, in milliseconds.
    pub delay_ms: u64,
}

/// The exchanges, queues and bindings of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Topology {
    /// Exchanges, by name.
    pub exchanges: Vec<Exchange>,
    /// Queues, by name.
    pub queues: Vec<Queue>,
    /// Bindings.
    pub bindings: Vec<Binding>,
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
                            delay_ms: r.delay_ms,
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
            .collect();
        json!({ "exchanges": exchanges, "queues": queues, "bindings": bindings })
    }
}

impl Queue {
    /// The queue's `x-` arguments as JSON, in a stable order.
    pub fn arguments_json(&self) -> serde_json::Map<String, Value> {
        let mut args = serde_json::Map::new();
        args.insert("x-queue-type".into(), json!(self.queue_type.as_str()));
        if let Some(dlx) = &self.dead_letter_exchange {
            args.insert("x-dead-letter-exchange".into(), json!(dlx));
        }
        if let Some(key) = &self.dead_letter_routing_key {
            args.insert("x-dead-letter-routing-key".into(), json!(key));
        }
        if let Some(ttl) = self.message_ttl_ms {
            args.insert("x-message-ttl".into(), json!(ttl));
        }
        args
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

/// A declaration the broker refused (say, a queue that exists with other arguments).
#[cfg(feature = "amqp")]
#[derive(Debug, thiserror::Error)]
#[error("cannot declare {what}: {source}; if it exists with other settings, delete it or align catalog.toml")]
pub struct DeclareError {
    /// What was being declared.
    pub what: String,
    /// The client error.
    pub source: lapin::Error,
}

#[cfg(feature = "amqp")]
mod declare {
    use lapin::options::{
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    };
    use lapin::types::{AMQPValue, FieldTable, ShortString};
    use lapin::Channel;

    use super::*;

    fn name(kind: &str, name: &str) -> Result<ShortString, DeclareError> {
        crate::wire::short("name", name).map_err(|e| DeclareError {
            what: format!("{kind} `{name}`"),
            source: lapin::ErrorKind::IOError(std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            )))
            .into(),
        })
    }

    fn arguments(queue: &Queue) -> FieldTable {
        let mut args = FieldTable::default();
        let text = |s: &str| AMQPValue::LongString(s.into());
        args.insert("x-queue-type".into(), text(queue.queue_type.as_str()));
        if let Some(dlx) = &queue.dead_letter_exchange {
            args.insert("x-dead-letter-exchange".into(), text(dlx));
        }
        if let Some(key) = &queue.dead_letter_routing_key {
            args.insert("x-dead-letter-routing-key".into(), text(key));
        }
        if let Some(ttl) = queue.message_ttl_ms {
            let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        }
        args
    }

    fn kind(kind: ExchangeKind) -> lapin::ExchangeKind {
        match kind {
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
            ExchangeKind::Headers => lapin::ExchangeKind::Headers,
        }
    }

    impl Topology {
        /// Declares every exchange, queue and binding on `channel`. Declaring what exists
        /// with the same settings is a no-op, so this is safe at every start.
        pub async fn declare(&self, channel: &Channel) -> Result<(), DeclareError> {
            for e in &self.exchanges {
                let options = ExchangeDeclareOptions {
                    durable: e.durable,
                    ..ExchangeDeclareOptions::default()
                };
                channel
                    .exchange_declare(
                        name("exchange", &e.name)?,
                        kind(e.kind),
                        options,
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|source| DeclareError {
                        what: format!("{} exchange `{}`", e.kind.as_str(), e.name),
                        source,
                    })?;
            }
            for q in &self.queues {
                channel
                    .queue_declare(
                        name("queue", &q.name)?,
                        QueueDeclareOptions::durable(),
                        arguments(q),
                    )
                    .await
                    .map_err(|source| DeclareError {
                        what: format!("queue `{}`", q.name),
                        source,
                    })?;
            }
            for b in &self.bindings {
                channel
                    .queue_bind(
                        name("queue", &b.queue)?,
                        name("exchange", &b.exchange)?,
                        name("routing key", &b.routing_key)?,
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|source| DeclareError {
                        what: format!(
                            "binding of queue `{}` to exchange `{}` with key `{}`",
                            b.queue, b.exchange, b.routing_key
                        ),
                        source,
                    })?;
            }
            Ok(())
        }

        /// Deletes every queue and exchange of the topology (for tests and teardown; the
        /// messages in the queues are lost).
        pub async fn delete(&self, channel: &Channel) -> Result<(), DeclareError> {
            for q in &self.queues {
                channel
                    .queue_delete(name("queue", &q.name)?, QueueDeleteOptions::default())
                    .await
                    .map_err(|source| DeclareError {
                        what: format!("deletion of queue `{}`", q.name),
                        source,
                    })?;
            }
            for e in &self.exchanges {
                channel
                    .exchange_delete(name("exchange", &e.name)?, ExchangeDeleteOptions::default())
                    .await
                    .map_err(|source| DeclareError {
                        what: format!("deletion of exchange `{}`", e.name),
                        source,
                    })?;
            }
            Ok(())
        }
    }
}

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
                name: "svc.retry.1".into(),
                queue_type: QueueType::Classic,
                dead_letter_exchange: Some(String::new()),
                dead_letter_routing_key: Some("svc".into()),
                message_ttl_ms: Some(100),
            }],
            bindings: vec![Binding {
                exchange: "orders".into(),
                queue: "svc".into(),
                routing_key: "order.created".into(),
            }],
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
