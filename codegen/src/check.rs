//! Catalog against catalog: every event version of the new catalog against the same version
//! of the old one, at its compatibility level, plus the contract rules (a removed version, a
//! changed routing key, exchange or producer). A new major version starts a new lineage and
//! is never compared with the previous major.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compat::{compare, CompatError, CompatRule, Direction, Finding, Mode, Policy};
use crate::config::{Compatibility, RustApiSeverity};
use crate::diagnostics::Position;
use crate::fields::{fields_of, Field};
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
    /// Whether the finding fails the check unless allowed: wire and contract findings do;
    /// rust-api ones only with `[defaults] rust_api = "error"`.
    pub error: bool,
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

    /// Whether it fails the check: an error no allow-list entry accepts.
    pub fn is_breaking(&self) -> bool {
        self.allowed.is_none() && self.error
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

/// Compares `new` with `old` (the same catalog at an earlier revision). `policy` overrides
/// each event version's own (`x-event` `policy`, else `[defaults] policy`).
pub fn check(
    old: &Catalog,
    new: &Catalog,
    policy: Option<Policy>,
    allow: &AllowList,
) -> Result<Vec<CheckFinding>, (String, CompatError)> {
    let mut out = Vec::new();
    let rust_api_error = new.config.defaults.rust_api == RustApiSeverity::Error;
    for (mt, was) in versions(old) {
        let Some(now) = new.version(&mt) else {
            out.extend(removed(new, was));
            continue;
        };
        let policy = policy.unwrap_or(now.policy);
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
        // An unchanged schema is compatible with itself.
        if was.resolved == now.resolved {
            continue;
        }
        let api = rust_api(old, was, new, now);
        let Some(mode) = mode(now.compatibility) else {
            out.extend(
                api.into_iter()
                    .map(|f| located(new, now, f, rust_api_error)),
            );
            continue;
        };
        // Under strict policy the wire rules see a removed property; under lenient the wire
        // is fine (writers never send it again), and readers lose it: a contract break
        // wherever old readers must keep working.
        if policy == Policy::Lenient && mode != Mode::Backward {
            for f in api
                .iter()
                .filter(|f| f.rule == CompatRule::RustFieldRemoved)
            {
                let name = f.old_pointer.rsplit('/').next().unwrap_or_default();
                out.push(located(
                    new,
                    now,
                    Finding {
                        rule: CompatRule::PropertyDropped,
                        direction: Direction::Forward,
                        old_pointer: f.old_pointer.clone(),
                        new_pointer: String::new(),
                        message: format!(
                            "property `{name}` is no longer declared: writers stop sending it and consumers that read it lose it; keep it (say it is deprecated in its description) until {mt} is replaced by a new major version"
                        ),
                    },
                    true,
                ));
            }
        }
        out.extend(
            api.into_iter()
                .map(|f| located(new, now, f, rust_api_error)),
        );
        let findings =
            compare(&was.resolved, &now.resolved, mode, policy).map_err(|e| (mt.clone(), e))?;
        out.extend(findings.into_iter().map(|f| located(new, now, f, true)));
    }
    allow_known(&mut out, allow);
    Ok(out)
}

/// What removing version `was` means: advisory when it was deprecated (naming the consumers
/// it still had), a contract break when it was not; either way the consumers it leaves
/// reading nothing.
fn removed(new: &Catalog, was: &EventVersion) -> Vec<CheckFinding> {
    let mt = &was.message_type;
    let mut out = Vec::new();
    if was.is_deprecated() {
        let consumers = if was.consumers.is_empty() {
            "it had no consumers".to_owned()
        } else {
            format!(
                "it still listed consumers {}: make sure they read a newer version",
                was.consumers
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut f = contract(
            was,
            CompatRule::DeprecatedVersionRemoved,
            format!("{mt} was deprecated and is retired; {consumers}"),
        );
        f.error = false;
        out.push(f);
    } else {
        out.push(contract(
            was,
            CompatRule::VersionRemoved,
            format!(
                "{mt} was published and is gone without being deprecated first; restore it, mark it `deprecated` in its x-event and remove it once its consumers have moved"
            ),
        ));
    }
    out.extend(orphaned(new, was));
    out
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
        error: true,
    }
}

/// The `_TRANSITIVE` levels: every version of `new` whose level is transitive, against the
/// same version in each earlier revision of the catalog (`revisions`: a label such as a
/// commit, and the catalog there). Findings already in `found` (by fingerprint) are not
/// repeated; the others say which revision they break.
pub fn check_transitive(
    revisions: &[(String, Catalog)],
    new: &Catalog,
    policy: Option<Policy>,
    allow: &AllowList,
    found: &[CheckFinding],
) -> Result<Vec<CheckFinding>, (String, CompatError)> {
    let mut seen: std::collections::BTreeSet<String> =
        found.iter().map(CheckFinding::fingerprint).collect();
    let mut out = Vec::new();
    for now in new.versions().filter(|v| is_transitive(v.compatibility)) {
        let Some(mode) = mode(now.compatibility) else {
            continue;
        };
        for (label, catalog) in revisions {
            let Some(was) = catalog.version(&now.message_type) else {
                continue;
            };
            if was.resolved == now.resolved {
                continue;
            }
            let policy = policy.unwrap_or(now.policy);
            let findings = compare(&was.resolved, &now.resolved, mode, policy)
                .map_err(|e| (now.message_type.clone(), e))?;
            for mut finding in findings {
                finding.message = format!("{} (against revision {label})", finding.message);
                let f = located(new, now, finding, true);
                if seen.insert(f.fingerprint()) {
                    out.push(f);
                }
            }
        }
    }
    allow_known(&mut out, allow);
    Ok(out)
}

/// `finding` about version `v` of catalog `c`, placed at its source position.
fn located(c: &Catalog, v: &EventVersion, finding: Finding, error: bool) -> CheckFinding {
    CheckFinding {
        event: v.message_type.clone(),
        file: v.path.clone(),
        position: position(c, v, &finding.new_pointer),
        finding,
        allowed: None,
        error,
    }
}

/// Whether `level` compares with every earlier revision.
pub fn is_transitive(level: Compatibility) -> bool {
    matches!(
        level,
        Compatibility::BackwardTransitive
            | Compatibility::ForwardTransitive
            | Compatibility::FullTransitive
    )
}

fn allow_known(findings: &mut [CheckFinding], allow: &AllowList) {
    for f in findings {
        let print = f.fingerprint();
        f.allowed = allow
            .allow
            .iter()
            .find(|e| e.fingerprint == print)
            .map(|e| e.reason.clone());
    }
}

/// The consumers of the removed version `was` that consume no remaining version of its
/// event: nothing they read is published any more.
fn orphaned(new: &Catalog, was: &EventVersion) -> Vec<CheckFinding> {
    let remaining = new.events.get(&was.name);
    was.consumers
        .iter()
        .filter(|c| new.services.contains_key(*c))
        .filter(|c| remaining.is_none_or(|e| e.versions.values().all(|v| !v.consumers.contains(c))))
        .map(|c| {
            contract(
                was,
                CompatRule::ConsumersOrphaned,
                format!(
                    "`{c}` consumed {} and consumes no other version of {}: nothing it reads is published any more; move it to a published version first",
                    was.message_type, was.name
                ),
            )
        })
        .collect()
}

/// Changes that break code compiled against the generated types of `was`, field by field:
/// a Rust type changed, a field moved between `T` and `Option<T>`, a field removed, an enum
/// gained or lost a variant.
fn rust_api(
    old_catalog: &Catalog,
    was: &EventVersion,
    new_catalog: &Catalog,
    now: &EventVersion,
) -> Vec<Finding> {
    let old = fields_of(was, &old_catalog.shared_definitions);
    let new = fields_of(now, &new_catalog.shared_definitions);
    let by_path: BTreeMap<&str, &Field> = new.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut out = Vec::new();
    let mut finding = |rule, old: &Field, new_pointer: &str, message: String| {
        out.push(Finding {
            rule,
            direction: Direction::Backward,
            old_pointer: old.pointer.clone(),
            new_pointer: new_pointer.to_owned(),
            message,
        });
    };
    for o in &old {
        let Some(n) = by_path.get(o.path.as_str()) else {
            finding(
                CompatRule::RustFieldRemoved,
                o,
                "",
                format!(
                    "field `{}` ({}) is gone from the generated type",
                    o.path, o.rust_type
                ),
            );
            continue;
        };
        if o.rust_type != n.rust_type {
            let rule = if unwrap_option(&o.rust_type) == unwrap_option(&n.rust_type) {
                CompatRule::RustOptionalityChanged
            } else if same_shape(&was.resolved, &o.pointer, &now.resolved, &n.pointer) {
                CompatRule::RustTypeRenamed
            } else {
                CompatRule::RustTypeChanged
            };
            finding(
                rule,
                o,
                &n.pointer,
                format!(
                    "field `{}`: `{}` became `{}`",
                    o.path, o.rust_type, n.rust_type
                ),
            );
        }
        let (before, after) = (
            enum_values(&was.resolved, &o.pointer),
            enum_values(&now.resolved, &n.pointer),
        );
        let added: Vec<String> = after
            .iter()
            .filter(|v| !before.contains(v))
            .map(|v| v.to_string())
            .collect();
        let removed: Vec<String> = before
            .iter()
            .filter(|v| !after.contains(v))
            .map(|v| v.to_string())
            .collect();
        if !before.is_empty() && !added.is_empty() {
            finding(
                CompatRule::RustEnumVariantAdded,
                o,
                &n.pointer,
                format!(
                    "enum of `{}` gained {}: exhaustive matches stop compiling",
                    o.path,
                    added.join(", ")
                ),
            );
        }
        if !after.is_empty() && !removed.is_empty() {
            finding(
                CompatRule::RustEnumVariantRemoved,
                o,
                &n.pointer,
                format!("enum of `{}` lost {}", o.path, removed.join(", ")),
            );
        }
    }
    out
}

fn unwrap_option(rust_type: &str) -> &str {
    rust_type
        .strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(rust_type)
}

/// The schema at `pointer`, following one `$ref`.
fn target<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    let schema = root.pointer(pointer)?;
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.strip_prefix('#').unwrap_or(r)),
        None => Some(schema),
    }
}

/// Whether two property schemas are the same but for annotations: a type that only changed
/// its name (a renamed shared definition).
fn same_shape(old_root: &Value, old: &str, new_root: &Value, new: &str) -> bool {
    let strip = |v: Option<&Value>| {
        v.cloned().map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                for k in ["title", "description", "examples", "$comment"] {
                    o.remove(k);
                }
            }
            v
        })
    };
    let (a, b) = (strip(target(old_root, old)), strip(target(new_root, new)));
    a.is_some() && a == b
}

/// The `enum` values of the schema at `pointer` (following one `$ref`).
fn enum_values(root: &Value, pointer: &str) -> Vec<Value> {
    target(root, pointer)
        .and_then(|s| s.get("enum"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
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
