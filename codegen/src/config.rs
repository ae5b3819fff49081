//! `catalog.toml`: the catalog's name, exchanges, services, defaults, dialects and lint
//! settings.

use std::collections::BTreeMap;

use crate::compat::Policy;
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
    /// What the generated Rust includes.
    #[serde(default)]
    pub generate: GenerateConfig,
}

/// `[generate]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    /// Also generate, per producing service, a writer of its events into a transactional
    /// outbox (`<Service>Outbox`); the crate that includes the code then needs
    /// `schemactl-runtime`'s `outbox` feature.
    #[serde(default)]
    pub outbox: bool,
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
pub use schemactl_runtime::topology::{ExchangeKind, Overflow, QueueType, RetryDelay};
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
    /// How the routing keys of its events are written when `x-event` names none: a template
    /// over `{key}` (`order.created`), `{version}` (`1`) and `{name}` (`OrderCreated`).
    /// Default `{key}.v{version}`; `{key}` for platforms that route on the bare event name
    /// (a breaking change then needs its own routing key, or exchange, for v2).
    #[serde(default)]
    pub routing_key: Option<String>,
    /// Exchanges whose messages this one also receives, through exchange-to-exchange
    /// bindings: `[{ exchange = "orders" }]` (everything), or with a `pattern`.
    #[serde(default)]
    pub sources: Vec<Subscription>,
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
    /// Its queue, when it consumes (default: the service name).
    #[serde(default)]
    pub queue: Option<String>,
    /// Queue type of its queue and dead-letter queue (default: `[defaults] queue_type`).
    #[serde(default)]
    pub queue_type: Option<QueueType>,
    /// Its dead-letter queue (default: `<queue>.dlq`); several services may share one.
    #[serde(default)]
    pub dead_letter_queue: Option<String>,
    /// Routing key of its dead letters on the dead-letter exchange (default: the queue name).
    #[serde(default)]
    pub dead_letter_routing_key: Option<String>,
    /// Binding key of the dead-letter queue on the dead-letter exchange (default: the
    /// dead-letter routing key; a pattern such as `order.*.failed` on a topic exchange).
    #[serde(default)]
    pub dead_letter_binding: Option<String>,
    /// Arguments of its queue, over `[defaults.queue_arguments]`.
    #[serde(default)]
    pub queue_arguments: QueueArguments,
    /// Subscriptions besides the events whose `x-event` lists it as a consumer: binding
    /// patterns on topic exchanges, or whole exchanges.
    #[serde(default)]
    pub subscribe: Vec<Subscription>,
}

/// A subscription of a service's queue: `{ exchange = "orders", pattern = "order.*" }`, or
/// `{ exchange = "analytics" }` for everything an exchange routes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The exchange.
    pub exchange: String,
    /// The binding key: a topic pattern (`*` one word, `#` any words) or an exact key.
    /// Absent: every message of the exchange (`#` on a topic exchange, `""` on a fanout).
    #[serde(default)]
    pub pattern: Option<String>,
}

/// Queue arguments a catalog can set (`[defaults.queue_arguments]`, and per service).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueArguments {
    /// `x-message-ttl`: messages expire (and are dead-lettered) after this many milliseconds.
    #[serde(default)]
    pub message_ttl_ms: Option<u64>,
    /// `x-max-length`.
    #[serde(default)]
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`.
    #[serde(default)]
    pub max_length_bytes: Option<u64>,
    /// `x-overflow`: `drop-head`, `reject-publish` or `reject-publish-dlx`.
    #[serde(default)]
    pub overflow: Option<Overflow>,
    /// `x-delivery-limit` (quorum queues only).
    #[serde(default)]
    pub delivery_limit: Option<u64>,
}

impl QueueArguments {
    /// These arguments, each falling back to `defaults`'.
    pub fn over(&self, defaults: &QueueArguments) -> QueueArguments {
        QueueArguments {
            message_ttl_ms: self.message_ttl_ms.or(defaults.message_ttl_ms),
            max_length: self.max_length.or(defaults.max_length),
            max_length_bytes: self.max_length_bytes.or(defaults.max_length_bytes),
            overflow: self.overflow.or(defaults.overflow),
            delivery_limit: self.delivery_limit.or(defaults.delivery_limit),
        }
    }
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
    /// Who holds a message during a delay: `queue` (a TTL retry queue per step, the
    /// default) or `consumer` (no retry queues; the consumer re-publishes to its own queue).
    #[serde(default)]
    pub delay: RetryDelay,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_delay_ms: 100,
            max_delay_ms: 5_000,
            multiplier: 5.0,
            delay: RetryDelay::Queue,
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
    /// How `schemactl check` assumes events are written, for events that name none:
    /// `lenient` (default: writers send declared properties only, as generated publishers
    /// do) or `strict` (any value the schema accepts may be written).
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// Queue type of consumer queues.
    #[serde(default)]
    pub queue_type: QueueType,
    /// Arguments of every consumer queue (a service's own win).
    #[serde(default)]
    pub queue_arguments: QueueArguments,
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

fn default_policy() -> Policy {
    Policy::Lenient
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
            policy: default_policy(),
            queue_type: QueueType::default(),
            queue_arguments: QueueArguments::default(),
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

    /// Whether `exchange` carries MassTransit messages, and so stands for MassTransit's
    /// topology: one fanout exchange per message type, named after it.
    pub fn is_masstransit_exchange(&self, exchange: &str) -> bool {
        self.exchanges.contains_key(exchange)
            && self
                .dialect(self.exchange_dialect(exchange))
                .is_some_and(|d| d.base == schemactl_runtime::dialect::DialectBase::Masstransit)
    }

    /// The dialect called `name`: declared in `[dialects]`, or built in.
    pub fn dialect(&self, name: &str) -> Option<Dialect> {
        self.dialects
            .get(name)
            .cloned()
            .or_else(|| Dialect::builtin_named(name))
    }
}
