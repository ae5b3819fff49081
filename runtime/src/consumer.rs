//! Consuming a service's queue: typed dispatch by `messageType`, retries through the retry
//! queues, dead-lettering with the reason in headers, idempotency, batched acks and graceful
//! shutdown.
//!
//! For each delivery, in order:
//! 1. decode the envelope (any profile): malformed → dead-letter queue at once;
//! 2. the message type must be one the service subscribes to: else → dead-letter queue;
//! 3. validate the payload against the event's schema (when enabled): invalid → dead-letter;
//! 4. claim the message ID in the idempotency store (when set): a duplicate is acknowledged
//!    without running the handler;
//! 5. run the handler: `Ok` → ack; a retryable error → the next retry queue (the message comes
//!    back after its delay) until the attempts are spent, then the dead-letter queue; a
//!    permanent error → the dead-letter queue.
//!
//! A message is acknowledged only after its retry or dead-letter copy is confirmed, so none
//! is lost; acks are sent in batches (`multiple`), never one awaited ack per message.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use jsonschema::Validator;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{field, Instrument};
use uuid::Uuid;

use crate::envelope::{DeliveryInfo, Envelope, Received};
use crate::error::{ConsumeError, DispatchError, Rejection};
use crate::idempotency::{Claim, IdempotencyStore};
use crate::publisher::{Publisher, PublisherConfig};
use crate::telemetry;
use crate::topology::{ServiceQueue, Topology};
use crate::trace::{TraceContext, TRACEPARENT_HEADER};
use crate::validate::{compile, first_error};
use crate::wire::{self, long, Outgoing};
use crate::{Event, EventInfo};

/// A consuming service's typed dispatch, implemented by the generated
/// `consumers::<Service>` wrapper around its handler trait.
pub trait Dispatch: Send + Sync + 'static {
    /// The consuming service.
    const SERVICE: &'static str;
    /// The event versions it subscribes to.
    const EVENTS: &'static [EventInfo];

    /// Decodes `message` into its event type and calls the handler method for it.
    fn dispatch(&self, message: Incoming)
        -> impl Future<Output = Result<(), DispatchError>> + Send;
}

/// A handler that treats every event alike (an audit log, an archive, a forwarder). Wrap it
/// in [`Uniform`] and it implements every generated handler trait.
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event of any type.
    fn handle<E: Event>(
        &self,
        message: Received<E>,
    ) -> impl Future<Output = Result<(), crate::HandlerError>> + Send;
}

/// Adapts an [`EventHandler`] to the generated handler traits.
#[derive(Debug, Clone, Default)]
pub struct Uniform<T>(pub T);

/// Receives the dispatch of every consuming service from the generated
/// `consumers::visit_all`.
pub trait DispatchVisitor {
    /// Called once per consuming service.
    fn visit<D: Dispatch>(&mut self, dispatch: D);
}

/// A delivery whose envelope is decoded and whose payload is still raw JSON.
#[derive(Debug)]
pub struct Incoming {
    envelope: Envelope<Box<RawValue>>,
    delivery: DeliveryInfo,
}

impl Incoming {
    /// Builds a message from its parts (for testing a dispatcher without a broker).
    pub fn new(envelope: Envelope<Box<RawValue>>, delivery: DeliveryInfo) -> Self {
        Incoming { envelope, delivery }
    }

    /// The envelope's `messageType`.
    pub fn message_type(&self) -> &str {
        &self.envelope.message_type
    }

    /// The envelope's `messageId`.
    pub fn message_id(&self) -> Uuid {
        self.envelope.message_id
    }

    /// Deserializes the payload into event `E`.
    pub fn decode<E: Event>(self) -> Result<Received<E>, Rejection> {
        let payload: E = serde_json::from_str(self.envelope.payload.get()).map_err(|e| {
            Rejection::Undecodable {
                message_type: E::MESSAGE_TYPE.to_owned(),
                message: e.to_string(),
            }
        })?;
        Ok(Received {
            envelope: self.envelope.map(|_| payload),
            delivery: self.delivery,
        })
    }

    /// The rejection for a message type the dispatcher does not handle.
    pub fn unknown(self) -> DispatchError {
        DispatchError::Rejected(Rejection::UnknownMessageType(self.envelope.message_type))
    }
}

/// How a consumer behaves.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Prefix in front of every exchange and queue name (see `Topology::with_prefix`).
    pub prefix: String,
    /// Unacknowledged deliveries the broker sends ahead (`basic.qos`).
    pub prefetch: u16,
    /// Messages handled at once.
    pub concurrency: usize,
    /// Acknowledge once this many messages are done (one `multiple` ack); 0 = prefetch / 2.
    pub ack_batch: usize,
    /// Acknowledge whatever is done at least this often.
    pub ack_interval: Duration,
    /// Validate payloads against their schema before dispatch.
    pub validate: bool,
    /// Declare the topology before consuming.
    pub declare: bool,
    /// Where processed message IDs are recorded; `None` disables deduplication.
    pub idempotency: Option<Arc<dyn IdempotencyStore>>,
    /// Connection name shown in the RabbitMQ management UI.
    pub connection_name: Option<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            prefix: String::new(),
            prefetch: 64,
            concurrency: 1,
            ack_batch: 0,
            ack_interval: Duration::from_millis(20),
            validate: true,
            declare: true,
            idempotency: None,
            connection_name: None,
        }
    }
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("prefix", &self.prefix)
            .field("prefetch", &self.prefetch)
            .field("concurrency", &self.concurrency)
            .field("ack_batch", &self.ack_batch)
            .field("ack_interval", &self.ack_interval)
            .field("validate", &self.validate)
            .field("declare", &self.declare)
            .field("idempotency", &self.idempotency.is_some())
            .finish()
    }
}

/// What a consumer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Deliveries received.
    pub delivered: u64,
    /// Messages a handler processed successfully.
    pub handled: u64,
    /// Messages sent to a retry queue.
    pub retried: u64,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Deliveries skipped as duplicates.
    pub duplicates: u64,
    /// Deliveries returned to the queue because the retry or dead-letter publish failed.
    pub requeued: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    handled: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    duplicates: AtomicU64,
    requeued: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ConsumerStats {
        ConsumerStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            requeued: self.requeued.load(Ordering::Relaxed),
        }
    }
}

/// A running consumer.
pub struct ConsumerHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<ConsumerStats, ConsumeError>>,
    counters: Arc<Counters>,
    queue: String,
}

impl std::fmt::Debug for ConsumerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerHandle")
            .field("queue", &self.queue)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ConsumerHandle {
    /// The queue consumed.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Counts so far.
    pub fn stats(&self) -> ConsumerStats {
        self.counters.snapshot()
    }

    /// Stops taking deliveries, finishes the messages being handled, acknowledges them and
    /// closes the connection. Deliveries prefetched but not started go back to the queue.
    pub async fn shutdown(self) -> Result<ConsumerStats, ConsumeError> {
        let _ = self.shutdown.send(true);
        self.join().await
    }

    /// Waits for the consumer to end (after [`ConsumerHandle::shutdown`] from a clone of
    /// the trigger, or on a fatal error).
    pub async fn join(self) -> Result<ConsumerStats, ConsumeError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ConsumeError::Task(e.to_string())),
        }
    }

    /// A trigger that starts a graceful shutdown when it sends `true`.
    pub fn shutdown_trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Starts consuming the queue of `D::SERVICE` in `topology` at `url`.
pub async fn start<D: Dispatch>(
    url: &str,
    topology: &Topology,
    dispatcher: D,
    config: ConsumerConfig,
) -> Result<ConsumerHandle, ConsumeError> {
    let topology = topology.with_prefix(&config.prefix);
    let route = topology
        .service(D::SERVICE)
        .cloned()
        .ok_or_else(|| ConsumeError::UnknownService(D::SERVICE.to_owned()))?;
    let mut validators = HashMap::new();
    for event in D::EVENTS {
        let validator = if config.validate {
            Some(Arc::new(compile(event.schema).map_err(|message| {
                ConsumeError::Schema {
                    message_type: event.message_type.to_owned(),
                    message,
                }
            })?))
        } else {
            None
        };
        validators.insert(event.message_type, validator);
    }
    let name = config
        .connection_name
        .clone()
        .unwrap_or_else(|| format!("{} consumer", D::SERVICE));
    let declare = config.declare.then_some(&topology);
    let session = Session::open(url, &name, &route.queue, config.prefetch, declare).await?;
    // Retries and dead letters go out on a connection of their own, which reconnects by
    // itself when the broker comes back.
    let retry_name = format!("{name} (retries)");
    let retry_connection = crate::publisher::connect(url, Some(&retry_name))
        .await
        .map_err(|(url, source)| ConsumeError::Connect { url, source })?;
    let retry_channel = crate::publisher::confirm_channel(&retry_connection)
        .await
        .map_err(ConsumeError::amqp("open the retry and dead-letter channel"))?;
    let publisher = Publisher::new(
        Some(url.to_owned()),
        Arc::new(retry_connection),
        retry_channel,
        PublisherConfig {
            validate: false,
            connection_name: Some(retry_name),
            ..PublisherConfig::default()
        },
    );
    let counters = Arc::new(Counters::default());
    let shared = Arc::new(Shared {
        dispatcher,
        max_attempts: route.max_attempts(),
        route,
        validators,
        idempotency: config.idempotency.clone(),
        publisher,
        counters: counters.clone(),
    });
    let (shutdown, signal) = watch::channel(false);
    let queue = shared.route.queue.clone();
    let reconnect = Reconnect {
        url: url.to_owned(),
        name,
    };
    let task = tokio::spawn(run(shared, session, reconnect, config, signal));
    Ok(ConsumerHandle {
        shutdown,
        task,
        counters,
        queue,
    })
}

/// A connection, its channel and the consumer on it.
struct Session {
    connection: Arc<lapin::Connection>,
    channel: Channel,
    consumer: lapin::Consumer,
}

impl Session {
    /// Connects, declares `topology` when given, sets the prefetch and starts consuming.
    async fn open(
        url: &str,
        name: &str,
        queue: &str,
        prefetch: u16,
        topology: Option<&Topology>,
    ) -> Result<Session, ConsumeError> {
        let connection = crate::publisher::connect(url, Some(name))
            .await
            .map_err(|(url, source)| ConsumeError::Connect { url, source })?;
        let channel = connection
            .create_channel()
            .await
            .map_err(ConsumeError::amqp("open a channel"))?;
        if let Some(topology) = topology {
            topology.declare(&channel).await?;
        }
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(ConsumeError::amqp("basic.qos"))?;
        let consumer = channel
            .basic_consume(
                wire::short("queue", queue)
                    .map_err(|e| ConsumeError::UnknownService(e.to_string()))?,
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(ConsumeError::amqp(format!("consume from `{queue}`")))?;
        Ok(Session {
            connection: Arc::new(connection),
            channel,
            consumer,
        })
    }
}

/// How to open a new session when lapin's recovery gives up.
struct Reconnect {
    url: String,
    name: String,
}

struct Shared<D> {
    dispatcher: D,
    route: ServiceQueue,
    max_attempts: u32,
    validators: HashMap<&'static str, Option<Arc<Validator>>>,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    publisher: Publisher,
    counters: Arc<Counters>,
}

/// How a delivery is settled once processing is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Handled, duplicate, or safely moved to a retry or dead-letter queue.
    Ack,
    /// Moving it failed: give it back to the queue.
    Requeue,
}

/// Delivery tags received and finished, for `multiple` acks over the finished prefix.
#[derive(Debug, Default)]
struct AckTracker {
    outstanding: BTreeSet<u64>,
    done: BTreeSet<u64>,
}

impl AckTracker {
    fn delivered(&mut self, tag: u64) {
        self.outstanding.insert(tag);
    }

    fn finished(&mut self, tag: u64) {
        if self.outstanding.remove(&tag) {
            self.done.insert(tag);
        }
    }

    fn settled_elsewhere(&mut self, tag: u64) {
        self.outstanding.remove(&tag);
    }

    fn ready(&self) -> usize {
        self.done.len()
    }

    /// The highest finished tag below every unfinished one: `ack(multiple)` up to it.
    fn take_ackable(&mut self) -> Option<u64> {
        let limit = self.outstanding.first().copied().unwrap_or(u64::MAX);
        let tag = self.done.range(..limit).next_back().copied()?;
        self.done = self.done.split_off(&(tag + 1));
        Some(tag)
    }

    fn reset(&mut self) {
        self.outstanding.clear();
        self.done.clear();
    }
}

/// Longest wait for an ack or nack to be written: on a connection being recovered it may
/// never complete, and the broker redelivers whatever was not acked.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

async fn flush(acks: &mut AckTracker, channel: &Channel) {
    if let Some(tag) = acks.take_ackable() {
        let ack = channel.basic_ack(tag, BasicAckOptions { multiple: true });
        match tokio::time::timeout(SETTLE_TIMEOUT, ack).await {
            Ok(Ok(())) => {}
            // The channel is gone; the broker redelivers these messages.
            Ok(Err(e)) => tracing::warn!(error = %e, tag, "ack failed"),
            Err(_) => tracing::warn!(tag, "ack timed out"),
        }
    }
}

async fn run<D: Dispatch>(
    shared: Arc<Shared<D>>,
    session: Session,
    reconnect: Reconnect,
    config: ConsumerConfig,
    mut signal: watch::Receiver<bool>,
) -> Result<ConsumerStats, ConsumeError> {
    let mut session = session;
    let ack_batch = match config.ack_batch {
        0 => usize::from(config.prefetch / 2).max(1),
        n => n,
    };
    let concurrency = config.concurrency.max(1);
    let mut in_flight = FuturesUnordered::new();
    let mut acks = AckTracker::default();
    // Delivery tags restart on a recovered channel: finished work from an older channel
    // is not acked (the broker redelivers it).
    let mut epoch = 0u64;
    let mut tick = tokio::time::interval(config.ack_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    let mut down_since: Option<Instant> = None;
    let mut outcome = Ok(());
    loop {
        if stopping && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            changed = signal.changed(), if !stopping => {
                if changed.is_err() || *signal.borrow() {
                    stopping = true;
                    let _ = session
                        .channel
                        .basic_cancel(session.consumer.tag(), BasicCancelOptions::default())
                        .await;
                }
            }
            Some((tag, settle, at)) = in_flight.next(), if !in_flight.is_empty() => {
                if at == epoch {
                    match settle {
                        Settle::Ack => acks.finished(tag),
                        Settle::Requeue => {
                            acks.settled_elsewhere(tag);
                            let options = BasicNackOptions { multiple: false, requeue: true };
                            let nack = session.channel.basic_nack(tag, options);
                            let _ = tokio::time::timeout(SETTLE_TIMEOUT, nack).await;
                        }
                    }
                    if acks.ready() >= ack_batch {
                        flush(&mut acks, &session.channel).await;
                    }
                }
            }
            next = session.consumer.next(), if !stopping && in_flight.len() < concurrency => {
                match next {
                    Some(Ok(delivery)) => {
                        Counters::bump(&shared.counters.delivered);
                        acks.delivered(delivery.delivery_tag);
                        let tag = delivery.delivery_tag;
                        let shared = shared.clone();
                        let at = epoch;
                        in_flight.push(async move {
                            (tag, process(&shared, delivery).await, at)
                        });
                    }
                    Some(Err(error)) => {
                        // Tags of the failed channel mean nothing on the next one: the
                        // broker redelivers what was not acked.
                        epoch += 1;
                        acks.reset();
                        tracing::warn!(%error, "consumer channel failed; waiting for recovery");
                        let recovered = tokio::time::timeout(
                            RECOVERY_WAIT,
                            session.channel.wait_for_recovery(error),
                        )
                        .await
                        .is_ok_and(|r| r.is_ok());
                        let live = recovered && session.channel.status().connected();
                        if !live
                            && !replace(&mut session, &shared, &reconnect, &config, &mut signal).await
                        {
                            stopping = true;
                        }
                    }
                    None if !session.connection.status().connected() => {
                        epoch += 1;
                        acks.reset();
                        if !replace(&mut session, &shared, &reconnect, &config, &mut signal).await {
                                stopping = true;
                            }
                    }
                    // Cancelled by the broker (the queue was deleted, say).
                    None => {
                        outcome = Err(ConsumeError::Cancelled(shared.route.queue.clone()));
                        stopping = true;
                    }
                }
            }
            _ = tick.tick() => {
                flush(&mut acks, &session.channel).await;
                // lapin's recovery can stall (a channel left reconnecting on a recovered
                // connection) without surfacing an error on the consumer stream: after
                // RECOVERY_WAIT without a live channel, open a new connection.
                if session.connection.status().connected() && session.channel.status().connected() {
                    down_since = None;
                } else if down_since.get_or_insert_with(Instant::now).elapsed() > RECOVERY_WAIT
                    && !stopping
                {
                    down_since = None;
                    epoch += 1;
                    acks.reset();
                    tracing::warn!(queue = %shared.route.queue, "connection still down; reconnecting");
                    if !replace(&mut session, &shared, &reconnect, &config, &mut signal).await {
                                stopping = true;
                            }
                }
            }
        }
    }
    flush(&mut acks, &session.channel).await;
    // Deliveries prefetched but never started go back to the queue now, in channel order,
    // rather than whenever the broker notices the channel is gone.
    let requeue = BasicNackOptions {
        multiple: true,
        requeue: true,
    };
    let _ = tokio::time::timeout(SETTLE_TIMEOUT, session.channel.basic_nack(0, requeue)).await;
    let _ = session.channel.close(200, "consumer stopped".into()).await;
    shared.publisher.close().await;
    let _ = session
        .connection
        .close(200, "consumer stopped".into())
        .await;
    outcome.map(|()| shared.counters.snapshot())
}

/// Opens a new session in place of `session` (see [`reopen`]); `false` when a shutdown was
/// requested first.
async fn replace<D: Dispatch>(
    session: &mut Session,
    shared: &Shared<D>,
    reconnect: &Reconnect,
    config: &ConsumerConfig,
    signal: &mut watch::Receiver<bool>,
) -> bool {
    match reopen(shared, reconnect, config, signal).await {
        Some(new) => {
            retire(std::mem::replace(&mut session.connection, new.connection));
            session.channel = new.channel;
            session.consumer = new.consumer;
            true
        }
        None => false,
    }
}

/// Closes a connection replaced by a new one, so a late recovery of it cannot take
/// deliveries nobody reads.
fn retire(old: Arc<lapin::Connection>) {
    tokio::spawn(async move {
        let _ = old.close(200, "replaced by a new connection".into()).await;
    });
}

/// How long to wait for lapin's own recovery before opening a new connection.
const RECOVERY_WAIT: Duration = Duration::from_secs(15);

/// Opens a new session after lapin's recovery gave up, retrying with backoff until it
/// succeeds or a shutdown is requested (`None`).
async fn reopen<D: Dispatch>(
    shared: &Shared<D>,
    reconnect: &Reconnect,
    config: &ConsumerConfig,
    signal: &mut watch::Receiver<bool>,
) -> Option<Session> {
    let mut delay = Duration::from_millis(200);
    loop {
        match Session::open(
            &reconnect.url,
            &reconnect.name,
            &shared.route.queue,
            config.prefetch,
            None,
        )
        .await
        {
            Ok(session) => {
                tracing::info!(queue = %shared.route.queue, "consumer reconnected");
                return Some(session);
            }
            Err(e) => tracing::warn!(error = %e, "cannot reconnect yet; retrying in {delay:?}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            changed = signal.changed() => {
                if changed.is_err() || *signal.borrow() {
                    return None;
                }
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Where a delivery came from before any retry hop.
fn origin(delivery: &Delivery) -> (String, String) {
    let p = &delivery.properties;
    match (
        wire::header_str(p, wire::ORIGINAL_EXCHANGE_HEADER),
        wire::header_str(p, wire::ORIGINAL_ROUTING_KEY_HEADER),
    ) {
        (Some(e), Some(k)) => (e.to_owned(), k.to_owned()),
        _ => (
            delivery.exchange.to_string(),
            delivery.routing_key.to_string(),
        ),
    }
}

async fn process<D: Dispatch>(shared: &Shared<D>, delivery: Delivery) -> Settle {
    let p = &delivery.properties;
    let attempt = wire::header_u64(p, wire::ATTEMPT_HEADER)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(1)
        .max(1);
    let trace =
        wire::header_str(p, TRACEPARENT_HEADER).and_then(|t| t.parse::<TraceContext>().ok());
    let (exchange, routing_key) = origin(&delivery);
    let queue = &shared.route.queue;
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {queue}"),
        otel.kind = "consumer",
        messaging.system = telemetry::MESSAGING_SYSTEM,
        messaging.operation.type = "process",
        messaging.destination.name = %exchange,
        messaging.destination.subscription.name = %queue,
        messaging.rabbitmq.destination.routing_key = %routing_key,
        messaging.rabbitmq.message.delivery_tag = delivery.delivery_tag,
        messaging.message.id = field::Empty,
        messaging.message.conversation_id = field::Empty,
        messaging.message.body.size = delivery.data.len(),
        schemactl.message_type = field::Empty,
        schemactl.attempt = attempt,
        schemactl.outcome = field::Empty,
        trace_id = field::Empty,
    );
    if let Some(t) = &trace {
        span.record("trace_id", t.trace_id_hex());
    }
    let info = DeliveryInfo {
        queue: queue.clone(),
        exchange: exchange.clone(),
        routing_key: routing_key.clone(),
        redelivered: delivery.redelivered,
        attempt,
        trace,
    };
    let step = Step {
        shared,
        delivery: &delivery,
        attempt,
        exchange: &exchange,
        routing_key: &routing_key,
    };
    let settle = step.run(info).instrument(span.clone()).await;
    settle
}

struct Step<'a, D> {
    shared: &'a Shared<D>,
    delivery: &'a Delivery,
    attempt: u32,
    exchange: &'a str,
    routing_key: &'a str,
}

impl<D: Dispatch> Step<'_, D> {
    async fn run(&self, info: DeliveryInfo) -> Settle {
        let span = tracing::Span::current();
        let envelope = match wire::decode(&self.delivery.data, &self.delivery.properties) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                return self
                    .dead_letter(rejection.reason(), &rejection.to_string(), "")
                    .await
            }
        };
        let message_type = envelope.message_type.clone();
        let message_id = envelope.message_id.to_string();
        span.record("messaging.message.id", message_id.as_str());
        span.record("schemactl.message_type", message_type.as_str());
        if let Some(c) = &envelope.correlation_id {
            span.record("messaging.message.conversation_id", c.as_str());
        }
        let Some(validator) = self.shared.validators.get(message_type.as_str()) else {
            let r = Rejection::UnknownMessageType(message_type.clone());
            return self
                .dead_letter(r.reason(), &r.to_string(), &message_type)
                .await;
        };
        if let Some(validator) = validator {
            let invalid = match serde_json::from_str::<serde_json::Value>(envelope.payload.get()) {
                Ok(value) => first_error(validator, &value),
                Err(e) => Some((String::new(), e.to_string())),
            };
            if let Some((pointer, message)) = invalid {
                let r = Rejection::SchemaInvalid {
                    message_type: message_type.clone(),
                    pointer,
                    message,
                };
                return self
                    .dead_letter(r.reason(), &r.to_string(), &message_type)
                    .await;
            }
        }
        let store = self.shared.idempotency.as_deref();
        let queue = self.shared.route.queue.as_str();
        if let Some(store) = store {
            match store.claim(queue, &message_id).await {
                Ok(Claim::Acquired) => {}
                Ok(Claim::Duplicate) => {
                    Counters::bump(&self.shared.counters.duplicates);
                    metrics::counter!(telemetry::DUPLICATES, "queue" => queue.to_owned(), "message_type" => message_type.clone()).increment(1);
                    span.record("schemactl.outcome", "duplicate");
                    return Settle::Ack;
                }
                // Another delivery is being handled: look again after the longest delay,
                // without spending an attempt.
                Ok(Claim::InProgress) => {
                    return self
                        .retry(
                            self.attempt,
                            "in-progress",
                            "another delivery of this message is being processed",
                            &message_type,
                            true,
                        )
                        .await
                }
                Err(e) => return self.failed(&e.to_string(), &message_type).await,
            }
        }
        let started = Instant::now();
        let incoming = Incoming::new(envelope, info);
        let result = self.shared.dispatcher.dispatch(incoming).await;
        metrics::histogram!(telemetry::HANDLER_LATENCY, "queue" => queue.to_owned(), "message_type" => message_type.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                if let Some(store) = store {
                    if let Err(e) = store.complete(queue, &message_id).await {
                        tracing::warn!(error = %e, "cannot record the message as processed");
                    }
                }
                Counters::bump(&self.shared.counters.handled);
                metrics::counter!(telemetry::CONSUMED, "queue" => queue.to_owned(), "message_type" => message_type).increment(1);
                span.record("schemactl.outcome", "handled");
                Settle::Ack
            }
            Err(error) => {
                if let Some(store) = store {
                    if let Err(e) = store.release(queue, &message_id).await {
                        tracing::warn!(error = %e, "cannot release the idempotency claim");
                    }
                }
                match error {
                    DispatchError::Rejected(r) => {
                        self.dead_letter(r.reason(), &r.to_string(), &message_type)
                            .await
                    }
                    DispatchError::Handler(e) if e.is_retryable() => {
                        self.failed(e.message(), &message_type).await
                    }
                    DispatchError::Handler(e) => {
                        self.dead_letter("handler-rejected", e.message(), &message_type)
                            .await
                    }
                }
            }
        }
    }

    /// A retryable failure: the next retry queue, or the dead-letter queue when the attempts
    /// are spent.
    async fn failed(&self, error: &str, message_type: &str) -> Settle {
        if self.attempt >= self.shared.max_attempts {
            self.dead_letter("retries-exhausted", error, message_type)
                .await
        } else {
            self.retry(
                self.attempt + 1,
                "handler-failed",
                error,
                message_type,
                false,
            )
            .await
        }
    }

    async fn retry(
        &self,
        next_attempt: u32,
        reason: &str,
        error: &str,
        message_type: &str,
        longest: bool,
    ) -> Settle {
        let retries = &self.shared.route.retry_queues;
        let step = if longest {
            retries.last()
        } else {
            retries.get(self.attempt.saturating_sub(1) as usize)
        };
        let Some(step) = step else {
            return self
                .dead_letter("retries-exhausted", error, message_type)
                .await;
        };
        let headers = [
            (
                wire::ATTEMPT_HEADER,
                AMQPValue::LongLongInt(next_attempt.into()),
            ),
            (wire::REASON_HEADER, long(reason)),
            (wire::ERROR_HEADER, long(truncate(error))),
        ];
        let settle = self.forward("", &step.queue, &headers, message_type).await;
        if settle == Settle::Ack && !longest {
            Counters::bump(&self.shared.counters.retried);
            metrics::counter!(telemetry::RETRIED, "queue" => self.shared.route.queue.clone(), "message_type" => message_type.to_owned()).increment(1);
            tracing::Span::current().record("schemactl.outcome", "retried");
        }
        settle
    }

    async fn dead_letter(&self, reason: &str, error: &str, message_type: &str) -> Settle {
        tracing::warn!(reason, error, "dead-lettering the message");
        let route = &self.shared.route;
        let headers = [
            (wire::REASON_HEADER, long(reason)),
            (wire::ERROR_HEADER, long(truncate(error))),
            (wire::QUEUE_HEADER, long(route.queue.as_str())),
            (
                wire::ATTEMPT_HEADER,
                AMQPValue::LongLongInt(self.attempt.into()),
            ),
            (
                wire::DEAD_LETTERED_AT_HEADER,
                long(chrono::Utc::now().to_rfc3339()),
            ),
        ];
        let settle = self
            .forward(
                &route.dead_letter_exchange,
                &route.dead_letter_routing_key,
                &headers,
                message_type,
            )
            .await;
        if settle == Settle::Ack {
            Counters::bump(&self.shared.counters.dead_lettered);
            metrics::counter!(telemetry::DEAD_LETTERED, "queue" => route.queue.clone(), "message_type" => message_type.to_owned(), "reason" => reason.to_owned()).increment(1);
            tracing::Span::current().record("schemactl.outcome", "dead-lettered");
        }
        settle
    }

    /// Publishes a copy of the delivery with extra headers and waits for its confirm.
    async fn forward(
        &self,
        exchange: &str,
        routing_key: &str,
        extra: &[(&str, AMQPValue)],
        message_type: &str,
    ) -> Settle {
        let d = self.delivery;
        let mut headers = d.properties.headers().clone().unwrap_or_default();
        headers.insert(wire::ORIGINAL_EXCHANGE_HEADER.into(), long(self.exchange));
        headers.insert(
            wire::ORIGINAL_ROUTING_KEY_HEADER.into(),
            long(self.routing_key),
        );
        for (name, value) in extra {
            headers.insert((*name).into(), value.clone());
        }
        let (Ok(exchange), Ok(routing_key)) = (
            wire::short("exchange", exchange),
            wire::short("routingKey", routing_key),
        ) else {
            return self
                .requeue("a retry or dead-letter queue name is over 255 bytes")
                .await;
        };
        let message_id = d
            .properties
            .message_id()
            .as_ref()
            .and_then(|id| Uuid::parse_str(id.as_str()).ok())
            .unwrap_or(Uuid::nil());
        let outgoing = Outgoing {
            exchange,
            routing_key,
            body: d.data.clone(),
            properties: d.properties.clone().with_headers(headers),
            message_id,
            message_type: message_type.to_owned(),
        };
        let result = match self
            .shared
            .publisher
            .send_outgoing(outgoing, tracing::Span::current())
            .await
        {
            Ok(pending) => pending.confirmed().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Settle::Ack,
            Err(e) => self.requeue(&e.to_string()).await,
        }
    }

    async fn requeue(&self, error: &str) -> Settle {
        tracing::error!(
            error,
            "cannot move the message to its retry or dead-letter queue; requeueing it"
        );
        Counters::bump(&self.shared.counters.requeued);
        // Do not spin on a broker that refuses the copy.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Settle::Requeue
    }
}

/// Header values stay readable: at most 4 KiB of error text.
fn truncate(text: &str) -> &str {
    const MAX: usize = 4096;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_cover_the_finished_prefix_only() {
        let mut t = AckTracker::default();
        for tag in 1..=5 {
            t.delivered(tag);
        }
        t.finished(2);
        t.finished(3);
        assert_eq!(t.take_ackable(), None, "1 is still running");
        t.finished(1);
        assert_eq!(t.take_ackable(), Some(3));
        t.settled_elsewhere(4);
        t.finished(5);
        assert_eq!(t.take_ackable(), Some(5));
        assert_eq!(t.take_ackable(), None);
        t.delivered(6);
        t.reset();
        t.finished(6);
        assert_eq!(
            t.take_ackable(),
            None,
            "tags of a lost channel are never acked"
        );
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let text = "é".repeat(3000);
        let cut = truncate(&text);
        assert!(cut.len() <= 4096);
        assert!(text.starts_with(cut));
    }
}
