//! The RabbitMQ topology a catalog implies, computed from the model: every declared
//! exchange (and the dead-letter exchange), and per consuming service a durable queue (named
//! in `catalog.toml`, else after the service) bound to the routing keys of the event versions
//! it consumes and to its subscriptions, with its retry queues (when the broker holds retry
//! delays) and its dead-letter queue, which several services may share.

use std::collections::BTreeSet;

use schemactl_runtime::topology::{
    retry_delays, Binding, Exchange, ExchangeBinding, ExchangeKind, Queue, RetryDelay, RetryQueue,
    ServiceQueue, Topology,
};

use crate::config::QueueType;
use crate::model::{binding_key, reaches, selects, Catalog, Service};

/// Name of a service's dead-letter queue when `catalog.toml` names none.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Name of a service's `n`-th retry queue (1-based).
pub fn retry_queue(queue: &str, n: usize) -> String {
    format!("{queue}.retry.{n}")
}

/// The queue of `service`: named in `catalog.toml`, else after the service.
pub fn service_queue(catalog: &Catalog, service: &str) -> String {
    catalog
        .service(service)
        .and_then(|s| s.queue.clone())
        .unwrap_or_else(|| service.to_owned())
}

/// The topology of `catalog`.
pub fn plan(catalog: &Catalog) -> Topology {
    let defaults = &catalog.config.defaults;
    let dlx = defaults.dead_letter_exchange.clone();
    // A MassTransit exchange of the catalog stands for MassTransit's topology: one fanout
    // exchange per message type, named after it, and none of its own.
    let mut exchanges: Vec<Exchange> = catalog
        .config
        .exchanges
        .iter()
        .filter(|(name, _)| !catalog.config.is_masstransit_exchange(name))
        .map(|(name, e)| Exchange {
            name: name.clone(),
            kind: e.kind,
            durable: e.durable,
        })
        .collect();
    if !catalog.config.exchanges.contains_key(&dlx) {
        push_exchange(&mut exchanges, &dlx, ExchangeKind::Direct);
    }
    for v in catalog.versions().filter(|v| v.is_masstransit()) {
        push_exchange(&mut exchanges, &v.exchange, ExchangeKind::Fanout);
    }
    let mut exchange_bindings: Vec<ExchangeBinding> = Vec::new();
    let r = &defaults.retry;
    let delays = retry_delays(
        r.max_attempts,
        r.initial_delay_ms,
        r.max_delay_ms,
        r.multiplier,
    );
    let mut queues: Vec<Queue> = Vec::new();
    let mut bindings: Vec<Binding> = Vec::new();
    let mut services = Vec::new();
    for service in catalog.services.values().filter(|s| !s.consumes.is_empty()) {
        let config = catalog.service(&service.name);
        let queue = service_queue(catalog, &service.name);
        let queue_type = config
            .and_then(|c| c.queue_type)
            .unwrap_or(defaults.queue_type);
        let masstransit: Vec<&str> = service
            .consumes
            .iter()
            .filter_map(|m| catalog.version(m))
            .filter(|v| v.is_masstransit())
            .map(|v| v.exchange.as_str())
            .collect();
        // A MassTransit receive endpoint: an exchange named after the queue, bound to it,
        // which each consumed message type's exchange is bound to; its faults go to
        // `<queue>_error`, and MassTransit's `<queue>_skipped` is there too.
        let endpoint = !masstransit.is_empty();
        let only_masstransit = masstransit.len() == service.consumes.len();
        if endpoint {
            push_exchange(&mut exchanges, &queue, ExchangeKind::Fanout);
            push_binding(
                &mut bindings,
                Binding {
                    exchange: queue.clone(),
                    queue: queue.clone(),
                    routing_key: String::new(),
                },
            );
            for source in &masstransit {
                let binding = ExchangeBinding {
                    source: (*source).to_owned(),
                    destination: queue.clone(),
                    routing_key: String::new(),
                };
                if !exchange_bindings.contains(&binding) {
                    exchange_bindings.push(binding);
                }
            }
            for suffix in ["_error", "_skipped"] {
                let name = format!("{queue}{suffix}");
                push_exchange(&mut exchanges, &name, ExchangeKind::Fanout);
                push_queue(&mut queues, Queue::new(name.clone(), queue_type));
                push_binding(
                    &mut bindings,
                    Binding {
                        exchange: name.clone(),
                        queue: name,
                        routing_key: String::new(),
                    },
                );
            }
        }
        let (dlx, dlq, dlrk, dl_binding) = if only_masstransit {
            let error = format!("{queue}_error");
            (error.clone(), error, queue.clone(), String::new())
        } else {
            let dlq = config
                .and_then(|c| c.dead_letter_queue.clone())
                .unwrap_or_else(|| dead_letter_queue(&queue));
            let dlrk = config
                .and_then(|c| c.dead_letter_routing_key.clone())
                .unwrap_or_else(|| queue.clone());
            let dl_binding = config
                .and_then(|c| c.dead_letter_binding.clone())
                .unwrap_or_else(|| dlrk.clone());
            (dlx.clone(), dlq, dlrk, dl_binding)
        };
        let arguments = config
            .map(|c| c.queue_arguments.over(&defaults.queue_arguments))
            .unwrap_or_else(|| defaults.queue_arguments.clone());
        push_queue(
            &mut queues,
            Queue {
                // A message the broker itself dead-letters (rejected, expired, over a
                // delivery limit) lands in the same dead-letter queue.
                dead_letter_exchange: Some(dlx.clone()),
                dead_letter_routing_key: Some(dlrk.clone()),
                message_ttl_ms: arguments.message_ttl_ms,
                max_length: arguments.max_length,
                max_length_bytes: arguments.max_length_bytes,
                overflow: arguments.overflow,
                delivery_limit: arguments.delivery_limit,
                ..Queue::new(queue.clone(), queue_type)
            },
        );
        let retry_queues: Vec<RetryQueue> = delays
            .iter()
            .enumerate()
            .map(|(i, delay)| RetryQueue {
                queue: match r.delay {
                    RetryDelay::Queue => retry_queue(&queue, i + 1),
                    RetryDelay::Consumer => queue.clone(),
                },
                delay_ms: *delay,
                delayed_by: r.delay,
            })
            .collect();
        for rq in retry_queues
            .iter()
            .filter(|rq| rq.delayed_by == RetryDelay::Queue)
        {
            push_queue(
                &mut queues,
                Queue {
                    dead_letter_exchange: Some(String::new()),
                    dead_letter_routing_key: Some(queue.clone()),
                    message_ttl_ms: Some(rq.delay_ms),
                    // Expiry is only dependable on classic queues on every broker version.
                    ..Queue::new(rq.queue.clone(), QueueType::Classic)
                },
            );
        }
        if !only_masstransit {
            push_queue(&mut queues, Queue::new(dlq.clone(), queue_type));
            push_binding(
                &mut bindings,
                Binding {
                    exchange: dlx.clone(),
                    queue: dlq.clone(),
                    routing_key: dl_binding,
                },
            );
        }
        for (exchange, routing_key) in service_bindings(catalog, service) {
            push_binding(
                &mut bindings,
                Binding {
                    exchange,
                    queue: queue.clone(),
                    routing_key,
                },
            );
        }
        services.push(ServiceQueue {
            service: service.name.clone(),
            queue,
            retry_queues,
            dead_letter_exchange: dlx,
            dead_letter_routing_key: dlrk,
            dead_letter_queue: dlq,
            message_types: service.consumes.clone(),
        });
    }
    for (name, e) in &catalog.config.exchanges {
        for src in &e.sources {
            let kind = catalog.exchange(&src.exchange).map(|s| s.kind);
            exchange_bindings.push(ExchangeBinding {
                source: src.exchange.clone(),
                destination: name.clone(),
                routing_key: binding_key(src, kind),
            });
        }
    }
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    Topology {
        exchanges,
        queues,
        bindings,
        exchange_bindings,
        services,
    }
}

/// The (exchange, binding key) pairs of a service's queue: its subscriptions, then the
/// routing key of every consumed event version that no subscription already selects.
pub fn service_bindings(catalog: &Catalog, service: &Service) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for sub in &service.subscriptions {
        let pair = (sub.exchange.clone(), sub.binding_key.clone());
        if !out.contains(&pair) {
            out.push(pair);
        }
    }
    let mut keys = BTreeSet::new();
    for message_type in &service.consumes {
        // MassTransit message types reach the queue through its endpoint exchange.
        let Some(v) = catalog
            .version(message_type)
            .filter(|v| !v.is_masstransit())
        else {
            continue;
        };
        let covered = service.subscriptions.iter().any(|s| {
            let kind = catalog.exchange(&s.exchange).map(|e| e.kind);
            reaches(
                &catalog.config,
                &v.catalog_exchange,
                &v.routing_key,
                &s.exchange,
            ) && selects(kind, &s.binding_key, &v.routing_key)
        });
        if !covered {
            keys.insert((v.exchange.clone(), v.routing_key.clone()));
        }
    }
    out.extend(keys);
    out
}

/// The message types of the catalog a binding with `binding_key` on `exchange` of
/// `topology` selects: events published there, or reaching it through exchange-to-exchange
/// bindings (an exchange's `sources`, a MassTransit endpoint).
pub fn selected_by<'c>(
    catalog: &'c Catalog,
    topology: &Topology,
    exchange: &str,
    binding_key: &str,
) -> Vec<&'c str> {
    let kind = |name: &str| {
        topology
            .exchanges
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.kind)
    };
    catalog
        .versions()
        .filter(|v| {
            // Every exchange the message reaches, from the one it is published to.
            let mut reached = vec![v.exchange.as_str()];
            let mut i = 0;
            while let Some(&at) = reached.get(i) {
                for b in &topology.exchange_bindings {
                    if b.source == at
                        && selects(kind(at), &b.routing_key, &v.routing_key)
                        && !reached.contains(&b.destination.as_str())
                    {
                        reached.push(&b.destination);
                    }
                }
                i += 1;
            }
            reached.contains(&exchange) && selects(kind(exchange), binding_key, &v.routing_key)
        })
        .map(|v| v.message_type.as_str())
        .collect()
}

/// Adds `queue` unless a queue of that name is already planned (services may share a
/// dead-letter queue).
fn push_queue(queues: &mut Vec<Queue>, queue: Queue) {
    if !queues.iter().any(|q| q.name == queue.name) {
        queues.push(queue);
    }
}

fn push_exchange(exchanges: &mut Vec<Exchange>, name: &str, kind: ExchangeKind) {
    if !exchanges.iter().any(|e| e.name == name) {
        exchanges.push(Exchange {
            name: name.to_owned(),
            kind,
            durable: true,
        });
    }
}

fn push_binding(bindings: &mut Vec<Binding>, binding: Binding) {
    if !bindings.contains(&binding) {
        bindings.push(binding);
    }
}
