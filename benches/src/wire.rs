//! `cargo run --release -p schemactl-bench --bin bench-wire -- [--messages 200000] [--runs 7]
//! [--dialects standard,collector,orchestration,cloudevents-binary,cloudevents-structured]`
//!
//! The consumer's CPU work per delivery in each dialect, without a broker: `wire::decode` of
//! the message the typed publisher sends (`TaskCreated.v1`, 512-byte payload), then the typed
//! payload deserialized, as the consumer does before it dispatches. Each run times every
//! dialect once, in an order that rotates between runs; a dialect's figure is the median of
//! its runs' nanoseconds per message, and its ratio to the standard dialect is the median of
//! the per-run ratios (when `standard` is among the dialects), so the machine's drift
//! between runs cancels. Under `valgrind --tool=callgrind`, two runs of one dialect with
//! different `--messages` give its instructions per message, a count that does not depend
//! on what else the machine is doing.

use std::hint::black_box;
use std::time::Instant;

use schemactl_bench::median_f64;
use schemactl_bench::task::{bench_wire, payload, typed_message, BoxError};
use schemactl_catalog::orchestration::TaskCreatedV1;
use schemactl_runtime::wire::{self, Outgoing, Received};
use schemactl_runtime::{Event, Wire};

const DEFAULT_DIALECTS: &str =
    "standard,collector,orchestration,cloudevents-binary,cloudevents-structured";

struct Case {
    dialect: String,
    wire: std::sync::Arc<Wire>,
    message: Outgoing,
}

impl Case {
    fn new(dialect: &str) -> Result<Case, BoxError> {
        Ok(Case {
            dialect: dialect.to_owned(),
            wire: bench_wire(Some(dialect))?,
            message: typed_message(&payload(), "", Some(dialect)),
        })
    }

    /// Reads the message as the consumer does; the typed payload is returned.
    fn read(&self) -> TaskCreatedV1 {
        let received = Received {
            properties: &self.message.properties,
            exchange: TaskCreatedV1::EXCHANGE,
            routing_key: TaskCreatedV1::ROUTING_KEY,
        };
        let decoded = wire::decode(&self.message.body, received, &self.wire)
            .unwrap_or_else(|e| panic!("dialect {}: {e}", self.dialect));
        assert_eq!(decoded.envelope.message_type, TaskCreatedV1::MESSAGE_TYPE);
        serde_json::from_str(decoded.envelope.payload.get()).expect("the payload deserializes")
    }

    /// Nanoseconds per message over `messages` reads.
    fn time(&self, messages: usize) -> f64 {
        let started = Instant::now();
        for _ in 0..messages {
            black_box(self.read());
        }
        started.elapsed().as_nanos() as f64 / messages as f64
    }
}

fn main() -> Result<(), BoxError> {
    let mut messages = 200_000;
    let mut runs = 7;
    let mut dialects = DEFAULT_DIALECTS.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--messages" => messages = value.parse::<usize>()?.max(1),
            "--runs" => runs = value.parse::<usize>()?.max(1),
            "--dialects" => dialects = value,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let names: Vec<&str> = dialects.split(',').collect();
    let standard = names.iter().position(|n| *n == "standard");
    let cases = names
        .iter()
        .map(|name| Case::new(name))
        .collect::<Result<Vec<_>, _>>()?;
    // Warm up caches and the allocator once per dialect.
    for case in &cases {
        case.time(messages / 10 + 1);
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for run in 0..runs {
        for k in 0..cases.len() {
            let i = (k + run) % cases.len();
            ns[i].push(cases[i].time(messages));
        }
    }
    println!(
        "{messages} reads per dialect and run, {runs} runs (decode + typed payload, no broker)\n"
    );
    println!("| dialect | body bytes | ns per message (median) | vs standard |");
    println!("|---|---:|---:|---:|");
    for (i, case) in cases.iter().enumerate() {
        let relative = standard.map_or("—".to_owned(), |s| {
            let ratios = ns[i].iter().zip(&ns[s]).map(|(d, s)| d / s).collect();
            format!(
                "{:+.1} %",
                (median_f64(ratios).unwrap_or(0.0) - 1.0) * 100.0
            )
        });
        println!(
            "| {} | {} | {:.0} | {relative} |",
            case.dialect,
            case.message.body.len(),
            median_f64(ns[i].clone()).unwrap_or(0.0),
        );
    }
    Ok(())
}
