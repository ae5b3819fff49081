//! Publishing events with publisher confirms.
//!
//! Every message is persistent and `mandatory`; the broker's confirm is awaited without
//! blocking the next publish, so up to [`PublisherConfig::confirm_window`] messages are in
//! flight at once. A returned (unroutable) message is an error. A `basic.nack` (the broker did
//! not store the message: a quorum queue without a leader for a moment, say) and a failure of
//! the connection or channel are retried with exponential backoff over lapin's automatic
//! recovery, with the same message ID, so a confirmed message is never lost (a message whose
//! confirm was lost in a reconnect may arrive twice; consumers deduplicate by message ID).
//!
//! When the broker blocks publishing on the connection (`connection.blocked`, sent on a memory
//! or disk alarm), the publisher logs it once, sets the gauge
//! [`PUBLISHER_BLOCKED`](crate::telemetry::PUBLISHER_BLOCKED) and reports the reason through
//! [`Publisher::blocked`]. A send waits for the broker to unblock, at most
//! [`PublisherConfig::blocked_timeout`], then fails with [`PublishErrorKind::Blocked`] without
//! having sent anything. RabbitMQ tells a connection it is blocked when the connection next
//! publishes, so the message that meets the block has been sent: it keeps waiting for its
//! confirm while the block lasts (within the same bound) instead of being sent again, and
//! fails with `Blocked { sent: true }` if the block outlasts it. Nothing confirmed is lost and
//! nothing unconfirmed is reported as sent.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, Connection, PublisherConfirm};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{field, Instrument, Span};

use crate::connect::{self, ConnectError, ConnectFailure, ConnectPolicy, Recovery};
use crate::dialect::Wire;
use crate::envelope::{Envelope, PublishContext};
use crate::error::{redact_url, PublishError, PublishErrorKind};
use crate::telemetry;
use crate::trace::TraceContext;
use crate::validate::{first_error, Validators};
use crate::wire::{self, Outgoing};
use crate::Event;

/// How a [`Publisher`] behaves.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Prefix in front of every exchange name (see `Topology::with_prefix`).
    pub prefix: String,
    /// The catalog's dialects: each event is written in its own ([`Event::DIALECT`]). The
    /// generated `publisher_config()` sets the catalog's; the default knows the built-in
    /// dialects only.
    pub wire: Arc<Wire>,
    /// Messages awaiting their confirm at most; `send` waits for room beyond it.
    pub confirm_window: usize,
    /// Attempts per message when the connection or channel fails (the first included).
    pub max_attempts: u32,
    /// Backoff before the first retry.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
    /// How long a publish waits for its confirm before it is sent again (after recovering or
    /// replacing the connection when it is down); a confirm that only came late makes a
    /// duplicate, which consumers deduplicate by message ID.
    pub confirm_timeout: Duration,
    /// Validate each payload against its event's schema before publishing (default: on in
    /// debug builds, off in release builds).
    pub validate: bool,
    /// Connection name shown in the RabbitMQ management UI.
    pub connection_name: Option<String>,
    /// How [`Publisher::connect`] makes the first connection (timeout, attempts).
    pub connect: ConnectPolicy,
    /// How long a send waits while the broker blocks publishing (`connection.blocked`, on a
    /// memory or disk alarm) before it fails with [`PublishErrorKind::Blocked`]; also how long
    /// a confirm is awaited beyond `confirm_timeout` while the block lasts.
    pub blocked_timeout: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            prefix: String::new(),
            wire: Arc::new(Wire::standard()),
            confirm_window: 1024,
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(15),
            validate: cfg!(debug_assertions),
            connection_name: None,
            connect: ConnectPolicy::default(),
            blocked_timeout: Duration::from_secs(30),
        }
    }
}

impl PublisherConfig {
    /// The backoff before retry `n` (1-based).
    fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// A confirmed publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The envelope's message ID.
    pub message_id: String,
    /// Exchange.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// Attempts it took (1 unless the connection failed).
    pub attempts: u32,
    /// From the first `basic.publish` to the confirm.
    pub latency: Duration,
}

/// A connection and confirm-mode channel that publishes events. Cheap to clone; clones share
/// the channel and the confirm window.
///
/// A service publishes through the typed publisher generated for it (one method per event
/// version it produces), which wraps a `Publisher`:
///
/// ```no_run
/// use getting_started::greeting::GreetingSentV1;
/// use getting_started::producers::GreeterPublisher;
/// use schemactl_runtime::{confirm_all, PublishContext, Publisher, PublisherConfig};
///
/// # async fn run(greetings: Vec<GreetingSentV1>) -> Result<(), Box<dyn std::error::Error>> {
/// let config = PublisherConfig {
///     prefix: "staging.".into(), // in front of every exchange name
///     // The catalog's dialects: each event travels as its exchange's platform expects.
///     ..getting_started::publisher_config()
/// };
/// let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// let greeter = GreeterPublisher::new(Publisher::connect(url, config).await?);
///
/// // One message, awaiting the broker's confirm.
/// let context = PublishContext::new().tenant_id("tenant-1");
/// let published = greeter.greeting_sent_v1(&greetings[0], &context).await?;
/// println!("{} confirmed after {:?}", published.message_id, published.latency);
///
/// // Many messages in flight, confirmed together.
/// let publisher = greeter.publisher();
/// let mut pending = Vec::new();
/// for greeting in &greetings {
///     pending.push(publisher.send(greeting, &context).await?);
/// }
/// for result in confirm_all(pending).await {
///     result?;
/// }
/// publisher.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where to reconnect when lapin's recovery gives up (unknown for `on_connection`).
    url: Option<String>,
    connection: RwLock<Arc<Connection>>,
    channel: RwLock<Channel>,
    /// Held while a fresh connection is being opened, so concurrent failures open one.
    reconnecting: tokio::sync::Mutex<()>,
    window: Arc<Semaphore>,
    config: PublisherConfig,
    validators: Validators,
    /// The reason the broker gave while it blocks publishing on the current connection.
    blocked: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn confirm_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

impl Publisher {
    /// Connects to the broker at `url` (`amqp://user:pass@host:port/vhost`, or several
    /// addresses of a cluster separated by commas: see [`crate::connect`]) and opens a
    /// channel in confirm mode.
    pub async fn connect(url: &str, config: PublisherConfig) -> Result<Self, PublishError> {
        let name = config.connection_name.as_deref();
        let connection = connect::establish(url, name, Recovery::Automatic, &config.connect)
            .await
            .map_err(PublishErrorKind::Connect)?;
        let channel = confirm_channel(&connection).await.map_err(|source| {
            PublishError::from(PublishErrorKind::Connect(ConnectError {
                url: redact_url(url),
                attempts: 1,
                failure: ConnectFailure::Amqp(source),
            }))
        })?;
        Ok(Publisher::new(
            Some(url.to_owned()),
            Arc::new(connection),
            channel,
            config,
        ))
    }

    /// A publisher on an open connection (shared with consumers, say), with a channel of its
    /// own in confirm mode. It relies on the connection's own recovery: without a URL it
    /// cannot open a new connection when that recovery gives up.
    pub async fn on_connection(
        connection: Arc<Connection>,
        config: PublisherConfig,
    ) -> Result<Self, lapin::Error> {
        let channel = confirm_channel(&connection).await?;
        Ok(Publisher::new(None, connection, channel, config))
    }

    pub(crate) fn new(
        url: Option<String>,
        connection: Arc<Connection>,
        channel: Channel,
        config: PublisherConfig,
    ) -> Self {
        let publisher = Publisher {
            inner: Arc::new(Inner {
                url,
                connection: RwLock::new(connection.clone()),
                channel: RwLock::new(channel),
                reconnecting: tokio::sync::Mutex::new(()),
                window: Arc::new(Semaphore::new(config.confirm_window.max(1))),
                config,
                validators: Validators::default(),
                blocked: watch::Sender::new(None),
            }),
        };
        publisher.watch_blocked(&connection);
        publisher
    }

    /// Follows `connection.blocked` / `connection.unblocked` of `connection` (the current
    /// one) until it is replaced or the publisher is dropped: state, log line and gauge.
    fn watch_blocked(&self, connection: &Arc<Connection>) {
        let initially = connection
            .status()
            .blocked()
            .then(|| "blocked when the publisher started".to_owned());
        self.set_blocked(initially);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut events = connection.events_listener().boxed();
        let inner = Arc::downgrade(&self.inner);
        let watched = Arc::downgrade(connection);
        runtime.spawn(async move {
            while let Some(event) = events.next().await {
                let Some(inner) = inner.upgrade() else { return };
                let publisher = Publisher { inner };
                let current = watched
                    .upgrade()
                    .is_some_and(|c| Arc::ptr_eq(&c, &publisher.connection()));
                if !current {
                    return;
                }
                match event {
                    lapin::Event::ConnectionBlocked(reason) => publisher.set_blocked(Some(reason)),
                    lapin::Event::ConnectionUnblocked => publisher.set_blocked(None),
                    _ => {}
                }
            }
        });
    }

    fn set_blocked(&self, reason: Option<String>) {
        let was = self.inner.blocked.send_replace(reason.clone());
        match (&was, &reason) {
            (None, Some(reason)) => {
                tracing::warn!(%reason, wait = ?self.inner.config.blocked_timeout, "the broker blocks publishing; sends wait for it to unblock");
                metrics::gauge!(telemetry::PUBLISHER_BLOCKED).set(1.0);
            }
            (Some(_), None) => {
                tracing::info!("the broker unblocked publishing");
                metrics::gauge!(telemetry::PUBLISHER_BLOCKED).set(0.0);
            }
            _ => {}
        }
    }

    /// The reason the broker gave while it blocks publishing on this publisher's connection.
    pub fn blocked(&self) -> Option<String> {
        self.inner.blocked.borrow().clone()
    }

    /// Waits while the broker blocks publishing, at most `blocked_timeout`; the reason it gave
    /// when it still blocks after that.
    async fn wait_unblocked(&self) -> Result<(), String> {
        let mut state = self.inner.blocked.subscribe();
        let reason = match &*state.borrow_and_update() {
            None => return Ok(()),
            Some(reason) => reason.clone(),
        };
        let unblocked = tokio::time::timeout(
            self.inner.config.blocked_timeout,
            state.wait_for(Option::is_none),
        )
        .await
        .is_ok();
        if unblocked {
            Ok(())
        } else {
            Err(self.blocked().unwrap_or(reason))
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PublisherConfig {
        &self.inner.config
    }

    /// The underlying connection (to declare a topology on it, say). It changes when the
    /// publisher has to reconnect.
    pub fn connection(&self) -> Arc<Connection> {
        self.inner
            .connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn channel(&self) -> Channel {
        self.inner
            .channel
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publishes `payload` as event `E` from its producing service and waits for the
    /// broker's confirm.
    pub async fn publish<E: Event>(
        &self,
        payload: &E,
        ctx: &PublishContext,
    ) -> Result<Published, PublishError> {
        self.send(payload, ctx).await?.confirmed().await
    }

    /// Publishes `payload` as event `E` and returns as soon as the message is on its way;
    /// await [`PendingConfirm::confirmed`] (or [`confirm_all`]) for the broker's confirm.
    /// Waits while the confirm window is full.
    ///
    /// A [`PendingConfirm`] holds its slot of the window until it is awaited or dropped, so
    /// whoever sends more than a window's worth must settle confirms meanwhile: await them on
    /// spawned tasks, or send in batches no larger than the window and [`confirm_all`] each.
    pub async fn send<E: Event>(
        &self,
        payload: &E,
        ctx: &PublishContext,
    ) -> Result<PendingConfirm, PublishError> {
        let prepared = prepare(&self.inner.config, &self.inner.validators, payload, ctx)?;
        let span = tracing::info_span!(
            "publish",
            otel.name = %format_args!("publish {}", prepared.exchange),
            otel.kind = "producer",
            messaging.system = telemetry::MESSAGING_SYSTEM,
            messaging.operation.type = "send",
            messaging.destination.name = %prepared.exchange,
            messaging.rabbitmq.destination.routing_key = %prepared.routing_key,
            messaging.message.id = %prepared.message_id,
            messaging.message.conversation_id = field::Empty,
            messaging.message.body.size = prepared.rendered.body.len(),
            schemactl.message_type = prepared.message_type,
            trace_id = %prepared.trace.trace_id_hex(),
        );
        if let Some(c) = &prepared.correlation_id {
            span.record("messaging.message.conversation_id", c.as_str());
        }
        let outgoing = prepared.into_outgoing()?;
        self.send_outgoing(outgoing, span).await
    }

    /// Publishes an encoded message (used by consumers to move a delivery to a retry or
    /// dead-letter queue). Waits while the confirm window is full.
    pub(crate) async fn send_outgoing(
        &self,
        message: Outgoing,
        span: Span,
    ) -> Result<PendingConfirm, PublishError> {
        // While the broker blocks publishing, a publish would sit in the socket unconfirmed:
        // wait here (bounded) instead, so that nothing unconfirmed piles up.
        if let Err(reason) = self.wait_unblocked().await {
            let error = PublishError::from(PublishErrorKind::Blocked {
                message_type: message.message_type.clone(),
                exchange: message.exchange.to_string(),
                reason,
                waited: self.inner.config.blocked_timeout,
                sent: false,
            });
            metrics::counter!(
                telemetry::PUBLISH_FAILED,
                "exchange" => message.exchange.to_string(),
                "message_type" => message.message_type.clone()
            )
            .increment(1);
            return Err(error);
        }
        let permit = self
            .inner
            .window
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PublishErrorKind::Closed)?;
        let started = Instant::now();
        let first = self.basic_publish(&message).instrument(span.clone()).await;
        Ok(PendingConfirm {
            publisher: self.clone(),
            message,
            first,
            _permit: permit,
            started,
            span,
        })
    }

    async fn basic_publish(&self, m: &Outgoing) -> Result<PublisherConfirm, Failure> {
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let channel = self.channel();
        let publish = channel.basic_publish(
            m.exchange.clone(),
            m.routing_key.clone(),
            options,
            &m.body,
            m.properties.clone(),
        );
        match tokio::time::timeout(self.inner.config.confirm_timeout, publish).await {
            Ok(r) => r.map_err(Failure::Amqp),
            Err(_) => Err(Failure::Stalled),
        }
    }

    /// After a failed publish: wait for lapin's connection recovery, open a fresh channel when
    /// only the channel was closed, or open a new connection when the recovery gave up.
    async fn recover(&self, failure: &Failure) {
        let channel = self.channel();
        // With the addresses of a cluster, another node takes over at once rather than after
        // lapin's attempts to reach the lost one.
        let failover = self
            .inner
            .url
            .as_deref()
            .is_some_and(|url| connect::addresses(url).len() > 1);
        let connection_lost = !self.connection().status().connected();
        if !(failover && connection_lost) {
            if let Failure::Amqp(error) = failure {
                let wait = self.inner.config.confirm_timeout;
                let recovered =
                    tokio::time::timeout(wait, channel.wait_for_recovery(error.clone()))
                        .await
                        .is_ok_and(|r| r.is_ok());
                if recovered && channel.status().connected() {
                    return;
                }
            } else if channel.status().connected()
                && !connection_lost
                && !matches!(failure, Failure::Nacked)
            {
                return;
            }
            // A nack on a healthy channel goes on to a fresh channel: a channel may keep
            // addressing a quorum queue's former leader for a while after it moved.
        }
        let _guard = self.inner.reconnecting.lock().await;
        let current = self.channel();
        if current.id() != channel.id() && current.status().connected() {
            // Another task already replaced it.
            return;
        }
        let connection = self.connection();
        if connection.status().connected() {
            if let Ok(fresh) = confirm_channel(&connection).await {
                self.replace(None, fresh);
            }
            return;
        }
        let Some(url) = &self.inner.url else { return };
        let name = self.inner.config.connection_name.as_deref();
        match connect::reconnect(url, name, self.inner.config.connect.timeout).await {
            Ok(connection) => match confirm_channel(&connection).await {
                Ok(fresh) => {
                    tracing::info!("publisher reconnected after recovery gave up");
                    self.replace(Some(Arc::new(connection)), fresh);
                }
                Err(e) => tracing::warn!(error = %e, "cannot open a channel on the new connection"),
            },
            Err(e) => tracing::warn!(error = %e, url = %redact_url(url), "cannot reconnect yet"),
        }
    }

    fn replace(&self, connection: Option<Arc<Connection>>, channel: Channel) {
        if let Some(connection) = connection {
            let old = std::mem::replace(
                &mut *self
                    .inner
                    .connection
                    .write()
                    .unwrap_or_else(|e| e.into_inner()),
                connection.clone(),
            );
            self.watch_blocked(&connection);
            // The replaced connection may still be trying to recover on its own: stop it.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = old.close(200, "replaced by a new connection".into()).await;
                });
            }
        }
        *self
            .inner
            .channel
            .write()
            .unwrap_or_else(|e| e.into_inner()) = channel;
    }

    /// Closes the channel and the connection; later sends fail with [`PublishErrorKind::Closed`].
    /// Await pending confirms first.
    pub async fn close(&self) {
        self.inner.window.close();
        let _ = self.channel().close(200, "publisher closed".into()).await;
        let _ = self
            .connection()
            .close(200, "publisher closed".into())
            .await;
    }
}

/// A message handed to the broker whose confirm has not been awaited yet. Holds a slot of the
/// confirm window until it is awaited or dropped.
#[must_use = "await `confirmed()` to learn whether the broker accepted the message"]
pub struct PendingConfirm {
    publisher: Publisher,
    message: Outgoing,
    first: Result<PublisherConfirm, Failure>,
    _permit: OwnedSemaphorePermit,
    started: Instant,
    span: Span,
}

impl std::fmt::Debug for PendingConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConfirm")
            .field("message_id", &self.message.message_id)
            .field("exchange", &self.message.exchange)
            .field("routing_key", &self.message.routing_key)
            .finish_non_exhaustive()
    }
}

impl PendingConfirm {
    /// The message ID.
    pub fn message_id(&self) -> &str {
        &self.message.message_id
    }

    /// Waits for the broker's confirm, republishing the same message after a connection or
    /// channel failure.
    pub async fn confirmed(self) -> Result<Published, PublishError> {
        let span = self.span.clone();
        self.confirm_inner().instrument(span).await
    }

    async fn confirm_inner(self) -> Result<Published, PublishError> {
        let PendingConfirm {
            publisher,
            message: m,
            first,
            started,
            ..
        } = self;
        let config = &publisher.inner.config;
        let labels = [
            ("exchange", m.exchange.to_string()),
            ("message_type", m.message_type.clone()),
        ];
        let fail = |e: PublishErrorKind| -> PublishError {
            let e = PublishError::from(e);
            metrics::counter!(telemetry::PUBLISH_FAILED, &labels).increment(1);
            tracing::warn!(error = %e, "publish failed");
            e
        };
        let mut attempt = 1;
        let mut pending = first;
        loop {
            let result = match pending {
                Ok(confirm) => publisher.await_confirm(confirm).await,
                Err(e) => Err(e),
            };
            let failure = match result {
                Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => {
                    let latency = started.elapsed();
                    metrics::counter!(telemetry::PUBLISHED, &labels).increment(1);
                    metrics::histogram!(telemetry::CONFIRM_LATENCY, &labels)
                        .record(latency.as_secs_f64());
                    return Ok(Published {
                        message_id: m.message_id.clone(),
                        exchange: m.exchange.to_string(),
                        routing_key: m.routing_key.to_string(),
                        attempts: attempt,
                        latency,
                    });
                }
                Ok(Confirmation::Ack(Some(returned))) => {
                    return Err(fail(PublishErrorKind::Unroutable {
                        message_type: m.message_type.clone(),
                        message_id: m.message_id.clone(),
                        exchange: m.exchange.to_string(),
                        routing_key: m.routing_key.to_string(),
                        reply_code: returned.reply_code,
                        reply_text: returned.reply_text.to_string(),
                    }))
                }
                // Not stored (a quorum queue electing a new leader, say): published again.
                Ok(Confirmation::Nack(_)) => Failure::Nacked,
                Err(failure) => failure,
            };
            // A channel-level error (unknown exchange, access refused) will not go away on a
            // retry: report it, leaving a fresh channel for the next message.
            let soft = matches!(&failure, Failure::Amqp(e) if e.is_amqp_soft_error());
            // A block that outlasted `blocked_timeout` is reported as it is, not retried.
            let blocked = matches!(&failure, Failure::Blocked(_));
            if attempt >= config.max_attempts || soft || blocked {
                publisher.recover(&failure).await;
                let (message_type, message_id) = (m.message_type.clone(), m.message_id.clone());
                let (exchange, routing_key) = (m.exchange.to_string(), m.routing_key.to_string());
                return Err(fail(match failure {
                    Failure::Amqp(source) => PublishErrorKind::Broker {
                        message_type,
                        message_id,
                        exchange,
                        routing_key,
                        attempts: attempt,
                        source,
                    },
                    Failure::Stalled => PublishErrorKind::Stalled {
                        message_type,
                        message_id,
                        exchange,
                        routing_key,
                        attempts: attempt,
                        timeout: config.confirm_timeout,
                    },
                    Failure::Blocked(reason) => PublishErrorKind::Blocked {
                        message_type,
                        exchange,
                        reason,
                        waited: config.blocked_timeout,
                        sent: true,
                    },
                    Failure::Nacked => PublishErrorKind::Nacked {
                        message_type,
                        message_id,
                        exchange,
                        routing_key,
                        attempts: attempt,
                    },
                }));
            }
            tracing::debug!(%failure, attempt, "publish failed; retrying after recovery");
            publisher.recover(&failure).await;
            tokio::time::sleep(config.backoff(attempt)).await;
            attempt += 1;
            pending = publisher.basic_publish(&m).await;
        }
    }
}

/// Why one attempt of a publish did not complete.
#[derive(Debug)]
enum Failure {
    /// The client reported an error.
    Amqp(lapin::Error),
    /// No confirm (or publish) within `confirm_timeout`.
    Stalled,
    /// No confirm while the broker blocked publishing for longer than `blocked_timeout`.
    Blocked(String),
    /// The broker answered `basic.nack`: it did not store the message.
    Nacked,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Amqp(e) => e.fmt(f),
            Failure::Stalled => f.write_str("no confirm within the confirm timeout"),
            Failure::Blocked(reason) => write!(f, "the broker blocked publishing: {reason}"),
            Failure::Nacked => f.write_str("the broker nacked the message"),
        }
    }
}

impl Publisher {
    /// Waits for a confirm at most `confirm_timeout`. A confirm can be lost without an error
    /// (lapin's recovery may never report a dead channel, and a recovered channel does not
    /// resolve confirms of messages published before the failure), so a longer wait is
    /// `Stalled` and the message is published again: possibly a duplicate, never a loss.
    async fn await_confirm(&self, confirm: PublisherConfirm) -> Result<Confirmation, Failure> {
        tokio::pin!(confirm);
        loop {
            match tokio::time::timeout(self.inner.config.confirm_timeout, confirm.as_mut()).await {
                Ok(r) => return r.map_err(Failure::Amqp),
                // The broker holds what it received while it blocks publishing: the confirm
                // comes once it unblocks, so wait for that rather than send a duplicate.
                Err(_) if self.blocked().is_some() => {
                    if let Err(reason) = self.wait_unblocked().await {
                        return Err(Failure::Blocked(reason));
                    }
                }
                Err(_) => return Err(Failure::Stalled),
            }
        }
    }
}

/// Awaits the confirms of many messages together; results are in the same order.
pub async fn confirm_all(
    pending: impl IntoIterator<Item = PendingConfirm>,
) -> Vec<Result<Published, PublishError>> {
    join_all(pending.into_iter().map(PendingConfirm::confirmed)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = PublisherConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..PublisherConfig::default()
        };
        let b: Vec<u128> = (1..=5).map(|n| c.backoff(n).as_millis()).collect();
        assert_eq!(b, vec![100, 200, 400, 700, 700]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_millis(700));
    }
}

/// An event rendered for the wire and not sent yet: what [`Publisher::send`] sends, and what
/// an outbox row holds until its relay sends it.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The exchange, prefixed.
    pub(crate) exchange: String,
    pub(crate) routing_key: &'static str,
    pub(crate) message_id: String,
    pub(crate) message_type: &'static str,
    pub(crate) correlation_id: Option<String>,
    pub(crate) trace: TraceContext,
    pub(crate) rendered: wire::Rendered,
}

impl Prepared {
    /// The message as lapin's types.
    pub(crate) fn into_outgoing(self) -> Result<wire::Outgoing, PublishError> {
        let r = self.rendered;
        wire::outgoing(
            &self.exchange,
            self.routing_key,
            r.body,
            r.properties.iter().map(|(n, v)| (*n, v.as_str())),
            r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &self.message_id,
            self.message_type,
        )
        .map_err(|source| {
            PublishErrorKind::Encode {
                message_type: self.message_type.to_owned(),
                source,
            }
            .into()
        })
    }
}

/// Validates `payload` (when `config.validate`), wraps it in its envelope and renders it in
/// its dialect for its exchange.
pub(crate) fn prepare<E: Event>(
    config: &PublisherConfig,
    validators: &Validators,
    payload: &E,
    ctx: &PublishContext,
) -> Result<Prepared, PublishError> {
    if config.validate {
        validate(validators, payload)?;
    }
    let encode_error = |source| -> PublishError {
        PublishErrorKind::Encode {
            message_type: E::MESSAGE_TYPE.to_owned(),
            source,
        }
        .into()
    };
    let exchange = crate::topology::prefixed(&config.prefix, E::EXCHANGE);
    let trace = ctx
        .trace
        .map(|t| t.child())
        .unwrap_or_else(TraceContext::new_root);
    let Some(dialect) = config.wire.dialect(E::DIALECT) else {
        return Err(encode_error(wire::EncodeError::Dialect {
            dialect: E::DIALECT.to_owned(),
            message: "the publisher's `wire` does not declare it: use the catalog's \
                      `publisher_config()`"
                .to_owned(),
        }));
    };
    let envelope = Envelope {
        message_id: ctx
            .message_id
            .clone()
            .unwrap_or_else(|| dialect.new_message_id()),
        message_type: E::MESSAGE_TYPE.to_owned(),
        envelope_version: crate::ENVELOPE_VERSION.to_owned(),
        timestamp: ctx.timestamp.unwrap_or_else(chrono::Utc::now),
        source_service: E::PRODUCER.to_owned(),
        correlation_id: ctx.correlation_id.clone(),
        causation_id: ctx.causation_id.clone(),
        tenant_id: ctx.tenant_id.clone(),
        partition_key: ctx.partition_key.clone(),
        payload,
        metadata: ctx.metadata.clone(),
    };
    let rendered = wire::render(
        &envelope,
        dialect,
        E::DIALECT,
        E::WIRE_TYPE,
        &exchange,
        &trace,
    )
    .map_err(encode_error)?;
    Ok(Prepared {
        exchange,
        routing_key: E::ROUTING_KEY,
        message_id: envelope.message_id,
        message_type: E::MESSAGE_TYPE,
        correlation_id: envelope.correlation_id,
        trace,
        rendered,
    })
}

/// Checks `payload` against its event's schema.
fn validate<E: Event>(validators: &Validators, payload: &E) -> Result<(), PublishError> {
    let invalid = |pointer: String, message: String| -> PublishError {
        PublishErrorKind::Invalid {
            message_type: E::MESSAGE_TYPE.to_owned(),
            pointer,
            message,
        }
        .into()
    };
    let validator = validators
        .get(E::MESSAGE_TYPE, E::SCHEMA)
        .map_err(|m| invalid(String::new(), format!("the schema does not compile: {m}")))?;
    let value = serde_json::to_value(payload)
        .map_err(|e| invalid(String::new(), format!("cannot serialize: {e}")))?;
    match first_error(&validator, &value) {
        Some((pointer, message)) => Err(invalid(pointer, message)),
        None => Ok(()),
    }
}
