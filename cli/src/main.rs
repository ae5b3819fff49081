//! `schemactl`: lint a catalog of versioned event schemas and generate typed Rust from it.
//!
//! Exit codes: 0 ok, 1 check failed (lint errors, stale output), 2 usage or unreadable input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod broker;
mod dlq;
mod sarif;
mod stdio;
mod validate;

use stdio::{errln, out, outln};

use clap::{Args, Parser, Subcommand, ValueEnum};
use schemactl_codegen::compat::{self, CompatRule};
use schemactl_codegen::docs::{self, DocsModel};
use schemactl_codegen::output::Ownership;
use schemactl_codegen::rust::Files;
use schemactl_codegen::{load, output, rust, Catalog, Diagnostics, LoadOptions, Rule};

// Loading, comparing and rendering allocate many small JSON values across threads; glibc's
// allocator spent a third of `schemactl docs` on a 1,000-event catalog.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Schema-first toolchain for events on RabbitMQ.
#[derive(Debug, Parser)]
#[command(name = "schemactl", version, about)]
struct Cli {
    /// The catalog directory (holding catalog.toml).
    #[arg(long, global = true, default_value = "schemas")]
    catalog: PathBuf,
    /// Skip a warning rule by ID (repeatable); errors cannot be skipped.
    #[arg(long = "allow", global = true, value_name = "RULE")]
    allow: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lint the catalog; exit 1 on errors.
    Lint {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Generate the Rust tree into `<out>/rust`; with --check, exit 1 if it is stale.
    Generate {
        /// Output directory.
        #[arg(long, default_value = "generated")]
        out: PathBuf,
        /// Compare instead of writing; exit 1 naming every stale file.
        #[arg(long)]
        check: bool,
    },
    /// Print the RabbitMQ topology the catalog implies: exchanges, per-service queues with
    /// their retry and dead-letter queues, and bindings.
    Topology {
        /// `rabbitmq-definitions` is accepted by `rabbitmqctl import_definitions`.
        #[arg(long, value_enum, default_value_t = TopologyFormat::RabbitmqDefinitions)]
        format: TopologyFormat,
        /// Virtual host of the definitions.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Prefix in front of every exchange and queue name.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare the broker at this AMQP URL with the topology and change nothing; exit 1
        /// on any missing object or differing setting.
        #[arg(long, value_name = "AMQP_URL", group = "broker")]
        verify: Option<String>,
        /// Create on the broker at this AMQP URL what it is missing; leave what exists
        /// untouched and report how it differs.
        #[arg(long, value_name = "AMQP_URL", group = "broker")]
        adopt: Option<String>,
        /// Declare the whole topology on the broker at this AMQP URL (fails on an object
        /// that exists with other settings).
        #[arg(long, value_name = "AMQP_URL", group = "broker")]
        declare: Option<String>,
        /// The management API to read the broker through (default: port 15672 of the AMQP
        /// host, same credentials); without it, AMQP alone, and bindings go unchecked.
        #[arg(long, value_name = "HTTP_URL", conflicts_with = "no_management")]
        management: Option<String>,
        /// Read the broker over AMQP only.
        #[arg(long)]
        no_management: bool,
    },
    /// Lint, then compare every event version with the same version at a git ref (read from
    /// git objects, no checkout): exit 0 ok, 1 breaking changes or lint errors, 2 input error.
    Check {
        /// The git ref to compare with, e.g. `origin/main`.
        #[arg(long)]
        against: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Overrides the catalog's policy (`[defaults] policy`, `x-event` `policy`; default
        /// `lenient`). `strict`: any value the schema accepts may be written; `lenient`:
        /// writers send declared properties only.
        #[arg(long, value_enum)]
        policy: Option<DiffPolicy>,
    },
    /// Compare two standalone schema files: exit 0 compatible, 1 incompatible, 2 error.
    Diff {
        /// The previously published schema.
        old: PathBuf,
        /// The proposed schema.
        new: PathBuf,
        /// Which directions must hold.
        #[arg(long, value_enum, default_value_t = DiffMode::Full)]
        mode: DiffMode,
        /// `strict`: any value the schema accepts may be written; `lenient`: writers are
        /// generated from the schema.
        #[arg(long, value_enum, default_value_t = DiffPolicy::Strict)]
        policy: DiffPolicy,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
    },
    /// Write the catalog's docs: a static HTML site (or Markdown) with a page per event
    /// version and per service, a graph, search and `catalog.json`.
    Docs {
        /// Output directory; an existing one must hold docs written before.
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        /// `html`: a self-contained static site; `markdown`: pages readable on GitHub.
        #[arg(long, value_enum, default_value_t = DocsFormat::Html)]
        format: DocsFormat,
        /// Also show each version's diff to the same file at this git ref (its previous
        /// revision), e.g. `origin/main`.
        #[arg(long)]
        against: Option<String>,
    },
    /// Print the catalog as an AsyncAPI 3.0 document.
    Asyncapi {
        /// Document format.
        #[arg(long, value_enum, default_value_t = AsyncapiFormat::Yaml)]
        format: AsyncapiFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Validate payloads (or whole message bodies, with --envelope) against an event version's
    /// schema, formats asserted: exit 0 all valid, 1 any invalid, 2 input error.
    Validate {
        /// The event version: `UserRegistered.v1`, or `UserRegistered` for its latest.
        event: String,
        /// Files holding one JSON document each (`-` for standard input); `.jsonl` and
        /// `.ndjson` files hold one per line.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Read every file as JSON Lines, one document per line.
        #[arg(long)]
        lines: bool,
        /// Each document is a whole message body in the event's dialect (its envelope); the
        /// payload inside is validated and its type must name the event version.
        #[arg(long)]
        envelope: bool,
    },
    /// The dead-letter queues of the catalog's consuming services on a broker: list them,
    /// show, replay (validated against today's schemas), export and purge their messages.
    /// Exit 0 done, 1 a message was kept (invalid, unroutable), 2 input or connection error.
    Dlq {
        #[command(subcommand)]
        verb: DlqVerb,
    },
    /// List every lint and compatibility rule with its ID, severity or category, and what it
    /// checks.
    Rules,
}

#[derive(Debug, Subcommand)]
enum DlqVerb {
    /// Per service: its dead-letter queue's depth and the count of each reason.
    List {
        #[command(flatten)]
        on: DlqOn,
        #[command(flatten)]
        select: DlqSelect,
    },
    /// Print the messages with their reason, error, attempt, origin, time and body; they
    /// stay in the queue.
    Show {
        #[command(flatten)]
        on: DlqOn,
        #[command(flatten)]
        select: DlqSelect,
        /// One JSON object per message and line (the export format).
        #[arg(long)]
        json: bool,
    },
    /// Re-publish the selected messages to where they were first published, with confirms;
    /// each is validated against its event version's schema first (an invalid one stays,
    /// reported), starts again at attempt 1, and leaves the queue once its copy is confirmed.
    Replay {
        #[command(flatten)]
        on: DlqOn,
        #[command(flatten)]
        select: DlqSelect,
        /// `original`: the exchange and routing key it was first published with (every
        /// queue bound there gets it again); `failed-queue`: only the queue it failed in.
        #[arg(long, value_enum, default_value_t = ReplayTo::Original)]
        to: ReplayTo,
        /// Say what would be replayed and what would stay; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// At most this many messages per second.
        #[arg(long, value_name = "PER_SECOND")]
        rate: Option<u32>,
    },
    /// Write the selected messages to a JSON Lines archive (bodies byte for byte); they stay
    /// in the queue.
    Export {
        #[command(flatten)]
        on: DlqOn,
        #[command(flatten)]
        select: DlqSelect,
        /// The archive (`-` for standard output); written whole or not at all.
        #[arg(long)]
        out: PathBuf,
    },
    /// Remove the selected messages for good.
    Purge {
        #[command(flatten)]
        on: DlqOn,
        #[command(flatten)]
        select: DlqSelect,
        /// Confirms the removal.
        #[arg(long)]
        yes: bool,
        /// Archive the messages here first (JSON Lines): none is removed before the archive
        /// is on disk.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
}

/// Which broker and which services' dead-letter queues.
#[derive(Debug, Args)]
struct DlqOn {
    /// The broker (several addresses separated by commas).
    #[arg(
        long,
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    url: String,
    /// Prefix in front of every exchange and queue name.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Only this consuming service's dead-letter queue (repeatable); default: every one.
    #[arg(long = "service", value_name = "SERVICE")]
    services: Vec<String>,
}

/// Which messages: every condition given must hold; a repeated flag accepts any of its values.
#[derive(Debug, Args)]
struct DlqSelect {
    /// Dead-lettered for this reason (`handler-rejected`, `retries-exhausted`, `malformed`,
    /// `schema-invalid`, the broker's `expired`, …).
    #[arg(long = "reason", value_name = "REASON")]
    reasons: Vec<String>,
    /// Of this event version (`UserRegistered.v1`).
    #[arg(long = "type", value_name = "MESSAGE_TYPE")]
    types: Vec<String>,
    /// With this message ID.
    #[arg(long = "id", value_name = "MESSAGE_ID")]
    ids: Vec<String>,
    /// Dead-lettered at or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Dead-lettered before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// Read at most this many messages of each queue.
    #[arg(long)]
    limit: Option<usize>,
}

fn rfc3339(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{e}; write a time such as 2026-12-07T09:30:00Z"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReplayTo {
    Original,
    FailedQueue,
}

impl DlqVerb {
    /// The request the `dlq` module runs.
    fn into_request(self) -> dlq::Request {
        let (verb, on, select) = match self {
            DlqVerb::List { on, select } => (dlq::Verb::List, on, select),
            DlqVerb::Show { on, select, json } => (dlq::Verb::Show { json }, on, select),
            DlqVerb::Replay {
                on,
                select,
                to,
                dry_run,
                rate,
            } => {
                let target = match to {
                    ReplayTo::Original => schemactl_runtime::dlq::Target::Original,
                    ReplayTo::FailedQueue => schemactl_runtime::dlq::Target::FailedQueue,
                };
                let verb = dlq::Verb::Replay {
                    target,
                    dry_run,
                    rate,
                };
                (verb, on, select)
            }
            DlqVerb::Export { on, select, out } => (dlq::Verb::Export { out }, on, select),
            DlqVerb::Purge {
                on,
                select,
                yes,
                export,
            } => (dlq::Verb::Purge { yes, export }, on, select),
        };
        dlq::Request {
            verb,
            url: on.url,
            prefix: on.prefix,
            services: on.services,
            filter: schemactl_runtime::dlq::Filter {
                reasons: select.reasons,
                message_types: select.types,
                message_ids: select.ids,
                since: select.since,
                until: select.until,
            },
            limit: select.limit,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffMode {
    Backward,
    Forward,
    Full,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffPolicy {
    Strict,
    Lenient,
}

impl From<DiffPolicy> for compat::Policy {
    fn from(p: DiffPolicy) -> Self {
        match p {
            DiffPolicy::Strict => compat::Policy::Strict,
            DiffPolicy::Lenient => compat::Policy::Lenient,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Github,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning and other CI dashboards.
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TopologyFormat {
    /// A RabbitMQ definitions document.
    RabbitmqDefinitions,
    /// schemactl's topology model as JSON.
    Json,
    /// Per consuming service: its queues, its bindings and the events each selects.
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DocsFormat {
    Html,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AsyncapiFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Exit status of a verb.
enum Status {
    Ok,
    Failed,
    BadInput,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(match s {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::BadInput => 2,
        })
    }
}

fn main() -> ExitCode {
    let status = run(Cli::parse());
    stdio::flush_out();
    status.into()
}

/// Runs the verb `cli` names.
fn run(cli: Cli) -> Status {
    let mut allow = Vec::new();
    for id in &cli.allow {
        match Rule::from_id(id) {
            Some(rule) => allow.push(rule),
            None => {
                errln!("error: unknown rule `{id}` in --allow; `schemactl rules` lists them");
                return Status::BadInput;
            }
        }
    }
    let options = LoadOptions {
        allow,
        ..LoadOptions::default()
    };
    match cli.command {
        Command::Rules => rules(),
        Command::Dlq { verb } => match load_catalog(&cli.catalog, &options) {
            Ok(catalog) => dlq::run(&catalog, verb.into_request()),
            Err(status) => status,
        },
        Command::Validate {
            event,
            files,
            lines,
            envelope,
        } => match load_catalog(&cli.catalog, &options) {
            Ok(catalog) => validate::run(
                &catalog,
                &validate::Request {
                    event: &event,
                    files: &files,
                    lines,
                    envelope,
                },
            ),
            Err(status) => status,
        },
        Command::Check {
            against,
            format,
            policy,
        } => check(&cli.catalog, &options, &against, format, policy),
        Command::Diff {
            old,
            new,
            mode,
            policy,
            format,
        } => diff(&old, &new, mode, policy, format),
        Command::Lint {
            format,
            deny_warnings,
        } => lint(&cli.catalog, &options, format, deny_warnings),
        Command::Generate { out, check } => generate(&cli.catalog, &options, &out, check),
        Command::Docs {
            out,
            format,
            against,
        } => docs(&cli.catalog, &options, &out, format, against.as_deref()),
        Command::Asyncapi { format, out } => {
            asyncapi(&cli.catalog, &options, format, out.as_deref())
        }
        Command::Topology {
            verify,
            adopt,
            declare,
            management,
            no_management,
            prefix,
            ..
        } if verify.is_some() || adopt.is_some() || declare.is_some() => {
            let (mode, url) = match (verify, adopt, declare) {
                (Some(url), _, _) => (broker::Mode::Verify, url),
                (_, Some(url), _) => (broker::Mode::Adopt, url),
                (_, _, Some(url)) => (broker::Mode::Create, url),
                _ => unreachable!("guarded above"),
            };
            let management = if no_management {
                broker::Management::Off
            } else {
                management.map_or(broker::Management::Beside, broker::Management::At)
            };
            match load_catalog(&cli.catalog, &options) {
                Ok(c) => broker::run(&c, mode, &url, management, &prefix),
                Err(status) => status,
            }
        }
        Command::Topology {
            format,
            vhost,
            prefix,
            out,
            ..
        } => topology(
            &cli.catalog,
            &options,
            format,
            &vhost,
            &prefix,
            out.as_deref(),
        ),
    }
}

fn rules() -> Status {
    outln!("Lint rules");
    outln!("{:<32} {:<9} SUMMARY", "RULE", "SEVERITY");
    for rule in Rule::ALL {
        outln!(
            "{:<32} {:<9} {}",
            rule.id(),
            rule.severity(),
            rule.summary()
        );
    }
    outln!();
    outln!("Compatibility rules (wire and contract: error; rust-api: warning)");
    outln!("{:<32} {:<9} SUMMARY", "RULE", "CATEGORY");
    for rule in CompatRule::ALL {
        outln!("{:<32} {:<9} {}", rule.id(), rule.category(), rule.doc());
    }
    Status::Ok
}

/// Reads a JSON schema file; a message naming the file (and line and column) when it cannot.
fn diff(
    old_path: &Path,
    new_path: &Path,
    mode: DiffMode,
    policy: DiffPolicy,
    format: DiffFormat,
) -> Status {
    let read = schemactl_codegen::standalone::read;
    let (old, new) = match (read(old_path), read(new_path)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            errln!("{e}");
            return Status::BadInput;
        }
    };
    let mode = match mode {
        DiffMode::Backward => compat::Mode::Backward,
        DiffMode::Forward => compat::Mode::Forward,
        DiffMode::Full => compat::Mode::Full,
    };
    let policy = policy.into();
    let findings = match compat::compare(&old, &new, mode, policy) {
        Ok(f) => f,
        Err(e) => {
            let path = if e.side == "old" { old_path } else { new_path };
            errln!("error: {}: {e}", path.display());
            return Status::BadInput;
        }
    };
    let file = new_path.display().to_string();
    match format {
        DiffFormat::Text => {
            for f in &findings {
                outln!("{file}: {f}");
            }
            if findings.is_empty() {
                errln!("compatible ({mode:?}, {policy:?})");
            } else {
                errln!("{} incompatible change(s)", findings.len());
            }
        }
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "old": old_path.display().to_string(),
                "new": file,
                "compatible": findings.is_empty(),
                "findings": findings,
            });
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        DiffFormat::Github => {
            for f in &findings {
                outln!(
                    "::error file={file},title={}::{} breaks {} at {}: {}",
                    f.rule.id(),
                    f.rule.id(),
                    f.direction,
                    f.pointer(),
                    f.message
                );
            }
        }
        DiffFormat::Sarif => {
            let results: Vec<sarif::SarifResult> = findings
                .iter()
                .map(|f| sarif::SarifResult {
                    rule: f.rule,
                    level: "error",
                    message: format!(
                        "{} breaks {} at {}: {}",
                        f.rule.id(),
                        f.direction,
                        f.pointer(),
                        f.message
                    ),
                    file: file.clone(),
                    line: 1,
                    column: 1,
                    fingerprint: format!("{}:{}", f.rule.id(), f.pointer()),
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&sarif::log(&results)).unwrap_or_default()
            );
        }
        DiffFormat::Markdown => {
            if findings.is_empty() {
                outln!("**{file}**: compatible.");
            } else {
                outln!("**{file}**: {} breaking change(s)\n", findings.len());
                outln!("| rule | breaks | where | change |");
                outln!("|---|---|---|---|");
                for f in &findings {
                    outln!(
                        "| `{}` | {} | `{}` | {} |",
                        f.rule.id(),
                        f.direction,
                        f.pointer(),
                        f.message.replace('|', "\\|")
                    );
                }
            }
        }
    }
    if findings.is_empty() {
        Status::Ok
    } else {
        Status::Failed
    }
}

/// Prints findings and says whether the input was unreadable (exit 2) rather than wrong.
fn report(diags: &Diagnostics, format: Format) -> bool {
    match format {
        Format::Text => {
            for d in diags {
                errln!("{d}");
            }
            if !diags.is_empty() {
                errln!(
                    "{} error(s), {} warning(s)",
                    diags.error_count(),
                    diags.warning_count()
                );
            }
        }
        Format::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(diags).unwrap_or_else(|e| e.to_string())
            );
        }
    }
    diags.iter().any(|d| d.rule == Rule::Io)
}

fn unreadable(catalog: &Path) -> Option<String> {
    if !catalog.is_dir() {
        return Some(format!(
            "catalog directory {} does not exist; pass --catalog DIR",
            catalog.display()
        ));
    }
    let config = catalog.join(load::CONFIG_FILE);
    if !config.is_file() {
        return Some(format!(
            "{} not found: a catalog directory holds catalog.toml",
            config.display()
        ));
    }
    None
}

fn lint(catalog: &Path, options: &LoadOptions, format: Format, deny_warnings: bool) -> Status {
    if let Some(message) = unreadable(catalog) {
        errln!("error: {message}");
        return Status::BadInput;
    }
    let (diags, ok) = match load(catalog, options) {
        Ok(c) => match rust::render(&c) {
            Ok(_) => (c.warnings, true),
            Err(mut d) => {
                d.extend(c.warnings);
                (d, false)
            }
        },
        Err(d) => (d, false),
    };
    let bad_input = report(&diags, format);
    if bad_input {
        Status::BadInput
    } else if !ok || (deny_warnings && !diags.is_empty()) {
        Status::Failed
    } else {
        if matches!(format, Format::Text) {
            errln!("{}: ok", catalog.display());
        }
        Status::Ok
    }
}

/// Loads and lints the catalog, reporting findings; the status to exit with on failure.
fn load_catalog(catalog: &Path, options: &LoadOptions) -> Result<Catalog, Status> {
    if let Some(message) = unreadable(catalog) {
        errln!("error: {message}");
        return Err(Status::BadInput);
    }
    match load(catalog, options) {
        Ok(c) => {
            report(&c.warnings, Format::Text);
            Ok(c)
        }
        Err(d) => Err(if report(&d, Format::Text) {
            Status::BadInput
        } else {
            Status::Failed
        }),
    }
}

fn topology(
    catalog: &Path,
    options: &LoadOptions,
    format: TopologyFormat,
    vhost: &str,
    prefix: &str,
    out: Option<&Path>,
) -> Status {
    let loaded = match load_catalog(catalog, options) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let topology = schemactl_codegen::topology::plan(&loaded).with_prefix(prefix);
    if let TopologyFormat::Summary = format {
        return emit(&summary(&loaded, &topology, prefix), out);
    }
    let value = match format {
        TopologyFormat::Summary => unreachable!("handled above"),
        TopologyFormat::RabbitmqDefinitions => topology.rabbitmq_definitions(vhost),
        TopologyFormat::Json => match serde_json::to_value(&topology) {
            Ok(v) => v,
            Err(e) => {
                errln!("error: cannot serialize the topology: {e}");
                return Status::Failed;
            }
        },
    };
    let text = match serde_json::to_string_pretty(&value) {
        Ok(t) => t + "\n",
        Err(e) => {
            errln!("error: cannot serialize the topology: {e}");
            return Status::Failed;
        }
    };
    emit(&text, out)
}

/// The topology per consuming service, with the events each binding selects.
fn summary(catalog: &Catalog, topology: &schemactl_runtime::Topology, prefix: &str) -> String {
    use std::fmt::Write as _;
    let unprefixed = schemactl_codegen::topology::plan(catalog);
    let mut text = String::new();
    for sq in &topology.services {
        let _ = writeln!(text, "{}", sq.service);
        let _ = writeln!(text, "  queue              {}", sq.queue);
        for r in &sq.retry_queues {
            let by = match r.delayed_by {
                schemactl_runtime::topology::RetryDelay::Queue => "",
                schemactl_runtime::topology::RetryDelay::Consumer => " (held by the consumer)",
            };
            let _ = writeln!(text, "  retry after {:>6} ms  {}{by}", r.delay_ms, r.queue);
        }
        let _ = writeln!(
            text,
            "  dead letters       {} (key `{}` on `{}`)",
            sq.dead_letter_queue, sq.dead_letter_routing_key, sq.dead_letter_exchange
        );
        for b in topology.bindings.iter().filter(|b| b.queue == sq.queue) {
            let exchange = b.exchange.strip_prefix(prefix).unwrap_or(&b.exchange);
            let selected = schemactl_codegen::topology::selected_by(
                catalog,
                &unprefixed,
                exchange,
                &b.routing_key,
            );
            let _ = writeln!(
                text,
                "  bound to {} `{}`: {}",
                b.exchange,
                b.routing_key,
                selected.join(", ")
            );
        }
    }
    text
}

/// Prints `text`, or writes it atomically to `out`.
fn emit(text: &str, out: Option<&Path>) -> Status {
    match out {
        None => {
            out!("{text}");
            Status::Ok
        }
        Some(path) => match output::write_atomic(path, text.as_bytes()) {
            Ok(()) => Status::Ok,
            Err(e) => {
                errln!("error: cannot write {}: {e}", path.display());
                Status::BadInput
            }
        },
    }
}

fn generate(catalog: &Path, options: &LoadOptions, out: &Path, check: bool) -> Status {
    let loaded = match load_catalog(catalog, options) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let files = match rust::render(&loaded) {
        Ok(f) => f,
        Err(d) => {
            report(&d, Format::Text);
            return Status::Failed;
        }
    };
    let model = DocsModel::new(&loaded, None);
    let (site, markdown) = match (
        docs::site::render(&loaded, &model),
        docs::markdown::render(&model),
    ) {
        (Ok(site), Ok(markdown)) => (site, markdown),
        (Err(e), _) | (_, Err(e)) => {
            errln!("error: {e}");
            return Status::Failed;
        }
    };
    let asyncapi = Files::from([(
        PathBuf::from(ASYNCAPI_FILE),
        docs::asyncapi::to_yaml(&docs::asyncapi::document(&loaded)),
    )]);
    let trees = [
        (out.join("rust"), files, Ownership::Marked),
        (
            out.join("envelope"),
            schemactl_codegen::envelope::files(&loaded),
            Ownership::All,
        ),
        (
            out.join("schemas"),
            schemactl_codegen::export::payload_schemas(&loaded),
            Ownership::All,
        ),
        (out.join("docs"), site, Ownership::All),
        (out.join("markdown"), markdown, Ownership::All),
        (out.to_path_buf(), asyncapi, Ownership::Listed),
    ];
    if check {
        let mut stale = Vec::new();
        for (dir, files, ownership) in &trees {
            match output::check_tree_as(dir, files, *ownership) {
                Ok(s) => stale.extend(s),
                Err(e) => {
                    errln!("error: cannot read {}: {e}", dir.display());
                    return Status::BadInput;
                }
            }
        }
        if stale.is_empty() {
            let count: usize = trees.iter().map(|(_, f, _)| f.len()).sum();
            errln!("{}: up to date ({count} files)", out.display());
            return Status::Ok;
        }
        for s in &stale {
            errln!("stale: {s}");
        }
        errln!(
            "{} stale file(s); run `schemactl generate --out {}`",
            stale.len(),
            out.display()
        );
        Status::Failed
    } else {
        for (dir, files, ownership) in &trees {
            match output::write_tree_as(dir, files, *ownership) {
                Ok(r) => errln!(
                    "{}: {} written, {} unchanged, {} removed",
                    dir.display(),
                    r.written.len(),
                    r.unchanged.len(),
                    r.removed.len()
                ),
                Err(e) => {
                    errln!("error: cannot write {}: {e}", dir.display());
                    return Status::BadInput;
                }
            }
        }
        Status::Ok
    }
}

/// Name of the AsyncAPI document `generate` writes beside the other trees.
const ASYNCAPI_FILE: &str = "asyncapi.yaml";

fn docs(
    catalog: &Path,
    options: &LoadOptions,
    out: &Path,
    format: DocsFormat,
    against: Option<&str>,
) -> Status {
    let loaded = match load_catalog(catalog, options) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let previous = match against {
        None => None,
        Some(reference) => {
            let Ok(tmp) = tempfile::tempdir() else {
                errln!("error: cannot create a temporary directory");
                return Status::BadInput;
            };
            match load_at(catalog, reference, options, tmp.path()) {
                Ok(previous) => previous,
                Err(e) => {
                    errln!("error: {e}");
                    return Status::BadInput;
                }
            }
        }
    };
    // Only a directory holding docs written before is rewritten (and pruned).
    let marker = match format {
        DocsFormat::Html => "index.html",
        DocsFormat::Markdown => "index.md",
    };
    let occupied = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if occupied && !out.join(marker).is_file() {
        errln!(
            "error: {} is not empty and holds no {marker}; choose an empty or new directory",
            out.display()
        );
        return Status::BadInput;
    }
    let model = DocsModel::new(&loaded, previous.as_ref());
    let files = match format {
        DocsFormat::Html => docs::site::render(&loaded, &model),
        DocsFormat::Markdown => docs::markdown::render(&model),
    };
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            errln!("error: {e}");
            return Status::Failed;
        }
    };
    match output::write_tree_as(out, &files, Ownership::All) {
        Ok(r) => {
            errln!(
                "{}: {} pages and assets ({} written, {} unchanged, {} removed); open {}",
                out.display(),
                files.len(),
                r.written.len(),
                r.unchanged.len(),
                r.removed.len(),
                out.join(marker).display()
            );
            Status::Ok
        }
        Err(e) => {
            errln!("error: cannot write {}: {e}", out.display());
            Status::BadInput
        }
    }
}

fn asyncapi(
    catalog: &Path,
    options: &LoadOptions,
    format: AsyncapiFormat,
    out: Option<&Path>,
) -> Status {
    let loaded = match load_catalog(catalog, options) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let document = docs::asyncapi::document(&loaded);
    let text = match format {
        AsyncapiFormat::Yaml => docs::asyncapi::to_yaml(&document),
        AsyncapiFormat::Json => docs::asyncapi::to_json(&document),
    };
    emit(&text, out)
}

/// Runs git in `dir`; its standard output, or its standard error as the message.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The catalog directory as it is at `reference`, extracted from git objects into `into`.
/// `Ok(None)` when the catalog did not exist at that ref.
fn catalog_at(catalog: &Path, reference: &str, into: &Path) -> Result<Option<PathBuf>, String> {
    let top = git(catalog, &["rev-parse", "--show-toplevel"])
        .map_err(|e| format!("{} is not in a git work tree: {e}", catalog.display()))?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let commit = format!("{reference}^{{commit}}");
    git(catalog, &["rev-parse", "--verify", "--quiet", &commit]).map_err(|_| {
        format!(
            "git ref `{reference}` not found; in a shallow clone fetch it first (`git fetch --depth=1 origin <branch>`)"
        )
    })?;
    let abs = catalog
        .canonicalize()
        .map_err(|e| format!("{}: {e}", catalog.display()))?;
    let top = top.canonicalize().unwrap_or(top);
    let rel = abs
        .strip_prefix(&top)
        .map_err(|_| format!("{} is outside the git work tree", catalog.display()))?;
    let rel = rel.to_string_lossy().replace('\\', "/");
    let listed = git(&top, &["ls-tree", "--name-only", reference, "--", &rel])?;
    let found = !listed.is_empty();
    if found {
        // One `git archive` streamed into `tar`: the blobs of the ref, no checkout.
        let mut archive = std::process::Command::new("git")
            .arg("-C")
            .arg(&top)
            .args(["archive", "--format=tar", reference, "--", &rel])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git archive: {e}"))?;
        let stdout = archive.stdout.take().ok_or("git archive has no output")?;
        let untar = std::process::Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(into)
            .stdin(stdout)
            .output()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        let archived = archive
            .wait_with_output()
            .map_err(|e| format!("git archive: {e}"))?;
        if !archived.status.success() || !untar.status.success() {
            return Err(format!(
                "cannot extract {rel} at `{reference}`: {}{}",
                String::from_utf8_lossy(&archived.stderr).trim(),
                String::from_utf8_lossy(&untar.stderr).trim()
            ));
        }
    }
    Ok(found.then(|| into.join(&rel)))
}

/// The catalog as it is at git ref `reference`, extracted into `into` and loaded; `None`
/// when the ref has no catalog at that path.
fn load_at(
    catalog: &Path,
    reference: &str,
    options: &LoadOptions,
    into: &Path,
) -> Result<Option<Catalog>, String> {
    let Some(root) = catalog_at(catalog, reference, into)? else {
        return Ok(None);
    };
    // Linted when it was committed: only compared here.
    let options = LoadOptions {
        skip_validation: true,
        ..options.clone()
    };
    load(&root, &options).map(Some).map_err(|d| {
        format!(
            "the catalog at `{reference}` does not load ({} error(s)); compare with a ref whose catalog lints",
            d.error_count()
        )
    })
}

/// Earlier revisions compared by the `_TRANSITIVE` levels, newest first.
const MAX_REVISIONS: usize = 50;

/// The catalog at each commit before `reference` that changed it (up to [`MAX_REVISIONS`]),
/// labelled by short commit ID; revisions whose catalog does not load are skipped.
fn earlier_revisions(
    catalog: &Path,
    reference: &str,
    options: &LoadOptions,
) -> Result<Vec<(String, Catalog)>, String> {
    let log = git(catalog, &["log", "--format=%h", reference, "--", "."])?;
    let commits: Vec<String> = String::from_utf8_lossy(&log)
        .lines()
        .skip(1) // the catalog as it is at `reference`, already compared
        .take(MAX_REVISIONS)
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for commit in commits {
        let tmp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        if let Ok(Some(c)) = load_at(catalog, &commit, options, tmp.path()) {
            out.push((commit, c));
        }
    }
    Ok(out)
}

fn check(
    catalog: &Path,
    options: &LoadOptions,
    reference: &str,
    format: DiffFormat,
    policy: Option<DiffPolicy>,
) -> Status {
    let Ok(tmp) = tempfile::tempdir() else {
        errln!("error: cannot create a temporary directory");
        return Status::BadInput;
    };
    // The working tree's catalog (linted, reported) and the ref's, loaded side by side.
    let (new, old) = std::thread::scope(|scope| {
        let old = scope.spawn(|| load_at(catalog, reference, options, tmp.path()));
        let new = load_catalog(catalog, options);
        (new, old.join())
    });
    let new = match new {
        Ok(c) => c,
        Err(status) => return status,
    };
    let old = match old {
        Ok(Ok(Some(old))) => old,
        Ok(Ok(None)) => {
            errln!(
                "{}: no catalog at `{reference}`; nothing to compare",
                catalog.display()
            );
            return Status::Ok;
        }
        Ok(Err(e)) => {
            errln!("error: {e}");
            return Status::BadInput;
        }
        Err(_) => {
            errln!("error: loading the catalog at `{reference}` failed");
            return Status::BadInput;
        }
    };
    let allow = match schemactl_codegen::check::AllowList::read(catalog) {
        Ok(a) => a,
        Err(e) => {
            errln!("error: {e}");
            return Status::BadInput;
        }
    };
    let mut findings =
        match schemactl_codegen::check::check(&old, &new, policy.map(Into::into), &allow) {
            Ok(f) => f,
            Err((event, e)) => {
                errln!("error: {event}: {e}");
                return Status::BadInput;
            }
        };
    if new
        .versions()
        .any(|v| schemactl_codegen::check::is_transitive(v.compatibility))
    {
        let revisions = match earlier_revisions(catalog, reference, options) {
            Ok(r) => r,
            Err(e) => {
                errln!("error: {e}");
                return Status::BadInput;
            }
        };
        match schemactl_codegen::check::check_transitive(
            &revisions,
            &new,
            policy.map(Into::into),
            &allow,
            &findings,
        ) {
            Ok(more) => findings.extend(more),
            Err((event, e)) => {
                errln!("error: {event}: {e}");
                return Status::BadInput;
            }
        }
    }
    let breaking = findings.iter().filter(|f| f.is_breaking()).count();
    print_check(catalog, &findings, format);
    errln!(
        "{} event version(s) checked against `{reference}`: {breaking} breaking, {} allowed or advisory",
        new.versions().count(),
        findings.len() - breaking
    );
    if breaking > 0 {
        Status::Failed
    } else {
        Status::Ok
    }
}

fn print_check(
    catalog: &Path,
    findings: &[schemactl_codegen::check::CheckFinding],
    format: DiffFormat,
) {
    let place = |f: &schemactl_codegen::check::CheckFinding| {
        let (line, col) = f.position.map_or((1, 1), |p| (p.line, p.column));
        (catalog.join(&f.file).display().to_string(), line, col)
    };
    let severity = |f: &schemactl_codegen::check::CheckFinding| {
        if f.allowed.is_some() {
            "note"
        } else if f.is_breaking() {
            "error"
        } else {
            "warning"
        }
    };
    match format {
        DiffFormat::Text => {
            for f in findings {
                let (file, line, col) = place(f);
                let allowed = f
                    .allowed
                    .as_deref()
                    .map(|r| format!(" (allowed: {r})"))
                    .unwrap_or_default();
                outln!(
                    "{file}:{line}:{col}: {}: {} breaks {} in {}: {}{allowed} [{}]",
                    f.finding.rule.id(),
                    severity(f),
                    f.finding.direction,
                    f.event,
                    f.finding.message,
                    f.fingerprint()
                );
            }
        }
        DiffFormat::Json => {
            let doc = serde_json::json!({ "findings": findings });
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        DiffFormat::Github => {
            for f in findings {
                let (file, line, col) = place(f);
                outln!(
                    "::{} file={file},line={line},col={col},title={}::{} {} breaks {}: {}",
                    severity(f),
                    f.finding.rule.id(),
                    f.event,
                    f.finding.rule.id(),
                    f.finding.direction,
                    f.finding.message
                );
            }
        }
        DiffFormat::Sarif => {
            let results: Vec<sarif::SarifResult> = findings
                .iter()
                .map(|f| {
                    let (file, line, column) = place(f);
                    let allowed = f
                        .allowed
                        .as_deref()
                        .map(|r| format!(" (allowed: {r})"))
                        .unwrap_or_default();
                    sarif::SarifResult {
                        rule: f.finding.rule,
                        level: severity(f),
                        message: format!(
                            "{} breaks {} in {}: {}{allowed}",
                            f.finding.rule.id(),
                            f.finding.direction,
                            f.event,
                            f.finding.message
                        ),
                        file,
                        line,
                        column,
                        fingerprint: f.fingerprint(),
                    }
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&sarif::log(&results)).unwrap_or_default()
            );
        }
        DiffFormat::Markdown => {
            let (breaking, benign): (Vec<_>, Vec<_>) =
                findings.iter().partition(|f| f.is_breaking());
            outln!("### Schema compatibility\n");
            for (title, list) in [("Breaking", &breaking), ("Allowed or advisory", &benign)] {
                outln!("#### {title} ({})\n", list.len());
                if list.is_empty() {
                    outln!("None.\n");
                    continue;
                }
                outln!("| event | rule | breaks | where | change |");
                outln!("|---|---|---|---|---|");
                for f in list.iter() {
                    let (file, line, _) = place(f);
                    outln!(
                        "| {} | `{}` | {} | `{file}:{line}` | {} |",
                        f.event,
                        f.finding.rule.id(),
                        f.finding.direction,
                        f.finding.message.replace('|', "\\|")
                    );
                }
                outln!();
            }
        }
    }
}
