//! The validated catalog model every output is computed from. Names (Rust identifiers,
//! routing keys, message types) are computed here, once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{CatalogConfig, Compatibility, ExchangeConfig, ExchangeKind, ServiceConfig};
use crate::diagnostics::Diagnostics;
use crate::resolve::Target;
use crate::source::SourceMap;

/// A loaded, linted catalog. Only built when linting found no errors.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The catalog directory as given.
    pub root: PathBuf,
    /// `catalog.toml`.
    pub config: CatalogConfig,
    /// Events by name.
    pub events: BTreeMap<String, Event>,
    /// Shared definition files (not events), by catalog-relative path.
    pub shared: BTreeMap<PathBuf, Value>,
    /// The definitions of shared files that event versions reference, bundled once.
    pub shared_definitions: SharedDefinitions,
    /// Text of every file read.
    pub sources: SourceMap,
    /// Warnings found while loading (errors prevent a `Catalog` from being built).
    pub warnings: Diagnostics,
    /// Every file and directory read, for `cargo:rerun-if-changed`.
    pub inputs: Vec<PathBuf>,
    /// Services by name, with what each produces and consumes.
    pub services: BTreeMap<String, Service>,
}

impl Catalog {
    /// How the catalog's events travel: the dialects its exchanges and events use, the
    /// dialect of each exchange, and each event version's type value.
    pub fn wire(&self) -> Result<schemactl_runtime::Wire, String> {
        let mut spec = schemactl_runtime::dialect::WireSpec::default();
        let mut used: Vec<&str> = Vec::new();
        for name in self.config.exchanges.keys() {
            let dialect = self.config.exchange_dialect(name);
            spec.exchanges.insert(name.clone(), dialect.to_owned());
            used.push(dialect);
        }
        for v in self.versions() {
            if v.is_masstransit() {
                let dialect = self.config.exchange_dialect(&v.catalog_exchange);
                spec.exchanges
                    .insert(v.exchange.clone(), dialect.to_owned());
            }
            spec.events.push(schemactl_runtime::dialect::WireEvent {
                message_type: v.message_type.clone(),
                exchange: v.exchange.clone(),
                dialect: v.dialect.clone(),
                wire_type: v.wire_type.clone(),
            });
            used.push(&v.dialect);
        }
        for name in used
            .into_iter()
            .chain(self.config.dialects.keys().map(String::as_str))
        {
            if let Some(dialect) = self.config.dialect(name) {
                spec.dialects.insert(name.to_owned(), dialect);
            }
        }
        schemactl_runtime::Wire::new(spec)
    }

    /// Every event version, ordered by domain, event name and version.
    pub fn versions(&self) -> impl Iterator<Item = &EventVersion> {
        let mut all: Vec<&EventVersion> = self
            .events
            .values()
            .flat_map(|e| e.versions.values())
            .collect();
        all.sort_by(|a, b| (&a.domain, &a.name, a.version).cmp(&(&b.domain, &b.name, b.version)));
        all.into_iter()
    }

    /// Domains and the events in each, ordered by name.
    pub fn domains(&self) -> BTreeMap<&str, Vec<&Event>> {
        let mut out: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for e in self.events.values() {
            out.entry(e.domain.as_str()).or_default().push(e);
        }
        out
    }

    /// A declared exchange.
    pub fn exchange(&self, name: &str) -> Option<&ExchangeConfig> {
        self.config.exchanges.get(name)
    }

    /// The type of the exchange `v` is published to (fanout for a MassTransit message
    /// type's exchange).
    pub fn exchange_kind(&self, v: &EventVersion) -> ExchangeKind {
        if v.is_masstransit() {
            ExchangeKind::Fanout
        } else {
            self.exchange(&v.exchange)
                .map_or(ExchangeKind::Topic, |e| e.kind)
        }
    }

    /// A declared service.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.config.services.get(name)
    }

    /// An event version by message type (`UserRegistered.v1`).
    pub fn version(&self, message_type: &str) -> Option<&EventVersion> {
        let (name, version) = message_type.rsplit_once(".v")?;
        self.events.get(name)?.versions.get(&version.parse().ok()?)
    }

    /// Builds [`Catalog::services`] from the configuration and the events.
    pub fn index_services(&mut self) {
        let mut services: BTreeMap<String, Service> = self
            .config
            .services
            .iter()
            .map(|(name, config)| {
                let service = Service {
                    name: name.clone(),
                    description: config.description.clone(),
                    owner: config.owner.clone(),
                    rust: ServiceNames::new(name),
                    produces: Vec::new(),
                    consumes: Vec::new(),
                    subscriptions: config
                        .subscribe
                        .iter()
                        .map(|sub| Subscribed {
                            exchange: sub.exchange.clone(),
                            binding_key: binding_key(
                                sub,
                                self.config.exchanges.get(&sub.exchange).map(|e| e.kind),
                            ),
                            message_types: Vec::new(),
                        })
                        .collect(),
                };
                (name.clone(), service)
            })
            .collect();
        for v in self.versions() {
            if let Some(s) = services.get_mut(&v.producer) {
                s.produces.push(v.message_type.clone());
            }
            for s in services.values_mut() {
                let listed = v.consumers.contains(&s.name);
                let mut subscribed = false;
                for sub in &mut s.subscriptions {
                    let target = self.config.exchanges.get(&sub.exchange).map(|e| e.kind);
                    if reaches(
                        &self.config,
                        &v.catalog_exchange,
                        &v.routing_key,
                        &sub.exchange,
                    ) && selects(target, &sub.binding_key, &v.routing_key)
                    {
                        sub.message_types.push(v.message_type.clone());
                        subscribed = true;
                    }
                }
                if listed || subscribed {
                    s.consumes.push(v.message_type.clone());
                }
            }
        }
        self.services = services;
    }
}

/// A service of the catalog and the event versions it produces and consumes (message types,
/// in domain, name and version order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Name, e.g. `user-service`.
    pub name: String,
    /// What the service does.
    pub description: Option<String>,
    /// The owning team.
    pub owner: Option<String>,
    /// Rust names.
    pub rust: ServiceNames,
    /// Message types it publishes.
    pub produces: Vec<String>,
    /// Message types it consumes: those whose `x-event` lists it, and those its
    /// subscriptions select.
    pub consumes: Vec<String>,
    /// Its `subscribe` entries from `catalog.toml`, with the events each selects.
    pub subscriptions: Vec<Subscribed>,
}

/// A subscription of a service's queue and the event versions of the catalog it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The exchange.
    pub exchange: String,
    /// The binding key (`#` for a whole topic exchange, `""` for a fanout exchange).
    pub binding_key: String,
    /// Message types it selects.
    pub message_types: Vec<String>,
}

/// The binding key of a subscription on an exchange of type `kind`.
pub fn binding_key(sub: &crate::config::Subscription, kind: Option<ExchangeKind>) -> String {
    match (&sub.pattern, kind) {
        (_, Some(ExchangeKind::Fanout)) => String::new(),
        (Some(p), _) => p.clone(),
        (None, _) => "#".to_owned(),
    }
}

/// Whether a binding with `binding_key` on an exchange of type `kind` selects messages
/// published with `routing_key`.
pub fn selects(kind: Option<ExchangeKind>, binding_key: &str, routing_key: &str) -> bool {
    match kind {
        Some(ExchangeKind::Fanout) => true,
        Some(ExchangeKind::Topic) => topic_matches(binding_key, routing_key),
        Some(ExchangeKind::Direct) => binding_key == routing_key,
        Some(ExchangeKind::Headers) | None => false,
    }
}

/// Whether a message published on exchange `from` with `routing_key` reaches exchange `to`:
/// it is `to`, or `to` receives it through its `sources` (exchange-to-exchange bindings).
pub fn reaches(config: &CatalogConfig, from: &str, routing_key: &str, to: &str) -> bool {
    fn go(config: &CatalogConfig, from: &str, key: &str, to: &str, depth: usize) -> bool {
        if from == to {
            return true;
        }
        let Some(target) = config.exchanges.get(to) else {
            return false;
        };
        depth < 8
            && target.sources.iter().any(|src| {
                let kind = config.exchanges.get(&src.exchange).map(|e| e.kind);
                selects(kind, &binding_key(src, kind), key)
                    && go(config, from, key, &src.exchange, depth + 1)
            })
    }
    go(config, from, routing_key, to, 0)
}

/// Whether topic binding `pattern` matches `routing_key`: words split on `.`, `*` matches
/// exactly one word, `#` zero or more.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
            Some((w, rest)) => k
                .split_first()
                .is_some_and(|(kw, krest)| (*w == "*" || w == kw) && go(rest, krest)),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if routing_key.is_empty() {
        Vec::new()
    } else {
        routing_key.split('.').collect()
    };
    go(&p, &k)
}

/// Whether `key` is a valid topic binding key: dot-separated words of `[a-z0-9_-]`, `*` or
/// `#`, at most 255 bytes.
pub fn valid_binding_key(key: &str) -> bool {
    key.len() <= 255
        && !key.is_empty()
        && key.split('.').all(|w| {
            w == "*"
                || w == "#"
                || (!w.is_empty()
                    && w.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    }))
        })
}

/// Rust names of a service, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNames {
    /// PascalCase, e.g. `UserService`: the consumer dispatch type; `UserServicePublisher`
    /// and `UserServiceHandler` are derived from it.
    pub type_name: String,
    /// SHOUTY_SNAKE_CASE, e.g. `USER_SERVICE`: its queue constant.
    pub constant: String,
}

impl ServiceNames {
    /// Names for service `name`.
    pub fn new(name: &str) -> Self {
        ServiceNames {
            type_name: name.to_upper_camel_case(),
            constant: name.to_shouty_snake_case(),
        }
    }

    /// The producer stub, e.g. `UserServicePublisher`.
    pub fn publisher(&self) -> String {
        format!("{}Publisher", self.type_name)
    }

    /// The outbox writer, e.g. `UserServiceOutbox`.
    pub fn outbox(&self) -> String {
        format!("{}Outbox", self.type_name)
    }

    /// The handler trait, e.g. `NotificationServiceHandler`.
    pub fn handler(&self) -> String {
        format!("{}Handler", self.type_name)
    }
}

/// Whether `name` can name a service: lowercase ASCII letters, digits, `-` and `_`, starting
/// with a letter, at most 200 bytes (it names queues).
pub fn valid_service_name(name: &str) -> bool {
    name.len() <= 200
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.ends_with(['-', '_'])
}

/// One event and all its major versions.
#[derive(Debug, Clone)]
pub struct Event {
    /// PascalCase name, e.g. `UserRegistered`.
    pub name: String,
    /// Domain (the folder), e.g. `user`.
    pub domain: String,
    /// Major versions.
    pub versions: BTreeMap<u32, EventVersion>,
}

impl Event {
    /// The highest version.
    pub fn latest(&self) -> Option<&EventVersion> {
        self.versions.values().next_back()
    }
}

/// Whether and why an event version is deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Deprecation {
    /// `deprecated: true`.
    Flag(bool),
    /// `deprecated: "use UserRegistered.v2"`.
    Reason(String),
}

/// The `x-event` object of an event schema.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct XEvent {
    /// Event name; must equal the file's when given.
    #[serde(default)]
    pub name: Option<String>,
    /// Major version; must equal the file's when given.
    #[serde(default)]
    pub version: Option<u32>,
    /// The producing service.
    pub producer: String,
    /// The consuming services.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// Exchange (default: the catalog default).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Routing key (default: derived, `UserRegistered` v1 → `user.registered.v1`).
    #[serde(default)]
    pub routing_key: Option<String>,
    /// What causes the event.
    #[serde(default)]
    pub trigger: Option<String>,
    /// What consumers do with it.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Deprecation mark.
    #[serde(default)]
    pub deprecated: Option<Deprecation>,
    /// Compatibility level overriding the catalog default.
    #[serde(default)]
    pub compatibility: Option<Compatibility>,
    /// Compatibility policy overriding the catalog default (`strict` or `lenient`).
    #[serde(default)]
    pub policy: Option<crate::compat::Policy>,
    /// Dialect overriding the exchange's.
    #[serde(default)]
    pub dialect: Option<String>,
    /// The type value on the wire, overriding the dialect's template (`order.created`, a
    /// MassTransit URN).
    #[serde(default)]
    pub wire_type: Option<String>,
}

/// Rust names of one event version, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustNames {
    /// Domain module, e.g. `user`.
    pub domain_module: String,
    /// Version module, e.g. `user_registered_v1`.
    pub module: String,
    /// Payload type inside the version module, e.g. `UserRegistered`.
    pub type_name: String,
    /// Re-export in the domain module, e.g. `UserRegisteredV1`.
    pub alias: String,
    /// Constant name, e.g. `USER_REGISTERED_V1`.
    pub constant: String,
    /// Method name on publishers and handlers, e.g. `user_registered_v1`.
    pub method: String,
}

impl RustNames {
    /// Names for `name` version `version` in `domain`.
    pub fn new(domain: &str, name: &str, version: u32) -> Self {
        let snake = format!("{}_v{version}", name.to_snake_case());
        RustNames {
            domain_module: domain.to_owned(),
            module: snake.clone(),
            type_name: name.to_owned(),
            alias: format!("{name}V{version}"),
            constant: format!("{}_V{version}", name.to_shouty_snake_case()),
            method: snake,
        }
    }
}

/// The definitions in shared files (not event files) that event versions reference, and
/// everything those reference in turn, bundled once for the whole catalog under catalog-wide
/// names. Code generation turns each into one type that every event version uses.
#[derive(Debug, Clone, Default)]
pub struct SharedDefinitions {
    /// `{"definitions": {...}}`, references rewritten to `#/definitions/<Name>`.
    pub schema: Value,
    /// The catalog-wide name of each definition, by (file, JSON pointer).
    pub names: BTreeMap<Target, String>,
}

impl SharedDefinitions {
    /// Whether no event version references a shared definition.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The definitions of `v`'s bundle that are shared ones: the name in the bundle, where the
    /// definition is, and its catalog-wide name.
    pub fn used_by<'a>(
        &'a self,
        v: &'a EventVersion,
    ) -> impl Iterator<Item = (&'a str, &'a Target, &'a str)> + 'a {
        v.definitions
            .iter()
            .filter(|(_, origin)| origin.0 != v.path)
            .filter_map(|(local, origin)| {
                let shared = self.names.get(origin)?;
                Some((local.as_str(), origin, shared.as_str()))
            })
    }
}

/// One major version of an event: the unit of code generation.
#[derive(Debug, Clone)]
pub struct EventVersion {
    /// Event name.
    pub name: String,
    /// Major version.
    pub version: u32,
    /// Domain.
    pub domain: String,
    /// Path relative to the catalog root, e.g. `user/UserRegistered.v1.json`.
    pub path: PathBuf,
    /// `UserRegistered.v1`: the envelope's `messageType`.
    pub message_type: String,
    /// Routing key.
    pub routing_key: String,
    /// The exchange it is published to: its catalog exchange, or for a MassTransit exchange
    /// its message type's own fanout exchange (`Namespace:TypeName`).
    pub exchange: String,
    /// The exchange `catalog.toml` declares and `x-event` names.
    pub catalog_exchange: String,
    /// The dialect it travels in.
    pub dialect: String,
    /// Its type value in that dialect.
    pub wire_type: String,
    /// Producing service.
    pub producer: String,
    /// Consuming services.
    pub consumers: Vec<String>,
    /// The schema's `description`.
    pub description: Option<String>,
    /// What causes the event.
    pub trigger: Option<String>,
    /// What consumers do with it.
    pub purpose: Option<String>,
    /// Deprecation note: `Some("")` when deprecated without a reason.
    pub deprecated: Option<String>,
    /// Effective compatibility level.
    pub compatibility: Compatibility,
    /// Effective compatibility policy.
    pub policy: crate::compat::Policy,
    /// The schema as written.
    pub schema: Value,
    /// The self-contained schema (references bundled as `#/definitions/...`).
    pub resolved: Value,
    /// Where each of `resolved`'s definitions came from: (file, JSON pointer) by name.
    pub definitions: BTreeMap<String, Target>,
    /// The example payloads.
    pub examples: Vec<Value>,
    /// Rust names.
    pub rust: RustNames,
}

impl EventVersion {
    /// Whether the version is marked deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.deprecated.is_some()
    }

    /// Whether it travels in MassTransit's topology (on its message type's exchange).
    pub fn is_masstransit(&self) -> bool {
        self.exchange != self.catalog_exchange
    }
}

/// MassTransit's name of the exchange of message URN `urn:message:<Namespace>:<TypeName>`:
/// `<Namespace>:<TypeName>`.
pub fn masstransit_entity(urn: &str) -> Option<&str> {
    urn.strip_prefix("urn:message:")
        .filter(|entity| !entity.is_empty() && entity.len() <= 255)
}

/// `UserRegistered` v1 → `user.registered.v1`.
pub fn default_routing_key(name: &str, version: u32) -> String {
    routing_key_from("{key}.v{version}", name, version)
}

/// The routing key of event `name` version `version` written by an exchange's `routing_key`
/// template over `{key}` (`order.created`), `{version}` and `{name}` (`OrderCreated`).
pub fn routing_key_from(template: &str, name: &str, version: u32) -> String {
    template
        .replace("{key}", &name.to_snake_case().replace('_', "."))
        .replace("{version}", &version.to_string())
        .replace("{name}", name)
}

/// Whether `key` is dot-separated words of `[a-z0-9_-]` (no wildcards), at most 255 bytes.
pub fn valid_routing_key(key: &str) -> bool {
    key.len() <= 255
        && !key.is_empty()
        && key.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// Splits `UserRegistered.v1.json` into (`UserRegistered`, 1).
pub fn parse_event_file_name(file_name: &str) -> Option<(String, u32)> {
    let stem = file_name.strip_suffix(".json")?;
    let (name, version) = stem.rsplit_once(".v")?;
    let valid_name = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    let valid_version = !version.starts_with('0') && version.chars().all(|c| c.is_ascii_digit());
    if !valid_name || !valid_version {
        return None;
    }
    Some((name.to_owned(), version.parse().ok()?))
}

/// Whether `domain` can be a Rust module name and a folder name.
pub fn valid_domain(domain: &str) -> bool {
    domain.starts_with(|c: char| c.is_ascii_lowercase())
        && domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && syn::parse_str::<syn::Ident>(domain).is_ok()
        && !RESERVED_MODULES.contains(&domain)
}

/// Module names the generated tree uses itself.
pub const RESERVED_MODULES: &[&str] = &[
    "routing_keys",
    "exchanges",
    "message_types",
    "producers",
    "consumers",
    "topology",
    "queues",
    "shared",
];

/// Rust constant name of an exchange: `user.events` → `USER_EVENTS`.
pub fn exchange_constant(name: &str) -> String {
    let mut c: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if !c.starts_with(|ch: char| ch.is_ascii_alphabetic()) {
        c.insert(0, 'X');
    }
    c
}

/// `path` relative to `base` when it is below it.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_as_rabbitmq_does() {
        let yes = [
            ("order.*", "order.created"),
            ("product.#", "product.price.changed"),
            ("product.#", "product"),
            ("#", "anything.at.all"),
            ("order.*.failed", "order.processing.failed"),
            ("*.created", "order.created"),
            ("#.failed", "order.processing.failed"),
        ];
        let no = [
            ("order.*", "order.payment.completed"),
            ("order.*", "order"),
            ("order.*.failed", "order.failed"),
            ("customer.*", "order.created"),
        ];
        for (p, k) in yes {
            assert!(topic_matches(p, k), "{p} should match {k}");
        }
        for (p, k) in no {
            assert!(!topic_matches(p, k), "{p} should not match {k}");
        }
        assert!(valid_binding_key("order.*.failed") && valid_binding_key("#"));
        assert!(!valid_binding_key("order..x") && !valid_binding_key("Order.*"));
    }

    #[test]
    fn naming() {
        assert_eq!(
            default_routing_key("UserRegistered", 1),
            "user.registered.v1"
        );
        assert_eq!(
            default_routing_key("OfferApproved", 12),
            "offer.approved.v12"
        );
        let n = RustNames::new("user", "UserRegistered", 2);
        assert_eq!(n.module, "user_registered_v2");
        assert_eq!(n.alias, "UserRegisteredV2");
        assert_eq!(n.constant, "USER_REGISTERED_V2");
        assert_eq!(
            parse_event_file_name("UserRegistered.v10.json"),
            Some(("UserRegistered".into(), 10))
        );
        assert_eq!(parse_event_file_name("UserRegistered.v01.json"), None);
        assert_eq!(parse_event_file_name("userRegistered.v1.json"), None);
        assert_eq!(parse_event_file_name("User.Registered.v1.json"), None);
        assert!(valid_routing_key("user.registered.v1"));
        assert!(!valid_routing_key("user.*.v1"));
        assert!(!valid_routing_key("user..v1"));
        assert!(!valid_routing_key("User.registered"));
        assert!(valid_domain("user_accounts"));
        assert!(!valid_domain("type"));
        assert!(!valid_domain("routing_keys"));
    }
}
