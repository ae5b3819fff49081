//! `cargo run --release -p schemactl-bench --bin bench-amqp -- [--messages 20000] [--window 256]
//! [--prefetch 256] [--runs 3] [--only typed-publish,raw-publish,…]
//! [--dialects standard,collector,orchestration,cloudevents-binary,…]`
//!
//! With `--dialects`, the same event travels in each named dialect (its exchange's dialect is
//! swapped for the named one in the publisher's and the consumer's wire). Every run measures
//! every dialect, in an order that rotates between runs, and a last table compares each
//! dialect's typed/raw ratios with the standard one's of the same run (median over runs).
//!
//! The runtime against raw lapin on the broker at `AMQP_URL`, in one run, with persistent
//! messages whose event payload is 512 bytes of JSON (`TaskCreated.v1` of the reference
//! catalog, published to both its quorum queues):
//! - publish: the generated typed publisher (envelope + confirms window) vs raw lapin
//!   `basic_publish` of a body of the same size with the same confirm window, and the typed
//!   publisher awaiting each confirm before the next publish, for scale;
//! - consume: the generated `dashboard` consumer (JSON decode + dispatch by message type +
//!   batched acks) vs a raw lapin consumer acking in batches with `multiple`, at the same
//!   prefetch, each draining a queue filled with the same messages.
//!
//! Each case runs in a child process of its own, so its peak resident memory (VmHWM) is its
//! own. The order of the cases alternates between runs; msg/s is the median run, and each
//! ratio is the median over runs of that run's case against that run's baseline.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use schemactl_bench::median_f64;
use schemactl_bench::task::{bench_wire, payload, typed_message, BoxError, PAYLOAD_BYTES};
use schemactl_catalog::consumers::Dashboard;
use schemactl_catalog::orchestration::TaskCreatedV1;
use schemactl_catalog::producers::OrchestrationServicePublisher;
use schemactl_runtime::{
    ConsumerConfig, Event, EventHandler, HandlerError, PublishContext, Publisher, Received,
    Topology,
};
use tokio::sync::Notify;

#[derive(Clone)]
struct Args {
    messages: usize,
    window: usize,
    prefetch: u16,
    runs: usize,
    /// Run only these cases (all when empty).
    only: Vec<String>,
    /// The dialect the event travels in (its own when `None`).
    dialect: Option<String>,
    /// Dialects to measure in turn (the event's own when empty).
    dialects: Vec<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> (Args, Option<(String, String)>) {
    let mut args = Args {
        messages: 20_000,
        window: 256,
        prefetch: 256,
        runs: 3,
        only: Vec::new(),
        dialect: None,
        dialects: Vec::new(),
    };
    let mut case = None;
    while let Some(a) = it.next() {
        let value = it.next().unwrap_or_default();
        let number = |v: &str| {
            v.parse::<usize>().unwrap_or_else(|_| {
                eprintln!("{a} takes a number, not {v:?}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--messages" => args.messages = number(&value).max(1),
            "--window" => args.window = number(&value).max(1),
            "--prefetch" => args.prefetch = number(&value).clamp(1, 65_535) as u16,
            "--runs" => args.runs = number(&value).max(1),
            "--only" => args.only = value.split(',').map(str::to_owned).collect(),
            "--dialects" => args.dialects = value.split(',').map(str::to_owned).collect(),
            "--dialect" => args.dialect = Some(value),
            // Internal: run one case in this process under the given name prefix.
            "--case" => {
                let prefix = it.next().unwrap_or_default();
                case = Some((value, prefix));
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    (args, case)
}

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// What a case reports to the parent, one line of `key=value` pairs.
#[derive(Debug, Default, Clone)]
struct Report {
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    body_bytes: usize,
    peak_rss_kb: u64,
    /// User + system CPU time of the case's process.
    cpu_seconds: f64,
}

impl Report {
    fn line(&self) -> String {
        format!(
            "seconds={} p50_ms={} p99_ms={} body_bytes={} peak_rss_kb={} cpu_seconds={}",
            self.seconds,
            self.p50_ms,
            self.p99_ms,
            self.body_bytes,
            self.peak_rss_kb,
            self.cpu_seconds
        )
    }

    fn parse(line: &str) -> Option<Report> {
        let mut r = Report::default();
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=')?;
            match k {
                "seconds" => r.seconds = v.parse().ok()?,
                "p50_ms" => r.p50_ms = v.parse().ok()?,
                "p99_ms" => r.p99_ms = v.parse().ok()?,
                "body_bytes" => r.body_bytes = v.parse().ok()?,
                "peak_rss_kb" => r.peak_rss_kb = v.parse().ok()?,
                "cpu_seconds" => r.cpu_seconds = v.parse().ok()?,
                _ => return None,
            }
        }
        Some(r)
    }
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, in clock ticks of
/// 10 ms).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn latencies(mut v: Vec<Duration>, seconds: f64, body_bytes: usize) -> Report {
    v.sort();
    Report {
        seconds,
        p50_ms: percentile(&v, 0.5),
        p99_ms: percentile(&v, 0.99),
        body_bytes,
        peak_rss_kb: 0,
        cpu_seconds: 0.0,
    }
}

async fn typed_publisher(
    args: &Args,
    prefix: &str,
) -> Result<OrchestrationServicePublisher, BoxError> {
    let config = schemactl_runtime::PublisherConfig {
        prefix: prefix.to_owned(),
        validate: false,
        wire: bench_wire(args.dialect.as_deref())?,
        ..schemactl_catalog::publisher_config()
    };
    Ok(OrchestrationServicePublisher::new(
        Publisher::connect(&amqp_url(), config).await?,
    ))
}

/// The typed publisher, keeping `window` confirms in flight.
async fn typed_publish(args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let publisher = typed_publisher(args, prefix).await?;
    let task = payload();
    let ctx = PublishContext::new();
    let mut confirms = FuturesUnordered::new();
    let mut latency = Vec::with_capacity(args.messages);
    let started = Instant::now();
    for _ in 0..args.messages {
        if confirms.len() >= args.window {
            let p: schemactl_runtime::Published = confirms.next().await.expect("pending")?;
            latency.push(p.latency);
        }
        let pending = publisher.send_task_created_v1(&task, &ctx).await?;
        confirms.push(pending.confirmed());
    }
    while let Some(p) = confirms.next().await {
        latency.push(p?.latency);
    }
    let seconds = started.elapsed().as_secs_f64();
    publisher.publisher().close().await;
    Ok(latencies(
        latency,
        seconds,
        typed_message(&task, prefix, args.dialect.as_deref())
            .body
            .len(),
    ))
}

/// The typed publisher awaiting each confirm before the next publish.
async fn typed_publish_each(args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let publisher = typed_publisher(args, prefix).await?;
    let task = payload();
    let ctx = PublishContext::new();
    let mut latency = Vec::with_capacity(args.messages);
    let started = Instant::now();
    for _ in 0..args.messages {
        latency.push(publisher.task_created_v1(&task, &ctx).await?.latency);
    }
    let seconds = started.elapsed().as_secs_f64();
    publisher.publisher().close().await;
    Ok(latencies(
        latency,
        seconds,
        typed_message(&task, prefix, args.dialect.as_deref())
            .body
            .len(),
    ))
}

/// Raw lapin: a confirm channel, persistent `basic_publish` of the typed publisher's message
/// (same body, properties and headers), `window` confirms in flight.
async fn raw_publish(args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let message = typed_message(&payload(), prefix, args.dialect.as_deref());
    let body = message.body;
    let properties = message.properties;
    let exchange = message.exchange;
    let mut confirms = FuturesUnordered::new();
    let mut latency = Vec::with_capacity(args.messages);
    let started = Instant::now();
    for _ in 0..args.messages {
        if confirms.len() >= args.window {
            let (at, confirm): (Instant, lapin::Confirmation) =
                confirms.next().await.expect("pending")?;
            assert!(confirm.is_ack(), "broker nack");
            latency.push(at.elapsed());
        }
        let sent = Instant::now();
        let confirm = channel
            .basic_publish(
                exchange.clone(),
                message.routing_key.clone(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &body,
                properties.clone(),
            )
            .await?;
        confirms.push(async move { confirm.await.map(|c| (sent, c)) });
    }
    while let Some(r) = confirms.next().await {
        let (at, confirm) = r?;
        assert!(confirm.is_ack(), "broker nack");
        latency.push(at.elapsed());
    }
    let seconds = started.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(latencies(latency, seconds, body.len()))
}

/// Counts deliveries and wakes the case when the last one is handled.
struct Count {
    seen: AtomicU64,
    target: u64,
    done: Arc<Notify>,
}

impl EventHandler for Count {
    async fn handle<E: Event>(&self, _message: Received<E>) -> Result<(), HandlerError> {
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            self.done.notify_one();
        }
        Ok(())
    }
}

/// The generated `dashboard` consumer draining its queue.
async fn typed_consume(args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let done = Arc::new(Notify::new());
    let handler = Count {
        seen: AtomicU64::new(0),
        target: args.messages as u64,
        done: done.clone(),
    };
    let started = Instant::now();
    let consumer = schemactl_runtime::consumer::start(
        &amqp_url(),
        &schemactl_catalog::topology::catalog(),
        bench_wire(args.dialect.as_deref())?,
        Dashboard::new(schemactl_runtime::Uniform(handler)),
        ConsumerConfig {
            prefix: prefix.to_owned(),
            prefetch: args.prefetch,
            validate: false,
            declare: false,
            ..ConsumerConfig::default()
        },
    )
    .await?;
    // Bounded: a message the consumer dead-letters never arrives.
    if tokio::time::timeout(Duration::from_secs(300), done.notified())
        .await
        .is_err()
    {
        return Err(format!(
            "consumed {:?} of {} within 300 s",
            consumer.stats(),
            args.messages
        )
        .into());
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = consumer.shutdown().await?;
    assert_eq!(stats.handled, args.messages as u64);
    Ok(latencies(Vec::new(), seconds, 0))
}

/// Raw lapin draining the same queue: acks with `multiple` every `prefetch / 2` deliveries.
async fn raw_consume(args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let started = Instant::now();
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    let queue = format!("{prefix}{}", schemactl_catalog::queues::DASHBOARD);
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let batch = (args.prefetch as usize / 2).max(1);
    let mut unacked = 0;
    for n in 1..=args.messages {
        let delivery = consumer.next().await.expect("consumer open")?;
        unacked += 1;
        if unacked == batch || n == args.messages {
            delivery.ack(BasicAckOptions { multiple: true }).await?;
            unacked = 0;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(latencies(Vec::new(), seconds, 0))
}

/// Declares the catalog's topology under `prefix` (parent) or deletes it.
async fn with_topology<T>(
    prefix: &str,
    f: impl AsyncFnOnce(&lapin::Channel, &Topology) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .map_err(|e| {
            format!(
                "cannot reach RabbitMQ at {}: {e}; start it or set AMQP_URL",
                amqp_url()
            )
        })?;
    let channel = connection.create_channel().await?;
    let topology = schemactl_catalog::topology::catalog().with_prefix(prefix);
    let result = f(&channel, &topology).await;
    connection.close(200, "done".into()).await?;
    result
}

async fn purge(channel: &lapin::Channel, topology: &Topology) -> Result<(), BoxError> {
    for service in TaskCreatedV1::CONSUMERS {
        if let Some(q) = topology.services.iter().find(|s| s.service == *service) {
            channel
                .queue_purge(q.queue.as_str().into(), QueuePurgeOptions::default())
                .await?;
        }
    }
    Ok(())
}

const CASES: [&str; 5] = [
    "raw-publish",
    "typed-publish",
    "typed-publish-each",
    "raw-consume",
    "typed-consume",
];

async fn run_case(name: &str, args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let mut report = match name {
        "raw-publish" => raw_publish(args, prefix).await?,
        "typed-publish" => typed_publish(args, prefix).await?,
        "typed-publish-each" => typed_publish_each(args, prefix).await?,
        "raw-consume" => raw_consume(args, prefix).await?,
        "typed-consume" => typed_consume(args, prefix).await?,
        other => return Err(format!("unknown case {other}").into()),
    };
    report.peak_rss_kb = peak_rss_kb();
    report.cpu_seconds = cpu_seconds();
    Ok(report)
}

/// Runs `case` in a child process and parses its report.
fn child(case: &str, args: &Args, prefix: &str) -> Result<Report, BoxError> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args([
            "--messages",
            &args.messages.to_string(),
            "--window",
            &args.window.to_string(),
            "--prefetch",
            &args.prefetch.to_string(),
            "--dialect",
            args.dialect.as_deref().unwrap_or(TaskCreatedV1::DIALECT),
            "--case",
            case,
            prefix,
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "case {case} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    stdout
        .lines()
        .find_map(Report::parse)
        .ok_or_else(|| format!("case {case} printed no report: {stdout}").into())
}

/// Fills the `dashboard` queue with `n` typed messages for a consume case.
async fn fill(args: &Args, prefix: &str) -> Result<(), BoxError> {
    let fill_args = Args {
        window: 1024,
        ..args.clone()
    };
    typed_publish(&fill_args, prefix).await.map(|_| ())
}

fn median_by(mut runs: Vec<Report>, key: impl Fn(&Report) -> f64) -> Report {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs[runs.len() / 2].clone()
}

async fn parent(args: Args) -> Result<(), BoxError> {
    for name in &args.dialects {
        bench_wire(Some(name))?;
    }
    let prefix = format!("bench-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    with_topology(&prefix, async |channel, topology| {
        Ok(topology.declare(channel).await?)
    })
    .await?;
    let dialects: Vec<Args> = if args.dialects.is_empty() {
        vec![args.clone()]
    } else {
        args.dialects
            .iter()
            .map(|d| Args {
                dialect: Some(d.clone()),
                ..args.clone()
            })
            .collect()
    };
    // results[dialect][case][run]. Every run measures every dialect, in an order that rotates
    // between runs, so a comparison between dialects pairs figures taken minutes apart at
    // most, never one dialect's runs against another's taken a quarter of an hour later.
    let mut results: Vec<Vec<Vec<Report>>> = vec![vec![Vec::new(); CASES.len()]; dialects.len()];
    let mut result = Ok(());
    'runs: for run in 0..args.runs {
        for k in 0..dialects.len() {
            let d = (k + run) % dialects.len();
            if let Err(e) = measure_run(&dialects[d], &prefix, run, &mut results[d]).await {
                result = Err(e);
                break 'runs;
            }
        }
    }
    let summary: Vec<(Option<String>, Ratios)> = if result.is_ok() {
        dialects
            .iter()
            .zip(&results)
            .map(|(one, results)| (one.dialect.clone(), report(one, results)))
            .collect()
    } else {
        Vec::new()
    };
    with_topology(&prefix, async |channel, topology| {
        Ok(topology.delete(channel).await?)
    })
    .await?;
    if summary.len() > 1 {
        print_summary(&summary);
    }
    result
}

/// The typed cases of one dialect against raw lapin, per run.
#[derive(Debug, Clone, Default)]
struct Ratios {
    publish: Vec<f64>,
    consume: Vec<f64>,
    body_bytes: usize,
}

fn print_summary(summary: &[(Option<String>, Ratios)]) {
    let standard = summary
        .iter()
        .find(|(d, _)| d.as_deref() == Some(schemactl_runtime::dialect::STANDARD))
        .map(|(_, r)| r);
    println!();
    println!("| dialect | body bytes | typed publish vs raw | vs standard's | typed consume vs raw | vs standard's |");
    println!("|---|---:|---:|---:|---:|---:|");
    let show = |x: &[f64]| median_f64(x.to_vec()).map_or("—".to_owned(), |x| format!("{x:.2}×"));
    // Each run's ratio against the standard dialect's ratio in the same run, then the median.
    let relative = |x: &[f64], base: Option<&Vec<f64>>| {
        let per_run = x.iter().zip(base.into_iter().flatten()).map(|(x, b)| x / b);
        median_f64(per_run.collect())
            .map_or("—".to_owned(), |r| format!("{:+.1} %", (r - 1.0) * 100.0))
    };
    for (dialect, r) in summary {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            dialect.as_deref().unwrap_or(TaskCreatedV1::DIALECT),
            r.body_bytes,
            show(&r.publish),
            relative(&r.publish, standard.map(|s| &s.publish)),
            show(&r.consume),
            relative(&r.consume, standard.map(|s| &s.consume)),
        );
    }
}

/// One run of every case of `args.dialect`, appended to `results[case]`.
async fn measure_run(
    args: &Args,
    prefix: &str,
    run: usize,
    results: &mut [Vec<Report>],
) -> Result<(), BoxError> {
    // Alternate the order, so a drift of the broker's speed over the run (queue files
    // growing, say) does not favour whichever case comes first.
    let mut order: Vec<usize> = (0..CASES.len()).collect();
    if run % 2 == 1 {
        order.reverse();
    }
    for i in order {
        let case = CASES[i];
        if !args.only.is_empty() && !args.only.iter().any(|o| o == case) {
            continue;
        }
        with_topology(prefix, async |c, t| purge(c, t).await).await?;
        if case.ends_with("consume") {
            fill(args, prefix).await?;
            // The other queue of the event is not under test.
            with_topology(prefix, async |c, t| {
                let other = t
                    .services
                    .iter()
                    .find(|s| s.service == TaskCreatedV1::CONSUMERS[1])
                    .ok_or("no second consumer")?;
                c.queue_purge(other.queue.as_str().into(), QueuePurgeOptions::default())
                    .await?;
                Ok(())
            })
            .await?;
        }
        let r = child(case, args, prefix)?;
        eprintln!(
            "run {} ({}): {case:<19} {:>8.0} msg/s",
            run + 1,
            args.dialect.as_deref().unwrap_or(TaskCreatedV1::DIALECT),
            args.messages as f64 / r.seconds
        );
        results[i].push(r);
    }
    with_topology(prefix, async |c, t| purge(c, t).await).await
}

/// Prints the table of one dialect's runs and returns its per-run ratios.
fn report(args: &Args, results: &[Vec<Report>]) -> Ratios {
    let rate = |r: &Report| args.messages as f64 / r.seconds;
    // Ratios pair each run's case with the same run's baseline, then take the median: the
    // broker's speed varies more between runs than the two sides differ within one.
    let per_run = |case: usize, base: usize| -> Vec<f64> {
        results[case]
            .iter()
            .zip(&results[base])
            .map(|(c, b)| rate(c) / rate(b))
            .collect()
    };
    let ratios = [
        None,
        median_f64(per_run(1, 0)),
        median_f64(per_run(2, 0)),
        None,
        median_f64(per_run(4, 3)),
    ];
    let m: Vec<Option<Report>> = results
        .iter()
        .map(|runs| (!runs.is_empty()).then(|| median_by(runs.clone(), |r| r.seconds)))
        .collect();
    println!();
    println!(
        "Dialect `{}`: {} persistent messages per case ({PAYLOAD_BYTES}-byte payload; typed body {} bytes with its envelope), \
         2 quorum queues bound, confirm window {}, prefetch {}; median of {} runs; \
         {} cores, broker on loopback",
        args.dialect.as_deref().unwrap_or(TaskCreatedV1::DIALECT),
        args.messages,
        m.iter().flatten().map(|r| r.body_bytes).max().unwrap_or(0),
        args.window,
        args.prefetch,
        args.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!();
    println!(
        "| case | msg/s (median run) | vs raw lapin (median of per-run ratios) | confirm p50 | confirm p99 | client CPU per message | peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let row = |label: &str, i: usize, confirms: bool| {
        let Some(r) = &m[i] else { return };
        println!(
            "| {label} | {:.0} | {} | {} | {} | {:.1} µs | {:.1} MB |",
            rate(r),
            ratios[i].map_or("—".to_owned(), |x| format!("{x:.2}×")),
            if confirms {
                format!("{:.2} ms", r.p50_ms)
            } else {
                "—".to_owned()
            },
            if confirms {
                format!("{:.2} ms", r.p99_ms)
            } else {
                "—".to_owned()
            },
            r.cpu_seconds / args.messages as f64 * 1e6,
            r.peak_rss_kb as f64 / 1024.0,
        )
    };
    row("publish: raw lapin", 0, true);
    row("publish: typed publisher", 1, true);
    row("publish: typed, await each confirm", 2, true);
    row("consume: raw lapin, batched acks", 3, false);
    row(
        "consume: typed consumer (decode + dispatch + acks)",
        4,
        false,
    );
    Ratios {
        publish: per_run(1, 0),
        consume: per_run(4, 3),
        body_bytes: m.iter().flatten().map(|r| r.body_bytes).max().unwrap_or(0),
    }
}

fn main() -> Result<(), BoxError> {
    let (args, case) = parse_args(std::env::args().skip(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match case {
        Some((name, prefix)) => {
            let report = runtime.block_on(run_case(&name, &args, &prefix))?;
            println!("{}", report.line());
            Ok(())
        }
        None => runtime.block_on(parent(args)),
    }
}
