//! Errors of publishing and consuming, and the outcomes a handler can report.

use std::fmt;

/// Why a delivered message is dead-lettered without reaching a handler. Each is final: the
/// message cannot succeed on a retry, so it goes to the dead-letter queue at once with
/// [`Rejection::reason`] in the `x-schemactl-reason` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The body is not a well-formed envelope of any profile.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message does not fit the dialect it was read in.
    #[error("malformed message: read as dialect `{dialect}`, `{field}` {problem}")]
    Dialect {
        /// The dialect it was read in (the exchange's, or the one its content type names).
        dialect: String,
        /// The field, header or property that is missing or wrong.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The queue's service does not subscribe to the message type.
    #[error("unknown message type `{0}`: the consuming service does not subscribe to it")]
    UnknownMessageType(String),
    /// The payload does not validate against the event's schema.
    #[error("{message_type} payload is invalid at `{pointer}`: {message}")]
    SchemaInvalid {
        /// The message type.
        message_type: String,
        /// JSON pointer into the payload.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// The payload does not deserialize into the generated type.
    #[error("{message_type} payload does not deserialize: {message}")]
    Undecodable {
        /// The message type.
        message_type: String,
        /// The deserializer's error.
        message: String,
    },
}

impl Rejection {
    /// The `x-schemactl-reason` header value.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) | Rejection::Dialect { .. } => "malformed",
            Rejection::UnknownMessageType(_) => "unknown-message-type",
            Rejection::SchemaInvalid { .. } => "schema-invalid",
            Rejection::Undecodable { .. } => "undecodable",
        }
    }
}

/// What a handler returns when it cannot process a message.
///
/// ```
/// use schemactl_runtime::HandlerError;
///
/// // Worth another attempt (a timeout, a lock): retried with backoff, then dead-lettered.
/// let later = HandlerError::retryable("the ledger did not answer in 5 s");
/// // Will never succeed (a business rule): dead-lettered at once.
/// let never = HandlerError::permanent("invoice already paid");
/// assert!(later.is_retryable() && !never.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    retryable: bool,
    message: String,
}

impl HandlerError {
    /// A transient failure (a database timeout, a downstream 503): the message is retried
    /// with backoff through the queue's retry queues, then dead-lettered.
    pub fn retryable(error: impl fmt::Display) -> Self {
        HandlerError {
            retryable: true,
            message: error.to_string(),
        }
    }

    /// A failure a retry cannot fix (a business rule rejects the event): the message is
    /// dead-lettered at once.
    pub fn permanent(error: impl fmt::Display) -> Self {
        HandlerError {
            retryable: false,
            message: error.to_string(),
        }
    }

    /// Whether the message should be retried.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The error text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable {
            "retryable"
        } else {
            "permanent"
        };
        write!(f, "{kind} handler error: {}", self.message)
    }
}

impl std::error::Error for HandlerError {}

/// The outcome of dispatching a message that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The message was rejected before a handler saw it.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The handler failed.
    #[error(transparent)]
    Handler(#[from] HandlerError),
}

/// Why a publish failed; [`PublishError::kind`] tells which way. Boxed, so a `Result` of it
/// stays small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PublishError(Box<PublishErrorKind>);

impl PublishError {
    /// What went wrong.
    pub fn kind(&self) -> &PublishErrorKind {
        &self.0
    }
}

impl From<PublishErrorKind> for PublishError {
    fn from(kind: PublishErrorKind) -> Self {
        PublishError(Box::new(kind))
    }
}

/// The ways a publish fails. Every variant names the message and where it was going.
#[derive(Debug, thiserror::Error)]
pub enum PublishErrorKind {
    /// The connection to the broker could not be opened.
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    /// The payload fails its schema (publish-side validation).
    #[error("{message_type} payload is invalid at `{pointer}`: {message}; fix the payload or the schema")]
    Invalid {
        /// The message type.
        message_type: String,
        /// JSON pointer into the payload.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// The envelope cannot be encoded.
    #[error("cannot encode {message_type}: {source}")]
    Encode {
        /// The message type.
        message_type: String,
        /// The encoder error.
        source: crate::wire::EncodeError,
    },
    /// The broker routed the message to no queue (`mandatory` publish returned).
    #[error("{message_type} {message_id} is unroutable: no queue is bound to exchange `{exchange}` with routing key `{routing_key}` ({reply_code} {reply_text})")]
    Unroutable {
        /// The message type.
        message_type: String,
        /// The message ID.
        message_id: String,
        /// Exchange.
        exchange: String,
        /// Routing key.
        routing_key: String,
        /// AMQP reply code (312 NO_ROUTE).
        reply_code: u16,
        /// AMQP reply text.
        reply_text: String,
    },
    /// The broker refused the message (`basic.nack`) at every attempt.
    #[error("the broker nacked {message_type} {message_id} on exchange `{exchange}` with routing key `{routing_key}` ({attempts} attempt(s))")]
    Nacked {
        /// The message type.
        message_type: String,
        /// The message ID.
        message_id: String,
        /// Exchange.
        exchange: String,
        /// Routing key.
        routing_key: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The publisher was closed.
    #[error("the publisher is closed")]
    Closed,
    /// The publish kept failing on the connection or channel.
    #[error("publishing {message_type} {message_id} to exchange `{exchange}` with routing key `{routing_key}` failed after {attempts} attempt(s): {source}")]
    Broker {
        /// The message type.
        message_type: String,
        /// The message ID.
        message_id: String,
        /// Exchange.
        exchange: String,
        /// Routing key.
        routing_key: String,
        /// Attempts made.
        attempts: u32,
        /// The last client error.
        source: lapin::Error,
    },
    /// Neither the publish nor its confirm completed within the confirm timeout, over every
    /// attempt.
    #[error("publishing {message_type} {message_id} to exchange `{exchange}` with routing key `{routing_key}` stalled: no confirm after {attempts} attempt(s) of {timeout:?} each")]
    Stalled {
        /// The message type.
        message_type: String,
        /// The message ID.
        message_id: String,
        /// Exchange.
        exchange: String,
        /// Routing key.
        routing_key: String,
        /// Attempts made.
        attempts: u32,
        /// The wait per attempt.
        timeout: std::time::Duration,
    },
    /// The broker blocked publishing on the connection (a memory or disk alarm,
    /// `connection.blocked`) for longer than `blocked_timeout`.
    #[error("publishing {message_type} to exchange `{exchange}`: the broker has blocked publishing ({reason}) for more than {waited:?}; {}\n  help: free memory or disk on the broker (`rabbitmqctl status` shows its alarms), then send again", blocked_outcome(.sent))]
    Blocked {
        /// The message type.
        message_type: String,
        /// Exchange.
        exchange: String,
        /// The reason the broker gave.
        reason: String,
        /// How long it waited for the broker to unblock.
        waited: std::time::Duration,
        /// Whether the message had been handed to the broker before it blocked (it may still
        /// arrive once the broker unblocks; sending it again may duplicate it, which consumers
        /// deduplicate by message ID) or nothing was sent.
        sent: bool,
    },
}

fn blocked_outcome(sent: &bool) -> &'static str {
    if *sent {
        "the message was sent before the block and is unconfirmed (it may still arrive once the broker unblocks)"
    } else {
        "nothing was sent"
    }
}

impl PublishError {
    /// Whether the message may succeed if published again later (the broker or connection
    /// failed), as opposed to a message the broker will never accept as it is.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            PublishErrorKind::Broker { .. }
                | PublishErrorKind::Nacked { .. }
                | PublishErrorKind::Stalled { .. }
                | PublishErrorKind::Blocked { .. }
        )
    }
}

/// Why a consumer could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The connection to the broker could not be opened.
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    /// The topology has no queue for the dispatcher's service.
    #[error("the topology has no queue for service `{0}`: is it a consumer of any event in the catalog?")]
    UnknownService(String),
    /// The broker cancelled the consumer (its queue was deleted, say).
    #[error("the broker cancelled the consumer of `{0}`: was the queue deleted?")]
    Cancelled(String),
    /// The topology could not be declared.
    #[error(transparent)]
    Declare(#[from] crate::topology::DeclareError),
    /// An AMQP operation failed.
    #[error("{operation}: {source}")]
    Amqp {
        /// What was being done.
        operation: String,
        /// The client error.
        source: lapin::Error,
    },
    /// An event schema of the dispatcher does not compile.
    #[error("the schema of {message_type} does not compile: {message}")]
    Schema {
        /// The message type.
        message_type: String,
        /// The validator's error.
        message: String,
    },
    /// The consumer task panicked or was aborted.
    #[error("the consumer task ended abnormally: {0}")]
    Task(String),
}

impl ConsumeError {
    pub(crate) fn amqp(operation: impl Into<String>) -> impl FnOnce(lapin::Error) -> Self {
        let operation = operation.into();
        move |source| ConsumeError::Amqp { operation, source }
    }
}

/// `url` with any password replaced by `***`, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        let redacted: Vec<String> = url.split(',').map(redact_url).collect();
        return redacted.join(",");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
