//! Opening a connection to the broker: bounded in time, logged attempt by attempt, and with an
//! error that says what to fix.
//!
//! A service usually starts before or beside its broker, so the first connection is retried:
//! up to [`ConnectPolicy::attempts`] attempts, each bounded by [`ConnectPolicy::timeout`], with
//! a `warn` line per failed attempt naming the address (without its password), the error and
//! when the next attempt comes. Answers that a retry cannot change end the attempts at once:
//! refused credentials, a virtual host that does not exist, an `amqps://` URL without the
//! `tls` feature.
//!
//! Every attempt is made on a connection that does not recover by itself, so that it fails as
//! soon as the broker answers. A connection that should recover (a publisher's) is opened only
//! once such an attempt has succeeded: lapin retries the socket of a recovering connection on
//! its own schedule (sixteen times over about ten minutes) without a word, which is right
//! for riding out a broker restart and wrong for finding out that the address is wrong.

use std::time::Duration;

use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::{Connection, ConnectionProperties, ErrorKind};

use crate::error::redact_url;

/// How the first connection to the broker is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectPolicy {
    /// Longest wait for one attempt: the TCP connection, TLS and the AMQP handshake.
    pub timeout: Duration,
    /// Attempts before giving up (the first included; at least one is made).
    pub attempts: u32,
    /// Wait before the second attempt; it doubles after each failure.
    pub initial_backoff: Duration,
    /// Upper bound of the wait between attempts.
    pub max_backoff: Duration,
}

impl Default for ConnectPolicy {
    /// Five attempts of at most 10 s each, 0.5 s apart at first: a broker that is still
    /// starting gets about 10 s to come up, and a wrong address fails within a minute.
    fn default() -> Self {
        ConnectPolicy {
            timeout: Duration::from_secs(10),
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl ConnectPolicy {
    /// One attempt under the same timeout (for reconnections, which have their own loop).
    pub fn single(&self) -> ConnectPolicy {
        ConnectPolicy {
            attempts: 1,
            ..self.clone()
        }
    }

    fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Why an attempt to connect failed.
#[derive(Debug, Clone)]
pub enum ConnectFailure {
    /// No answer within [`ConnectPolicy::timeout`].
    TimedOut(Duration),
    /// The URL asks for TLS (`amqps://`) and the runtime was built without the `tls` feature.
    TlsUnavailable,
    /// The client or the broker reported an error.
    Amqp(lapin::Error),
}

impl ConnectFailure {
    /// Whether another attempt could succeed without anything being changed.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectFailure::TimedOut(_) => true,
            ConnectFailure::TlsUnavailable => false,
            ConnectFailure::Amqp(e) => !matches!(
                e.kind(),
                ErrorKind::ProtocolError(amqp) if matches!(
                    amqp.kind(),
                    AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                        | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)
                )
            ),
        }
    }

    /// What to check or change.
    pub fn help(&self) -> &'static str {
        match self {
            ConnectFailure::TimedOut(_) => {
                "the host did not answer in time: check the host and port, and that nothing \
                 between here and the broker drops the connection"
            }
            ConnectFailure::TlsUnavailable => {
                "build schemactl-runtime with the `tls` feature, or use an amqp:// URL"
            }
            ConnectFailure::Amqp(e) => match e.kind() {
                ErrorKind::IOError(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                    "nothing listens at that address: is the broker running, and is the port \
                     its AMQP port (5672, or 5671 with TLS)?"
                }
                ErrorKind::IOError(_) => {
                    "check the host name and port, and for amqps:// the broker's certificate"
                }
                ErrorKind::ProtocolError(amqp) => match amqp.kind() {
                    AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => {
                        "the broker refused the user name or password in the URL"
                    }
                    AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                        "the virtual host in the URL's path does not exist, or the user may not \
                         use it (`rabbitmqctl list_vhosts`, `list_user_permissions`)"
                    }
                    _ => "see the broker's log for the connection",
                },
                _ => "see the broker's log for the connection",
            },
        }
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::TimedOut(after) => write!(f, "no answer within {after:?}"),
            ConnectFailure::TlsUnavailable => {
                f.write_str("amqps:// needs TLS, which this build does not have")
            }
            ConnectFailure::Amqp(e) => write!(f, "{e}"),
        }
    }
}

/// The broker could not be reached or refused the connection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot connect to the broker at {url} ({attempts} attempt(s)): {failure}; {}", failure.help())]
pub struct ConnectError {
    /// The broker URL, without its password.
    pub url: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub failure: ConnectFailure,
}

/// Whether lapin recovers a failed connection by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// lapin reconnects and reopens the channels (publishing: every unconfirmed message is
    /// published again after it).
    Automatic,
    /// A failed connection stays failed and its owner opens a new one (consuming: see
    /// `consumer::session`).
    Manual,
}

/// Opens a connection as [`ConnectPolicy`] says (see the [module docs](self)).
pub(crate) async fn establish(
    url: &str,
    name: Option<&str>,
    recovery: Recovery,
    policy: &ConnectPolicy,
) -> Result<Connection, ConnectError> {
    let address = redact_url(url);
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match open(url, name, recovery, policy.timeout).await {
            Ok(connection) => return Ok(connection),
            Err(failure) => failure,
        };
        if attempt >= attempts || !failure.is_transient() {
            return Err(ConnectError {
                url: address,
                attempts: attempt,
                failure,
            });
        }
        let wait = policy.backoff(attempt);
        tracing::warn!(
            %address,
            attempt,
            of = attempts,
            error = %failure,
            "cannot connect to the broker; next attempt in {wait:?}"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One attempt: a connection that does not recover, and for [`Recovery::Automatic`] the
/// recovering one once the first has answered.
async fn open(
    url: &str,
    name: Option<&str>,
    recovery: Recovery,
    timeout: Duration,
) -> Result<Connection, ConnectFailure> {
    if !cfg!(feature = "tls") && url.trim_start().to_ascii_lowercase().starts_with("amqps:") {
        return Err(ConnectFailure::TlsUnavailable);
    }
    let connect = |recovery| async move {
        let mut properties = ConnectionProperties::default();
        if recovery == Recovery::Automatic {
            properties = properties.enable_auto_recover();
        }
        if let Some(name) = name {
            properties = properties.with_connection_name(name.into());
        }
        match tokio::time::timeout(timeout, Connection::connect(url, properties)).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(ConnectFailure::Amqp(e)),
            Err(_) => Err(ConnectFailure::TimedOut(timeout)),
        }
    };
    let first = connect(Recovery::Manual).await?;
    if recovery == Recovery::Manual {
        return Ok(first);
    }
    let _ = tokio::time::timeout(timeout, first.close(200, "connection checked".into())).await;
    connect(Recovery::Automatic).await
}

/// A recovering connection opened after lapin's recovery of the previous one gave up: one
/// attempt, which waits on lapin's own schedule for a broker that is restarting.
pub(crate) async fn reconnect(url: &str, name: Option<&str>) -> Result<Connection, lapin::Error> {
    let mut properties = ConnectionProperties::default().enable_auto_recover();
    if let Some(name) = name {
        properties = properties.with_connection_name(name.into());
    }
    Connection::connect(url, properties).await
}

/// A connection that does not recover by itself, opened as `policy` says: for tools that
/// declare, verify or inspect a topology and should fail with a clear error rather than wait.
pub async fn connection(
    url: &str,
    name: Option<&str>,
    policy: &ConnectPolicy,
) -> Result<Connection, ConnectError> {
    establish(url, name, Recovery::Manual, policy).await
}
