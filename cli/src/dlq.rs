//! `schemactl dlq`: the dead-letter queues of the catalog's consuming services on a running
//! broker, read through the catalog (its topology names each service's dead-letter queue,
//! its dialects read each message, its schemas validate a payload before it is replayed).
//!
//! Every verb takes the messages with [`schemactl_runtime::dlq::Scan`]: held, never removed
//! until their copy is confirmed (replay) or written and synced to disk (purge with
//! `--export`); whatever is not removed goes back to its queue in order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemactl_codegen::Catalog;
use schemactl_runtime::dlq::{
    self, DeadLetter, DeadLetterQueue, DlqError, Filter, Replaying, Target,
};
use schemactl_runtime::topology::ServiceQueue;
use schemactl_runtime::wire::{self, Decoded, Received};
use schemactl_runtime::Wire;

use crate::stdio::{errln, outln};
use crate::Status;

/// What `schemactl dlq` was asked.
#[derive(Debug)]
pub struct Request {
    /// The verb.
    pub verb: Verb,
    /// The broker.
    pub url: String,
    /// Prefix in front of every exchange and queue name.
    pub prefix: String,
    /// Services whose dead-letter queue to read; empty: every consuming service.
    pub services: Vec<String>,
    /// Which messages.
    pub filter: Filter,
    /// Look at no more than this many messages per queue.
    pub limit: Option<usize>,
}

/// A `schemactl dlq` verb.
#[derive(Debug)]
pub enum Verb {
    /// Depth and counts by reason per service.
    List,
    /// The messages, left in place.
    Show {
        /// One JSON object per line (the archive format) instead of text.
        json: bool,
    },
    /// Re-publish, validated first; remove each once its copy is confirmed.
    Replay {
        /// Where to.
        target: Target,
        /// Report, change nothing.
        dry_run: bool,
        /// At most this many messages per second.
        rate: Option<u32>,
    },
    /// Remove, after archiving when `export` is given.
    Purge {
        /// Confirmed by the user.
        yes: bool,
        /// Archive here (JSON Lines) before removing.
        export: Option<PathBuf>,
    },
    /// Write the messages to a JSON Lines archive, left in place.
    Export {
        /// The archive (`-`: standard output).
        out: PathBuf,
    },
}

/// Replayed copies awaiting their confirm at once: the broker confirms them in order, and
/// each letter is removed after its own confirm.
const REPLAY_WINDOW: usize = 256;

/// Messages `list` reads per queue for its counts unless `--limit` says otherwise: each is
/// held in memory until the scan ends.
const LIST_LIMIT: usize = 10_000;

/// Runs `request` against the broker; prints the report.
pub fn run(catalog: &Catalog, request: Request) -> Status {
    crate::broker::block_on(run_async(catalog, request))
}

/// The catalog's view of one dead letter: its event version, decoded and validated.
struct Reader<'c> {
    catalog: &'c Catalog,
    wire: Wire,
    prefix: String,
    /// Compiled on first use, by message type.
    validators: HashMap<String, jsonschema::Validator>,
}

impl<'c> Reader<'c> {
    fn new(catalog: &'c Catalog, prefix: &str) -> Result<Reader<'c>, String> {
        Ok(Reader {
            catalog,
            wire: catalog.wire()?,
            prefix: prefix.to_owned(),
            validators: HashMap::new(),
        })
    }

    /// Decodes `letter` in the dialect of its original exchange; names its event version and
    /// message ID when the envelope gives them.
    fn decode(&self, letter: &mut DeadLetter) -> Result<Decoded, String> {
        let exchange = letter.exchange.as_deref().unwrap_or("");
        let received = Received {
            properties: &letter.properties,
            exchange: exchange.strip_prefix(&self.prefix).unwrap_or(exchange),
            routing_key: letter.routing_key.as_deref().unwrap_or(""),
        };
        let decoded =
            wire::decode(&letter.body, received, &self.wire).map_err(|e| e.to_string())?;
        letter.message_type = Some(decoded.envelope.message_type.clone());
        if letter.message_id.is_none() {
            letter.message_id = Some(decoded.envelope.message_id.clone());
        }
        Ok(decoded)
    }

    /// Why the payload of `decoded` does not match its schema today, if it does not.
    fn invalid(&mut self, decoded: &Decoded) -> Option<String> {
        let message_type = &decoded.envelope.message_type;
        if !self.validators.contains_key(message_type) {
            let Some(v) = self
                .catalog
                .versions()
                .find(|v| v.message_type == *message_type)
            else {
                return Some(format!(
                    "`{message_type}` is no longer in the catalog; nothing validates it"
                ));
            };
            match crate::validate::compile(&v.resolved) {
                Ok(compiled) => {
                    self.validators.insert(message_type.clone(), compiled);
                }
                Err(e) => {
                    return Some(format!(
                        "the schema of {message_type} does not compile: {e}"
                    ))
                }
            }
        }
        let validator = &self.validators[message_type];
        let payload: serde_json::Value = match serde_json::from_str(decoded.envelope.payload.get())
        {
            Ok(p) => p,
            Err(e) => return Some(format!("the payload is not JSON: {e}")),
        };
        let errors = crate::validate::errors(validator, &payload, "payload ");
        (!errors.is_empty()).then(|| errors.join("; "))
    }
}

async fn run_async(catalog: &Catalog, request: Request) -> Status {
    let topology = schemactl_codegen::topology::plan(catalog).with_prefix(&request.prefix);
    let services = match selected(&topology.services, &request.services, &request.prefix) {
        Ok(s) => s,
        Err(message) => {
            errln!("error: {message}");
            return Status::BadInput;
        }
    };
    let mut reader = match Reader::new(catalog, &request.prefix) {
        Ok(r) => r,
        Err(message) => {
            errln!("error: {message}");
            return Status::BadInput;
        }
    };
    if let Verb::Purge { yes: false, .. } = request.verb {
        errln!(
            "error: `dlq purge` removes messages for good\n  help: run `schemactl dlq show` (or `export`) with the same selection first, then add --yes"
        );
        return Status::BadInput;
    }
    let connection = match crate::broker::connect(&request.url, "schemactl dlq").await {
        Ok(c) => c,
        Err(status) => return status,
    };
    let status = match &request.verb {
        Verb::List => list(&connection, &services, &mut reader, &request).await,
        _ => {
            let mut archive = match Archive::open(&request.verb) {
                Ok(a) => a,
                Err(message) => {
                    errln!("error: {message}");
                    crate::broker::close(&connection).await;
                    return Status::BadInput;
                }
            };
            let mut status = Status::Ok;
            for queue in dead_letter_queues(&services) {
                let whose = queue.1.join(", ");
                let outcome =
                    each_queue(&connection, queue, &mut reader, &request, archive.as_mut()).await;
                match outcome {
                    Ok(Status::Ok) => {}
                    Ok(other) => status = worse(status, other),
                    // Over every service, a service not deployed yet has no queue: as in
                    // `list`, that is a note, not a failure. A service named is expected there.
                    Err(DlqError::NoQueue { queue }) if request.services.is_empty() => {
                        outln!(
                            "{queue} ({whose}): does not exist (topology not declared); skipped"
                        );
                    }
                    Err(e) => {
                        errln!("error: {e}");
                        status = worse(status, Status::Failed);
                    }
                }
            }
            if let Some(archive) = archive {
                if let Err(message) = archive.commit() {
                    errln!("error: {message}");
                    status = worse(status, Status::Failed);
                }
            }
            status
        }
    };
    crate::broker::close(&connection).await;
    status
}

/// The more serious of two outcomes.
fn worse(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::BadInput, _) | (_, Status::BadInput) => Status::BadInput,
        (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
        _ => Status::Ok,
    }
}

/// The services named (all consuming services when none is).
fn selected<'t>(
    all: &'t [ServiceQueue],
    names: &[String],
    prefix: &str,
) -> Result<Vec<&'t ServiceQueue>, String> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            all.iter().find(|s| s.service == *name).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|s| s.service.as_str()).collect();
                format!(
                    "no consuming service `{name}` in the catalog{}\n  help: name one of {}",
                    if prefix.is_empty() {
                        ""
                    } else {
                        " (names are given without the prefix)"
                    },
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Each dead-letter queue once, with the services that dead-letter into it.
fn dead_letter_queues<'s>(services: &[&'s ServiceQueue]) -> Vec<(&'s str, Vec<&'s str>)> {
    let mut queues: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in services {
        queues
            .entry(s.dead_letter_queue.as_str())
            .or_default()
            .push(s.service.as_str());
    }
    queues.into_iter().collect()
}

async fn list(
    connection: &lapin::Connection,
    services: &[&ServiceQueue],
    reader: &mut Reader<'_>,
    request: &Request,
) -> Status {
    let owned: Vec<ServiceQueue> = services.iter().map(|s| (*s).clone()).collect();
    let depths = match dlq::depths(connection, &owned).await {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e}");
            return Status::Failed;
        }
    };
    let mut counted: HashMap<String, (usize, BTreeMap<String, usize>)> = HashMap::new();
    let mut status = Status::Ok;
    for depth in &depths {
        let Some(n) = depth.messages else {
            outln!(
                "{}: {} does not exist (topology not declared)",
                depth.service,
                depth.queue
            );
            continue;
        };
        if n == 0 {
            outln!("{}: {} is empty", depth.service, depth.queue);
            continue;
        }
        if !counted.contains_key(&depth.queue) {
            match count_reasons(connection, &depth.queue, reader, request).await {
                Ok(c) => {
                    counted.insert(depth.queue.clone(), c);
                }
                Err(e) => {
                    errln!("error: {e}");
                    status = Status::Failed;
                    continue;
                }
            }
        }
        let (seen, reasons) = &counted[&depth.queue];
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let of = if *seen < n as usize {
            format!(" (first {seen} read)")
        } else {
            String::new()
        };
        let selection = if request.filter.is_everything() {
            String::new()
        } else {
            " selected".to_owned()
        };
        outln!(
            "{}: {} holds {n}; by reason{selection}{of}: {}",
            depth.service,
            depth.queue,
            if reasons.is_empty() {
                "none".to_owned()
            } else {
                reasons.join(", ")
            }
        );
    }
    status
}

/// How many messages of each reason `queue` holds (of those the filter selects).
async fn count_reasons(
    connection: &lapin::Connection,
    queue: &str,
    reader: &mut Reader<'_>,
    request: &Request,
) -> Result<(usize, BTreeMap<String, usize>), DlqError> {
    let dlq = DeadLetterQueue::open(connection, queue).await?;
    let mut scan = dlq.scan(Some(request.limit.unwrap_or(LIST_LIMIT))).await?;
    let mut seen = 0;
    let mut reasons = BTreeMap::new();
    while let Some(mut letter) = scan.next().await? {
        seen += 1;
        let _ = reader.decode(&mut letter);
        if request.filter.matches(&letter) {
            let reason = letter.reason.unwrap_or_else(|| "(none)".into());
            *reasons.entry(reason).or_default() += 1;
        }
    }
    scan.finish().await?;
    dlq.close().await;
    Ok((seen, reasons))
}

/// Runs a verb other than `list` on one dead-letter queue.
async fn each_queue(
    connection: &lapin::Connection,
    (queue, services): (&str, Vec<&str>),
    reader: &mut Reader<'_>,
    request: &Request,
    mut archive: Option<&mut Archive>,
) -> Result<Status, DlqError> {
    let dlq = DeadLetterQueue::open(connection, queue).await?;
    let whose = services.join(", ");
    if let Verb::Purge { export: None, .. } = request.verb {
        if request.filter.is_everything() && request.limit.is_none() {
            let removed = dlq.purge_all().await?;
            outln!("{queue} ({whose}): purged {removed}");
            dlq.close().await;
            return Ok(Status::Ok);
        }
    }
    let mut scan = dlq.scan(request.limit).await?;
    let mut pacing = match request.verb {
        Verb::Replay {
            rate: Some(rate),
            dry_run: false,
            ..
        } if rate > 0 => {
            let mut interval =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(interval)
        }
        _ => None,
    };
    let (mut selected, mut done, mut kept) = (0usize, 0usize, 0usize);
    let mut to_remove = Vec::new();
    let mut in_flight: VecDeque<(DeadLetter, Replaying)> = VecDeque::new();
    while let Some(mut letter) = scan.next().await? {
        let decoded = reader.decode(&mut letter);
        if !request.filter.matches(&letter) {
            continue;
        }
        selected += 1;
        match &request.verb {
            // `list` counts reasons through `count_reasons`, not here.
            Verb::List => {}
            Verb::Show { json: false } => show(selected, &letter, decoded.as_ref().err()),
            Verb::Show { json: true } => outln!("{}", letter.to_json_line(queue)),
            Verb::Export { .. } | Verb::Purge { .. } => {
                if let Some(archive) = archive.as_deref_mut() {
                    if let Err(message) = archive.write(&letter.to_json_line(queue)) {
                        errln!("error: {message}; nothing was removed from {queue}");
                        scan.finish().await?;
                        dlq.close().await;
                        return Ok(Status::Failed);
                    }
                }
                if matches!(request.verb, Verb::Purge { .. }) {
                    to_remove.push(letter);
                }
            }
            Verb::Replay {
                target, dry_run, ..
            } => {
                let problem = match &decoded {
                    Err(e) => Some(format!("cannot be read: {e}")),
                    Ok(decoded) => reader.invalid(decoded),
                };
                let id = letter.message_id.as_deref().unwrap_or("(no id)");
                let kind = letter.message_type.as_deref().unwrap_or("(unknown type)");
                if let Some(problem) = problem {
                    outln!("kept {kind} {id}: {problem}");
                    kept += 1;
                    continue;
                }
                if *dry_run {
                    outln!(
                        "would replay {kind} {id} to {}",
                        destination(&letter, *target)
                    );
                    done += 1;
                    continue;
                }
                if let Some(pacing) = pacing.as_mut() {
                    pacing.tick().await;
                }
                match scan.send(&letter, *target).await {
                    Ok(replaying) => in_flight.push_back((letter, replaying)),
                    Err(e @ DlqError::Broker { .. }) => return Err(e),
                    Err(e) => {
                        outln!("kept {kind} {id}: {e}");
                        kept += 1;
                    }
                }
                if in_flight.len() >= REPLAY_WINDOW {
                    if let Some((letter, replaying)) = in_flight.pop_front() {
                        let removed = settle(&mut scan, &letter, replaying, *target).await?;
                        if removed {
                            done += 1;
                        } else {
                            kept += 1;
                        }
                    }
                }
            }
        }
    }
    if let Verb::Replay { target, .. } = &request.verb {
        while let Some((letter, replaying)) = in_flight.pop_front() {
            let removed = settle(&mut scan, &letter, replaying, *target).await?;
            if removed {
                done += 1;
            } else {
                kept += 1;
            }
        }
    }
    if !to_remove.is_empty() {
        // Purge with --export: the archive is on disk, at its name, before any message
        // leaves the queue.
        if let Some(archive) = archive {
            if let Err(message) = archive.place() {
                errln!("error: {message}; nothing was removed");
                scan.finish().await?;
                dlq.close().await;
                return Ok(Status::Failed);
            }
        }
        for letter in &to_remove {
            scan.remove(letter).await?;
            done += 1;
        }
    }
    let returned = scan.finish().await?;
    dlq.close().await;
    let summary = match &request.verb {
        Verb::Show { .. } | Verb::List => format!("{selected} selected, left in place"),
        Verb::Export { .. } => format!("{selected} exported, left in place"),
        Verb::Purge { .. } => format!("{done} purged"),
        Verb::Replay { dry_run: true, .. } => {
            format!("{done} would be replayed, {kept} would stay (dry run: nothing changed)")
        }
        Verb::Replay { .. } => format!("{done} replayed, {kept} kept"),
    };
    errln!("{queue} ({whose}): {summary}; {returned} returned to the queue");
    Ok(if kept > 0 { Status::Failed } else { Status::Ok })
}

/// Waits for the confirm of a replayed copy; removes the letter once the broker holds the
/// copy (`true`), keeps it and says why when the broker returned or refused it (`false`).
async fn settle(
    scan: &mut dlq::Scan<'_>,
    letter: &DeadLetter,
    replaying: Replaying,
    target: Target,
) -> Result<bool, DlqError> {
    let kind = letter.message_type.as_deref().unwrap_or("(unknown type)");
    let id = letter.message_id.as_deref().unwrap_or("(no id)");
    match replaying.confirmed().await {
        Ok(()) => {
            scan.remove(letter).await?;
            outln!("replayed {kind} {id} to {}", destination(letter, target));
            Ok(true)
        }
        Err(e @ DlqError::Broker { .. }) => Err(e),
        Err(e) => {
            outln!("kept {kind} {id}: {e}");
            Ok(false)
        }
    }
}

fn destination(letter: &DeadLetter, target: Target) -> String {
    match target {
        Target::Original => format!(
            "exchange `{}` with routing key `{}`",
            letter.exchange.as_deref().unwrap_or("?"),
            letter.routing_key.as_deref().unwrap_or("?")
        ),
        Target::FailedQueue => format!("queue `{}`", letter.queue.as_deref().unwrap_or("?")),
    }
}

/// Prints one dead letter for a reader.
fn show(n: usize, letter: &DeadLetter, undecodable: Option<&String>) {
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    outln!(
        "#{n} {} id {}",
        or(&letter.message_type),
        or(&letter.message_id)
    );
    outln!(
        "  reason: {}, attempt {}, at {}",
        or(&letter.reason),
        letter.attempt.map_or_else(|| "?".into(), |a| a.to_string()),
        letter
            .dead_lettered_at
            .map_or_else(|| "?".into(), |t: DateTime<Utc>| t.to_rfc3339())
    );
    outln!(
        "  from exchange `{}`, routing key `{}`, failed in `{}`",
        or(&letter.exchange),
        or(&letter.routing_key),
        or(&letter.queue)
    );
    if let Some(error) = &letter.error {
        outln!("  error: {error}");
    }
    if let Some(e) = undecodable {
        outln!("  envelope: {e}");
    }
    outln!("  body: {}", String::from_utf8_lossy(&letter.body));
}

/// A JSON Lines archive being written: a temporary file beside the target, moved into place
/// when complete (or before a purge removes what it holds), so that an interrupted export
/// leaves no half-written archive.
struct Archive {
    target: PathBuf,
    file: ArchiveFile,
    written: usize,
}

enum ArchiveFile {
    Stdout,
    Temporary(tempfile::NamedTempFile),
    Placed(std::fs::File),
}

impl Archive {
    /// The archive the verb writes to, if any.
    fn open(verb: &Verb) -> Result<Option<Archive>, String> {
        let target = match verb {
            Verb::Export { out } => out,
            Verb::Purge {
                export: Some(out), ..
            } => out,
            _ => return Ok(None),
        };
        let file = if target == Path::new("-") {
            ArchiveFile::Stdout
        } else {
            let dir = match target.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            ArchiveFile::Temporary(
                tempfile::NamedTempFile::new_in(dir)
                    .map_err(|e| format!("cannot write an archive in {}: {e}", dir.display()))?,
            )
        };
        Ok(Some(Archive {
            target: target.clone(),
            file,
            written: 0,
        }))
    }

    fn failed(&self, e: std::io::Error) -> String {
        format!("cannot write {}: {e}", self.target.display())
    }

    fn write(&mut self, line: &str) -> Result<(), String> {
        self.written += 1;
        let result = match &mut self.file {
            ArchiveFile::Stdout => {
                outln!("{line}");
                Ok(())
            }
            ArchiveFile::Temporary(f) => writeln!(f, "{line}"),
            ArchiveFile::Placed(f) => writeln!(f, "{line}"),
        };
        result.map_err(|e| self.failed(e))
    }

    /// Syncs what is written to disk and moves the file to its name.
    fn place(&mut self) -> Result<(), String> {
        let placed = match std::mem::replace(&mut self.file, ArchiveFile::Stdout) {
            ArchiveFile::Stdout => {
                crate::stdio::flush_out();
                ArchiveFile::Stdout
            }
            ArchiveFile::Temporary(mut f) => {
                f.as_file_mut()
                    .flush()
                    .and_then(|()| f.as_file().sync_all())
                    .map_err(|e| self.failed(e))?;
                ArchiveFile::Placed(f.persist(&self.target).map_err(|e| self.failed(e.error))?)
            }
            ArchiveFile::Placed(mut f) => {
                f.flush()
                    .and_then(|()| f.sync_all())
                    .map_err(|e| self.failed(e))?;
                ArchiveFile::Placed(f)
            }
        };
        self.file = placed;
        Ok(())
    }

    /// Moves the finished archive into place.
    fn commit(mut self) -> Result<(), String> {
        self.place()?;
        if !matches!(self.file, ArchiveFile::Stdout) {
            errln!(
                "wrote {} message(s) to {}",
                self.written,
                self.target.display()
            );
        }
        Ok(())
    }
}
