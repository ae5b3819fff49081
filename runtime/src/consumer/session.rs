//! A consumer's session: one connection, one channel and one `basic.consume` on the
//! service's queue, opened, closed and replaced by the consumer itself.
//!
//! lapin's automatic recovery is not used for consuming. A recovered channel subscribes again
//! on its own; a connection that was replaced while its recovery was still under way came
//! back later with a subscription nobody read, holding a prefetch's worth of deliveries
//! unacknowledged for as long as it lived. So a session is never recovered in place. When
//! anything about it fails — the delivery stream errors or ends, an ack or a nack cannot be
//! written, the connection or the channel is no longer open — the consumer closes it, which
//! makes the broker requeue every delivery the session had not acknowledged, and opens a new
//! one with backoff (`reopen`), logging every attempt.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ErrorKind};
use tokio::sync::watch;

use crate::connect::{establish, ConnectPolicy, Recovery};
use crate::error::{redact_url, ConsumeError};
use crate::topology::Topology;
use crate::wire;

/// Where and how a session consumes.
pub(super) struct Target {
    pub(super) url: String,
    pub(super) connection_name: String,
    pub(super) queue: String,
    pub(super) prefetch: u16,
    /// How the first session connects; reopening makes one attempt at a time.
    pub(super) connect: ConnectPolicy,
}

/// A connection, its channel and the consumer on it.
pub(super) struct Session {
    /// Counts sessions from 1: delivery tags of one session mean nothing on another.
    pub(super) id: u64,
    pub(super) connection: Connection,
    pub(super) channel: Channel,
    pub(super) consumer: lapin::Consumer,
}

impl Session {
    /// Connects as `connect` says, declares `topology` when given, sets the prefetch and
    /// starts consuming.
    pub(super) async fn open(
        target: &Target,
        connect: &ConnectPolicy,
        topology: Option<&Topology>,
        id: u64,
    ) -> Result<Session, ConsumeError> {
        let name = Some(target.connection_name.as_str());
        let connection = establish(&target.url, name, Recovery::Manual, connect)
            .await
            .map_err(ConsumeError::Connect)?;
        match Session::subscribe(&connection, target, topology).await {
            Ok((channel, consumer)) => Ok(Session {
                id,
                connection,
                channel,
                consumer,
            }),
            Err(e) => {
                let _ = crate::connect::close(&connection, "consumer could not subscribe").await;
                Err(e)
            }
        }
    }

    async fn subscribe(
        connection: &Connection,
        target: &Target,
        topology: Option<&Topology>,
    ) -> Result<(Channel, lapin::Consumer), ConsumeError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(ConsumeError::amqp("open a channel"))?;
        if let Some(topology) = topology {
            topology.declare(&channel).await?;
        }
        channel
            .basic_qos(target.prefetch, BasicQosOptions::default())
            .await
            .map_err(ConsumeError::amqp("basic.qos"))?;
        let queue = &target.queue;
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
        Ok((channel, consumer))
    }

    /// Whether the connection and the channel are both open.
    pub(super) fn is_live(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Closes the connection (the broker requeues every delivery not acknowledged on it).
    pub(super) async fn close(self, reason: &str) {
        let _ = crate::connect::close(&self.connection, reason).await;
    }
}

/// Where a consumer's session stands, for [`ConsumerHandle::state`](super::ConsumerHandle::state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Connected and subscribed to the queue.
    Consuming {
        /// Which session (1 for the first; each reconnection opens the next).
        session: u64,
    },
    /// The last session was lost or closed; a new one is being opened.
    Reconnecting {
        /// Attempts made so far.
        attempts: u32,
        /// Why the last attempt failed (empty before the first attempt).
        last_error: String,
        /// How long the consumer has been without a session.
        since: Duration,
    },
    /// The consumer ended.
    Stopped,
}

/// Shared between the consumer task and its handle.
#[derive(Debug)]
pub(super) struct StateCell {
    inner: Mutex<StateInner>,
}

#[derive(Debug)]
enum StateInner {
    Consuming(u64),
    Reconnecting {
        attempts: u32,
        last_error: String,
        since: Instant,
    },
    Stopped,
}

impl StateCell {
    pub(super) fn consuming(session: u64) -> StateCell {
        StateCell {
            inner: Mutex::new(StateInner::Consuming(session)),
        }
    }

    fn set(&self, state: StateInner) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub(super) fn set_consuming(&self, session: u64) {
        self.set(StateInner::Consuming(session));
    }

    pub(super) fn set_stopped(&self) {
        self.set(StateInner::Stopped);
    }

    fn reconnecting(&self, attempts: u32, last_error: String, since: Instant) {
        self.set(StateInner::Reconnecting {
            attempts,
            last_error,
            since,
        });
    }

    pub(super) fn get(&self) -> SessionState {
        match &*self.inner.lock().unwrap_or_else(|e| e.into_inner()) {
            StateInner::Consuming(session) => SessionState::Consuming { session: *session },
            StateInner::Reconnecting {
                attempts,
                last_error,
                since,
            } => SessionState::Reconnecting {
                attempts: *attempts,
                last_error: last_error.clone(),
                since: since.elapsed(),
            },
            StateInner::Stopped => SessionState::Stopped,
        }
    }
}

/// Backoff between attempts to open a session.
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Opens session `id` after the previous one was lost, retrying with backoff and a log line
/// per failed attempt. `Ok(None)` when a shutdown was requested first; an error when the
/// queue is gone (nothing would ever consume it again).
pub(super) async fn reopen(
    target: &Target,
    id: u64,
    state: &StateCell,
    signal: &mut watch::Receiver<bool>,
) -> Result<Option<Session>, ConsumeError> {
    let since = Instant::now();
    let address = redact_url(&target.url);
    let mut delay = FIRST_DELAY;
    let mut attempt = 0u32;
    state.reconnecting(attempt, String::new(), since);
    loop {
        attempt += 1;
        match Session::open(target, &target.connect.single(), None, id).await {
            Ok(session) => {
                tracing::info!(
                    queue = %target.queue,
                    %address,
                    session = id,
                    attempts = attempt,
                    down_for = ?since.elapsed(),
                    "consumer reconnected and consuming again"
                );
                state.set_consuming(id);
                return Ok(Some(session));
            }
            Err(e) if queue_missing(&e) => {
                tracing::error!(queue = %target.queue, error = %e, "the queue is gone; the consumer stops");
                return Err(ConsumeError::Cancelled(target.queue.clone()));
            }
            Err(e) => {
                tracing::warn!(
                    queue = %target.queue,
                    %address,
                    attempt,
                    error = %e,
                    "cannot open a consumer session; next attempt in {delay:?}"
                );
                state.reconnecting(attempt, e.to_string(), since);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            changed = signal.changed() => {
                if changed.is_err() || *signal.borrow() {
                    return Ok(None);
                }
            }
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// `basic.consume` answered NOT_FOUND: the queue was deleted.
fn queue_missing(error: &ConsumeError) -> bool {
    let ConsumeError::Amqp { source, .. } = error else {
        return false;
    };
    matches!(
        source.kind(),
        ErrorKind::ProtocolError(e) if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
    )
}
