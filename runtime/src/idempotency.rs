//! Idempotent consumers: a store of message IDs each consumer has processed, so a message
//! delivered twice (a publisher retry, a redelivery after a lost ack) reaches the handler once.
//!
//! The consumer [claims](IdempotencyStore::claim) a message ID before calling the handler,
//! marks it [completed](IdempotencyStore::complete) after success, and
//! [releases](IdempotencyStore::release) it after a failure so that the retry runs the handler
//! again. A claim expires (`processing_ttl`) so a crashed consumer does not block the message
//! for ever; a completed mark expires after `completed_ttl`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The message is new (or its earlier claim expired): run the handler.
    Acquired,
    /// The message was processed already: acknowledge it without running the handler.
    Duplicate,
    /// Another delivery of the message is being processed right now: try again later.
    InProgress,
}

/// Why the store failed. The consumer treats it like a retryable handler error.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct StoreError(pub String);

/// Where consumers record the message IDs they processed. Keys are scoped by consumer (the
/// queue name), so two services may each process the same message.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `message_id` for `consumer`.
    fn claim<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;
    /// Marks a claimed message as processed.
    fn complete<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Gives up a claim after the handler failed, so a retry can claim it again.
    fn release<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// How long claims and completion marks live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    /// A claim not completed or released within this time lapses.
    pub processing: Duration,
    /// A processed message is remembered this long.
    pub completed: Duration,
}

impl Default for Ttl {
    fn default() -> Self {
        Ttl {
            processing: Duration::from_secs(60),
            completed: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Processing(Instant),
    Completed(Instant),
}

/// An in-process store: right for a single consumer process, forgotten on restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    ttl: Ttl,
    entries: Mutex<HashMap<(String, String), State>>,
}

impl MemoryStore {
    /// A store with the default TTLs.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with the given TTLs.
    pub fn with_ttl(ttl: Ttl) -> Self {
        MemoryStore {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), State>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl IdempotencyStore for MemoryStore {
    fn claim<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let now = Instant::now();
        let mut entries = self.entries();
        let key = (consumer.to_owned(), message_id.to_owned());
        let claim = match entries.get(&key) {
            Some(State::Completed(until)) if *until > now => Claim::Duplicate,
            Some(State::Processing(until)) if *until > now => Claim::InProgress,
            _ => {
                if entries.len() >= 4096 && entries.len().is_power_of_two() {
                    entries.retain(|_, s| match s {
                        State::Processing(t) | State::Completed(t) => *t > now,
                    });
                }
                entries.insert(key, State::Processing(now + self.ttl.processing));
                Claim::Acquired
            }
        };
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn complete<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.entries().insert(
            (consumer.to_owned(), message_id.to_owned()),
            State::Completed(Instant::now() + self.ttl.completed),
        );
        Box::pin(std::future::ready(Ok(())))
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.entries()
            .remove(&(consumer.to_owned(), message_id.to_owned()));
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A store in Redis: `SET key processing NX PX` claims, shared by every consumer process.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisStore {
    connection: redis::aio::MultiplexedConnection,
    prefix: String,
    ttl: Ttl,
}

#[cfg(feature = "redis")]
impl RedisStore {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`); keys are
    /// `<prefix><consumer>:<message id>`.
    pub async fn connect(url: &str, prefix: &str, ttl: Ttl) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError(e.to_string()))?;
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| StoreError(format!("cannot connect to {url}: {e}")))?;
        Ok(RedisStore {
            connection,
            prefix: prefix.to_owned(),
            ttl,
        })
    }

    fn key(&self, consumer: &str, message_id: &str) -> String {
        format!("{}{consumer}:{message_id}", self.prefix)
    }
}

#[cfg(feature = "redis")]
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(feature = "redis")]
impl IdempotencyStore for RedisStore {
    fn claim<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let key = self.key(consumer, message_id);
            let mut con = self.connection.clone();
            let err = |e: redis::RedisError| StoreError(e.to_string());
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg("processing")
                .arg("NX")
                .arg("PX")
                .arg(millis(self.ttl.processing))
                .query_async(&mut con)
                .await
                .map_err(err)?;
            if set.is_some() {
                return Ok(Claim::Acquired);
            }
            let state: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut con)
                .await
                .map_err(err)?;
            Ok(match state.as_deref() {
                Some("completed") => Claim::Duplicate,
                // Lapsed between SET and GET: the next delivery claims it.
                _ => Claim::InProgress,
            })
        })
    }

    fn complete<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            redis::cmd("SET")
                .arg(self.key(consumer, message_id))
                .arg("completed")
                .arg("PX")
                .arg(millis(self.ttl.completed))
                .query_async::<()>(&mut con)
                .await
                .map_err(|e| StoreError(e.to_string()))
        })
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            redis::cmd("DEL")
                .arg(self.key(consumer, message_id))
                .query_async::<()>(&mut con)
                .await
                .map_err(|e| StoreError(e.to_string()))
        })
    }
}

/// A store in a PostgreSQL table (created if missing), shared by every consumer process.
#[cfg(feature = "postgres")]
pub struct PostgresStore {
    client: tokio_postgres::Client,
    table: String,
    ttl: Ttl,
}

#[cfg(feature = "postgres")]
impl PostgresStore {
    /// Connects with a libpq-style `config` (`host=127.0.0.1 user=postgres dbname=test`) and
    /// creates `table` (an SQL identifier: letters, digits, `_`) when it does not exist.
    pub async fn connect(config: &str, table: &str, ttl: Ttl) -> Result<Self, StoreError> {
        let table = crate::postgres::identifier(table).map_err(StoreError)?;
        let client = crate::postgres::connect(config, "the idempotency store's")
            .await
            .map_err(|e| StoreError(format!("cannot connect to PostgreSQL: {e}")))?;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    consumer text NOT NULL,
                    message_id text NOT NULL,
                    completed boolean NOT NULL,
                    expires_at timestamptz NOT NULL,
                    PRIMARY KEY (consumer, message_id)
                )"
            ))
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(PostgresStore {
            client,
            table: table.to_owned(),
            ttl,
        })
    }

    /// Deletes the table (for tests and teardown).
    pub async fn drop_table(&self) -> Result<(), StoreError> {
        self.client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            .await
            .map_err(|e| StoreError(e.to_string()))
    }
}

#[cfg(feature = "postgres")]
fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(feature = "postgres")]
impl IdempotencyStore for PostgresStore {
    fn claim<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let err = |e: tokio_postgres::Error| StoreError(e.to_string());
            // Insert a claim, or take over a lapsed one; RETURNING yields a row only then.
            let claimed = self
                .client
                .query_opt(
                    &format!(
                        "INSERT INTO {t} (consumer, message_id, completed, expires_at)
                         VALUES ($1, $2, false, now() + make_interval(secs => $3))
                         ON CONFLICT (consumer, message_id) DO UPDATE
                           SET completed = false, expires_at = EXCLUDED.expires_at
                           WHERE {t}.expires_at < now()
                         RETURNING 1",
                        t = self.table
                    ),
                    &[&consumer, &message_id, &seconds(self.ttl.processing)],
                )
                .await
                .map_err(err)?;
            if claimed.is_some() {
                return Ok(Claim::Acquired);
            }
            let row = self
                .client
                .query_opt(
                    &format!(
                        "SELECT completed FROM {} WHERE consumer = $1 AND message_id = $2",
                        self.table
                    ),
                    &[&consumer, &message_id],
                )
                .await
                .map_err(err)?;
            Ok(match row.map(|r| r.get::<_, bool>(0)) {
                Some(true) => Claim::Duplicate,
                _ => Claim::InProgress,
            })
        })
    }

    fn complete<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .execute(
                    &format!(
                        "UPDATE {} SET completed = true, expires_at = now() + make_interval(secs => $3)
                         WHERE consumer = $1 AND message_id = $2",
                        self.table
                    ),
                    &[&consumer, &message_id, &seconds(self.ttl.completed)],
                )
                .await
                .map(drop)
                .map_err(|e| StoreError(e.to_string()))
        })
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .execute(
                    &format!(
                        "DELETE FROM {} WHERE consumer = $1 AND message_id = $2 AND NOT completed",
                        self.table
                    ),
                    &[&consumer, &message_id],
                )
                .await
                .map(drop)
                .map_err(|e| StoreError(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_claims_once_and_releases() {
        let store = MemoryStore::new();
        assert_eq!(store.claim("q", "m1").await.unwrap(), Claim::Acquired);
        assert_eq!(store.claim("q", "m1").await.unwrap(), Claim::InProgress);
        assert_eq!(store.claim("other", "m1").await.unwrap(), Claim::Acquired);
        store.release("q", "m1").await.unwrap();
        assert_eq!(store.claim("q", "m1").await.unwrap(), Claim::Acquired);
        store.complete("q", "m1").await.unwrap();
        assert_eq!(store.claim("q", "m1").await.unwrap(), Claim::Duplicate);
    }

    #[tokio::test]
    async fn lapsed_claims_can_be_taken_over() {
        let store = MemoryStore::with_ttl(Ttl {
            processing: Duration::ZERO,
            completed: Duration::from_secs(60),
        });
        assert_eq!(store.claim("q", "m").await.unwrap(), Claim::Acquired);
        assert_eq!(store.claim("q", "m").await.unwrap(), Claim::Acquired);
    }
}
