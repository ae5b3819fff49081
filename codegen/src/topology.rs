//! The RabbitMQ topology a catalog implies, computed from the model: every declared
//! exchange (and the dead-letter exchange), and per consuming service a durable queue named
//! after the service, bound to exactly the routing keys of the event versions it consumes,
//! with one retry queue per backoff step and a dead-letter queue.

use std::collections::BTreeSet;

use schemactl_runtime::topology::{
    retry_delays, Binding, Exchange, ExchangeKind, Queue, QueueType, RetryQueue, ServiceQueue,
    Topology,
};

use crate::model::Catalog;

/// Name of a service's dead-letter queue.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Name of a service's `n`-th retry queue (1-based).
pub fn retry_queue(queue: &str, n: usize) -> String {
    format!("{queue}.retry.{n}")
}

/// The topology of `catalog`.
pub fn plan(catalog: &Catalog) -> Topology {
    let defaults = &catalog.config.defaults;
    let dlx = defaults.dead_letter_exchange.clone();
    let mut exchanges: Vec<Exchange> = catalog
        .config
        .exchanges
        .iter()
        .map(|(name, e)| Exchange {
            name: name.clone(),
            kind: e.kind,
            durable: e.durable,
        })
        .collect();
    if !catalog.config.exchanges.contains_key(&dlx) {
        exchanges.push(Exchange {
            name: dlx.clone(),
            kind: ExchangeKind::Direct,
            durable: true,
        });
        exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let r = &defaults.retry;
    let delays = retry_delays(
        r.max_attempts,
        r.initial_delay_ms,
        r.max_delay_ms,
        r.multiplier,
    );
    let mut queues = Vec::new();
    let mut bindings = Vec::new();
    let mut services = Vec::new();
    for service in catalog.services.values().filter(|s| !s.consumes.is_empty()) {
        let queue = service.name.clone();
        let dlq = dead_letter_queue(&queue);
        queues.push(Queue {
            name: queue.clone(),
            queue_type: defaults.queue_type,
            // A message the broker itself dead-letters (rejected, over a delivery limit)
            // lands in the same dead-letter queue.
            dead_letter_exchange: Some(dlx.clone()),
            dead_letter_routing_key: Some(queue.clone()),
            message_ttl_ms: None,
        });
        let retry_queues: Vec<RetryQueue> = delays
            .iter()
            .enumerate()
            .map(|(i, delay)| RetryQueue {
                queue: retry_queue(&queue, i + 1),
                delay_ms: *delay,
            })
            .collect();
        for rq in &retry_queues {
            queues.push(Queue {
                name: rq.queue.clone(),
                // Expiry is only dependable on classic queues on every broker version.
                queue_type: QueueType::Classic,
                dead_letter_exchange: Some(String::new()),
                dead_letter_routing_key: Some(queue.clone()),
                message_ttl_ms: Some(rq.delay_ms),
            });
        }
        queues.push(Queue {
            name: dlq.clone(),
            queue_type: defaults.queue_type,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            message_ttl_ms: None,
        });
        bindings.push(Binding {
            exchange: dlx.clone(),
            queue: dlq.clone(),
            routing_key: queue.clone(),
        });
        let mut keys = BTreeSet::new();
        for message_type in &service.consumes {
            if let Some(v) = catalog.version(message_type) {
                keys.insert((v.exchange.clone(), v.routing_key.clone()));
            }
        }
        for (exchange, routing_key) in keys {
            bindings.push(Binding {
                exchange,
                queue: queue.clone(),
                routing_key,
            });
        }
        services.push(ServiceQueue {
            service: service.name.clone(),
            queue,
            retry_queues,
            dead_letter_exchange: dlx.clone(),
            dead_letter_routing_key: service.name.clone(),
            dead_letter_queue: dlq,
            message_types: service.consumes.clone(),
        });
    }
    Topology {
        exchanges,
        queues,
        bindings,
        services,
    }
}
