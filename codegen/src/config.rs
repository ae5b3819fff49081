//! `catalog.toml`: the catalog's name, exchanges, services, defaults, dialects and lint
//! settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The parsed `catalog.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Name, version and description of the catalog.
    pub catalog: CatalogInfo,
    /// Exchanges by name.
    #[serde(default)]
    pub exchanges: BTreeMap<String, ExchangeConfig>,
    /// Services by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    /// Defaults applied to every event unless its `x-event` says otherwise.
    #[serde(default)]
    pub defaults: Defaults,
    /// The catalog-wide default dialect, spelled as an envelope profile (`[defaults] dialect`
    /// names any dialect and wins over it).
    #[serde(default)]
    pub envelope: EnvelopeConfig,
    /// JSON envelopes and tuned built-in dialects, by name (`[dialects.<name>]`).
    #[serde(default)]
    pub dialects: BTreeMap<String, Dialect>,
    /// Lint settings.
    #[serde(default)]
    pub lint: LintConfig,
}

/// `[catalog]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogInfo {
    /// Catalog name.
    pub name: String,
    /// Catalog version (informative; published in docs).
    pub version: String,
    /// What the catalog covers.
    #[serde(default)]
    pub description: Option<String>,
    /// When set, every event's `$id` must be this prefix followed by the file's path.
    #[serde(default)]
    pub id_base: Option<String>,
}

pub use schemactl_runtime::dialect::Dialect;
pub use schemactl_runtime::topology::{ExchangeKind, QueueType};
pub use schemactl_runtime::EnvelopeProfile;

fn yes() -> bool {
    true
}

/// `[exchanges.<name>]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Exchange type.
    #[serde(rename = "type")]
    pub kind: ExchangeKind,
    /// Survives a broker restart (default true).
    #[serde(default = "yes")]
    pub durable: bool,
    /// What flows through it.
    #[serde(default)]
    pub description: Option<String>,
    /// The dialect its events travel in (default: `[defaults] dialect`).
    #[serde(default)]
    pub dialect: Option<String>,
}

/// `[services.<name>]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// What the service does.
    #[serde(default)]
    pub description: Option<String>,
    /// The owning team.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Compatibility level of an event's evolution within one major version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    /// The new schema reads data written with the previous revision.
    Backward,
    /// `Backward` against every earlier revision.
    BackwardTransitive,
    /// The previous revision reads data written with the new schema.
    Forward,
    /// `Forward` against every earlier revision.
    ForwardTransitive,
    /// Both directions.
    Full,
    /// `Full` against every earlier revision.
    FullTransitive,
    /// No check.
    None,
}

/// Retry policy for consumers: exponential backoff through retry queues.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts before a message is dead-lettered (the first delivery included).
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds.
    pub initial_delay_ms: u64,
    /// Upper bound of the delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Factor between consecutive delays.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_delay_ms: 100,
            max_delay_ms: 5_000,
            multiplier: 5.0,
        }
    }
}

/// `[defaults]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Exchange of events that name none.
    #[serde(default)]
    pub exchange: Option<String>,
    /// Dialect of exchanges that name none (default: `[envelope] profile`, else `standard`).
    #[serde(default)]
    pub dialect: Option<String>,
    /// Compatibility level of events that name none.
    #[serde(default = "default_compatibility")]
    pub compatibility: Compatibility,
    /// Queue type of consumer queues.
    #[serde(default)]
    pub queue_type: QueueType,
    /// Consumer retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Exchange dead letters are published to.
    #[serde(default = "default_dlx")]
    pub dead_letter_exchange: String,
    /// Whether `schemactl check` fails on rust-api findings (changes that break code compiled
    /// against the generated types though the wire is fine): `warning` (default) or `error`.
    #[serde(default)]
    pub rust_api: RustApiSeverity,
}

/// How `schemactl check` treats rust-api findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RustApiSeverity {
    /// Reported, the check passes.
    #[default]
    Warning,
    /// Reported, the check fails.
    Error,
}

fn default_compatibility() -> Compatibility {
    Compatibility::Full
}

fn default_dlx() -> String {
    "dead-letter".to_owned()
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            exchange: None,
            dialect: None,
            compatibility: default_compatibility(),
            queue_type: QueueType::default(),
            retry: RetryPolicy::default(),
            dead_letter_exchange: default_dlx(),
            rust_api: RustApiSeverity::default(),
        }
    }
}

/// `[envelope]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeConfig {
    /// The envelope profile.
    #[serde(default)]
    pub profile: EnvelopeProfile,
}

/// `[lint]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// Warning rules to skip, by ID.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl CatalogConfig {
    /// The dialect of exchanges that name none.
    pub fn default_dialect(&self) -> &str {
        self.defaults
            .dialect
            .as_deref()
            .unwrap_or_else(|| self.envelope.profile.dialect())
    }

    /// The dialect of `exchange`'s events, by name.
    pub fn exchange_dialect(&self, exchange: &str) -> &str {
        self.exchanges
            .get(exchange)
            .and_then(|e| e.dialect.as_deref())
            .unwrap_or_else(|| self.default_dialect())
    }

    /// The dialect called `name`: declared in `[dialects]`, or built in.
    pub fn dialect(&self, name: &str) -> Option<Dialect> {
        self.dialects
            .get(name)
            .cloned()
            .or_else(|| Dialect::builtin_named(name))
    }
}
