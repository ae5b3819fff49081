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
//!
//! The loop that drives this (`run`) waits on four things at once, in this order:
//! 1. the shutdown signal: cancel the subscription and stop taking deliveries;
//! 2. a finished delivery: mark its tag done (or nack it back to the queue when moving it to
//!    a retry or dead-letter queue failed), and ack the finished prefix once `ack_batch` tags
//!    are done;
//! 3. the next delivery, while fewer than `concurrency` are in flight: start processing it;
//! 4. a tick every `ack_interval`: ack whatever is done, and check that the session is alive.
//!
//! A session (connection, channel, subscription; see [`session`]) is never recovered in
//! place. When its delivery stream fails or ends, an ack or nack cannot be written, or the
//! tick finds the connection or channel closed, the session is closed — the broker requeues
//! every delivery not acknowledged on it — the ack tracker forgets its tags, work still in
//! flight from it finishes without being acked, and a new session is opened with backoff
//! until it consumes again or a shutdown is requested. Redelivered messages that had already
//! been handled are what the idempotency store is for.

mod acks;
pub mod session;
mod step;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use jsonschema::Validator;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicNackOptions};
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connect::{establish, ConnectPolicy, Recovery};
use crate::envelope::{DeliveryInfo, Envelope, Received};
use crate::error::{ConsumeError, DispatchError, Rejection};
use crate::idempotency::IdempotencyStore;
use crate::publisher::{Publisher, PublisherConfig};
use crate::topology::{ServiceQueue, Topology};
use crate::validate::compile;
use crate::{Event, EventInfo, Wire};
use acks::AckTracker;
pub use session::SessionState;
use session::{Session, StateCell, Target};
use step::{process, Settle};

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
    pub fn message_id(&self) -> &str {
        &self.envelope.message_id
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
    /// How the consumer makes its first connections (timeout, attempts); `consume` returns
    /// the error once they are spent. Later reconnections retry until a shutdown.
    pub connect: ConnectPolicy,
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
            connect: ConnectPolicy::default(),
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
            .field("connection_name", &self.connection_name)
            .field("connect", &self.connect)
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
    /// Sessions opened: 1, plus one per reconnection.
    pub sessions: u64,
}

/// A consumer's view of itself at one moment, for health checks and for explaining a
/// failure: where its session stands and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerState {
    /// Consuming, reconnecting (with the last error) or stopped.
    pub session: SessionState,
    /// Deliveries being processed.
    pub in_flight: usize,
    /// Deliveries of the current session not acknowledged yet (in flight, or finished and
    /// waiting for the next batched ack).
    pub unacked: usize,
    /// Counts so far.
    pub stats: ConsumerStats,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    handled: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    duplicates: AtomicU64,
    requeued: AtomicU64,
    sessions: AtomicU64,
    in_flight: AtomicUsize,
    unacked: AtomicUsize,
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
            sessions: self.sessions.load(Ordering::Relaxed),
        }
    }
}

/// A running consumer.
///
/// The generated consumer of a service (its handler trait implemented by the service)
/// returns one from `consume`:
///
/// ```no_run
/// use getting_started::consumers::{Listener, ListenerHandler};
/// use getting_started::greeting::GreetingSentV1;
/// use schemactl_runtime::{ConsumerConfig, HandlerError, Received};
///
/// struct Greetings;
///
/// impl ListenerHandler for Greetings {
///     async fn greeting_sent_v1(
///         &self,
///         message: Received<GreetingSentV1>,
///     ) -> Result<(), HandlerError> {
///         if message.payload().text.as_str().is_empty() {
///             // Straight to the dead-letter queue, with this reason.
///             return Err(HandlerError::permanent("an empty greeting"));
///         }
///         println!("attempt {}: {:?}", message.delivery.attempt, message.payload());
///         Ok(())
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ConsumerConfig {
///     prefetch: 64,
///     concurrency: 8,
///     ..ConsumerConfig::default()
/// };
/// let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// let consumer = Listener::new(Greetings).consume(url, config).await?;
/// tokio::signal::ctrl_c().await?;
/// // Stops taking deliveries, finishes and acknowledges what is in flight.
/// let stats = consumer.shutdown().await?;
/// println!("{} handled, {} dead-lettered", stats.handled, stats.dead_lettered);
/// # Ok(())
/// # }
/// ```
pub struct ConsumerHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<ConsumerStats, ConsumeError>>,
    counters: Arc<Counters>,
    state: Arc<StateCell>,
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

    /// Where the session stands and what the consumer holds right now.
    pub fn state(&self) -> ConsumerState {
        ConsumerState {
            session: self.state.get(),
            in_flight: self.counters.in_flight.load(Ordering::Relaxed),
            unacked: self.counters.unacked.load(Ordering::Relaxed),
            stats: self.counters.snapshot(),
        }
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

/// Starts consuming the queue of `D::SERVICE` in `topology` at `url`, reading every dialect
/// of `wire` (the generated `consume` passes the catalog's).
pub async fn start<D: Dispatch>(
    url: &str,
    topology: &Topology,
    wire: Arc<Wire>,
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
    let target = Target {
        url: url.to_owned(),
        connection_name: name.clone(),
        queue: route.queue.clone(),
        prefetch: config.prefetch,
        connect: config.connect.clone(),
    };
    let session = Session::open(
        &target,
        &target.connect,
        config.declare.then_some(&topology),
        1,
    )
    .await?;
    // Retries and dead letters go out on a connection of their own, a publisher's, which
    // republishes across reconnections until the copy is confirmed.
    let retry_name = format!("{name} (retries)");
    let retry_connection = establish(url, Some(&retry_name), Recovery::Automatic, &config.connect)
        .await
        .map_err(ConsumeError::Connect)?;
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
    Counters::bump(&counters.sessions);
    let state = Arc::new(StateCell::consuming(session.id));
    let (shutdown, signal) = watch::channel(false);
    let shared = Arc::new(Shared {
        stopping: signal.clone(),
        dispatcher,
        wire,
        prefix: config.prefix.clone(),
        max_attempts: route.max_attempts(),
        route,
        validators,
        idempotency: config.idempotency.clone(),
        publisher,
        counters: counters.clone(),
    });
    let queue = shared.route.queue.clone();
    let task = tokio::spawn(run(shared, session, target, state.clone(), config, signal));
    Ok(ConsumerHandle {
        shutdown,
        task,
        counters,
        state,
        queue,
    })
}

struct Shared<D> {
    dispatcher: D,
    /// The catalog's dialects and type values.
    wire: Arc<Wire>,
    /// The prefix of every exchange name (stripped to find an exchange's dialect).
    prefix: String,
    route: ServiceQueue,
    max_attempts: u32,
    validators: HashMap<&'static str, Option<Arc<Validator>>>,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    publisher: Publisher,
    counters: Arc<Counters>,
    /// `true` once a shutdown is requested (ends retry delays the consumer holds).
    stopping: watch::Receiver<bool>,
}

/// Longest wait for an ack or nack to be written. One that fails or times out leaves the
/// session in doubt, so the session is replaced: the broker then redelivers whatever that
/// session had not acknowledged.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the current session has to be replaced.
type Lost = String;

/// Acks the finished prefix, if any; an error when the ack could not be written.
async fn flush(acks: &mut AckTracker, session: &Session) -> Result<(), Lost> {
    let Some(tag) = acks.take_ackable() else {
        return Ok(());
    };
    let ack = session
        .channel
        .basic_ack(tag, BasicAckOptions { multiple: true });
    match tokio::time::timeout(SETTLE_TIMEOUT, ack).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("ack up to delivery tag {tag} failed: {e}")),
        Err(_) => Err(format!(
            "ack up to delivery tag {tag} not written within {SETTLE_TIMEOUT:?}"
        )),
    }
}

/// Returns one delivery to the queue; an error when the nack could not be written.
async fn requeue(tag: u64, session: &Session) -> Result<(), Lost> {
    let options = BasicNackOptions {
        multiple: false,
        requeue: true,
    };
    match tokio::time::timeout(SETTLE_TIMEOUT, session.channel.basic_nack(tag, options)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("nack of delivery tag {tag} failed: {e}")),
        Err(_) => Err(format!(
            "nack of delivery tag {tag} not written within {SETTLE_TIMEOUT:?}"
        )),
    }
}

/// The consumer loop (see the module documentation).
async fn run<D: Dispatch>(
    shared: Arc<Shared<D>>,
    session: Session,
    target: Target,
    state: Arc<StateCell>,
    config: ConsumerConfig,
    mut signal: watch::Receiver<bool>,
) -> Result<ConsumerStats, ConsumeError> {
    let mut session = Some(session);
    let ack_batch = match config.ack_batch {
        0 => usize::from(config.prefetch / 2).max(1),
        n => n,
    };
    let concurrency = config.concurrency.max(1);
    let counters = &shared.counters;
    let mut in_flight = FuturesUnordered::new();
    let mut acks = AckTracker::default();
    let mut tick = tokio::time::interval(config.ack_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    let mut outcome = Ok(());
    loop {
        counters.in_flight.store(in_flight.len(), Ordering::Relaxed);
        counters.unacked.store(acks.unacked(), Ordering::Relaxed);
        if stopping && in_flight.is_empty() {
            break;
        }
        let Some(current) = session.as_mut() else {
            // Between sessions: open the next one, unless the consumer is stopping.
            if stopping {
                // Nothing left to settle on: wait for the work in flight and leave.
                while in_flight.next().await.is_some() {}
                continue;
            }
            let next = counters.sessions.load(Ordering::Relaxed) + 1;
            match session::reopen(&target, next, &state, &mut signal).await {
                Ok(Some(new)) => {
                    Counters::bump(&counters.sessions);
                    session = Some(new);
                }
                Ok(None) => stopping = true,
                Err(e) => {
                    outcome = Err(e);
                    stopping = true;
                }
            }
            continue;
        };
        let mut lost: Option<Lost> = None;
        tokio::select! {
            biased;
            changed = signal.changed(), if !stopping => {
                if changed.is_err() || *signal.borrow() {
                    stopping = true;
                    let cancel = current
                        .channel
                        .basic_cancel(current.consumer.tag(), BasicCancelOptions::default());
                    let _ = tokio::time::timeout(SETTLE_TIMEOUT, cancel).await;
                }
            }
            Some((tag, settle, of)) = in_flight.next(), if !in_flight.is_empty() => {
                // Tags of an earlier session mean nothing on this one: the broker has
                // redelivered those messages already.
                if of == current.id {
                    match settle {
                        Settle::Ack => acks.finished(tag),
                        Settle::Requeue => {
                            acks.settled_elsewhere(tag);
                            if let Err(e) = requeue(tag, current).await {
                                lost = Some(e);
                            }
                        }
                    }
                    if lost.is_none() && acks.ready() >= ack_batch {
                        lost = flush(&mut acks, current).await.err();
                    }
                }
            }
            next = current.consumer.next(), if !stopping && in_flight.len() < concurrency => {
                match next {
                    Some(Ok(delivery)) => {
                        Counters::bump(&counters.delivered);
                        let tag = delivery.delivery_tag;
                        acks.delivered(tag);
                        let shared = shared.clone();
                        let of = current.id;
                        in_flight.push(async move { (tag, process(&shared, delivery).await, of) });
                    }
                    Some(Err(error)) => lost = Some(format!("the delivery stream failed: {error}")),
                    None => lost = Some("the broker ended the subscription".to_owned()),
                }
            }
            _ = tick.tick() => {
                lost = flush(&mut acks, current).await.err();
                if lost.is_none() && !current.is_live() {
                    lost = Some(format!(
                        "the connection is {:?} and the channel {:?}",
                        current.connection.status(),
                        current.channel.status()
                    ));
                }
            }
        }
        if let Some(why) = lost {
            let old = session.take().expect("a session is open in this branch");
            tracing::warn!(
                queue = %shared.route.queue,
                session = old.id,
                unacked = acks.unacked(),
                in_flight = in_flight.len(),
                "consumer session lost ({why}); closing it so the broker redelivers what it \
                 did not acknowledge, and opening a new one"
            );
            acks.reset();
            old.close("consumer session lost").await;
        }
    }
    if let Some(session) = session.take() {
        if let Err(e) = flush(&mut acks, &session).await {
            tracing::warn!(queue = %shared.route.queue, "{e}; the broker redelivers those messages");
        }
        // Deliveries prefetched but never started go back to the queue now, in channel
        // order, rather than whenever the broker notices the channel is gone.
        let requeue = BasicNackOptions {
            multiple: true,
            requeue: true,
        };
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, session.channel.basic_nack(0, requeue)).await;
        let _ = tokio::time::timeout(
            SETTLE_TIMEOUT,
            session.channel.close(200, "consumer stopped".into()),
        )
        .await;
        session.close("consumer stopped").await;
    }
    shared.publisher.close().await;
    state.set_stopped();
    counters.in_flight.store(0, Ordering::Relaxed);
    counters.unacked.store(0, Ordering::Relaxed);
    outcome.map(|()| counters.snapshot())
}
