//! Published docs of a catalog: a static HTML site ([`site`]), Markdown ([`markdown`]) and an
//! AsyncAPI 3.0 document ([`asyncapi`]).
//!
//! Every output is rendered from one [`DocsModel`] computed from the [`Catalog`]: the views
//! the templates read (field tables, version diffs, service queues) are computed here once.

pub mod asyncapi;
pub mod graph;
pub mod markdown;
pub mod site;

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::check::mode;
use crate::compat::{compare, Direction, Mode, Policy};
use crate::config::Compatibility;
pub use crate::fields::Field;
use crate::model::{Catalog, EventVersion};
use crate::topology;
use schemactl_runtime::dialect::{Dialect, DialectBase};
use schemactl_runtime::render::{self, HostInfo, Rendered};
use schemactl_runtime::Envelope;

/// Everything the docs show, computed from a catalog.
#[derive(Debug, Clone, Serialize)]
pub struct DocsModel {
    /// Catalog name, version and description.
    pub catalog: CatalogView,
    /// Domains, each with its event versions.
    pub domains: Vec<Group>,
    /// Exchanges, each with the event versions published to it.
    pub exchanges: Vec<Group>,
    /// Every event version, ordered by domain, name and version.
    pub versions: Vec<VersionView>,
    /// Services, ordered by name.
    pub services: Vec<ServiceView>,
}

/// The catalog's identity.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogView {
    /// Name from `catalog.toml`.
    pub name: String,
    /// Version from `catalog.toml`.
    pub version: String,
    /// Description from `catalog.toml`.
    pub description: Option<String>,
}

/// A named group of event versions (a domain or an exchange).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Domain or exchange name.
    pub name: String,
    /// Exchange type, for exchanges.
    pub kind: Option<String>,
    /// Description, for exchanges.
    pub description: Option<String>,
    /// Its event versions.
    pub events: Vec<Summary>,
}

/// One line about an event version, as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `UserRegistered.v1`.
    pub message_type: String,
    /// Event name.
    pub name: String,
    /// Major version.
    pub version: u32,
    /// Page path relative to the site root: `events/UserRegistered/v1`.
    pub page: String,
    /// Routing key.
    pub routing_key: String,
    /// Exchange.
    pub exchange: String,
    /// The exchange of `catalog.toml` it belongs to (differs from `exchange` for a
    /// MassTransit message type's own exchange).
    pub catalog_exchange: String,
    /// Producing service.
    pub producer: String,
    /// Consuming services.
    pub consumers: Vec<String>,
    /// Whether the version is deprecated.
    pub deprecated: bool,
    /// Whether it is the event's latest major version.
    pub latest: bool,
    /// Lower-case text the index search matches: names, routing key, services, fields.
    pub search: String,
}

/// Everything one event version's page shows.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    /// The list entry.
    #[serde(flatten)]
    pub summary: Summary,
    /// Domain.
    pub domain: String,
    /// Schema file, relative to the catalog root.
    pub file: String,
    /// The schema's description.
    pub description: Option<String>,
    /// What causes the event.
    pub trigger: Option<String>,
    /// What consumers do with it.
    pub purpose: Option<String>,
    /// Deprecation note (empty when deprecated without a reason).
    pub deprecation: Option<String>,
    /// Exchange type.
    pub exchange_kind: String,
    /// The dialect it travels in.
    pub dialect: String,
    /// Its type value in that dialect.
    pub wire_type: String,
    /// Compatibility level, e.g. `FULL`.
    pub compatibility: String,
    /// The generated Rust type: `catalog::user::UserRegisteredV1`.
    pub rust_type: String,
    /// The event's major versions, this one included.
    pub versions: Vec<u32>,
    /// The event's latest major version.
    pub latest_version: u32,
    /// Field table.
    pub fields: Vec<Field>,
    /// Example payloads, pretty-printed.
    pub examples: Vec<String>,
    /// The bundled schema, pretty-printed.
    pub schema: String,
    /// Diffs to earlier schemas: the previous revision (when one was given) and the previous
    /// major version.
    pub diffs: Vec<DiffView>,
}

/// The findings of comparing an event version with an earlier schema.
#[derive(Debug, Clone, Serialize)]
pub struct DiffView {
    /// What it is compared with: `UserRegistered.v1` or `the previous revision`.
    pub against: String,
    /// The compared schema's page, when it has one.
    pub against_page: Option<String>,
    /// Findings in both directions; empty when the schemas accept the same values.
    pub findings: Vec<DiffFinding>,
    /// Why the comparison could not be made.
    pub error: Option<String>,
    /// How many findings are breaking.
    pub breaking: usize,
}

/// One finding of a [`DiffView`].
#[derive(Debug, Clone, Serialize)]
pub struct DiffFinding {
    /// Rule ID.
    pub rule: String,
    /// `wire` or `rust-api`.
    pub category: String,
    /// `BACKWARD` or `FORWARD`.
    pub direction: String,
    /// Whether the event's compatibility level forbids it.
    pub breaking: bool,
    /// Where, in the newer schema.
    pub pointer: String,
    /// What changed.
    pub message: String,
}

/// Everything one service's page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// Name.
    pub name: String,
    /// Page path relative to the site root: `services/user-service`.
    pub page: String,
    /// What it does.
    pub description: Option<String>,
    /// Owning team.
    pub owner: Option<String>,
    /// Its queue, when it consumes.
    pub queue: Option<String>,
    /// Its dead-letter queue, when it consumes.
    pub dead_letter_queue: Option<String>,
    /// Bindings of its queue.
    pub bindings: Vec<BindingView>,
    /// What it publishes.
    pub produces: Vec<Summary>,
    /// What it consumes.
    pub consumes: Vec<Summary>,
}

/// A binding of a service's queue.
#[derive(Debug, Clone, Serialize)]
pub struct BindingView {
    /// Source exchange.
    pub exchange: String,
    /// Binding key.
    pub routing_key: String,
    /// The message types of the catalog it selects.
    pub selects: Vec<String>,
}

/// Page path of an event version, relative to the site root and without extension.
pub fn version_page(name: &str, version: u32) -> String {
    format!("events/{name}/v{version}")
}

impl DocsModel {
    /// Computes the docs of `catalog`. With `previous` (the same catalog at an earlier
    /// revision), each version's page also shows the diff to its previous revision.
    pub fn new(catalog: &Catalog, previous: Option<&Catalog>) -> DocsModel {
        let all: Vec<&EventVersion> = catalog.versions().collect();
        // Every version's page is independent: computed on all cores.
        let versions: Vec<VersionView> = all
            .par_iter()
            .map(|v| version_view(catalog, v, previous))
            .collect();
        let summaries: BTreeMap<&str, Summary> = versions
            .iter()
            .map(|v| (v.summary.message_type.as_str(), v.summary.clone()))
            .collect();
        let pick = |types: &[String]| -> Vec<Summary> {
            types
                .iter()
                .filter_map(|t| summaries.get(t.as_str()).cloned())
                .collect()
        };
        let domains = catalog
            .domains()
            .into_iter()
            .map(|(domain, events)| Group {
                name: domain.to_owned(),
                kind: None,
                description: None,
                events: events
                    .iter()
                    .flat_map(|e| e.versions.values())
                    .map(|v| summaries[v.message_type.as_str()].clone())
                    .collect(),
            })
            .collect();
        let exchanges = catalog
            .config
            .exchanges
            .iter()
            .map(|(name, x)| Group {
                name: name.clone(),
                kind: Some(x.kind.as_str().to_owned()),
                description: x.description.clone(),
                events: summaries
                    .values()
                    .filter(|s| &s.catalog_exchange == name)
                    .cloned()
                    .collect(),
            })
            .collect();
        let plan = topology::plan(catalog);
        let services = catalog
            .services
            .values()
            .map(|s| {
                let queue = plan.service(&s.name);
                ServiceView {
                    name: s.name.clone(),
                    page: format!("services/{}", s.name),
                    description: s.description.clone(),
                    owner: s.owner.clone(),
                    queue: queue.map(|q| q.queue.clone()),
                    dead_letter_queue: queue.map(|q| q.dead_letter_queue.clone()),
                    bindings: plan
                        .bindings
                        .iter()
                        .filter(|b| queue.is_some_and(|q| q.queue == b.queue))
                        .filter(|b| b.exchange != catalog.config.defaults.dead_letter_exchange)
                        .map(|b| BindingView {
                            exchange: b.exchange.clone(),
                            routing_key: b.routing_key.clone(),
                            selects: topology::selected_by(
                                catalog,
                                &plan,
                                &b.exchange,
                                &b.routing_key,
                            )
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                        })
                        .collect(),
                    produces: pick(&s.produces),
                    consumes: pick(&s.consumes),
                }
            })
            .collect();
        DocsModel {
            catalog: CatalogView {
                name: catalog.config.catalog.name.clone(),
                version: catalog.config.catalog.version.clone(),
                description: catalog.config.catalog.description.clone(),
            },
            domains,
            exchanges,
            versions,
            services,
        }
    }

    /// The machine-readable index written as `catalog.json`.
    pub fn index_json(&self) -> Value {
        let events: Vec<Value> = self
            .versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "messageType": v.summary.message_type,
                    "name": v.summary.name,
                    "version": v.summary.version,
                    "domain": v.domain,
                    "file": v.file,
                    "page": format!("{}.html", v.summary.page),
                    "exchange": v.summary.exchange,
                    "routingKey": v.summary.routing_key,
                    "producer": v.summary.producer,
                    "consumers": v.summary.consumers,
                    "deprecated": v.summary.deprecated,
                    "latest": v.summary.latest,
                    "compatibility": v.compatibility,
                    "rustType": v.rust_type,
                    "fields": v.fields.iter().map(|f| &f.path).collect::<Vec<_>>(),
                })
            })
            .collect();
        let services: Vec<Value> = self
            .services
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "page": format!("{}.html", s.page),
                    "owner": s.owner,
                    "queue": s.queue,
                    "produces": s.produces.iter().map(|e| &e.message_type).collect::<Vec<_>>(),
                    "consumes": s.consumes.iter().map(|e| &e.message_type).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "catalog": self.catalog.name,
            "version": self.catalog.version,
            "events": events,
            "services": services,
        })
    }
}

fn summary(v: &EventVersion, latest: bool, fields: &[Field]) -> Summary {
    let field_names = fields
        .iter()
        .map(|f| f.path.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let search = format!(
        "{} {} {} {} {} {} {}",
        v.message_type,
        v.routing_key,
        v.exchange,
        v.domain,
        v.producer,
        v.consumers.join(" "),
        field_names
    )
    .to_lowercase();
    Summary {
        message_type: v.message_type.clone(),
        name: v.name.clone(),
        version: v.version,
        page: version_page(&v.name, v.version),
        routing_key: v.routing_key.clone(),
        exchange: v.exchange.clone(),
        catalog_exchange: v.catalog_exchange.clone(),
        producer: v.producer.clone(),
        consumers: v.consumers.clone(),
        deprecated: v.is_deprecated(),
        latest,
        search,
    }
}

fn version_view(catalog: &Catalog, v: &EventVersion, previous: Option<&Catalog>) -> VersionView {
    let event = &catalog.events[&v.name];
    let latest_version = event.latest().map_or(v.version, |l| l.version);
    let fields = crate::fields::fields_of(v, &catalog.shared_definitions);
    let summary = summary(v, latest_version == v.version, &fields);
    let mut diffs = Vec::new();
    if let Some(was) = previous.and_then(|p| p.version(&v.message_type)) {
        if was.resolved != v.resolved {
            diffs.push(diff(
                "the previous revision".to_owned(),
                None,
                &was.resolved,
                v,
                v.compatibility,
            ));
        }
    }
    if let Some(prior) = event
        .versions
        .range(..v.version)
        .next_back()
        .map(|(_, p)| p)
    {
        // Across majors every break is expected; mark what the level would have forbidden.
        let level = match v.compatibility {
            Compatibility::None => Compatibility::Full,
            level => level,
        };
        diffs.push(diff(
            prior.message_type.clone(),
            Some(version_page(&prior.name, prior.version)),
            &prior.resolved,
            v,
            level,
        ));
    }
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
    VersionView {
        domain: v.domain.clone(),
        file: v.path.to_string_lossy().replace('\\', "/"),
        description: v.description.clone(),
        trigger: v.trigger.clone(),
        purpose: v.purpose.clone(),
        deprecation: v.deprecated.clone(),
        exchange_kind: catalog.exchange_kind(v).as_str().to_owned(),
        dialect: v.dialect.clone(),
        wire_type: v.wire_type.clone(),
        compatibility: level_name(v.compatibility),
        rust_type: format!("{}::{}", v.rust.domain_module, v.rust.alias),
        versions: event.versions.keys().copied().collect(),
        latest_version,
        fields,
        examples: v.examples.iter().map(pretty).collect(),
        schema: pretty(&v.resolved),
        diffs,
        summary,
    }
}

fn level_name(level: Compatibility) -> String {
    serde_json::to_value(level)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn diff(
    against: String,
    against_page: Option<String>,
    old: &Value,
    v: &EventVersion,
    level: Compatibility,
) -> DiffView {
    let forbidden: &[Direction] = mode(level).map_or(&[], Mode::directions);
    match compare(old, &v.resolved, Mode::Full, Policy::Strict) {
        Ok(found) => {
            let findings: Vec<DiffFinding> = found
                .into_iter()
                .map(|f| DiffFinding {
                    rule: f.rule.id().to_owned(),
                    category: f.rule.category().to_string(),
                    direction: f.direction.to_string(),
                    breaking: forbidden.contains(&f.direction),
                    pointer: f.pointer().to_owned(),
                    message: f.message,
                })
                .collect();
            DiffView {
                against,
                against_page,
                breaking: findings.iter().filter(|f| f.breaking).count(),
                findings,
                error: None,
            }
        }
        Err(e) => DiffView {
            against,
            against_page,
            findings: Vec::new(),
            error: Some(format!("{} schema at {}: {}", e.side, e.pointer, e.message)),
            breaking: 0,
        },
    }
}

/// Message ID of sample messages.
pub(crate) const SAMPLE_ID: &str = "0192f5c4-7a3e-7cc1-9b1e-3f6d2a8e4b10";
/// Timestamp of sample messages.
pub(crate) const SAMPLE_TIME: &str = "2026-01-15T09:30:00.000Z";

/// The `traceparent` of sample messages.
pub const SAMPLE_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The sending host of sample MassTransit messages.
pub fn sample_host(producer: &str) -> HostInfo {
    HostInfo {
        machine_name: "host".to_owned(),
        process_name: producer.to_owned(),
        process_id: 1,
        assembly: producer.to_owned(),
        assembly_version: env!("CARGO_PKG_VERSION").to_owned(),
        framework_version: "schemactl-runtime".to_owned(),
    }
}

/// The dialect `v` travels in (built in when the catalog does not declare it).
pub(crate) fn dialect_of(catalog: &Catalog, v: &EventVersion) -> Dialect {
    catalog
        .config
        .dialect(&v.dialect)
        .unwrap_or_else(|| Dialect::builtin(DialectBase::Standard))
}

/// The message a publisher sends for `payload` as event version `v`, with the sample ID,
/// time, trace and host: laid out by the runtime's own [`render::render`].
pub(crate) fn sample_message(
    catalog: &Catalog,
    v: &EventVersion,
    payload: &Value,
) -> Result<Rendered, render::EncodeError> {
    let envelope = Envelope {
        message_id: SAMPLE_ID.to_owned(),
        message_type: v.message_type.clone(),
        envelope_version: schemactl_runtime::ENVELOPE_VERSION.to_owned(),
        timestamp: SAMPLE_TIME.parse().unwrap_or_default(),
        source_service: v.producer.clone(),
        correlation_id: None,
        causation_id: None,
        tenant_id: None,
        partition_key: None,
        payload,
        metadata: Default::default(),
    };
    render::render(
        &envelope,
        &dialect_of(catalog, v),
        &v.dialect,
        &v.wire_type,
        &v.exchange,
        SAMPLE_TRACEPARENT,
        &sample_host(&v.producer),
    )
}
