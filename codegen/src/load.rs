//! Loading and linting: files → validated [`Catalog`].
//!
//! Every rule of [`Rule`] is checked here except `codegen`, which the Rust renderer reports.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::config::{CatalogConfig, ExchangeKind};
use crate::diagnostics::{Diagnostic, Diagnostics, Position, Rule};
use crate::model::{
    default_routing_key, parse_event_file_name, valid_domain, valid_routing_key, Catalog,
    Deprecation, Event, EventVersion, RustNames, SharedDefinitions, XEvent,
};
use crate::resolve;
use crate::source::{offset_to_position, SourceMap};
use crate::walk;

/// Deepest subschema nesting accepted (the generator and validator recurse per level).
pub const MAX_DEPTH: usize = 24;

/// Largest schema file read, in bytes.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// The catalog configuration file's name.
pub const CONFIG_FILE: &str = "catalog.toml";

/// Draft URIs accepted in `$schema`.
const DRAFT_2020_12: &[&str] = &[
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
];
const DRAFT_07: &[&str] = &[
    "http://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft-07/schema#",
];

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Warning rules to skip, in addition to `catalog.toml`'s `[lint] allow`.
    pub allow: Vec<Rule>,
    /// Skip the meta-schema and example validation, for a catalog that is only compared
    /// (the catalog at a git ref in `schemactl check`, linted when it was committed).
    /// References, identities and routing are still checked.
    pub skip_validation: bool,
}

/// Upper bound of `[defaults.retry] max_attempts` (one retry queue per retry).
pub const MAX_ATTEMPTS: u32 = 20;

/// Loads and lints the catalog in `root`. On success the catalog carries its warnings; on
/// failure every finding, errors and warnings, is returned.
pub fn load(root: &Path, options: &LoadOptions) -> Result<Catalog, Diagnostics> {
    let mut loader = Loader::new(root);
    loader.skip_validation = options.skip_validation;
    loader.inputs.push(root.to_path_buf());
    let outcome = loader.run(options);
    let mut diags = loader.diags;
    diags.finish(&loader.sources);
    diags.display_under(root);
    match outcome {
        Some(mut catalog) if !diags.has_errors() => {
            catalog.sources = loader.sources;
            catalog.warnings = diags;
            catalog.inputs = loader.inputs;
            Ok(catalog)
        }
        _ => Err(diags),
    }
}

/// Bundles, once for the catalog, every definition of a shared file that an event version
/// references (directly or through another definition).
fn shared_definitions(
    events: &BTreeMap<String, Event>,
    shared: &BTreeMap<PathBuf, Value>,
    shared_names: &BTreeMap<resolve::Target, String>,
    documents: &BTreeMap<PathBuf, Value>,
) -> SharedDefinitions {
    let targets: std::collections::BTreeSet<&resolve::Target> = events
        .values()
        .flat_map(|e| e.versions.values())
        .flat_map(|v| v.definitions.values())
        .filter(|(file, _)| shared.contains_key(file))
        .collect();
    if targets.is_empty() {
        return SharedDefinitions::default();
    }
    let bundle = resolve::bundle_definitions(targets.into_iter().cloned(), documents, shared_names);
    SharedDefinitions {
        schema: bundle.schema,
        names: bundle.origins.into_iter().map(|(n, t)| (t, n)).collect(),
    }
}

struct Loader {
    root: PathBuf,
    skip_validation: bool,
    diags: Diagnostics,
    sources: SourceMap,
    inputs: Vec<PathBuf>,
}

/// The identity an event file's path gives it.
struct EventFile {
    domain: String,
    name: String,
    version: u32,
}

/// A parsed JSON file awaiting classification.
struct Document {
    path: PathBuf,
    value: Value,
}

impl Loader {
    /// A loader for `root` with no findings yet; parallel checks each use their own and
    /// merge its diagnostics.
    fn new(root: &Path) -> Self {
        Loader {
            root: root.to_path_buf(),
            skip_validation: false,
            diags: Diagnostics::new(),
            sources: SourceMap::default(),
            inputs: Vec::new(),
        }
    }

    fn run(&mut self, options: &LoadOptions) -> Option<Catalog> {
        let config = self.load_config();
        let documents = self.read_documents();
        let config = config?;

        let mut allow = options.allow.clone();
        for name in &config.lint.allow {
            match crate::diagnostics::Rule::from_id(name) {
                Some(rule) => allow.push(rule),
                None => self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!("[lint] allow names unknown rule `{name}`"),
                    )
                    .help("run `schemactl rules` for the list of rule IDs"),
                ),
            }
        }
        self.check_config(&config);

        let by_path: BTreeMap<PathBuf, Value> = documents
            .iter()
            .map(|d| (d.path.clone(), d.value.clone()))
            .collect();
        let mut shared = BTreeMap::new();
        let mut events: BTreeMap<String, Event> = BTreeMap::new();
        let mut event_domains: BTreeMap<String, PathBuf> = BTreeMap::new();

        // Per-file checks are independent: run them in parallel, merge in path order.
        let per_file: Vec<Diagnostics> = documents
            .par_iter()
            .map(|doc| {
                let mut scratch = self.scratch();
                scratch.check_document(doc, &by_path);
                scratch.diags
            })
            .collect();
        let mut broken = std::collections::BTreeSet::new();
        for (doc, diags) in documents.iter().zip(per_file) {
            if diags.has_errors() {
                broken.insert(doc.path.clone());
            }
            self.diags.extend(diags);
        }
        let mut versions = Vec::new();
        for doc in &documents {
            let Some((domain, name, version)) = self.classify(&doc.path) else {
                shared.insert(doc.path.clone(), doc.value.clone());
                self.check_shared(doc);
                continue;
            };
            if let Some(first) = event_domains.get(&name) {
                let first_domain = first.parent().unwrap_or(Path::new(""));
                if first_domain != Path::new(&domain) {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::DuplicateEvent,
                            &doc.path,
                            "/title",
                            format!(
                                "event `{name}` is also defined in {}; message types must be unique",
                                first.display()
                            ),
                        )
                        .help("rename one of the events (names are catalog-wide)"),
                    );
                    continue;
                }
            } else {
                event_domains.insert(name.clone(), doc.path.clone());
            }
            let id = EventFile {
                domain,
                name,
                version,
            };
            versions.push((doc, id));
        }
        let shared_names = resolve::shared_names(&shared);
        // Resolving and checking one event version reads nothing the others write.
        let built: Vec<(Option<EventVersion>, Loader)> = versions
            .into_par_iter()
            .map(|(doc, id)| {
                let mut scratch = self.scratch();
                let v = scratch.event_version(doc, &config, &by_path, &shared_names, &broken, id);
                (v, scratch)
            })
            .collect();
        for (v, scratch) in built {
            self.absorb(scratch);
            if let Some(v) = v {
                let event = events.entry(v.name.clone()).or_insert_with(|| Event {
                    name: v.name.clone(),
                    domain: v.domain.clone(),
                    versions: BTreeMap::new(),
                });
                event.versions.insert(v.version, v);
            }
        }
        // Compiling a validator per event dominates linting: check examples in parallel.
        let validated = if self.skip_validation {
            &BTreeMap::new()
        } else {
            &events
        };
        let checked: Vec<Diagnostics> = validated
            .values()
            .flat_map(|e| e.versions.values())
            .collect::<Vec<_>>()
            .par_iter()
            .map(|v| {
                let mut scratch = self.scratch();
                scratch.check_examples(&v.path, &v.resolved, &v.examples);
                scratch.diags
            })
            .collect();
        // An invalid example is an error, so no catalog is built; the version stays in place
        // so that the version-chain check does not report a gap that is not there.
        for diags in checked {
            self.diags.extend(diags);
        }
        self.check_version_chains(&events, &event_domains);
        self.check_routing(&events, &config);
        self.check_service_topology(&events, &config);
        self.check_wire_types(&events);
        self.check_rust_names(&events);
        self.diags.allow(&allow);

        let shared_definitions = shared_definitions(&events, &shared, &shared_names, &by_path);
        let mut catalog = Catalog {
            root: self.root.clone(),
            config,
            events,
            shared,
            shared_definitions,
            sources: SourceMap::default(),
            warnings: Diagnostics::new(),
            inputs: Vec::new(),
            services: BTreeMap::new(),
        };
        catalog.index_services();
        Some(catalog)
    }

    fn load_config(&mut self) -> Option<CatalogConfig> {
        let path = self.root.join(CONFIG_FILE);
        self.inputs.push(path.clone());
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!("cannot read {}: {e}", path.display()),
                    )
                    .help("point at a catalog directory containing catalog.toml (see the README's catalog format)"),
                );
                return None;
            }
        };
        match toml::from_str::<CatalogConfig>(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                let mut d =
                    Diagnostic::new(Rule::CatalogConfig, CONFIG_FILE, "", e.message().to_owned())
                        .help("fix catalog.toml; the README lists its keys");
                if let Some(span) = e.span() {
                    d = d.at(offset_to_position(&text, span.start));
                }
                self.diags.push(d);
                None
            }
        }
    }

    fn check_config(&mut self, config: &CatalogConfig) {
        for (name, dialect) in &config.dialects {
            if let Err(e) = dialect.validate() {
                self.diags.push(
                    Diagnostic::new(
                        Rule::Dialect,
                        CONFIG_FILE,
                        "",
                        format!("[dialects.{name}]: {e}"),
                    )
                    .help("the README's section on dialects shows each key"),
                );
            }
        }
        let mut named: Vec<(String, &str)> =
            vec![("[defaults] dialect".to_owned(), config.default_dialect())];
        for (exchange, e) in &config.exchanges {
            if let Some(d) = &e.dialect {
                named.push((format!("[exchanges.\"{exchange}\"] dialect"), d));
            }
        }
        for (place, dialect) in named {
            if config.dialect(dialect).is_none() {
                self.diags.push(
                    Diagnostic::new(
                        Rule::Dialect,
                        CONFIG_FILE,
                        "",
                        format!("{place} names `{dialect}`, which is neither built in nor declared"),
                    )
                    .help(format!(
                        "declare [dialects.{dialect}] or use a built-in dialect: standard, cloudevents-binary, cloudevents-structured, masstransit"
                    )),
                );
            }
        }
        if let Some(ex) = &config.defaults.exchange {
            if !config.exchanges.contains_key(ex) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!("[defaults] exchange `{ex}` is not declared under [exchanges]"),
                    )
                    .help(format!("add [exchanges.\"{ex}\"] with a type")),
                );
            }
        }
        if config.defaults.dead_letter_exchange.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Rule::CatalogConfig,
                    CONFIG_FILE,
                    "",
                    "[defaults] dead_letter_exchange is empty",
                )
                .help("name the exchange dead letters go to, e.g. \"dead-letter\""),
            );
        }
        let dlx = &config.defaults.dead_letter_exchange;
        if let Some(ex) = config.exchanges.get(dlx) {
            if !ex.kind.routes_by_key() {
                self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!(
                            "dead-letter exchange `{dlx}` is a {} exchange; each queue's dead letters are routed by key",
                            ex.kind.as_str()
                        ),
                    )
                    .help(format!("declare [exchanges.\"{dlx}\"] with type = \"direct\"")),
                );
            }
        }
        let constants = config
            .exchanges
            .keys()
            .map(|name| (crate::model::exchange_constant(name), name.as_str()));
        if let Some((constant, first, second)) = crate::naming::first_collision(constants) {
            self.diags.push(
                Diagnostic::new(
                    Rule::NameCollision,
                    CONFIG_FILE,
                    "",
                    format!("exchanges `{first}` and `{second}` both become the Rust constant `{constant}`"),
                )
                .help("rename one of the exchanges, or declare only one of them in this catalog"),
            );
        }
        let mut rust_names: BTreeMap<String, &str> = BTreeMap::new();
        for name in config.services.keys() {
            if !crate::model::valid_service_name(name) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!("service name `{name}` is not lowercase letters, digits, `-` and `_` starting with a letter"),
                    )
                    .help("rename the service, e.g. \"order-service\" (it names queues and Rust types)"),
                );
                continue;
            }
            let type_name = crate::model::ServiceNames::new(name).type_name;
            if let Some(other) = rust_names.insert(type_name.clone(), name) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::CatalogConfig,
                        CONFIG_FILE,
                        "",
                        format!("services `{other}` and `{name}` both become the Rust name `{type_name}`"),
                    )
                    .help("rename one of them"),
                );
            }
        }
        let r = &config.defaults.retry;
        if r.max_attempts > MAX_ATTEMPTS {
            self.diags.push(
                Diagnostic::new(
                    Rule::CatalogConfig,
                    CONFIG_FILE,
                    "",
                    format!("[defaults.retry] max_attempts = {} needs one retry queue per attempt; at most {MAX_ATTEMPTS} are allowed", r.max_attempts),
                )
                .help("lower max_attempts and raise multiplier or max_delay_ms for longer backoff"),
            );
        }
        let multiplier_ok = r.multiplier.is_finite() && r.multiplier >= 1.0;
        if r.max_attempts == 0 || !multiplier_ok || r.initial_delay_ms > r.max_delay_ms {
            self.diags.push(
                Diagnostic::new(
                    Rule::CatalogConfig,
                    CONFIG_FILE,
                    "",
                    "[defaults.retry] needs max_attempts ≥ 1, multiplier ≥ 1 and initial_delay_ms ≤ max_delay_ms",
                )
                .help("e.g. max_attempts = 4, initial_delay_ms = 100, max_delay_ms = 5000, multiplier = 5.0"),
            );
        }
    }

    /// Reads every `*.json` below the root, in path order. Unreadable or invalid files become
    /// diagnostics and are left out.
    fn read_documents(&mut self) -> Vec<Document> {
        let mut files = Vec::new();
        self.collect(&self.root.clone(), &mut files);
        files.sort();
        // Reading and parsing are independent per file: do them in parallel, merge in order.
        let read: Vec<(PathBuf, Option<Value>, Loader)> = files
            .par_iter()
            .map(|abs| {
                let rel = crate::model::relative_to(abs, &self.root);
                let mut scratch = self.scratch();
                let value = scratch.read_json(abs, &rel);
                (rel, value, scratch)
            })
            .collect();
        self.inputs.extend(files);
        let mut out = Vec::new();
        for (path, value, scratch) in read {
            self.absorb(scratch);
            if let Some(value) = value {
                out.push(Document { path, value });
            }
        }
        out
    }

    /// An empty loader with this one's root and settings, for work on a worker thread.
    fn scratch(&self) -> Loader {
        Loader {
            skip_validation: self.skip_validation,
            ..Loader::new(&self.root)
        }
    }

    /// Takes over what a scratch loader, run on a worker thread, found and read.
    fn absorb(&mut self, scratch: Loader) {
        self.diags.extend(scratch.diags);
        self.sources.extend(scratch.sources);
        self.inputs.extend(scratch.inputs);
    }

    fn collect(&mut self, dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.diags.push(Diagnostic::new(
                    Rule::Io,
                    crate::model::relative_to(dir, &self.root),
                    "",
                    format!("cannot list directory: {e}"),
                ));
                return;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if hidden {
                continue;
            }
            if kind.is_dir() {
                self.inputs.push(path.clone());
                self.collect(&path, files);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }

    fn read_json(&mut self, abs: &Path, rel: &Path) -> Option<Value> {
        let too_big = fs::metadata(abs).is_ok_and(|m| m.len() > MAX_FILE_SIZE);
        if too_big {
            self.diags.push(
                Diagnostic::new(
                    Rule::Io,
                    rel,
                    "",
                    format!("file is larger than {} MiB", MAX_FILE_SIZE >> 20),
                )
                .help("split the schema into shared definitions"),
            );
            return None;
        }
        let bytes = match fs::read(abs) {
            Ok(b) => b,
            Err(e) => {
                self.diags.push(Diagnostic::new(
                    Rule::Io,
                    rel,
                    "",
                    format!("cannot read: {e}"),
                ));
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                self.diags.push(
                    Diagnostic::new(
                        Rule::Io,
                        rel,
                        "",
                        format!("not UTF-8: invalid byte at offset {offset}"),
                    )
                    .at(offset_to_position(&text, offset))
                    .help("save the file as UTF-8"),
                );
                return None;
            }
        };
        let parsed = serde_json::from_str::<Value>(&text);
        self.sources.insert(rel.to_path_buf(), text);
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                let message = e.to_string();
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m)
                    .to_owned();
                self.diags.push(
                    Diagnostic::new(Rule::JsonSyntax, rel, "", message)
                        .at(Position {
                            line: e.line().max(1),
                            column: e.column().max(1),
                        })
                        .help("fix the JSON syntax at this position"),
                );
                None
            }
        }
    }

    /// Checks common to every schema file: draft, meta-schema, references, unsupported keywords.
    fn check_document(&mut self, doc: &Document, all: &BTreeMap<PathBuf, Value>) {
        let path = &doc.path;
        if !doc.value.is_object() {
            self.diags.push(
                Diagnostic::new(
                    Rule::MetaSchema,
                    path,
                    "",
                    "a catalog schema must be a JSON object",
                )
                .help("wrap the schema in an object, e.g. {\"type\": \"object\", ...}"),
            );
            return;
        }
        match doc.value.get("$schema") {
            None => {}
            Some(Value::String(s))
                if DRAFT_2020_12.contains(&s.as_str()) || DRAFT_07.contains(&s.as_str()) => {}
            Some(other) => {
                self.diags.push(
                    Diagnostic::new(
                        Rule::Draft,
                        path,
                        "/$schema",
                        format!("unsupported dialect {other}"),
                    )
                    .help("use \"https://json-schema.org/draft/2020-12/schema\" (preferred) or \"http://json-schema.org/draft-07/schema#\""),
                );
                return;
            }
        }
        self.check_meta_schema(path, &doc.value);
        self.diags
            .extend(resolve::check_refs(path, &doc.value, all));
        self.check_keywords(path, &doc.value);
    }

    fn check_meta_schema(&mut self, path: &Path, schema: &Value) {
        if self.skip_validation {
            return;
        }
        let result = guarded(|| {
            let validator = jsonschema::meta::validator_for(schema).map_err(|e| e.to_string())?;
            Ok::<_, String>(
                validator
                    .iter_errors(schema)
                    .map(|e| (e.instance_path().to_string(), e.to_string()))
                    .collect::<Vec<_>>(),
            )
        });
        match result {
            Ok(Ok(errors)) => {
                for (pointer, message) in errors.into_iter().take(20) {
                    self.diags.push(
                        Diagnostic::new(Rule::MetaSchema, path, pointer, message)
                            .help("see the JSON Schema specification of this keyword"),
                    );
                }
            }
            Ok(Err(message)) | Err(message) => self.diags.push(Diagnostic::new(
                Rule::MetaSchema,
                path,
                "",
                format!("cannot check against the meta-schema: {message}"),
            )),
        }
    }

    fn check_keywords(&mut self, path: &Path, schema: &Value) {
        let mut too_deep: Option<String> = None;
        walk::visit_with_depth(schema, "", 0, &mut |pointer, depth, _| {
            if depth > MAX_DEPTH && too_deep.is_none() {
                too_deep = Some(pointer.to_owned());
            }
        });
        if let Some(pointer) = too_deep {
            self.diags.push(
                Diagnostic::new(
                    Rule::NestingDepth,
                    path,
                    pointer,
                    format!("subschemas nest deeper than {MAX_DEPTH} levels here"),
                )
                .help(
                    "move inner objects into `$defs` entries (or shared files) and reference them",
                ),
            );
            return;
        }
        walk::visit(schema, "", &mut |pointer, node| {
            let Value::Object(map) = node else {
                return;
            };
            for (keyword, alternative) in UNSUPPORTED {
                if map.contains_key(*keyword) {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::UnsupportedKeyword,
                            path,
                            format!("{pointer}/{}", crate::source::escape_segment(keyword)),
                            format!(
                                "`{keyword}` cannot be represented by the generated Rust types"
                            ),
                        )
                        .help(*alternative),
                    );
                }
            }
            self.check_names(path, pointer, map);
            self.check_undeclared_kept(path, pointer, map);
            self.check_generator_limits(path, pointer, map);
            let enum_only = |v: &Value| {
                v.as_object().is_some_and(|m| {
                    m.contains_key("enum") && m.keys().all(|k| k == "enum" || k == "description")
                })
            };
            if map.get("not").is_some_and(|n| !enum_only(n)) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::UnsupportedKeyword,
                        path,
                        format!("{pointer}/not"),
                        "`not` is only supported as `{\"not\": {\"enum\": [...]}}`",
                    )
                    .help("list the allowed values with `enum` (or the excluded ones with `not: {enum}`), or state the rule in `description`"),
                );
            }
            if map.contains_key("$ref") {
                let siblings: Vec<&str> = map
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !REF_SIBLINGS_ALLOWED.contains(k) && !k.starts_with("x-"))
                    .collect();
                if !siblings.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::UnsupportedKeyword,
                            path,
                            format!("{pointer}/$ref"),
                            format!(
                                "`$ref` has sibling constraints ({}) that the generated types would ignore",
                                siblings.join(", ")
                            ),
                        )
                        .help("wrap them: {\"allOf\": [{\"$ref\": ...}, {...constraints}]}, or move them into the referenced definition"),
                    );
                }
            }
        });
    }

    /// Properties of one object, or values of one string `enum`, that become one Rust
    /// identifier (see [`crate::naming`]).
    fn check_names(&mut self, path: &Path, pointer: &str, map: &Map<String, Value>) {
        if let Some(Value::Object(properties)) = map.get("properties") {
            let fields = properties
                .keys()
                .map(|k| (crate::naming::field(k), k.as_str()));
            // An object that accepts undeclared properties keeps them in a field `extra`.
            let keeps_extra = !matches!(map.get("additionalProperties"), Some(Value::Bool(false)));
            let extra = keeps_extra.then(|| (crate::naming::EXTRA.to_owned(), None));
            let named = fields.map(|(f, k)| (f, Some(k)));
            if let Some((field, first, second)) =
                crate::naming::first_collision(extra.into_iter().chain(named))
            {
                let second = second.unwrap_or_default();
                let (message, help) = match first {
                    Some(first) => (
                        format!("properties `{first}` and `{second}` both become the Rust field `{field}`"),
                        "rename one of them (in a new major version if producers already send it): one Rust struct cannot hold both",
                    ),
                    None => (
                        format!("property `{second}` becomes the Rust field `{field}`, which holds the undeclared properties this open object keeps"),
                        "rename it, or close the object with \"additionalProperties\": false",
                    ),
                };
                self.diags.push(
                    Diagnostic::new(
                        Rule::NameCollision,
                        path,
                        format!(
                            "{pointer}/properties/{}",
                            crate::source::escape_segment(second)
                        ),
                        message,
                    )
                    .help(help),
                );
            }
        }
        // A string `enum` is one Rust enum; so are alternatives that each list strings (typify
        // merges `oneOf: [{enum: [x]}, {const: X}]` into one).
        let mut sets: Vec<(&str, Vec<&str>)> = Vec::new();
        if let Some(Value::Array(values)) = map.get("enum") {
            let strings: Option<Vec<&str>> = values.iter().map(Value::as_str).collect();
            sets.extend(strings.map(|s| ("enum", s)));
        }
        for key in ["oneOf", "anyOf"] {
            let Some(Value::Array(branches)) = map.get(key) else {
                continue;
            };
            let strings: Option<Vec<Vec<&str>>> = branches.iter().map(listed_strings).collect();
            if let Some(strings) = strings.filter(|s| s.len() > 1) {
                sets.push((key, strings.concat()));
            }
        }
        for (keyword, strings) in sets {
            if strings.is_empty() || crate::naming::variants(&strings).is_some() {
                continue;
            }
            let plain = strings.iter().map(|s| (crate::naming::variant(s), *s));
            let (variant, first, second) = crate::naming::first_collision(plain)
                .unwrap_or_else(|| (String::new(), strings[0], strings[0]));
            self.diags.push(
                Diagnostic::new(Rule::NameCollision, path, format!("{pointer}/{keyword}"), format!("values `{first}` and `{second}` listed by `{keyword}` both become the Rust variant `{variant}`, also when their punctuation is spelled out"))
                    .help("make the values differ in letters or digits, not only in case or punctuation"),
            );
        }
    }

    /// Valid constructs the Rust generator cannot take, each found here with its pointer and
    /// fix instead of failing inside typify: `format` without `type`, `enum` beside a
    /// constraint of one type without `type`, an `enum` of several JSON types, a tuple `items`.
    fn check_generator_limits(&mut self, path: &Path, pointer: &str, map: &Map<String, Value>) {
        const TYPED_BOUNDS: &[&str] = &[
            "minLength",
            "maxLength",
            "pattern",
            "format",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
        ];
        let mut push = |keyword: &str, message: String, help: &str| {
            self.diags.push(
                Diagnostic::new(
                    Rule::UnsupportedKeyword,
                    path,
                    format!("{pointer}/{keyword}"),
                    message,
                )
                .help(help),
            );
        };
        if map.contains_key("type") {
            // Typed: the bounds below apply to a known type.
        } else if let Some(Value::Array(values)) = map.get("enum") {
            let kinds: BTreeSet<&str> = values
                .iter()
                .filter_map(|v| match v {
                    Value::Null => None,
                    Value::Bool(_) => Some("boolean"),
                    Value::Number(_) => Some("number"),
                    Value::String(_) => Some("string"),
                    Value::Array(_) => Some("array"),
                    Value::Object(_) => Some("object"),
                })
                .collect();
            if kinds.len() > 1 {
                let kinds: Vec<&str> = kinds.into_iter().collect();
                push(
                    "enum",
                    format!("`enum` mixes values of several JSON types ({}), which the generator cannot make one Rust type of", kinds.join(", ")),
                    "split it by type: {\"anyOf\": [{\"enum\": [...strings]}, {\"enum\": [...numbers]}]}",
                );
            } else if let Some(bound) = TYPED_BOUNDS.iter().find(|k| map.contains_key(**k)) {
                push(
                    bound,
                    format!("`{bound}` beside `enum` without `type`: the generator cannot take a bound on listed values"),
                    "add the values' \"type\", or drop the bound (the listed values are all there is)",
                );
            }
        } else if map.contains_key("format") {
            push(
                "format",
                "`format` without `type`: the generator cannot tell which type it formats".into(),
                "add \"type\": \"string\" beside it",
            );
        }
        if matches!(map.get("items"), Some(Value::Array(_))) {
            push(
                "items",
                "a tuple (`items` as an array of schemas) cannot be represented by the generated Rust types".into(),
                "use an object with named fields instead of a tuple",
            );
        }
    }

    /// An open object written inline in `oneOf` / `anyOf` / `allOf` becomes an enum variant or
    /// part of a merged struct, which keeps no undeclared properties (every other open object
    /// keeps them in `extra`).
    fn check_undeclared_kept(&mut self, path: &Path, pointer: &str, map: &Map<String, Value>) {
        let mut segments = pointer.rsplit('/');
        let (Some(index), Some(keyword)) = (segments.next(), segments.next()) else {
            return;
        };
        let branch = ["oneOf", "anyOf", "allOf"].contains(&keyword)
            && index.bytes().all(|b| b.is_ascii_digit());
        if branch && crate::rust::open_object(map) {
            self.diags.push(
                Diagnostic::new(
                    Rule::UndeclaredDropped,
                    path,
                    pointer,
                    format!("this open object is part of `{keyword}`: its Rust type drops properties it does not declare when a payload is read and written again"),
                )
                .help("move it into `$defs` and `$ref` it (a named type keeps undeclared properties), or close it with \"additionalProperties\": false"),
            );
        }
    }

    /// Splits an event file's path into (domain, name, version); `None` for shared definitions.
    fn classify(&mut self, path: &Path) -> Option<(String, String, u32)> {
        let file_name = path.file_name()?.to_string_lossy().into_owned();
        let stem = file_name.strip_suffix(".json").unwrap_or(&file_name);
        if !stem.contains('.') {
            return None;
        }
        let parsed = parse_event_file_name(&file_name);
        let components: Vec<_> = path.components().collect();
        let domain = path
            .parent()
            .and_then(Path::file_name)
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let problem = match &parsed {
            None => Some(format!(
                "`{file_name}` is not `<EventName>.v<N>.json` (PascalCase name, version without leading zeros)"
            )),
            Some(_) if components.len() != 2 => Some(
                "event files live exactly one folder deep: `<domain>/<EventName>.v<N>.json`"
                    .to_owned(),
            ),
            Some(_) if !valid_domain(&domain) => Some(format!(
                "domain folder `{domain}` must be a snake_case Rust identifier and not a module name the generated code uses ({})",
                crate::model::RESERVED_MODULES.join(", ")
            )),
            Some((name, version)) if !crate::naming::is_type_name(name) => {
                let rust = crate::naming::type_name(name);
                self.diags.push(
                    Diagnostic::new(
                        Rule::FileName,
                        path,
                        "",
                        format!("event name `{name}` is not PascalCase: its Rust type would be `{rust}` while the rest of the generated code says `{name}`"),
                    )
                    .help(format!("rename the file to `{rust}.v{version}.json` and set \"title\": \"{rust}\" (the wire keeps its type value with `x-event` `wireType`, or the dialect's type mapping)")),
                );
                return None;
            }
            Some(_) => None,
        };
        if let Some(message) = problem {
            self.diags.push(
                Diagnostic::new(Rule::FileName, path, "", message).help(
                    "rename to e.g. `user/UserRegistered.v1.json`; shared definitions have no `.` in their stem",
                ),
            );
            return None;
        }
        let (name, version) = parsed?;
        Some((domain, name, version))
    }

    fn check_shared(&mut self, doc: &Document) {
        let Value::Object(map) = &doc.value else {
            return;
        };
        let has_defs = map.contains_key("$defs") || map.contains_key("definitions");
        if !map.contains_key("description") && !has_defs {
            self.diags.push(
                Diagnostic::new(
                    Rule::MissingDescription,
                    &doc.path,
                    "",
                    "shared definition has no description",
                )
                .help("add a \"description\" saying what the value means"),
            );
        }
    }

    fn event_version(
        &mut self,
        doc: &Document,
        config: &CatalogConfig,
        all: &BTreeMap<PathBuf, Value>,
        shared_names: &BTreeMap<resolve::Target, String>,
        broken: &std::collections::BTreeSet<PathBuf>,
        id: EventFile,
    ) -> Option<EventVersion> {
        let EventFile {
            domain,
            name,
            version,
        } = id;
        let path = &doc.path;
        let Value::Object(map) = &doc.value else {
            return None;
        };
        let errors_before = self.diags.error_count();
        let rel_display = path.to_string_lossy().replace('\\', "/");

        match map.get("title").and_then(Value::as_str) {
            Some(t) if t == name => {}
            Some(t) => self.diags.push(
                Diagnostic::new(
                    Rule::IdentityMismatch,
                    path,
                    "/title",
                    format!("title `{t}` differs from the file's event name `{name}`"),
                )
                .help(format!("set \"title\": \"{name}\" or rename the file")),
            ),
            None => self.diags.push(
                Diagnostic::new(
                    Rule::IdentityMismatch,
                    path,
                    "",
                    "event schema has no string `title`",
                )
                .help(format!("add \"title\": \"{name}\"")),
            ),
        }
        if let Some(ty) = map.get("type").filter(|t| *t != "object") {
            self.diags.push(
                Diagnostic::new(
                    Rule::UnsupportedKeyword,
                    path,
                    "/type",
                    format!("an event payload is a JSON object, but the root's `type` is {ty}"),
                )
                .help("set \"type\": \"object\"; an event with nothing to say has no properties rather than a null payload"),
            );
        }
        if let Some(id) = map.get("$id") {
            let expected = config
                .catalog
                .id_base
                .as_ref()
                .map(|base| format!("{base}{rel_display}"));
            let ok = match (id.as_str(), &expected) {
                (Some(id), Some(exp)) => id == exp,
                (Some(id), None) => id.ends_with(&format!("/{rel_display}")) || id == rel_display,
                (None, _) => false,
            };
            if !ok {
                self.diags.push(
                    Diagnostic::new(
                        Rule::IdentityMismatch,
                        path,
                        "/$id",
                        format!("$id {id} does not name this file ({rel_display})"),
                    )
                    .help(match expected {
                        Some(exp) => format!("set \"$id\": \"{exp}\""),
                        None => format!("end the $id with \"/{rel_display}\""),
                    }),
                );
            }
        }
        let x_event = match map.get("x-event") {
            None => {
                self.diags.push(
                    Diagnostic::new(
                        Rule::XEvent,
                        path,
                        "",
                        "event schema has no `x-event` object",
                    )
                    .help("add \"x-event\": {\"producer\": \"<service>\", \"consumers\": [...]}"),
                );
                None
            }
            Some(v) => match serde_json::from_value::<XEvent>(v.clone()) {
                Ok(x) => Some(x),
                Err(e) => {
                    self.diags.push(
                        Diagnostic::new(Rule::XEvent, path, "/x-event", format!("malformed x-event: {e}"))
                            .help("x-event keys: producer, consumers, exchange, routingKey, dialect, wireType, trigger, purpose, deprecated, compatibility, policy, name, version"),
                    );
                    None
                }
            },
        };
        let x_event = x_event?;
        if let Some(n) = &x_event.name {
            if *n != name {
                self.diags.push(
                    Diagnostic::new(
                        Rule::IdentityMismatch,
                        path,
                        "/x-event/name",
                        format!("x-event name `{n}` differs from the file's event name `{name}`"),
                    )
                    .help(format!("set \"name\": \"{name}\" or remove it")),
                );
            }
        }
        if let Some(v) = x_event.version {
            if v != version {
                self.diags.push(
                    Diagnostic::new(
                        Rule::IdentityMismatch,
                        path,
                        "/x-event/version",
                        format!("x-event version {v} differs from the file's version {version}"),
                    )
                    .help(format!("set \"version\": {version} or remove it")),
                );
            }
        }
        for (i, service) in std::iter::once(&x_event.producer)
            .chain(x_event.consumers.iter())
            .enumerate()
        {
            if !config.services.contains_key(service) {
                let pointer = if i == 0 {
                    "/x-event/producer".to_owned()
                } else {
                    format!("/x-event/consumers/{}", i - 1)
                };
                self.diags.push(
                    Diagnostic::new(
                        Rule::UnknownService,
                        path,
                        pointer,
                        format!("service `{service}` is not declared in catalog.toml"),
                    )
                    .help(format!(
                        "add [services.{service}] to catalog.toml or fix the name"
                    )),
                );
            }
        }
        let exchange = match x_event
            .exchange
            .clone()
            .or(config.defaults.exchange.clone())
        {
            Some(e) => {
                if !config.exchanges.contains_key(&e) {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::UnknownExchange,
                            path,
                            "/x-event/exchange",
                            format!("exchange `{e}` is not declared in catalog.toml"),
                        )
                        .help(format!(
                            "add [exchanges.\"{e}\"] to catalog.toml or fix the name"
                        )),
                    );
                }
                e
            }
            None => {
                self.diags.push(
                    Diagnostic::new(
                        Rule::UnknownExchange,
                        path,
                        "/x-event",
                        "no exchange: x-event names none and catalog.toml has no [defaults] exchange",
                    )
                    .help("set \"exchange\" in x-event or `exchange` under [defaults]"),
                );
                String::new()
            }
        };
        let template = config
            .exchanges
            .get(&exchange)
            .and_then(|e| e.routing_key.as_deref())
            .filter(|_| x_event.routing_key.is_none());
        let routing_key = match (&x_event.routing_key, template) {
            (Some(key), _) => key.clone(),
            (None, Some(template)) => crate::model::routing_key_from(template, &name, version),
            (None, None) => default_routing_key(&name, version),
        };
        if !valid_routing_key(&routing_key) {
            let origin = match template {
                Some(t) => format!(" (from exchange `{exchange}`'s routing_key template `{t}`; its placeholders are {{key}}, {{version}} and {{name}})"),
                None => String::new(),
            };
            self.diags.push(
                Diagnostic::new(
                    Rule::RoutingKeySyntax,
                    path,
                    "/x-event/routingKey",
                    format!("routing key `{routing_key}` is not dot-separated words of [a-z0-9_-] (no wildcards, ≤ 255 bytes){origin}"),
                )
                .help(format!("e.g. \"{}\"", default_routing_key(&name, version))),
            );
        }

        let dialect = x_event
            .dialect
            .clone()
            .unwrap_or_else(|| config.exchange_dialect(&exchange).to_owned());
        let wire_type = match (config.dialect(&dialect), &x_event.wire_type) {
            (_, Some(wire_type)) => wire_type.clone(),
            (Some(d), None) => d.type_value(&name, version, &routing_key),
            (None, None) => String::new(),
        };
        if x_event.dialect.is_some() && config.dialect(&dialect).is_none() {
            self.diags.push(
                Diagnostic::new(
                    Rule::Dialect,
                    path,
                    "/x-event/dialect",
                    format!("dialect `{dialect}` is neither built in nor declared in catalog.toml"),
                )
                .help(format!(
                    "declare [dialects.{dialect}] or use a built-in dialect: standard, cloudevents-binary, cloudevents-structured, masstransit"
                )),
            );
        }
        if x_event.wire_type.as_deref() == Some("") {
            self.diags.push(
                Diagnostic::new(
                    Rule::XEvent,
                    path,
                    "/x-event/wireType",
                    "`wireType` is empty",
                )
                .help("remove it to use the dialect's type template, or give the type value"),
            );
        }

        // Descriptions and closed payloads.
        if !map.contains_key("description") {
            self.diags.push(
                Diagnostic::new(
                    Rule::MissingDescription,
                    path,
                    "",
                    "event has no description",
                )
                .help("add a \"description\" saying what happened"),
            );
        }
        walk::visit(&doc.value, "", &mut |pointer, node| {
            let Some(Value::Object(props)) = node.get("properties") else {
                return;
            };
            for (prop, schema) in props {
                let described = schema.get("description").is_some() || schema.get("$ref").is_some();
                if schema.is_object() && !described {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::MissingDescription,
                            path,
                            format!(
                                "{pointer}/properties/{}",
                                crate::source::escape_segment(prop)
                            ),
                            format!("property `{prop}` has no description"),
                        )
                        .help("add a \"description\" saying what the field holds"),
                    );
                }
            }
        });
        if map.get("additionalProperties") == Some(&Value::Bool(false)) {
            self.diags.push(
                Diagnostic::new(
                    Rule::ClosedPayload,
                    path,
                    "/additionalProperties",
                    "the payload is closed: old consumers will reject every field added later",
                )
                .help("remove `additionalProperties: false` (or skip this warning with [lint] allow = [\"closed-payload\"])"),
            );
        }

        let examples = match map.get("examples") {
            Some(Value::Array(items)) if !items.is_empty() => items.clone(),
            _ => {
                self.diags.push(
                    Diagnostic::new(Rule::MissingExample, path, "", "event has no `examples`")
                        .help("add \"examples\": [ {a realistic payload} ]; each is validated and round-tripped"),
                );
                Vec::new()
            }
        };

        if self.diags.error_count() > errors_before || broken.contains(path) {
            return None;
        }
        let bundle = resolve::bundle(path, &name, all, shared_names);
        if bundle
            .origins
            .values()
            .any(|(file, _)| broken.contains(file))
        {
            // The referenced file's own errors are reported where they are.
            return None;
        }
        if let Some(cycle) = resolve::alias_cycle(&bundle) {
            let describe = |n: &String| match bundle.origins.get(n) {
                Some((file, ptr)) => format!("{}#{ptr}", file.display()),
                None => format!("{}#", path.display()),
            };
            let (file, pointer) = bundle
                .origins
                .get(&cycle[0])
                .map(|(f, p)| (f.clone(), format!("{p}/$ref")))
                .unwrap_or_else(|| (path.clone(), "/$ref".to_owned()));
            self.diags.push(
                Diagnostic::new(
                    Rule::RefCycle,
                    file,
                    pointer,
                    format!(
                        "$ref cycle through aliases only: {}",
                        cycle.iter().map(describe).collect::<Vec<_>>().join(" → ")
                    ),
                )
                .help("give one definition in the cycle a structure (e.g. an object with the recursive field optional)"),
            );
            return None;
        }

        let deprecated = match &x_event.deprecated {
            None | Some(Deprecation::Flag(false)) => None,
            Some(Deprecation::Flag(true)) => Some(String::new()),
            Some(Deprecation::Reason(r)) => Some(r.clone()),
        };
        let masstransit = config.is_masstransit_exchange(&exchange)
            && config
                .dialect(&dialect)
                .is_some_and(|d| d.base == schemactl_runtime::dialect::DialectBase::Masstransit);
        let publish_exchange = match crate::model::masstransit_entity(&wire_type) {
            Some(entity) if masstransit => entity.to_owned(),
            _ => exchange.clone(),
        };
        Some(EventVersion {
            rust: RustNames::new(&domain, &name, version),
            message_type: format!("{name}.v{version}"),
            name,
            version,
            domain,
            path: path.clone(),
            routing_key,
            exchange: publish_exchange,
            catalog_exchange: exchange,
            dialect,
            wire_type,
            producer: x_event.producer,
            consumers: x_event.consumers,
            description: map
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            trigger: x_event.trigger,
            purpose: x_event.purpose,
            deprecated,
            compatibility: x_event
                .compatibility
                .unwrap_or(config.defaults.compatibility),
            policy: x_event.policy.unwrap_or(config.defaults.policy),
            schema: doc.value.clone(),
            resolved: bundle.schema,
            definitions: bundle.origins,
            examples,
        })
    }

    fn check_examples(&mut self, path: &Path, schema: &Value, examples: &[Value]) {
        let built = guarded(|| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(schema)
                .map_err(|e| e.to_string())
        });
        let validator = match built {
            Ok(Ok(v)) => v,
            Ok(Err(message)) | Err(message) => {
                self.diags.push(Diagnostic::new(
                    Rule::MetaSchema,
                    path,
                    "",
                    format!("the resolved schema cannot be compiled: {message}"),
                ));
                return;
            }
        };
        for (i, example) in examples.iter().enumerate() {
            for error in validator.iter_errors(example).take(10) {
                let at = error.instance_path().to_string();
                self.diags.push(
                    Diagnostic::new(
                        Rule::ExampleInvalid,
                        path,
                        format!("/examples/{i}{at}"),
                        format!(
                            "example {i} is invalid at `{}`: {error}",
                            if at.is_empty() { "/" } else { &at }
                        ),
                    )
                    .help("fix the example (or the schema, if the example is right)"),
                );
            }
        }
    }

    fn check_version_chains(
        &mut self,
        events: &BTreeMap<String, Event>,
        first_paths: &BTreeMap<String, PathBuf>,
    ) {
        for (name, event) in events {
            // A chain may start above v1 once its first versions are retired.
            let first = event.versions.keys().next().copied().unwrap_or(1);
            for (expected, v) in (first..).zip(event.versions.keys().copied()) {
                if v == expected {
                    continue;
                }
                let path = event
                    .versions
                    .get(&v)
                    .map(|e| e.path.clone())
                    .or_else(|| first_paths.get(name).cloned())
                    .unwrap_or_default();
                let missing = (expected..v)
                    .map(|m| format!("v{m}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.diags.push(
                    Diagnostic::new(
                        Rule::VersionGap,
                        path,
                        "",
                        format!("`{name}` has v{v} but not {missing}"),
                    )
                    .help(format!(
                        "add {name}.v{expected}.json, or renumber (versions follow each other without gaps; a retired version can only leave from the start of the chain)"
                    )),
                );
                break;
            }
        }
    }

    /// Event versions whose Rust module (and publisher and handler method), type alias or
    /// constant coincide after case conversion and the version suffix.
    fn check_rust_names(&mut self, events: &BTreeMap<String, Event>) {
        /// One of an event version's Rust names.
        type Ident = fn(&EventVersion) -> &str;
        let mut all: Vec<&EventVersion> =
            events.values().flat_map(|e| e.versions.values()).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        let namespaces: [(&str, Ident); 3] = [
            ("module and method", |v| &v.rust.module),
            ("type", |v| &v.rust.alias),
            ("constant", |v| &v.rust.constant),
        ];
        for (what, ident) in namespaces {
            let names = all.iter().map(|v| (ident(v).to_owned(), *v));
            if let Some((ident, first, second)) = crate::naming::first_collision(names) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::NameCollision,
                        &second.path,
                        "",
                        format!(
                            "{} and {} both become the Rust {what} `{ident}`",
                            first.message_type, second.message_type
                        ),
                    )
                    .help("rename one of the events"),
                );
            }
        }
    }

    /// Two event versions with one type value in one dialect: a consumer could not tell
    /// which version a message is.
    fn check_wire_types(&mut self, events: &BTreeMap<String, Event>) {
        let mut seen: BTreeMap<(&str, &str), &EventVersion> = BTreeMap::new();
        let mut all: Vec<&EventVersion> =
            events.values().flat_map(|e| e.versions.values()).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        for v in all {
            match seen.get(&(v.dialect.as_str(), v.wire_type.as_str())) {
                Some(first) => self.diags.push(
                    Diagnostic::new(
                        Rule::DuplicateWireType,
                        &v.path,
                        "/x-event",
                        format!(
                            "{} and {} both travel as type `{}` in dialect `{}`",
                            first.message_type, v.message_type, v.wire_type, v.dialect
                        ),
                    )
                    .help(format!(
                        "give {} its own \"wireType\" in x-event (e.g. \"{}.v{}\"), or use a dialect whose type template holds {{version}}",
                        v.message_type, v.wire_type, v.version
                    )),
                ),
                None => {
                    seen.insert((v.dialect.as_str(), v.wire_type.as_str()), v);
                }
            }
        }
    }

    fn check_routing(&mut self, events: &BTreeMap<String, Event>, config: &CatalogConfig) {
        let mut seen: BTreeMap<(&str, &str), &EventVersion> = BTreeMap::new();
        let mut all: Vec<&EventVersion> =
            events.values().flat_map(|e| e.versions.values()).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        for v in all {
            let routes_by_key = !v.is_masstransit()
                && config
                    .exchanges
                    .get(&v.exchange)
                    .is_some_and(|e| e.kind.routes_by_key());
            if !routes_by_key {
                continue;
            }
            if let Some(first) = seen.get(&(v.exchange.as_str(), v.routing_key.as_str())) {
                self.diags.push(
                    Diagnostic::new(
                        Rule::DuplicateRoutingKey,
                        &v.path,
                        "/x-event/routingKey",
                        format!(
                            "routing key `{}` on exchange `{}` is already used by {}",
                            v.routing_key,
                            v.exchange,
                            first.path.display()
                        ),
                    )
                    .help("give each event version its own routing key: set `routingKey` in the new version's x-event (e.g. `<key>.v2`), or publish it on a new exchange (on exchanges whose routing_key template has no {version}, v2 cannot share v1's key)"),
                );
            } else {
                seen.insert((v.exchange.as_str(), v.routing_key.as_str()), v);
            }
        }
    }
}

impl Loader {
    /// Per-service topology in `catalog.toml`: subscriptions that name a declared exchange
    /// with a valid pattern and select at least one event, queue names no two services
    /// share, and dead letters that reach the dead-letter queue.
    fn check_service_topology(&mut self, events: &BTreeMap<String, Event>, config: &CatalogConfig) {
        let versions: Vec<&EventVersion> =
            events.values().flat_map(|e| e.versions.values()).collect();
        for (name, exchange) in &config.exchanges {
            for src in &exchange.sources {
                if !config.exchanges.contains_key(&src.exchange) || src.exchange == *name {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::Subscription,
                            CONFIG_FILE,
                            "",
                            format!(
                                "[exchanges.\"{name}\"] sources names exchange `{}`, which is {}",
                                src.exchange,
                                if src.exchange == *name {
                                    "itself"
                                } else {
                                    "not declared"
                                }
                            ),
                        )
                        .help("name another declared exchange"),
                    );
                }
            }
        }
        let mut queues: BTreeMap<String, &str> = BTreeMap::new();
        let mut unroutable: BTreeMap<(String, ExchangeKind, String), Vec<String>> = BTreeMap::new();
        for (name, service) in &config.services {
            for (i, sub) in service.subscribe.iter().enumerate() {
                let at = format!("[services.{name}] subscribe[{i}]");
                let Some(exchange) = config.exchanges.get(&sub.exchange) else {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::Subscription,
                            CONFIG_FILE,
                            "",
                            format!(
                                "{at} names exchange `{}`, which is not declared",
                                sub.exchange
                            ),
                        )
                        .help(format!(
                            "declare [exchanges.\"{}\"] or fix the name",
                            sub.exchange
                        )),
                    );
                    continue;
                };
                let problem = match (exchange.kind, &sub.pattern) {
                    _ if config.is_masstransit_exchange(&sub.exchange) => Some(format!("`{}` carries MassTransit messages, which travel on one exchange per message type: list the service as a consumer of the events instead", sub.exchange)),
                    (ExchangeKind::Fanout, Some(p)) => Some(format!("pattern `{p}` on fanout exchange `{}`, which ignores binding keys", sub.exchange)),
                    (ExchangeKind::Direct, None) => Some(format!("no pattern on direct exchange `{}`, which routes by exact key only", sub.exchange)),
                    (ExchangeKind::Headers, _) => Some(format!("headers exchange `{}` cannot be subscribed to by routing key", sub.exchange)),
                    (ExchangeKind::Topic, Some(p)) if !crate::model::valid_binding_key(p) => Some(format!("pattern `{p}` is not dot-separated words of [a-z0-9_-], `*` or `#`")),
                    (ExchangeKind::Direct, Some(p)) if !valid_routing_key(p) => Some(format!("key `{p}` is not a routing key (a direct exchange matches keys exactly, without wildcards)")),
                    _ => None,
                };
                if let Some(problem) = problem {
                    self.diags.push(
                        Diagnostic::new(Rule::Subscription, CONFIG_FILE, "", format!("{at}: {problem}"))
                            .help("write { exchange = \"orders\", pattern = \"order.*\" } for a topic exchange, { exchange = \"analytics\" } for a fanout exchange"),
                    );
                    continue;
                }
                let key = crate::model::binding_key(sub, Some(exchange.kind));
                let selected = versions
                    .iter()
                    .filter(|v| {
                        crate::model::reaches(
                            config,
                            &v.catalog_exchange,
                            &v.routing_key,
                            &sub.exchange,
                        ) && crate::model::selects(Some(exchange.kind), &key, &v.routing_key)
                    })
                    .count();
                if selected == 0 {
                    self.diags.push(
                        Diagnostic::new(
                            Rule::Subscription,
                            CONFIG_FILE,
                            "",
                            format!("{at}: `{key}` on exchange `{}` selects no event of the catalog", sub.exchange),
                        )
                        .help("fix the pattern, or remove the subscription (`schemactl topology --format json` lists the events each pattern selects)"),
                    );
                }
            }
            let queue = service.queue.clone().unwrap_or_else(|| name.clone());
            if queue.is_empty() || queue.len() > 200 {
                self.diags.push(
                    Diagnostic::new(Rule::CatalogConfig, CONFIG_FILE, "", format!("[services.{name}] queue name `{queue}` is empty or over 200 bytes"))
                        .help("name the queue, e.g. \"notification.orders\" (its retry queues add a suffix)"),
                );
            } else if let Some(other) = queues.insert(queue.clone(), name) {
                self.diags.push(
                    Diagnostic::new(Rule::CatalogConfig, CONFIG_FILE, "", format!("services `{other}` and `{name}` both consume from queue `{queue}`"))
                        .help("give each service its own queue (a queue's messages are shared out between its consumers)"),
                );
            }
            let consumes = versions.iter().any(|v| v.consumers.contains(name))
                || !service.subscribe.is_empty();
            if !consumes {
                continue;
            }
            let dlx = &config.defaults.dead_letter_exchange;
            let dlx_kind = config
                .exchanges
                .get(dlx)
                .map_or(ExchangeKind::Direct, |e| e.kind);
            let dlrk = service
                .dead_letter_routing_key
                .clone()
                .unwrap_or_else(|| queue.clone());
            let binding = service
                .dead_letter_binding
                .clone()
                .unwrap_or_else(|| dlrk.clone());
            if !crate::model::selects(Some(dlx_kind), &binding, &dlrk) {
                unroutable
                    .entry((dlx.clone(), dlx_kind, binding))
                    .or_default()
                    .push(format!("`{name}` (key `{dlrk}`)"));
            }
        }
        for ((dlx, kind, binding), services) in unroutable {
            let hint = if kind == ExchangeKind::Direct && binding.contains(['*', '#']) {
                format!(
                    "; a {} exchange matches `{binding}` literally, without wildcards",
                    kind.as_str()
                )
            } else {
                String::new()
            };
            self.diags.push(
                Diagnostic::new(
                    Rule::DeadLetterRoute,
                    CONFIG_FILE,
                    "",
                    format!("dead letters of {} on exchange `{dlx}` do not reach their dead-letter queue, bound with `{binding}`{hint}", services.join(", ")),
                )
                .help(format!("make `{dlx}` a topic exchange, or set dead_letter_routing_key and dead_letter_binding of the services so that the binding selects their keys")),
            );
        }
    }
}

/// Keywords typify cannot turn into Rust types, and what to write instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "if",
        "express the alternatives with `oneOf` of complete shapes",
    ),
    (
        "then",
        "express the alternatives with `oneOf` of complete shapes",
    ),
    (
        "else",
        "express the alternatives with `oneOf` of complete shapes",
    ),
    (
        "dependentSchemas",
        "express the alternatives with `oneOf` of complete shapes",
    ),
    (
        "dependencies",
        "express the alternatives with `oneOf` of complete shapes",
    ),
    (
        "dependentRequired",
        "make the fields required together in a nested object, or use `oneOf`",
    ),
    ("unevaluatedProperties", "use `additionalProperties`"),
    ("unevaluatedItems", "use `items`"),
    (
        "prefixItems",
        "use an object with named fields instead of a tuple",
    ),
    ("$dynamicRef", "use a plain `$ref`"),
    ("$dynamicAnchor", "use a plain `$ref` to a `$defs` entry"),
    ("$recursiveRef", "use a plain `$ref`"),
    (
        "$anchor",
        "reference definitions by JSON pointer (`#/$defs/Name`)",
    ),
];

/// Keywords allowed beside `$ref` (annotations the generator may use or safely drop).
const REF_SIBLINGS_ALLOWED: &[&str] = &[
    "$ref",
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Runs `f`, turning a panic into an error message. Used around third-party code that may
/// panic on unusual input (typify, meta-schema detection).
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    crate::panic_guard::catch(f)
}

/// The strings a schema lists (`enum` of strings, or a string `const`).
fn listed_strings(schema: &Value) -> Option<Vec<&str>> {
    match (schema.get("enum"), schema.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().map(Value::as_str).collect(),
        (None, Some(Value::String(c))) => Some(vec![c.as_str()]),
        _ => None,
    }
}
