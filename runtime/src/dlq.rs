//! Dead-letter queues: look at, replay, archive and purge what was dead-lettered, without
//! losing a message.
//!
//! A dead letter is read whoever wrote it:
//! - a schemactl consumer: the `x-schemactl-reason`, `-error`, `-attempt`, `-queue`,
//!   `-original-exchange`, `-original-routing-key` and `-dead-lettered-at` headers;
//! - the broker (a message rejected, expired or over a delivery limit in a queue with a
//!   dead-letter exchange): the first entry of its `x-death` header;
//! - a MassTransit service (its `<queue>_error` queue): the `MT-Reason`, `MT-Fault-Message`,
//!   `MT-Fault-ExceptionType` and `MT-Fault-Timestamp` headers.
//!
//! How a [`Scan`] reads a queue, step by step:
//! 1. it reads the queue's depth (a passive declare) and takes at most that many messages, so
//!    a message dead-lettered again while the scan replays others is not taken twice;
//! 2. it takes each message with `basic.get` and holds it unacknowledged: the broker still
//!    owns it, and no message is taken twice;
//! 3. the caller settles each message it took: [`Scan::replay`] re-publishes it and waits for
//!    the broker's confirm, then [`Scan::remove`] acknowledges it (a message leaves the queue
//!    only once its copy is confirmed or archived);
//! 4. [`Scan::finish`] returns every message still held to the queue in the order taken
//!    (`basic.nack` with `requeue`); if the process dies first, the broker does the same
//!    when the channel closes.
//!
//! ```no_run
//! use schemactl_runtime::dlq::{DeadLetterQueue, Filter, Target};
//! # async fn run(connection: &lapin::Connection) -> Result<(), schemactl_runtime::dlq::DlqError> {
//! let dlq = DeadLetterQueue::open(connection, "notification-service.dlq").await?;
//! let filter = Filter {
//!     reasons: vec!["handler-failed".into(), "retries-exhausted".into()],
//!     ..Filter::default()
//! };
//! let mut scan = dlq.scan(None).await?;
//! while let Some(letter) = scan.next().await? {
//!     if filter.matches(&letter) {
//!         scan.replay(&letter, Target::Original).await?;
//!         scan.remove(&letter).await?;
//!     }
//! }
//! scan.finish().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::topology::ServiceQueue;
use crate::wire;

/// Header MassTransit writes with why it moved a message (`fault`, `skip`).
pub const MT_REASON_HEADER: &str = "MT-Reason";
/// Header MassTransit writes with the exception message of a fault.
pub const MT_FAULT_MESSAGE_HEADER: &str = "MT-Fault-Message";
/// Header MassTransit writes with the exception type of a fault.
pub const MT_FAULT_EXCEPTION_HEADER: &str = "MT-Fault-ExceptionType";
/// Header MassTransit writes with the time of a fault.
pub const MT_FAULT_TIMESTAMP_HEADER: &str = "MT-Fault-Timestamp";
/// Header a replay adds: how many times the message has been replayed from a dead-letter
/// queue.
pub const REPLAYED_HEADER: &str = "x-schemactl-replayed";

/// Headers a consumer adds when it moves a message to a retry or dead-letter queue, which a
/// replay removes so that the message starts again at attempt 1.
const DEAD_LETTER_HEADERS: [&str; 5] = [
    wire::ATTEMPT_HEADER,
    wire::REASON_HEADER,
    wire::ERROR_HEADER,
    wire::QUEUE_HEADER,
    wire::DEAD_LETTERED_AT_HEADER,
];

/// Who dead-lettered a message, as its headers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Writer {
    /// A schemactl consumer (`x-schemactl-*` headers).
    Schemactl,
    /// The broker (`x-death`).
    Broker,
    /// A MassTransit service (`MT-*` headers).
    Masstransit,
    /// Nothing says: a message published to the queue directly.
    Unknown,
}

/// One dead-lettered message, with what its headers say about its failure.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    tag: u64,
    /// The message ID (`message_id` property, or the envelope's, as the caller decoded it).
    pub message_id: Option<String>,
    /// The message type (the AMQP `type` property until the caller names the catalog's
    /// event version).
    pub message_type: Option<String>,
    /// Why it was dead-lettered: `handler-rejected`, `retries-exhausted`, `malformed`, …;
    /// the broker's `rejected`, `expired`, `maxlen`, `delivery_limit`; MassTransit's `fault`.
    pub reason: Option<String>,
    /// The error text.
    pub error: Option<String>,
    /// Deliveries made before it was dead-lettered.
    pub attempt: Option<u64>,
    /// The queue it failed in.
    pub queue: Option<String>,
    /// The exchange it was first published to.
    pub exchange: Option<String>,
    /// The routing key it was first published with.
    pub routing_key: Option<String>,
    /// When it was dead-lettered.
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// Who dead-lettered it.
    pub writer: Writer,
    /// Properties and headers as received.
    pub properties: BasicProperties,
    /// The body as received.
    pub body: Vec<u8>,
}

impl DeadLetter {
    /// Reads what the headers of `properties` say about the failure.
    pub fn new(properties: BasicProperties, body: Vec<u8>) -> DeadLetter {
        let text = |name: &str| wire::header_str(&properties, name).map(str::to_owned);
        let mut letter = DeadLetter {
            tag: 0,
            message_id: properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_owned()),
            message_type: properties.kind().as_ref().map(|t| t.as_str().to_owned()),
            reason: None,
            error: None,
            attempt: None,
            queue: None,
            exchange: None,
            routing_key: None,
            dead_lettered_at: None,
            writer: Writer::Unknown,
            properties: BasicProperties::default(),
            body,
        };
        let death = first_death(&properties);
        if let Some(reason) = text(wire::REASON_HEADER) {
            letter.writer = Writer::Schemactl;
            letter.reason = Some(reason);
            letter.error = text(wire::ERROR_HEADER);
            letter.attempt = wire::header_u64(&properties, wire::ATTEMPT_HEADER);
            letter.queue = text(wire::QUEUE_HEADER);
            letter.exchange = text(wire::ORIGINAL_EXCHANGE_HEADER);
            letter.routing_key = text(wire::ORIGINAL_ROUTING_KEY_HEADER);
            letter.dead_lettered_at = text(wire::DEAD_LETTERED_AT_HEADER)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
        } else if let Some(death) = death {
            letter.writer = Writer::Broker;
            let field = |name: &str| death.inner().get(name);
            let text = |name: &str| amqp_str(field(name)).map(str::to_owned);
            letter.reason = text("reason");
            letter.queue = text("queue");
            letter.exchange = text("exchange");
            letter.routing_key = match field("routing-keys") {
                Some(AMQPValue::FieldArray(keys)) => amqp_str(keys.as_slice().first()),
                _ => None,
            }
            .map(str::to_owned);
            letter.attempt = match field("count") {
                Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).ok(),
                Some(AMQPValue::LongInt(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            letter.dead_lettered_at = match field("time") {
                Some(AMQPValue::Timestamp(t)) => i64::try_from(*t)
                    .ok()
                    .and_then(|t| DateTime::from_timestamp(t, 0)),
                _ => None,
            };
        } else if let Some(reason) = text(MT_REASON_HEADER) {
            letter.writer = Writer::Masstransit;
            letter.reason = Some(reason);
            letter.error = match (
                text(MT_FAULT_EXCEPTION_HEADER),
                text(MT_FAULT_MESSAGE_HEADER),
            ) {
                (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
                (kind, message) => message.or(kind),
            };
            letter.dead_lettered_at = text(MT_FAULT_TIMESTAMP_HEADER)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
        }
        letter.properties = properties;
        letter
    }

    /// The message as one line of JSON for an archive (`schemactl dlq export`): what the
    /// headers say, the AMQP properties, every header, and the body: byte for byte as JSON
    /// when it is JSON, else as `body_base64`.
    pub fn to_json_line(&self, dead_letter_queue: &str) -> String {
        let p = &self.properties;
        let mut properties = Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                properties.insert(name.to_owned(), value);
            }
        };
        let short = |s: &Option<ShortString>| s.as_ref().map(|s| Value::from(s.as_str()));
        put("content_type", short(p.content_type()));
        put("content_encoding", short(p.content_encoding()));
        put("delivery_mode", p.delivery_mode().map(Value::from));
        put("priority", p.priority().map(Value::from));
        put("correlation_id", short(p.correlation_id()));
        put("reply_to", short(p.reply_to()));
        put("expiration", short(p.expiration()));
        put("message_id", short(p.message_id()));
        put("timestamp", p.timestamp().map(Value::from));
        put("type", short(p.kind()));
        put("user_id", short(p.user_id()));
        put("app_id", short(p.app_id()));
        let headers: Map<String, Value> = p
            .headers()
            .as_ref()
            .map(|h| {
                h.inner()
                    .iter()
                    .map(|(k, v)| (k.to_string(), amqp_json(v)))
                    .collect()
            })
            .unwrap_or_default();
        let json_body = std::str::from_utf8(&self.body)
            .ok()
            .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
        let record = Archived {
            dead_letter_queue,
            message_id: self.message_id.as_deref(),
            message_type: self.message_type.as_deref(),
            reason: self.reason.as_deref(),
            error: self.error.as_deref(),
            attempt: self.attempt,
            queue: self.queue.as_deref(),
            exchange: self.exchange.as_deref(),
            routing_key: self.routing_key.as_deref(),
            dead_lettered_at: self.dead_lettered_at.map(|t| t.to_rfc3339()),
            writer: self.writer,
            properties,
            headers,
            body: json_body,
            body_base64: json_body
                .is_none()
                .then(|| base64::engine::general_purpose::STANDARD.encode(&self.body)),
        };
        // Every field serializes: strings, numbers and JSON values already checked.
        serde_json::to_string(&record).unwrap_or_default()
    }
}

/// One line of an archive.
#[derive(serde::Serialize)]
struct Archived<'a> {
    dead_letter_queue: &'a str,
    message_id: Option<&'a str>,
    message_type: Option<&'a str>,
    reason: Option<&'a str>,
    error: Option<&'a str>,
    attempt: Option<u64>,
    queue: Option<&'a str>,
    exchange: Option<&'a str>,
    routing_key: Option<&'a str>,
    dead_lettered_at: Option<String>,
    writer: Writer,
    properties: Map<String, Value>,
    headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

/// The first entry of `x-death`: the most recent dead-lettering.
fn first_death(properties: &BasicProperties) -> Option<&FieldTable> {
    match properties.headers().as_ref()?.inner().get("x-death")? {
        AMQPValue::FieldArray(deaths) => match deaths.as_slice().first()? {
            AMQPValue::FieldTable(death) => Some(death),
            _ => None,
        },
        _ => None,
    }
}

fn amqp_str(value: Option<&AMQPValue>) -> Option<&str> {
    match value? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

/// An AMQP field value as JSON: numbers as numbers, tables as objects, byte arrays and
/// non-UTF-8 strings as base64 text.
fn amqp_json(value: &AMQPValue) -> Value {
    let b64 = |bytes: &[u8]| Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
    match value {
        AMQPValue::Boolean(b) => Value::from(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(n) => Value::from(*n),
        AMQPValue::Double(n) => Value::from(*n),
        AMQPValue::DecimalValue(d) => Value::from(format!("{d:?}")),
        AMQPValue::ShortString(s) => Value::from(s.as_str()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => Value::from(text),
            Err(_) => b64(s.as_bytes()),
        },
        AMQPValue::FieldArray(items) => items.as_slice().iter().map(amqp_json).collect(),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_json(v)))
                .collect(),
        ),
        AMQPValue::ByteArray(bytes) => b64(bytes.as_slice()),
        AMQPValue::Void => Value::Null,
    }
}

/// Which dead letters an operation selects; an empty list selects any value.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Reasons (`handler-rejected`, `retries-exhausted`, `expired`, …).
    pub reasons: Vec<String>,
    /// Message types (`UserRegistered.v1`).
    pub message_types: Vec<String>,
    /// Message IDs.
    pub message_ids: Vec<String>,
    /// Dead-lettered at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Dead-lettered before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether `letter` is selected. A time bound never selects a letter whose time is
    /// unknown.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        let any = |wanted: &[String], value: &Option<String>| {
            wanted.is_empty() || value.as_ref().is_some_and(|v| wanted.contains(v))
        };
        let after = |bound: Option<DateTime<Utc>>, at: bool| match bound {
            None => true,
            Some(bound) => {
                letter
                    .dead_lettered_at
                    .is_some_and(|t| if at { t >= bound } else { t < bound })
            }
        };
        any(&self.reasons, &letter.reason)
            && any(&self.message_types, &letter.message_type)
            && any(&self.message_ids, &letter.message_id)
            && after(self.since, true)
            && after(self.until, false)
    }

    /// Whether the filter selects every message.
    pub fn is_everything(&self) -> bool {
        self.reasons.is_empty()
            && self.message_types.is_empty()
            && self.message_ids.is_empty()
            && self.since.is_none()
            && self.until.is_none()
    }
}

/// Where a replay sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The exchange and routing key it was first published with: every queue bound there
    /// receives it again (idempotent consumers skip it as a duplicate).
    Original,
    /// Only the queue it failed in, through the default exchange; the original exchange and
    /// routing key travel in headers so that its consumer reads it in the right dialect.
    FailedQueue,
}

/// Why a dead-letter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The queue does not exist.
    #[error("queue `{queue}` does not exist on the broker; declare the topology (`schemactl topology --declare`) or check the name and prefix")]
    NoQueue {
        /// The queue.
        queue: String,
    },
    /// The broker refused or the connection failed.
    #[error("cannot {action} on `{queue}`: {source}")]
    Broker {
        /// What was being done.
        action: &'static str,
        /// The queue.
        queue: String,
        /// The broker's or the connection's error.
        source: lapin::Error,
    },
    /// The letter does not say where it was first published (or in which queue it failed).
    #[error("message {message_id} does not say where it came from ({missing}); it stays in the dead-letter queue")]
    NoRoute {
        /// The message ID, or `(no id)`.
        message_id: String,
        /// The header it lacks.
        missing: &'static str,
    },
    /// The broker returned the copy: nothing is bound for it.
    #[error("no queue is bound to exchange `{exchange}` for routing key `{routing_key}`; the message stays in the dead-letter queue")]
    Unroutable {
        /// The exchange.
        exchange: String,
        /// The routing key.
        routing_key: String,
    },
    /// The broker nacked the copy.
    #[error("the broker did not accept the copy (basic.nack); the message stays in the dead-letter queue")]
    Nacked,
}

/// A dead-letter queue on a channel of its own (with publisher confirms, for replays).
pub struct DeadLetterQueue {
    channel: Channel,
    name: String,
}

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterQueue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DeadLetterQueue {
    /// Opens `name` on a new channel of `connection`; fails with [`DlqError::NoQueue`]
    /// when the queue does not exist.
    pub async fn open(connection: &Connection, name: &str) -> Result<DeadLetterQueue, DlqError> {
        let broker = |action| {
            let queue = name.to_owned();
            move |source| DlqError::Broker {
                action,
                queue,
                source,
            }
        };
        let channel = connection
            .create_channel()
            .await
            .map_err(broker("open a channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(broker("enable publisher confirms"))?;
        let queue = DeadLetterQueue {
            channel,
            name: name.to_owned(),
        };
        queue.depth().await?;
        Ok(queue)
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages ready in the queue (not counting those a scan holds).
    pub async fn depth(&self) -> Result<u32, DlqError> {
        let declared = self
            .channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(q) => Ok(q.message_count()),
            Err(e) if is_not_found(&e) => Err(DlqError::NoQueue {
                queue: self.name.clone(),
            }),
            Err(source) => Err(DlqError::Broker {
                action: "read the depth",
                queue: self.name.clone(),
                source,
            }),
        }
    }

    /// Starts a scan of at most `limit` messages (and never more than the queue holds now).
    pub async fn scan(&self, limit: Option<usize>) -> Result<Scan<'_>, DlqError> {
        let depth = usize::try_from(self.depth().await?).unwrap_or(usize::MAX);
        Ok(Scan {
            queue: self,
            remaining: limit.map_or(depth, |l| l.min(depth)),
            held: 0,
            last_tag: 0,
        })
    }

    /// Removes every message of the queue at once (`queue.purge`); returns how many.
    pub async fn purge_all(&self) -> Result<u32, DlqError> {
        self.channel
            .queue_purge(self.name.as_str().into(), QueuePurgeOptions::default())
            .await
            .map_err(|source| DlqError::Broker {
                action: "purge",
                queue: self.name.clone(),
                source,
            })
    }

    /// Closes the channel, waiting at most [`CLOSE_TIMEOUT`](crate::connect::CLOSE_TIMEOUT)
    /// for the broker's answer, and returns whether it came in time. The broker returns any
    /// message still held to the queue when the channel closes, or when the connection does.
    pub async fn close(self) -> bool {
        let close = self.channel.close(200, "done".into());
        tokio::time::timeout(crate::connect::CLOSE_TIMEOUT, close)
            .await
            .is_ok()
    }

    fn broker(&self, action: &'static str) -> impl FnOnce(lapin::Error) -> DlqError + '_ {
        move |source| DlqError::Broker {
            action,
            queue: self.name.clone(),
            source,
        }
    }
}

/// A passive declare of a missing queue closes the channel with `404 NOT_FOUND`.
fn is_not_found(e: &lapin::Error) -> bool {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(e) => {
            matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
        }
        _ => false,
    }
}

/// A pass over the messages a dead-letter queue holds; see the [module docs](self).
pub struct Scan<'q> {
    queue: &'q DeadLetterQueue,
    remaining: usize,
    held: usize,
    last_tag: u64,
}

impl std::fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("queue", &self.queue.name)
            .field("remaining", &self.remaining)
            .field("held", &self.held)
            .finish()
    }
}

impl Scan<'_> {
    /// Takes the next message and holds it, or `None` when the scan has taken what the
    /// queue held when it started.
    pub async fn next(&mut self) -> Result<Option<DeadLetter>, DlqError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let got = self
            .queue
            .channel
            .basic_get(
                self.queue.name.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(self.queue.broker("take a message"))?;
        let Some(got) = got else {
            self.remaining = 0;
            return Ok(None);
        };
        self.remaining -= 1;
        self.held += 1;
        let delivery = got.delivery;
        self.last_tag = delivery.delivery_tag;
        let mut letter = DeadLetter::new(delivery.properties, delivery.data);
        letter.tag = delivery.delivery_tag;
        Ok(Some(letter))
    }

    /// Messages this scan holds now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Publishes a copy of `letter` to `target` and waits for the broker's confirm; the
    /// copy starts again at attempt 1 (the dead-letter headers are removed) and counts its
    /// replays in `x-schemactl-replayed`. The letter stays held: [`Scan::remove`] it next.
    pub async fn replay(&self, letter: &DeadLetter, target: Target) -> Result<(), DlqError> {
        self.send(letter, target).await?.confirmed().await
    }

    /// [`Scan::replay`] without waiting for the confirm: await [`Replaying::confirmed`]
    /// before removing the letter. Several replays in flight at once are what makes a large
    /// replay fast; the broker confirms them in the order sent.
    pub async fn send(&self, letter: &DeadLetter, target: Target) -> Result<Replaying, DlqError> {
        let no_route = |missing| DlqError::NoRoute {
            message_id: letter
                .message_id
                .clone()
                .unwrap_or_else(|| "(no id)".into()),
            missing,
        };
        let exchange = letter
            .exchange
            .clone()
            .ok_or_else(|| no_route("original exchange"))?;
        let routing_key = letter
            .routing_key
            .clone()
            .ok_or_else(|| no_route("original routing key"))?;
        let mut headers: BTreeMap<ShortString, AMQPValue> = letter
            .properties
            .headers()
            .as_ref()
            .map(|h| h.inner().clone())
            .unwrap_or_default();
        headers.retain(|name, _| {
            !DEAD_LETTER_HEADERS.contains(&name.as_str()) && name.as_str() != "x-death"
        });
        let replays = wire::header_u64(&letter.properties, REPLAYED_HEADER).unwrap_or(0);
        headers.insert(
            REPLAYED_HEADER.into(),
            AMQPValue::LongLongInt(i64::try_from(replays.saturating_add(1)).unwrap_or(i64::MAX)),
        );
        let (to_exchange, to_key) = match target {
            Target::Original => {
                headers.remove(wire::ORIGINAL_EXCHANGE_HEADER);
                headers.remove(wire::ORIGINAL_ROUTING_KEY_HEADER);
                (exchange, routing_key)
            }
            Target::FailedQueue => {
                let queue = letter
                    .queue
                    .clone()
                    .ok_or_else(|| no_route("failed queue"))?;
                headers.insert(
                    wire::ORIGINAL_EXCHANGE_HEADER.into(),
                    AMQPValue::LongString(exchange.into()),
                );
                headers.insert(
                    wire::ORIGINAL_ROUTING_KEY_HEADER.into(),
                    AMQPValue::LongString(routing_key.into()),
                );
                (String::new(), queue)
            }
        };
        let headers = FieldTable::from(headers);
        let properties = letter.properties.clone().with_headers(headers);
        let confirm = self
            .queue
            .channel
            .basic_publish(
                to_exchange.as_str().into(),
                to_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &letter.body,
                properties,
            )
            .await
            .map_err(self.queue.broker("re-publish a message"))?;
        Ok(Replaying {
            confirm,
            queue: self.queue.name.clone(),
            exchange: to_exchange,
            routing_key: to_key,
        })
    }

    /// Removes `letter` from the queue (acknowledges it).
    pub async fn remove(&mut self, letter: &DeadLetter) -> Result<(), DlqError> {
        self.queue
            .channel
            .basic_ack(letter.tag, BasicAckOptions::default())
            .await
            .map_err(self.queue.broker("remove a message"))?;
        self.held = self.held.saturating_sub(1);
        Ok(())
    }

    /// Returns every message still held to the queue, in the order taken; returns how many.
    pub async fn finish(self) -> Result<usize, DlqError> {
        if self.held > 0 {
            self.queue
                .channel
                .basic_nack(
                    self.last_tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await
                .map_err(self.queue.broker("return the messages taken"))?;
        }
        Ok(self.held)
    }
}

/// A replayed copy on its way to the broker; see [`Scan::send`].
#[must_use = "await `confirmed()` before removing the letter"]
pub struct Replaying {
    confirm: lapin::PublisherConfirm,
    queue: String,
    exchange: String,
    routing_key: String,
}

impl std::fmt::Debug for Replaying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replaying")
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .finish_non_exhaustive()
    }
}

impl Replaying {
    /// Waits for the broker's confirm: `Ok` once it holds the copy, an error when it
    /// returned it (nothing bound) or nacked it.
    pub async fn confirmed(self) -> Result<(), DlqError> {
        let confirm = self.confirm.await.map_err(|source| DlqError::Broker {
            action: "wait for the confirm of a re-published message",
            queue: self.queue,
            source,
        })?;
        match confirm {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => Err(DlqError::Unroutable {
                exchange: self.exchange,
                routing_key: self.routing_key,
            }),
            Confirmation::Nack(None) => Err(DlqError::Nacked),
        }
    }
}

/// Depth of one service's dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    /// The consuming service.
    pub service: String,
    /// Its dead-letter queue.
    pub queue: String,
    /// Messages it holds, or `None` when it does not exist.
    pub messages: Option<u32>,
}

/// Reads the depth of every service's dead-letter queue and records each in the gauge
/// [`DEAD_LETTER_DEPTH`](crate::telemetry::DEAD_LETTER_DEPTH) (labels `service`, `queue`).
/// Call it on an interval to export the depths; see the README for an alert rule.
pub async fn depths(
    connection: &Connection,
    services: &[ServiceQueue],
) -> Result<Vec<Depth>, DlqError> {
    let mut out = Vec::with_capacity(services.len());
    let mut seen: BTreeMap<&str, Option<u32>> = BTreeMap::new();
    for s in services {
        let messages = match seen.get(s.dead_letter_queue.as_str()) {
            Some(known) => *known,
            None => {
                let depth = match DeadLetterQueue::open(connection, &s.dead_letter_queue).await {
                    Ok(queue) => {
                        let depth = queue.depth().await;
                        queue.close().await;
                        Some(depth?)
                    }
                    Err(DlqError::NoQueue { .. }) => None,
                    Err(e) => return Err(e),
                };
                seen.insert(&s.dead_letter_queue, depth);
                depth
            }
        };
        if let Some(n) = messages {
            metrics::gauge!(crate::telemetry::DEAD_LETTER_DEPTH, "service" => s.service.clone(), "queue" => s.dead_letter_queue.clone()).set(f64::from(n));
        }
        out.push(Depth {
            service: s.service.clone(),
            queue: s.dead_letter_queue.clone(),
            messages,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, LongString};

    fn with_headers(headers: &[(&str, AMQPValue)]) -> BasicProperties {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            table.insert((*name).into(), value.clone());
        }
        BasicProperties::default().with_headers(table)
    }

    fn long(text: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(text))
    }

    #[test]
    fn a_schemactl_dead_letter_reads_its_headers() {
        let p = with_headers(&[
            (wire::REASON_HEADER, long("handler-rejected")),
            (wire::ERROR_HEADER, long("account closed")),
            (wire::ATTEMPT_HEADER, AMQPValue::LongLongInt(3)),
            (wire::QUEUE_HEADER, long("notification-service")),
            (wire::ORIGINAL_EXCHANGE_HEADER, long("user.events")),
            (
                wire::ORIGINAL_ROUTING_KEY_HEADER,
                long("user.registered.v1"),
            ),
            (
                wire::DEAD_LETTERED_AT_HEADER,
                long("2026-12-07T10:00:00+00:00"),
            ),
        ])
        .with_message_id("m-1".into());
        let letter = DeadLetter::new(p, b"{}".to_vec());
        assert_eq!(letter.writer, Writer::Schemactl);
        assert_eq!(letter.reason.as_deref(), Some("handler-rejected"));
        assert_eq!(letter.error.as_deref(), Some("account closed"));
        assert_eq!(letter.attempt, Some(3));
        assert_eq!(letter.queue.as_deref(), Some("notification-service"));
        assert_eq!(letter.exchange.as_deref(), Some("user.events"));
        assert_eq!(letter.routing_key.as_deref(), Some("user.registered.v1"));
        assert_eq!(letter.message_id.as_deref(), Some("m-1"));
        assert_eq!(
            letter.dead_lettered_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-07T10:00:00+00:00")
        );
    }

    #[test]
    fn a_broker_dead_letter_reads_x_death() {
        let mut death = FieldTable::default();
        death.insert("reason".into(), long("expired"));
        death.insert("queue".into(), long("orders"));
        death.insert("exchange".into(), long("shop.events"));
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![long("order.created")])),
        );
        death.insert("count".into(), AMQPValue::LongLongInt(2));
        death.insert("time".into(), AMQPValue::Timestamp(1_796_000_000));
        let p = with_headers(&[(
            "x-death",
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        )]);
        let letter = DeadLetter::new(p, Vec::new());
        assert_eq!(letter.writer, Writer::Broker);
        assert_eq!(letter.reason.as_deref(), Some("expired"));
        assert_eq!(letter.queue.as_deref(), Some("orders"));
        assert_eq!(letter.exchange.as_deref(), Some("shop.events"));
        assert_eq!(letter.routing_key.as_deref(), Some("order.created"));
        assert_eq!(letter.attempt, Some(2));
        assert_eq!(
            letter.dead_lettered_at.map(|t| t.timestamp()),
            Some(1_796_000_000)
        );
    }

    #[test]
    fn a_masstransit_fault_reads_its_headers() {
        let p = with_headers(&[
            (MT_REASON_HEADER, long("fault")),
            (MT_FAULT_EXCEPTION_HEADER, long("System.TimeoutException")),
            (MT_FAULT_MESSAGE_HEADER, long("agent did not answer")),
            (MT_FAULT_TIMESTAMP_HEADER, long("2026-12-07T09:00:00Z")),
        ]);
        let letter = DeadLetter::new(p, Vec::new());
        assert_eq!(letter.writer, Writer::Masstransit);
        assert_eq!(letter.reason.as_deref(), Some("fault"));
        assert_eq!(
            letter.error.as_deref(),
            Some("System.TimeoutException: agent did not answer")
        );
        assert!(letter.dead_lettered_at.is_some());
        assert_eq!(letter.exchange, None);
    }

    #[test]
    fn filters_select_by_every_field_and_time_bounds_need_a_time() {
        let mut letter = DeadLetter::new(BasicProperties::default(), Vec::new());
        letter.reason = Some("malformed".into());
        letter.message_type = Some("UserRegistered.v1".into());
        letter.message_id = Some("a".into());
        assert!(Filter::default().matches(&letter));
        assert!(Filter::default().is_everything());
        let by_reason = |r: &str| Filter {
            reasons: vec![r.into()],
            ..Filter::default()
        };
        assert!(by_reason("malformed").matches(&letter));
        assert!(!by_reason("expired").matches(&letter));
        let since = Filter {
            since: Some(Utc::now()),
            ..Filter::default()
        };
        assert!(!since.matches(&letter), "no time: a time bound excludes it");
        letter.dead_lettered_at = Some(Utc::now() - chrono::Duration::hours(1));
        assert!(!since.matches(&letter));
        let until = Filter {
            until: Some(Utc::now()),
            ..Filter::default()
        };
        assert!(until.matches(&letter));
        let other_type = Filter {
            message_types: vec!["UserRegistered.v2".into()],
            ..Filter::default()
        };
        assert!(!other_type.matches(&letter));
    }

    #[test]
    fn the_archive_keeps_json_bodies_as_json_and_others_as_base64() {
        let p = with_headers(&[(wire::REASON_HEADER, long("malformed"))])
            .with_content_type("application/json".into());
        let body = br#"{"b": 2, "a":1.50}"#;
        let json_letter = DeadLetter::new(p.clone(), body.to_vec());
        let line = json_letter.to_json_line("svc.dlq");
        assert!(
            line.contains(r#""body":{"b": 2, "a":1.50}"#),
            "the body is kept byte for byte: {line}"
        );
        let record: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["headers"][wire::REASON_HEADER], "malformed");
        assert_eq!(record["properties"]["content_type"], "application/json");
        let binary = DeadLetter::new(p, vec![0xff, 0x00, 0x7b]);
        let record: Value = serde_json::from_str(&binary.to_json_line("svc.dlq")).unwrap();
        assert_eq!(record["body_base64"], "/wB7");
        assert!(record.get("body").is_none());
    }
}
