//! Diagnostics: every problem found in a catalog, with a stable rule ID, the file, the JSON
//! pointer, the line and column where there is one, what is wrong and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::source::SourceMap;

/// How serious a finding is. Errors cannot be skipped; warnings can be, by rule name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks every verb: nothing is generated from a catalog with errors.
    Error,
    /// Reported, never blocking; skipped by naming the rule in `[lint] allow`.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $severity:ident, $summary:literal; )*) => {
        /// A lint rule. Its [`id`](Rule::id) is stable and is what `[lint] allow` names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, in documentation order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable identifier, e.g. `ref-dangling`.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// The default severity of findings of this rule.
            pub fn severity(self) -> Severity {
                match self { $(Rule::$variant => Severity::$severity,)* }
            }

            /// One line saying what the rule checks.
            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary,)* }
            }

            /// The rule with this identifier, if there is one.
            pub fn from_id(id: &str) -> Option<Rule> {
                match id { $($id => Some(Rule::$variant),)* _ => None }
            }
        }
    };
}

rules! {
    /// A file cannot be read, or is not UTF-8.
    Io = "io", Error, "a catalog file cannot be read or is not UTF-8";
    /// `catalog.toml` is missing, malformed or inconsistent.
    CatalogConfig = "catalog-config", Error, "catalog.toml is missing, malformed, or names an unknown exchange or an invalid default";
    /// A schema file is not valid JSON.
    JsonSyntax = "json-syntax", Error, "a schema file is not valid JSON";
    /// The schema violates its draft's meta-schema.
    MetaSchema = "meta-schema", Error, "a schema is not valid against its draft's meta-schema";
    /// `$schema` names a draft other than 2020-12 or draft-07.
    Draft = "draft", Error, "`$schema` names a draft other than 2020-12 or draft-07";
    /// A file under the catalog root does not follow `<domain>/<EventName>.v<N>.json`.
    FileName = "file-name", Error, "an event file is not at `<domain>/<EventName>.v<N>.json` with a snake_case domain and a PascalCase name";
    /// The event schema has no `x-event` object, or it is malformed.
    XEvent = "x-event", Error, "an event schema lacks a well-formed `x-event` object";
    /// The path, `title`, `$id` and `x-event` disagree about the event's identity.
    IdentityMismatch = "identity-mismatch", Error, "path, `title`, `$id` and `x-event` disagree about the event's name or version";
    /// Two files define events of the same name in different domains.
    DuplicateEvent = "duplicate-event", Error, "two domains define an event of the same name";
    /// The versions of an event have a gap (v1, v3 without v2).
    VersionGap = "version-gap", Error, "an event's versions have a gap (a chain may start above v1 once lower versions are retired)";
    /// A routing key is not dot-separated lowercase words, or contains a wildcard.
    RoutingKeySyntax = "routing-key-syntax", Error, "a routing key is not dot-separated words of [a-z0-9_-], or holds a wildcard";
    /// Two event versions publish on the same routing key of the same exchange.
    DuplicateRoutingKey = "duplicate-routing-key", Error, "two event versions share a routing key on one topic or direct exchange";
    /// A dialect is malformed, or an exchange or event names one that does not exist.
    Dialect = "dialect", Error, "a `[dialects]` table is inconsistent, or an exchange or `x-event` names an undeclared dialect";
    /// Two event versions travel with the same type value in one dialect.
    DuplicateWireType = "duplicate-wire-type", Error, "two event versions travel with the same type value in one dialect, so a consumer could not tell them apart";
    /// A service's `subscribe` entry names an undeclared exchange, holds an invalid pattern,
    /// or selects no event of the catalog.
    Subscription = "subscription", Error, "a service subscription names an undeclared exchange, holds an invalid pattern for its exchange type, or selects no event";
    /// A service's dead letters would not reach its dead-letter queue.
    DeadLetterRoute = "dead-letter-route", Warning, "a service's dead-letter routing key is not selected by its dead-letter queue's binding, so its dead letters are unroutable";
    /// `x-event` names a producer or consumer that `catalog.toml` does not declare.
    UnknownService = "unknown-service", Error, "`x-event` names a producer or consumer not declared in catalog.toml";
    /// `x-event` names an exchange that `catalog.toml` does not declare.
    UnknownExchange = "unknown-exchange", Error, "`x-event` names an exchange not declared in catalog.toml";
    /// Two names become the same Rust identifier after case conversion and keyword escaping.
    NameCollision = "name-collision", Error, "two JSON names (properties, enum values, events, exchanges) become the same Rust identifier after case conversion";
    /// A `$ref` points to a file or location that does not exist.
    RefDangling = "ref-dangling", Error, "a `$ref` points to a file or JSON pointer that does not exist";
    /// A `$ref` is a remote URL.
    RefRemote = "ref-remote", Error, "a `$ref` is a URL; references resolve inside the catalog only";
    /// A `$ref` leaves the catalog root.
    RefEscapes = "ref-escapes-root", Error, "a `$ref` path leaves the catalog root";
    /// `$ref`s form a cycle that names no type (an alias of an alias of itself).
    RefCycle = "ref-cycle", Error, "`$ref`s form a cycle through aliases only, which no Rust type can represent";
    /// A keyword the Rust generator cannot honour.
    UnsupportedKeyword = "unsupported-keyword", Error, "a keyword the Rust generator cannot honour (the message names the alternative)";
    /// Subschemas nest deeper than the generator supports.
    NestingDepth = "nesting-depth", Error, "subschemas nest deeper than 24 levels";
    /// An example payload does not validate against its schema.
    ExampleInvalid = "example-invalid", Error, "an example payload does not validate against its schema";
    /// The Rust generator failed on a schema.
    Codegen = "codegen", Error, "the Rust type generator rejected a schema";
    /// An event schema has no example payload.
    MissingExample = "missing-example", Warning, "an event schema has no `examples`";
    /// A schema or property has no description.
    MissingDescription = "missing-description", Warning, "an event, property or shared definition has no `description`";
    /// An open object written inline as an alternative or part of `oneOf` / `anyOf` / `allOf`:
    /// its Rust type drops undeclared properties on a round trip.
    UndeclaredDropped = "undeclared-dropped", Warning, "an open object inline in `oneOf`/`anyOf`/`allOf` drops undeclared properties when its Rust type is serialized again";
    /// An event payload is a closed object, which blocks additive evolution.
    ClosedPayload = "closed-payload", Warning, "`additionalProperties: false` on an event payload blocks adding optional fields compatibly";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// A line and column, both 1-based, the column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The rule that found it.
    pub rule: Rule,
    /// Error or warning.
    pub severity: Severity,
    /// The file, relative to the catalog root's parent where possible.
    pub file: PathBuf,
    /// The JSON pointer inside the file (`""` for the whole document).
    pub pointer: String,
    /// Where the pointer's value starts in the file, when known.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A finding of `rule` at its default severity.
    pub fn new(
        rule: Rule,
        file: impl Into<PathBuf>,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            rule,
            severity: rule.severity(),
            file: file.into(),
            pointer: pointer.into(),
            position: None,
            message: message.into(),
            help: None,
        }
    }

    /// Adds the fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets an explicit position (e.g. from a JSON syntax error).
    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": {}[{}]", self.severity, self.rule)?;
        if !self.pointer.is_empty() {
            write!(f, " at {}", self.pointer)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The findings of one run, sorted by file, position and rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No findings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one finding.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Adds many findings.
    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(ds);
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    /// Whether there are no findings.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of findings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates the findings.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Drops warnings of the named rules (errors are never dropped).
    pub fn allow(&mut self, allowed: &[Rule]) {
        self.0
            .retain(|d| d.severity == Severity::Error || !allowed.contains(&d.rule));
    }

    /// Fills in line and column from the pointers, then sorts and deduplicates.
    pub(crate) fn finish(&mut self, sources: &SourceMap) {
        for d in &mut self.0 {
            if d.position.is_none() {
                d.position = sources.position(&d.file, &d.pointer);
            }
        }
        self.0.sort_by(|a, b| {
            (&a.file, a.position, &a.pointer, a.rule, &a.message)
                .cmp(&(&b.file, b.position, &b.pointer, b.rule, &b.message))
        });
        self.0.dedup();
    }

    /// Re-roots every file path at `base` (used to print paths as the user typed them).
    pub(crate) fn display_under(&mut self, base: &Path) {
        for d in &mut self.0 {
            if d.file.is_relative() {
                d.file = base.join(&d.file);
            }
        }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}
