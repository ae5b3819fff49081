//! Admission and handling of one delivery: decode, route, validate, claim, dispatch, settle.

use std::time::{Duration, Instant};

use lapin::message::Delivery;
use lapin::types::AMQPValue;
use tracing::{field, Instrument};

use super::{Counters, Dispatch, Incoming, Shared};
use crate::envelope::DeliveryInfo;
use crate::error::{DispatchError, Rejection};
use crate::idempotency::Claim;
use crate::telemetry;
use crate::topology::RetryDelay;
use crate::trace::{TraceContext, TRACEPARENT_HEADER};
use crate::validate::first_error;
use crate::wire::{self, long, Outgoing};

/// How a delivery is settled once processing is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    /// Handled, duplicate, or safely moved to a retry or dead-letter queue.
    Ack,
    /// Moving it failed: give it back to the queue.
    Requeue,
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

pub(super) async fn process<D: Dispatch>(shared: &Shared<D>, delivery: Delivery) -> Settle {
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
        dialect: String::new(),
        wire_type: String::new(),
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
    async fn run(&self, mut info: DeliveryInfo) -> Settle {
        let span = tracing::Span::current();
        let received = wire::Received {
            properties: &self.delivery.properties,
            exchange: self
                .exchange
                .strip_prefix(self.shared.prefix.as_str())
                .unwrap_or(self.exchange),
            routing_key: self.routing_key,
        };
        let decoded = match wire::decode(&self.delivery.data, received, &self.shared.wire) {
            Ok(decoded) => decoded,
            Err(rejection) => {
                return self
                    .dead_letter(rejection.reason(), &rejection.to_string(), "")
                    .await
            }
        };
        let envelope = decoded.envelope;
        info.dialect = decoded.dialect;
        info.wire_type = decoded.wire_type;
        let message_type = envelope.message_type.clone();
        let message_id = envelope.message_id.clone();
        span.record("messaging.message.id", message_id.as_str());
        span.record("schemactl.message_type", message_type.as_str());
        if let Some(c) = &envelope.correlation_id {
            span.record("messaging.message.conversation_id", c.as_str());
        }
        let Some(validator) = self.shared.validators.get(message_type.as_str()) else {
            let r = Rejection::UnknownMessageType(if info.wire_type == message_type {
                message_type.clone()
            } else {
                format!("{} (dialect {})", info.wire_type, info.dialect)
            });
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
        if step.delayed_by == RetryDelay::Consumer {
            // Hold the delivery for the delay; on shutdown give it back at once, attempt
            // unchanged.
            let mut stopping = self.shared.stopping.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(step.delay_ms)) => {}
                _ = stopping.wait_for(|stop| *stop) => return Settle::Requeue,
            }
        }
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
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
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
    fn long_errors_are_cut_on_a_char_boundary() {
        let text = "é".repeat(3000);
        let cut = truncate(&text);
        assert!(cut.len() <= 4096);
        assert!(text.starts_with(cut));
    }
}
