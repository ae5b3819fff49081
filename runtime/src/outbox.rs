//! A transactional outbox on PostgreSQL (feature `outbox`): an event is written in the
//! application's own transaction, beside the rows it describes, and a relay publishes it
//! after the transaction commits.
//!
//! Publishing after a commit loses the event when the process dies in between; publishing
//! before it announces what a rollback then undoes. With the outbox the event and the state
//! commit or roll back together, and the relay delivers it at least once:
//!
//! 1. [`Outbox::write`] validates the payload (when the publisher configuration says so),
//!    renders the message exactly as [`Publisher::send`] would (envelope, dialect, headers,
//!    trace context) and inserts it into the outbox table through the caller's
//!    [`Transaction`]; nothing is sent.
//! 2. [`Relay::relay_batch`] opens a transaction of its own, takes the oldest pending rows
//!    whose next attempt is due with `FOR UPDATE SKIP LOCKED` (so that several relays share
//!    the work and never take the same row), publishes them in `id` order through a
//!    [`Publisher`] (confirms, retries, failover), waits for each confirm, marks the
//!    confirmed rows sent, gives each failed row a later next attempt (doubling, bounded)
//!    with its error, and commits. A relay that dies before committing leaves its rows
//!    pending: another relay publishes them again under the same message ID, which the
//!    consumers' idempotency stores recognise.
//! 3. [`Relay::clean_up`] deletes rows sent longer ago than the retention period.
//! 4. [`Relay::run`] repeats 2 (at once while there is work, after `idle_wait` when there is
//!    none) and 3 (every `cleanup_every`) until its shutdown future resolves.
//!
//! Order: one relay publishes rows in the order they were written (`id`, a sequence). A row
//! that fails is retried after its backoff while later rows go on, and two relays publish
//! their batches side by side; consumers that need a strict order per entity should not
//! rely on more than the order of one relay's batch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;

pub use tokio_postgres::{self, Client, Transaction};

use crate::publisher::{prepare, PendingConfirm};
use crate::validate::Validators;
use crate::{Event, PublishContext, PublishError, Publisher, PublisherConfig};

/// The table an outbox uses unless told otherwise.
pub const DEFAULT_TABLE: &str = "schemactl_outbox";

/// Why an outbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The event cannot be written: invalid payload, or not encodable in its dialect.
    #[error(transparent)]
    Event(#[from] PublishError),
    /// PostgreSQL refused or the connection failed.
    #[error("cannot {action} (outbox table `{table}`): {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The table.
        table: String,
        /// PostgreSQL's error.
        source: tokio_postgres::Error,
    },
    /// The table name is not a plain SQL identifier.
    #[error("{0}")]
    Table(String),
}

/// Writes events into the outbox table inside the caller's transaction.
#[derive(Clone)]
pub struct Outbox {
    config: PublisherConfig,
    validators: Arc<Validators>,
    table: String,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// An event written to the outbox, to be published once its transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The row's ID: the order the relay publishes in.
    pub id: i64,
    /// The envelope's message ID, the same on every publish of the row.
    pub message_id: String,
}

impl Outbox {
    /// An outbox that renders messages as a [`Publisher`] with `config` would (the catalog's
    /// `publisher_config()`: dialects, prefix, validation), in table [`DEFAULT_TABLE`].
    pub fn new(config: PublisherConfig) -> Outbox {
        Outbox {
            config,
            validators: Arc::new(Validators::default()),
            table: DEFAULT_TABLE.to_owned(),
        }
    }

    /// The same outbox in table `table` (a plain SQL identifier).
    pub fn with_table(mut self, table: &str) -> Result<Outbox, OutboxError> {
        self.table = crate::postgres::identifier(table)
            .map_err(OutboxError::Table)?
            .to_owned();
        Ok(self)
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table and its indexes when they do not exist.
    pub async fn migrate(&self, client: &Client) -> Result<(), OutboxError> {
        let t = &self.table;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    id bigserial PRIMARY KEY,
                    message_id text NOT NULL,
                    message_type text NOT NULL,
                    exchange text NOT NULL,
                    routing_key text NOT NULL,
                    properties jsonb NOT NULL,
                    headers jsonb NOT NULL,
                    body bytea NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at timestamptz NOT NULL DEFAULT now(),
                    last_error text,
                    sent_at timestamptz
                );
                CREATE INDEX IF NOT EXISTS {t}_pending ON {t} (id) WHERE sent_at IS NULL;
                CREATE INDEX IF NOT EXISTS {t}_sent ON {t} (sent_at) WHERE sent_at IS NOT NULL;"
            ))
            .await
            .map_err(database(t, "create the outbox table"))
    }

    /// Writes `payload` as event `E` into the outbox through `tx`; the relay publishes it
    /// once `tx` commits, and never if it rolls back.
    pub async fn write<E: Event>(
        &self,
        tx: &Transaction<'_>,
        payload: &E,
        ctx: &PublishContext,
    ) -> Result<Staged, OutboxError> {
        let prepared = prepare(&self.config, &self.validators, payload, ctx)?;
        let r = &prepared.rendered;
        let properties: serde_json::Map<String, serde_json::Value> = r
            .properties
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_str().into()))
            .collect();
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().into()))
            .collect();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO {} (message_id, message_type, exchange, routing_key, \
                     properties, headers, body) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    self.table
                ),
                &[
                    &prepared.message_id,
                    &prepared.message_type,
                    &prepared.exchange,
                    &prepared.routing_key,
                    &serde_json::Value::Object(properties),
                    &serde_json::Value::Object(headers),
                    &r.body,
                ],
            )
            .await
            .map_err(database(&self.table, "write the event"))?;
        Ok(Staged {
            id: row.get(0),
            message_id: prepared.message_id,
        })
    }
}

fn database(
    table: &str,
    action: &'static str,
) -> impl FnOnce(tokio_postgres::Error) -> OutboxError {
    let table = table.to_owned();
    move |source| OutboxError::Database {
        action,
        table,
        source,
    }
}

/// How a relay works.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows taken per transaction; at most the publisher's confirm window of them are in
    /// flight at once, each later one sent as an earlier one is confirmed.
    pub batch: usize,
    /// Wait between polls while no row is pending.
    pub idle_wait: Duration,
    /// Longest wait before a failed row is tried again (the wait doubles from 1 s).
    pub max_backoff: Duration,
    /// Sent rows are deleted once they were sent longer ago than this.
    pub retention: Duration,
    /// How often [`Relay::run`] deletes old sent rows.
    pub cleanup_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 1000,
            idle_wait: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 24 * 3600),
            cleanup_every: Duration::from_secs(60),
        }
    }
}

/// What one [`Relay::relay_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    /// Rows published, confirmed and marked sent.
    pub sent: usize,
    /// Rows whose publish failed; they wait for their next attempt.
    pub failed: usize,
}

/// Totals of a relay's [`Relay::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Rows published and marked sent.
    pub sent: u64,
    /// Failed publish attempts.
    pub failed: u64,
    /// Sent rows deleted after the retention period.
    pub cleaned: u64,
}

/// Publishes the outbox's pending rows; see the [module docs](self).
pub struct Relay {
    client: Client,
    publisher: Publisher,
    table: String,
    config: RelayConfig,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("table", &self.table)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A pending row.
struct Row {
    id: i64,
    message_id: String,
    message_type: String,
    exchange: String,
    routing_key: String,
    properties: serde_json::Value,
    headers: serde_json::Value,
    body: Vec<u8>,
}

impl Relay {
    /// A relay of `outbox`'s table on its own PostgreSQL connection (libpq-style `postgres`
    /// config), publishing through `publisher`.
    pub async fn connect(
        postgres: &str,
        outbox: &Outbox,
        publisher: Publisher,
        config: RelayConfig,
    ) -> Result<Relay, OutboxError> {
        let client = crate::postgres::connect(postgres, "the outbox relay's")
            .await
            .map_err(database(&outbox.table, "connect to PostgreSQL"))?;
        outbox.migrate(&client).await?;
        Ok(Relay {
            client,
            publisher,
            table: outbox.table.clone(),
            config,
        })
    }

    /// Publishes one batch of due rows; see the [module docs](self).
    pub async fn relay_batch(&mut self) -> Result<Batch, OutboxError> {
        let table = self.table.clone();
        let window = self.publisher.config().confirm_window.max(1);
        let limit = i64::try_from(self.config.batch.max(1)).unwrap_or(i64::MAX);
        let tx = self
            .client
            .transaction()
            .await
            .map_err(database(&table, "begin a relay transaction"))?;
        let rows = tx
            .query(
                &format!(
                    "SELECT id, message_id, message_type, exchange, routing_key, properties, \
                     headers, body FROM {table} WHERE sent_at IS NULL AND next_attempt_at <= now() \
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
                ),
                &[&limit],
            )
            .await
            .map_err(database(&table, "take pending rows"))?;
        let rows: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                id: r.get(0),
                message_id: r.get(1),
                message_type: r.get(2),
                exchange: r.get(3),
                routing_key: r.get(4),
                properties: r.get(5),
                headers: r.get(6),
                body: r.get(7),
            })
            .collect();
        let mut sent = Vec::new();
        let mut failed: Vec<(i64, String)> = Vec::new();
        let mut in_flight: VecDeque<(i64, PendingConfirm)> = VecDeque::new();
        for row in rows {
            // A row the broker may not have seen yet holds a slot of the confirm window.
            if in_flight.len() >= window {
                if let Some((id, pending)) = in_flight.pop_front() {
                    settle(id, pending.confirmed().await, &mut sent, &mut failed);
                }
            }
            let outgoing = crate::wire::outgoing(
                &row.exchange,
                &row.routing_key,
                row.body,
                text_pairs(&row.properties),
                text_pairs(&row.headers),
                &row.message_id,
                &row.message_type,
            );
            let span = tracing::info_span!(
                "publish",
                otel.name = %format_args!("publish {}", row.exchange),
                otel.kind = "producer",
                messaging.system = crate::telemetry::MESSAGING_SYSTEM,
                messaging.operation.type = "send",
                messaging.destination.name = %row.exchange,
                messaging.rabbitmq.destination.routing_key = %row.routing_key,
                messaging.message.id = %row.message_id,
                schemactl.message_type = %row.message_type,
                schemactl.outbox_id = row.id,
            );
            let sending = match outgoing {
                Ok(outgoing) => self.publisher.send_outgoing(outgoing, span).await,
                Err(e) => {
                    failed.push((row.id, format!("the row cannot be sent: {e}")));
                    continue;
                }
            };
            match sending {
                Ok(pending) => in_flight.push_back((row.id, pending)),
                Err(e) => failed.push((row.id, e.to_string())),
            }
        }
        while let Some((id, pending)) = in_flight.pop_front() {
            settle(id, pending.confirmed().await, &mut sent, &mut failed);
        }
        if !sent.is_empty() {
            tx.execute(
                &format!(
                    "UPDATE {table} SET sent_at = now(), attempts = attempts + 1, \
                     last_error = NULL WHERE id = ANY($1)"
                ),
                &[&sent],
            )
            .await
            .map_err(database(&table, "mark rows sent"))?;
        }
        let max_backoff = self.config.max_backoff.as_secs_f64();
        for (id, error) in &failed {
            tracing::warn!(outbox_id = id, error = %error, "outbox row not published; retried after its backoff");
            tx.execute(
                &format!(
                    "UPDATE {table} SET attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = now() + make_interval(secs => least(power(2, attempts), $3)) \
                     WHERE id = $1"
                ),
                &[id, error, &max_backoff],
            )
            .await
            .map_err(database(&table, "record a failed publish"))?;
        }
        tx.commit()
            .await
            .map_err(database(&table, "commit the relay transaction"))?;
        metrics::counter!(crate::telemetry::OUTBOX_RELAYED, "table" => table.clone())
            .increment(sent.len() as u64);
        if !failed.is_empty() {
            metrics::counter!(crate::telemetry::OUTBOX_FAILED, "table" => table)
                .increment(failed.len() as u64);
        }
        Ok(Batch {
            sent: sent.len(),
            failed: failed.len(),
        })
    }

    /// Deletes rows sent longer ago than the retention period; returns how many.
    pub async fn clean_up(&self) -> Result<u64, OutboxError> {
        self.client
            .execute(
                &format!(
                    "DELETE FROM {} WHERE sent_at IS NOT NULL \
                     AND sent_at < now() - make_interval(secs => $1)",
                    self.table
                ),
                &[&self.config.retention.as_secs_f64()],
            )
            .await
            .map_err(database(&self.table, "delete old sent rows"))
    }

    /// Relays until `shutdown` resolves; returns the totals. Fails only when the PostgreSQL
    /// connection is lost (a new relay reconnects); a broker that refuses or is down makes
    /// rows wait for their next attempt.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<RelayStats, OutboxError> {
        tokio::pin!(shutdown);
        let mut stats = RelayStats::default();
        let mut last_cleanup: Option<Instant> = None;
        loop {
            // A batch runs to its commit: stopping inside it would roll back rows already
            // confirmed, and they would be published again.
            if shutdown.as_mut().now_or_never().is_some() {
                return Ok(stats);
            }
            if last_cleanup.is_none_or(|t| t.elapsed() >= self.config.cleanup_every) {
                stats.cleaned += self.clean_up().await?;
                last_cleanup = Some(Instant::now());
            }
            let idle = match self.relay_batch().await {
                Ok(b) => {
                    stats.sent += b.sent as u64;
                    stats.failed += b.failed as u64;
                    b.sent + b.failed == 0
                }
                Err(e) if self.client.is_closed() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay batch failed; trying again");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = &mut shutdown => return Ok(stats),
                    () = tokio::time::sleep(self.config.idle_wait) => {}
                }
            }
        }
    }
}

/// Records the confirm of row `id`.
fn settle(
    id: i64,
    confirmed: Result<crate::Published, PublishError>,
    sent: &mut Vec<i64>,
    failed: &mut Vec<(i64, String)>,
) {
    match confirmed {
        Ok(_) => sent.push(id),
        Err(e) => failed.push((id, e.to_string())),
    }
}

/// The string members of a JSON object, as `(name, value)` pairs.
fn text_pairs(object: &serde_json::Value) -> impl Iterator<Item = (&str, &str)> {
    object
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
}
