//! Metric names (through the `metrics` facade) and span fields (through `tracing`, named
//! after the OpenTelemetry messaging semantic conventions).
//!
//! Counters carry the labels `exchange` / `queue` and `message_type`; dead letters also
//! carry `reason`. Install any `metrics` recorder (Prometheus, StatsD, …) to collect them.

/// Counter: messages confirmed by the broker.
pub const PUBLISHED: &str = "schemactl_messages_published_total";
/// Counter: publishes that ended in an error (unroutable, nacked, broker failure).
pub const PUBLISH_FAILED: &str = "schemactl_messages_publish_failed_total";
/// Counter: messages a handler processed successfully.
pub const CONSUMED: &str = "schemactl_messages_consumed_total";
/// Counter: messages sent to a retry queue.
pub const RETRIED: &str = "schemactl_messages_retried_total";
/// Counter: messages sent to the dead-letter queue.
pub const DEAD_LETTERED: &str = "schemactl_messages_dead_lettered_total";
/// Counter: deliveries skipped as duplicates by the idempotency store.
pub const DUPLICATES: &str = "schemactl_messages_duplicate_total";
/// Histogram: seconds from `basic.publish` to the broker's confirm.
pub const CONFIRM_LATENCY: &str = "schemactl_publish_confirm_seconds";
/// Gauge: 1 while the broker blocks a publisher's connection (a memory or disk alarm), else 0.
pub const PUBLISHER_BLOCKED: &str = "schemactl_publisher_blocked";
/// Gauge: messages in a service's dead-letter queue (labels `service`, `queue`), set by
/// [`dlq::depths`](crate::dlq::depths).
pub const DEAD_LETTER_DEPTH: &str = "schemactl_dead_letter_queue_messages";
/// Counter: outbox rows a relay published and marked sent (label `table`).
pub const OUTBOX_RELAYED: &str = "schemactl_outbox_relayed_total";
/// Counter: outbox rows whose publish failed and wait for their next attempt (label `table`).
pub const OUTBOX_FAILED: &str = "schemactl_outbox_failed_total";
/// Histogram: seconds a handler took.
pub const HANDLER_LATENCY: &str = "schemactl_handler_seconds";

/// `messaging.system` of every span.
pub const MESSAGING_SYSTEM: &str = "rabbitmq";
