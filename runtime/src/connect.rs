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
//! The URL may list several broker addresses, the nodes of a cluster, separated by commas
//! (`amqp://u:p@node-1:5672/%2f,amqp://u:p@node-2:5672/%2f`; a comma inside a password is
//! written `%2C`). Each attempt tries them in order and takes the first that answers, and a
//! publisher or consumer that loses its connection later reconnects the same way, so it
//! fails over to another node when its own goes down.
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

/// The broker addresses of a URL that may list several, separated by commas (see the
/// [module docs](self)).
pub fn addresses(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect()
}

/// Why an attempt to connect failed.
#[derive(Debug, Clone)]
pub enum ConnectFailure {
    /// The URL names no broker address.
    NoAddress,
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
            ConnectFailure::NoAddress | ConnectFailure::TlsUnavailable => false,
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
            ConnectFailure::NoAddress => {
                "set AMQP_URL (or the URL passed in) to amqp://user:password@host:port/vhost, \
                 or several such addresses separated by commas"
            }
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
            ConnectFailure::NoAddress => f.write_str("the URL is empty"),
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

/// Opens a connection as [`ConnectPolicy`] says, to the first of `urls`' addresses that
/// answers (see the [module docs](self)).
pub(crate) async fn establish(
    urls: &str,
    name: Option<&str>,
    recovery: Recovery,
    policy: &ConnectPolicy,
) -> Result<Connection, ConnectError> {
    let list = addresses(urls);
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match first_answering(&list, name, recovery, policy.timeout).await {
            Ok(connection) => return Ok(connection),
            Err(failure) => failure,
        };
        if attempt >= attempts || !failure.is_transient() {
            return Err(ConnectError {
                url: redact_url(urls),
                attempts: attempt,
                failure,
            });
        }
        let wait = policy.backoff(attempt);
        tracing::warn!(
            address = %redact_url(urls),
            attempt,
            of = attempts,
            error = %failure,
            "cannot connect to the broker; next attempt in {wait:?}"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One attempt at each address in turn: the first connection made, else the failure to
/// report (a transient one if any address failed transiently, so that a cluster with one
/// node refusing the credentials and another still starting is tried again).
async fn first_answering(
    list: &[&str],
    name: Option<&str>,
    recovery: Recovery,
    timeout: Duration,
) -> Result<Connection, ConnectFailure> {
    let mut failure = ConnectFailure::NoAddress;
    for (i, address) in list.iter().enumerate() {
        match open(address, name, recovery, timeout).await {
            Ok(connection) => {
                if list.len() > 1 {
                    tracing::info!(address = %redact_url(address), "connected to the broker");
                }
                return Ok(connection);
            }
            Err(e) => {
                if i + 1 < list.len() {
                    tracing::warn!(
                        address = %redact_url(address),
                        error = %e,
                        "cannot connect to this broker address; trying the next"
                    );
                }
                if e.is_transient() || !failure.is_transient() {
                    failure = e;
                }
            }
        }
    }
    Err(failure)
}

/// Connection properties: lapin's recovery for [`Recovery::Automatic`], and the name shown in
/// the management UI.
fn properties(recovery: Recovery, name: Option<&str>) -> ConnectionProperties {
    let mut properties = ConnectionProperties::default();
    if recovery == Recovery::Automatic {
        properties = properties.enable_auto_recover();
    }
    if let Some(name) = name {
        properties = properties.with_connection_name(name.into());
    }
    properties
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
        let properties = properties(recovery, name);
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

/// How long closing a channel or a connection waits for the broker's `close-ok`.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes `connection`, waiting at most [`CLOSE_TIMEOUT`] for the broker to answer: a close
/// must never be what keeps a process from exiting. Past the bound the connection is dropped,
/// and the broker, seeing it go, returns every delivery not acknowledged on it. Returns
/// whether the close was answered in time (an error answer counts: the connection is gone).
pub async fn close(connection: &Connection, reason: &str) -> bool {
    tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, reason.into()))
        .await
        .is_ok()
}

/// A recovering connection opened after lapin's recovery of the previous one gave up. With
/// one address: one attempt, which waits on lapin's own schedule for a broker that is
/// restarting. With several: the first of them that answers within `timeout`, so that a
/// publisher whose node went down moves to another node of the cluster.
pub(crate) async fn reconnect(
    urls: &str,
    name: Option<&str>,
    timeout: Duration,
) -> Result<Connection, ConnectFailure> {
    let list = addresses(urls);
    if let [url] = list.as_slice() {
        return Connection::connect(url, properties(Recovery::Automatic, name))
            .await
            .map_err(ConnectFailure::Amqp);
    }
    first_answering(&list, name, Recovery::Automatic, timeout).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_may_list_the_addresses_of_a_cluster() {
        assert_eq!(
            addresses("amqp://u:p@a:5672/%2f, amqp://u:p@b:5672/%2f,"),
            ["amqp://u:p@a:5672/%2f", "amqp://u:p@b:5672/%2f"]
        );
        assert_eq!(addresses("amqp://u:p@a/%2f"), ["amqp://u:p@a/%2f"]);
        assert!(addresses(" , ").is_empty());
        assert_eq!(
            redact_url("amqp://u:secret@a:5672/%2f,amqp://u:secret@b:5672/%2f"),
            "amqp://u:***@a:5672/%2f,amqp://u:***@b:5672/%2f"
        );
    }

    #[tokio::test]
    async fn an_empty_url_is_an_error_that_says_what_to_set() {
        let e = establish("", None, Recovery::Manual, &ConnectPolicy::default())
            .await
            .expect_err("no address");
        assert!(matches!(e.failure, ConnectFailure::NoAddress), "{e}");
        assert_eq!(e.attempts, 1);
        assert!(e.to_string().contains("set AMQP_URL"), "{e}");
    }
}
