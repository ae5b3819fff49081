//! Catalog against catalog: every event version of the new catalog against the same version
//! of the old one, at its compatibility level, plus the contract rules (a removed version, a
//! changed routing key, exchange or producer). A new major version starts a new lineage and
//! is never compared with the previous major.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compat::{compare, CompatError, CompatRule, Direction, Finding, Mode, Policy};
use crate::config::Compatibility;
use crate::diagnostics::Position;
use crate::model::{Catalog, EventVersion};

/// A finding located in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFinding {
    /// The event version, e.g. `UserRegistered.v1`.
    pub event: String,
    /// The schema file (of the new catalog; of the old one for a removed version).
    pub file: PathBuf,
    /// Line and column of the new pointer in `file`, where it maps to the source.
    pub position: Option<Position>,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// The reason of the allow-list entry that accepts this finding, if one does.
    pub allowed: Option<String>,
}

impl CheckFinding {
    /// The stable fingerprint an allow-list entry matches: rule, event and pointer.
    pub fn fingerprint(&self) -> String {
        let pointer = if self.finding.new_pointer.is_empty() {
            &self.finding.old_pointer
        } else {
            &self.finding.new_pointer
        };
        format!("{}:{}:{}", self.finding.rule.id(), self.event, pointer)
    }

    /// Whether it fails the check: a wire or contract break no entry allows.
    pub fn is_breaking(&self) -> bool {
        self.allowed.is_none() && self.finding.rule.category() != crate::compat::Category::RustApi
    }
}

/// The checked-in list of accepted breaks (`compat-allow.toml` beside `catalog.toml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// The entries.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
}

/// One accepted break.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// `rule:event:pointer`, as `schemactl check` prints it.
    pub fingerprint: String,
    /// Why the break is accepted.
    pub reason: String,
}

/// File name of the allow list, in the catalog root.
pub const ALLOW_FILE: &str = "compat-allow.toml";

impl AllowList {
    /// Reads `compat-allow.toml` from the catalog root; an absent file is an empty list.
    pub fn read(catalog_root: &Path) -> Result<AllowList, String> {
        let path = catalog_root.join(ALLOW_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AllowList::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// The directions a level checks against the previous revision.
pub(crate) fn mode(level: Compatibility) -> Option<Mode> {
    match level {
        Compatibility::Backward | Compatibility::BackwardTransitive => Some(Mode::Backward),
        Compatibility::Forward | Compatibility::ForwardTransitive => Some(Mode::Forward),
        Compatibility::Full | Compatibility::FullTransitive => Some(Mode::Full),
        Compatibility::None => None,
    }
}

/// Compares `new` with `old` (the same catalog at an earlier revision).
pub fn check(
    old: &Catalog,
    new: &Catalog,
    policy: Policy,
    allow: &AllowList,
) -> Result<Vec<CheckFinding>, (String, CompatError)> {
    let mut out = Vec::new();
    for (mt, was) in versions(old) {
        let Some(now) = new.version(&mt) else {
            out.push(contract(
                was,
                CompatRule::VersionRemoved,
                format!(
                    "{mt} was published and is gone; keep it (deprecated) until its consumers move"
                ),
            ));
            continue;
        };
        let here = |rule, message| contract(now, rule, message);
        if was.routing_key != now.routing_key {
            out.push(here(
                CompatRule::RoutingKeyChanged,
                format!(
                    "routing key `{}` became `{}`: queues bound to the old key stop receiving {mt}",
                    was.routing_key, now.routing_key
                ),
            ));
        }
        if was.exchange != now.exchange {
            out.push(here(
                CompatRule::ExchangeChanged,
                format!("exchange `{}` became `{}`", was.exchange, now.exchange),
            ));
        }
        if was.producer != now.producer {
            out.push(here(
                CompatRule::ProducerChanged,
                format!("producer `{}` became `{}`", was.producer, now.producer),
            ));
        }
        let Some(mode) = mode(now.compatibility) else {
            continue;
        };
        // An unchanged schema is compatible with itself.
        if was.resolved == now.resolved {
            continue;
        }
        let findings =
            compare(&was.resolved, &now.resolved, mode, policy).map_err(|e| (mt.clone(), e))?;
        for finding in findings {
            out.push(CheckFinding {
                event: mt.clone(),
                file: now.path.clone(),
                position: position(new, now, &finding.new_pointer),
                finding,
                allowed: None,
            });
        }
    }
    for f in &mut out {
        let print = f.fingerprint();
        f.allowed = allow
            .allow
            .iter()
            .find(|e| e.fingerprint == print)
            .map(|e| e.reason.clone());
    }
    Ok(out)
}

fn versions(c: &Catalog) -> impl Iterator<Item = (String, &EventVersion)> {
    c.versions().map(|v| (v.message_type.clone(), v))
}

fn contract(v: &EventVersion, rule: CompatRule, message: String) -> CheckFinding {
    CheckFinding {
        event: v.message_type.clone(),
        file: v.path.clone(),
        position: None,
        finding: Finding {
            rule,
            direction: Direction::Backward,
            old_pointer: "/x-event".into(),
            new_pointer: "/x-event".into(),
            message,
        },
        allowed: None,
    }
}

/// The source position of `pointer` in the event's file, or of its nearest mapped parent.
fn position(c: &Catalog, v: &EventVersion, pointer: &str) -> Option<Position> {
    let file = c
        .sources
        .paths()
        .find(|p| p.ends_with(&v.path))?
        .to_path_buf();
    let mut p = pointer;
    loop {
        if let Some(pos) = c.sources.position(&file, p) {
            return Some(pos);
        }
        let cut = p.rfind('/')?;
        p = &p[..cut];
    }
}
