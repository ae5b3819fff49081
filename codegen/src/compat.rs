//! Compatibility of two JSON Schemas: does every value one accepts pass the other?
//!
//! BACKWARD (a reader on the new schema accepts data written with the old one) holds when the
//! old schema's set of values is a subset of the new one's; FORWARD is the converse. The engine
//! walks both schemas side by side and reports every way the second one *narrows* the first;
//! run old→new it finds BACKWARD breaks, run new→old it finds FORWARD breaks, and each finding
//! is named for the change as seen from old to new (`type-narrowed` / `type-widened`).
//!
//! Subset checking of JSON Schema is undecidable in general. Where the engine cannot decide
//! (`pattern` changes, `not`, `if`/`then`/`else`, unknown keywords) it fails closed: the change
//! is reported as breaking with a rule that says so.
//!
//! Policies: `strict` reasons over the sets of values (a property added to an open object
//! breaks BACKWARD, because the old schema accepted any value there); `lenient` assumes
//! writers are generated from the schema and never write undeclared properties.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::source::escape_segment;

/// What a finding breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// New readers can no longer read data written with the old schema.
    Backward,
    /// Old readers can no longer read data written with the new schema.
    Forward,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Backward => "BACKWARD",
            Direction::Forward => "FORWARD",
        })
    }
}

/// What kind of consumer a rule protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// JSON data on the wire.
    Wire,
    /// Code compiled against the generated Rust types.
    RustApi,
    /// The event's contract in the catalog: versions, routing, producers.
    Contract,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Wire => "wire",
            Category::RustApi => "rust-api",
            Category::Contract => "contract",
        })
    }
}

/// How data is assumed to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Any value the schema accepts may be written (set semantics).
    #[default]
    Strict,
    /// Writers are generated from the schema: no undeclared properties.
    Lenient,
}

/// Which directions to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Old data must pass the new schema.
    Backward,
    /// New data must pass the old schema.
    Forward,
    /// Both.
    Full,
}

impl Mode {
    /// The directions this mode checks.
    pub fn directions(self) -> &'static [Direction] {
        match self {
            Mode::Backward => &[Direction::Backward],
            Mode::Forward => &[Direction::Forward],
            Mode::Full => &[Direction::Backward, Direction::Forward],
        }
    }
}

macro_rules! rules {
    ($($variant:ident = $id:literal, $category:ident, $doc:literal;)*) => {
        /// A compatibility rule: a stable ID, a category and a doc line.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CompatRule { $(#[doc = $doc] $variant,)* }

        impl CompatRule {
            /// Every rule, in a stable order.
            pub const ALL: &'static [CompatRule] = &[$(CompatRule::$variant,)*];

            /// The stable ID.
            pub fn id(self) -> &'static str {
                match self { $(CompatRule::$variant => $id,)* }
            }

            /// The category.
            pub fn category(self) -> Category {
                match self { $(CompatRule::$variant => Category::$category,)* }
            }

            /// One line on what the rule detects.
            pub fn doc(self) -> &'static str {
                match self { $(CompatRule::$variant => $doc,)* }
            }
        }
    };
}

rules! {
    SchemaFalse = "schema-became-false", Wire, "A schema that accepted values now accepts none (`false`).";
    SchemaWasFalse = "schema-was-false", Wire, "A schema that accepted no value (`false`) now accepts some.";
    TypeNarrowed = "type-narrowed", Wire, "A JSON type (or `null`) is no longer accepted.";
    TypeWidened = "type-widened", Wire, "A JSON type (or `null`) is newly accepted.";
    PropertyAdded = "property-added", Wire, "A property was declared whose values the old schema treated differently (open objects in strict policy, closed objects).";
    PropertyRemoved = "property-removed", Wire, "A declared property was removed; its values now fall under `additionalProperties`.";
    RequiredAdded = "required-added", Wire, "A property became required: old data without it is rejected.";
    RequiredRemoved = "required-removed", Wire, "A property is no longer required: new data may lack it.";
    AdditionalNarrowed = "additional-properties-narrowed", Wire, "`additionalProperties` / `patternProperties` accept less (an object was closed).";
    AdditionalWidened = "additional-properties-widened", Wire, "`additionalProperties` / `patternProperties` accept more (an object was opened).";
    EnumNarrowed = "enum-narrowed", Wire, "A value of `enum` or `const` is no longer accepted, or an enum was introduced.";
    EnumWidened = "enum-widened", Wire, "`enum` or `const` accepts a new value, or an enum was dropped.";
    StringLengthNarrowed = "string-length-narrowed", Wire, "`minLength` rose or `maxLength` fell.";
    StringLengthWidened = "string-length-widened", Wire, "`minLength` fell or `maxLength` rose.";
    PatternChanged = "pattern-changed", Wire, "`pattern` was added or changed: regular-language inclusion is not decided, so it fails closed.";
    PatternRemoved = "pattern-removed", Wire, "`pattern` was removed: more strings are accepted.";
    FormatChanged = "format-changed", Wire, "`format` was added or changed (strict policy asserts formats).";
    FormatRemoved = "format-removed", Wire, "`format` was removed: more strings are accepted.";
    RangeNarrowed = "number-range-narrowed", Wire, "`minimum` / `exclusiveMinimum` rose or `maximum` / `exclusiveMaximum` fell.";
    RangeWidened = "number-range-widened", Wire, "The numeric range grew.";
    MultipleOfNarrowed = "multiple-of-narrowed", Wire, "`multipleOf` was added or is no longer a divisor of the old one.";
    MultipleOfWidened = "multiple-of-widened", Wire, "`multipleOf` was removed or relaxed.";
    ItemsCountNarrowed = "array-length-narrowed", Wire, "`minItems` rose or `maxItems` fell.";
    ItemsCountWidened = "array-length-widened", Wire, "`minItems` fell or `maxItems` rose.";
    UniqueItemsAdded = "unique-items-added", Wire, "`uniqueItems: true` was added.";
    UniqueItemsRemoved = "unique-items-removed", Wire, "`uniqueItems: true` was removed.";
    ContainsChanged = "contains-changed", Wire, "`contains`, `minContains` or `maxContains` changed (fails closed).";
    PropertyCountNarrowed = "property-count-narrowed", Wire, "`minProperties` rose or `maxProperties` fell.";
    PropertyCountWidened = "property-count-widened", Wire, "`minProperties` fell or `maxProperties` rose.";
    DependentRequiredAdded = "dependent-required-added", Wire, "A `dependentRequired` (or array `dependencies`) entry was added.";
    DependentRequiredRemoved = "dependent-required-removed", Wire, "A `dependentRequired` entry was removed.";
    PropertyNamesChanged = "property-names-changed", Wire, "`propertyNames` accepts fewer names.";
    BranchUnmatched = "any-of-branch-unmatched", Wire, "A value of one schema matches no branch of the other's `anyOf` / `oneOf`.";
    NotChanged = "not-changed", Wire, "`not` was added or changed: not decided, fails closed.";
    ConditionalChanged = "conditional-changed", Wire, "`if` / `then` / `else` changed: not decided, fails closed.";
    UnsupportedKeyword = "unsupported-keyword", Wire, "A keyword the engine does not reason about differs between the schemas: fails closed.";
    RustTypeChanged = "rust-field-type-changed", RustApi, "A field's Rust type changes (JSON type, integer ↔ number, a format such as uuid or date-time).";
    RustOptionalityChanged = "rust-field-optionality-changed", RustApi, "A field moved between required and optional: `T` ↔ `Option<T>`.";
    RustFieldRemoved = "rust-field-removed", RustApi, "A field of a generated struct disappeared.";
    RustEnumVariantAdded = "rust-enum-variant-added", RustApi, "A generated enum gained a variant: exhaustive `match`es stop compiling.";
    RustEnumVariantRemoved = "rust-enum-variant-removed", RustApi, "A generated enum lost a variant.";
    RustTypeRenamed = "rust-type-renamed", RustApi, "A `title` changed, renaming the generated type.";
    VersionRemoved = "version-removed", Contract, "A published event version was removed from the catalog.";
    RoutingKeyChanged = "routing-key-changed", Contract, "The routing key of an event version changed: bindings stop matching.";
    ExchangeChanged = "exchange-changed", Contract, "The exchange of an event version changed.";
    ProducerChanged = "producer-changed", Contract, "The producing service of an event version changed.";
    ConsumersOrphaned = "consumers-orphaned", Contract, "An event version's consumers are left without any producer of the event.";
    PropertyDropped = "property-dropped", Contract, "A declared property is gone (lenient policy, FORWARD or FULL): writers stop sending it and consumers that read it lose it.";
    DeprecatedVersionRemoved = "deprecated-version-removed", Contract, "A version deprecated at the compared ref was removed (advisory; names the consumers it still had).";
}

/// One incompatibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    #[serde(serialize_with = "rule_id")]
    pub rule: CompatRule,
    /// What it breaks.
    pub direction: Direction,
    /// JSON pointer in the old schema.
    pub old_pointer: String,
    /// JSON pointer in the new schema.
    pub new_pointer: String,
    /// One line: what changed and why it breaks.
    pub message: String,
}

impl Finding {
    /// Where to show it: the new pointer, else the old one, `/` for the root.
    pub fn pointer(&self) -> &str {
        display_pointer(&self.new_pointer, &self.old_pointer)
    }
}

fn rule_id<S: serde::Serializer>(rule: &CompatRule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.id())
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{} {}] at {}: {}",
            self.rule.id(),
            self.rule.category(),
            self.direction,
            self.pointer(),
            self.message
        )
    }
}

fn display_pointer<'a>(new: &'a str, old: &'a str) -> &'a str {
    let p = if new.is_empty() { old } else { new };
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// A schema the engine cannot compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{side} schema at {pointer}: {message}")]
pub struct CompatError {
    /// `old` or `new`.
    pub side: &'static str,
    /// Where.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Compares `old` and `new` (self-contained schemas: `$ref`s point inside each document) in
/// the directions of `mode`. Findings come sorted and without duplicates.
pub fn compare(
    old: &Value,
    new: &Value,
    mode: Mode,
    policy: Policy,
) -> Result<Vec<Finding>, CompatError> {
    let mut findings = Vec::new();
    let budget = Cell::new(work_budget(old, new));
    let same_docs = old == new;
    for &direction in mode.directions() {
        let (a, b, a_side, b_side) = match direction {
            Direction::Backward => (old, new, "old", "new"),
            Direction::Forward => (new, old, "new", "old"),
        };
        let mut walk = Walk {
            a: Doc {
                root: a,
                side: a_side,
            },
            b: Doc {
                root: b,
                side: b_side,
            },
            same_docs,
            policy,
            visiting: HashSet::new(),
            depth: 0,
            budget: &budget,
            raw: Vec::new(),
        };
        walk.narrowing(a, b, "", "")?;
        for r in walk.raw {
            let (old_pointer, new_pointer) = match direction {
                Direction::Backward => (r.a_ptr, r.b_ptr),
                Direction::Forward => (r.b_ptr, r.a_ptr),
            };
            findings.push(Finding {
                rule: match direction {
                    Direction::Backward => r.kind.narrowed,
                    Direction::Forward => r.kind.widened,
                },
                direction,
                old_pointer: as_written(old, old_pointer),
                new_pointer: as_written(new, new_pointer),
                message: match direction {
                    Direction::Backward => r.narrowed_message,
                    Direction::Forward => r.widened_message,
                },
            });
        }
    }
    findings.sort_by(|x, y| {
        (x.direction, &x.new_pointer, &x.old_pointer, x.rule).cmp(&(
            y.direction,
            &y.new_pointer,
            &y.old_pointer,
            y.rule,
        ))
    });
    findings.dedup();
    Ok(findings)
}

/// `pointer` as the schema writes it: a keyword read in place of another (see
/// [`unevaluated_as_additional`]) is named as written.
fn as_written(schema: &Value, pointer: String) -> String {
    for (read, written) in [
        ("additionalProperties", "unevaluatedProperties"),
        ("items", "unevaluatedItems"),
        ("additionalItems", "unevaluatedItems"),
    ] {
        let Some(parent) = pointer.strip_suffix(&format!("/{read}")) else {
            continue;
        };
        let node = if parent.is_empty() {
            Some(schema)
        } else {
            crate::walk::lookup(schema, parent)
        };
        if let Some(node) = node.and_then(Value::as_object) {
            if !node.contains_key(read) && node.contains_key(written) {
                return format!("{parent}/{written}");
            }
        }
    }
    pointer
}

/// The pair of rules one keyword-level difference maps to: seen old→new it narrows (breaks
/// BACKWARD), seen new→old it widens (breaks FORWARD).
#[derive(Debug, Clone, Copy)]
struct Kind {
    narrowed: CompatRule,
    widened: CompatRule,
}

const fn kind(narrowed: CompatRule, widened: CompatRule) -> Kind {
    Kind { narrowed, widened }
}

use CompatRule as R;
const FALSE: Kind = kind(R::SchemaFalse, R::SchemaWasFalse);
const TYPE: Kind = kind(R::TypeNarrowed, R::TypeWidened);
const ONLY_IN_B: Kind = kind(R::PropertyAdded, R::PropertyRemoved);
const ONLY_IN_A: Kind = kind(R::PropertyRemoved, R::PropertyAdded);
const REQUIRED: Kind = kind(R::RequiredAdded, R::RequiredRemoved);
const ADDITIONAL: Kind = kind(R::AdditionalNarrowed, R::AdditionalWidened);
const ENUM: Kind = kind(R::EnumNarrowed, R::EnumWidened);
const LENGTH: Kind = kind(R::StringLengthNarrowed, R::StringLengthWidened);
/// B adds a pattern A lacks.
const PATTERN_ADDED: Kind = kind(R::PatternChanged, R::PatternRemoved);
const PATTERN_CHANGED: Kind = kind(R::PatternChanged, R::PatternChanged);
/// B adds a format A lacks.
const FORMAT_ADDED: Kind = kind(R::FormatChanged, R::FormatRemoved);
const FORMAT_CHANGED: Kind = kind(R::FormatChanged, R::FormatChanged);
const RANGE: Kind = kind(R::RangeNarrowed, R::RangeWidened);
const MULTIPLE: Kind = kind(R::MultipleOfNarrowed, R::MultipleOfWidened);
const ITEMS_COUNT: Kind = kind(R::ItemsCountNarrowed, R::ItemsCountWidened);
const UNIQUE: Kind = kind(R::UniqueItemsAdded, R::UniqueItemsRemoved);
const CONTAINS: Kind = kind(R::ContainsChanged, R::ContainsChanged);
const PROPERTY_COUNT: Kind = kind(R::PropertyCountNarrowed, R::PropertyCountWidened);
const DEPENDENT: Kind = kind(R::DependentRequiredAdded, R::DependentRequiredRemoved);
const PROPERTY_NAMES: Kind = kind(R::PropertyNamesChanged, R::PropertyNamesChanged);
const BRANCH: Kind = kind(R::BranchUnmatched, R::BranchUnmatched);
const NOT: Kind = kind(R::NotChanged, R::NotChanged);
const CONDITIONAL: Kind = kind(R::ConditionalChanged, R::ConditionalChanged);
const UNSUPPORTED: Kind = kind(R::UnsupportedKeyword, R::UnsupportedKeyword);

/// A difference found walking A against B: B rejects some value A accepts.
struct Raw {
    kind: Kind,
    a_ptr: String,
    b_ptr: String,
    /// Worded for A = old, B = new.
    narrowed_message: String,
    /// Worded for A = new, B = old.
    widened_message: String,
}

#[derive(Clone, Copy)]
struct Doc<'v> {
    root: &'v Value,
    side: &'static str,
}

impl<'v> Doc<'v> {
    /// Follows `$ref`s (local JSON pointers only) to the schema they name.
    fn resolve<'x>(
        &self,
        mut schema: &'x Value,
        mut ptr: String,
    ) -> Result<(&'x Value, String), CompatError>
    where
        'v: 'x,
    {
        let mut seen = HashSet::new();
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some(fragment) = reference.strip_prefix('#') else {
                return Err(self.error(
                    &ptr,
                    format!(
                        "`$ref: {reference}` is not a local reference; bundle the schema first"
                    ),
                ));
            };
            if !seen.insert(fragment.to_owned()) {
                return Err(self.error(&ptr, format!("`$ref: {reference}` refers to itself")));
            }
            let decoded = percent_decode(fragment);
            if !decoded.is_empty() && !decoded.starts_with('/') {
                // A plain-name fragment: `$anchor` (2019-09+) or `$id: "#name"` (draft-07).
                let (target, at) =
                    find_anchor(self.root, &decoded, String::new()).ok_or_else(|| {
                        self.error(
                            &ptr,
                            format!(
                                "`$ref: {reference}` names no `$anchor` or `$id` in the document"
                            ),
                        )
                    })?;
                schema = target;
                ptr = at;
                continue;
            }
            let target = self.root.pointer(&decoded).ok_or_else(|| {
                self.error(&ptr, format!("`$ref: {reference}` points to nothing"))
            })?;
            // Keywords beside `$ref` (2019-09+) apply too: keep them by merging.
            if schema.as_object().is_some_and(|o| o.len() > 1) {
                return Ok((schema, ptr));
            }
            schema = target;
            ptr = decoded;
        }
        Ok((schema, ptr))
    }

    fn error(&self, pointer: &str, message: String) -> CompatError {
        CompatError {
            side: self.side,
            pointer: display_pointer(pointer, "").to_owned(),
            message,
        }
    }
}

/// The subschema whose `$anchor` is `name` or whose `$id` is `#name`, and its pointer.
fn find_anchor<'v>(v: &'v Value, name: &str, ptr: String) -> Option<(&'v Value, String)> {
    match v {
        Value::Object(o) => {
            let id = o.get("$id").and_then(Value::as_str);
            if o.get("$anchor").and_then(Value::as_str) == Some(name)
                || id.and_then(|i| i.strip_prefix('#')) == Some(name)
            {
                return Some((v, ptr));
            }
            o.iter()
                .find_map(|(k, child)| find_anchor(child, name, join(&ptr, k)))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| find_anchor(child, name, join(&ptr, &i.to_string()))),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Walk<'v, 'b> {
    a: Doc<'v>,
    b: Doc<'v>,
    /// Whether the two documents are the same JSON, so that a `$ref` names the same schema on
    /// both sides.
    same_docs: bool,
    policy: Policy,
    /// Pairs of (A, B) pointers being compared: a pair met again is assumed compatible
    /// (recursive schemas).
    visiting: HashSet<(String, String)>,
    /// Nesting of the walk; bounded so recursive schemas whose merged pointers keep growing
    /// end (see [`MAX_DEPTH`]).
    depth: usize,
    /// Comparisons left before giving up (see [`WORK_BUDGET`]); shared with nested walks.
    budget: &'b Cell<u64>,
    raw: Vec<Raw>,
}

/// Listed values (`enum`) split one by one against alternatives at most; a longer list is
/// compared as a whole.
const MAX_VALUE_SPLIT: usize = 64;

/// Deepest nesting compared. Recursive schemas are unrolled this far and assumed to hold
/// beyond, as the coinductive reading of a revisited pair does.
const MAX_DEPTH: usize = 48;

/// Subschema comparisons one `compare` call may make, besides [`WORK_PER_NODE`] per object
/// in either schema. Matching alternatives against alternatives is a search; nested,
/// self-referencing `anyOf`/`oneOf` can make it exponential. The conformance suite's
/// costliest pair takes 86 comparisons, a plain schema about two per subschema; random
/// schemas from the fuzzer reached millions (minutes). Past the budget (about a second at
/// worst) the comparison ends in an error instead.
const WORK_BUDGET: u64 = 2_000;
/// Comparisons allowed per object node of the two schemas: large schemas get room to be
/// walked, exponential searches do not.
const WORK_PER_NODE: u64 = 8;

fn work_budget(old: &Value, new: &Value) -> u64 {
    fn objects(v: &Value) -> u64 {
        match v {
            Value::Object(o) => 1 + o.values().map(objects).sum::<u64>(),
            Value::Array(a) => a.iter().map(objects).sum(),
            _ => 0,
        }
    }
    WORK_BUDGET + WORK_PER_NODE * (objects(old) + objects(new))
}

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// Keywords the engine reasons about (or that carry no constraint).
pub const KNOWN_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "$comment",
    "$defs",
    "definitions",
    "$anchor",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "x-event",
    "x-rust-type",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "propertyNames",
    "contentEncoding",
    "contentMediaType",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "$ref",
];

fn join(ptr: &str, segment: &str) -> String {
    format!("{ptr}/{}", escape_segment(segment))
}

/// The JSON types a schema object admits.
fn types(s: &Map<String, Value>) -> BTreeSet<&'static str> {
    let mut out = named_types(s).unwrap_or_else(|| TYPES.iter().copied().collect());
    if let Some(values) = values(s) {
        let of: BTreeSet<&'static str> = values.iter().flat_map(|v| type_of(v)).collect();
        out = out.intersection(&of).copied().collect();
    }
    out
}

/// The types `type` names (with `integer` when it names `number`); `None` without `type`.
fn named_types(s: &Map<String, Value>) -> Option<BTreeSet<&'static str>> {
    let named: Vec<&str> = match s.get("type")? {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let mut out: BTreeSet<&'static str> = TYPES
        .iter()
        .copied()
        .filter(|t| named.contains(t))
        .collect();
    if out.contains("number") {
        out.insert("integer");
    }
    Some(out)
}

/// The JSON types of a value (`integer` and `number` for whole numbers).
fn type_of(v: &Value) -> Vec<&'static str> {
    match v {
        Value::Null => vec!["null"],
        Value::Bool(_) => vec!["boolean"],
        Value::Number(n)
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
        {
            vec!["integer", "number"]
        }
        Value::Number(_) => vec!["number"],
        Value::String(_) => vec!["string"],
        Value::Array(_) => vec!["array"],
        Value::Object(_) => vec!["object"],
    }
}

/// The finite set of values `const` or `enum` lists, when there is one, without those the schema's own `type` excludes (they
/// are not among its values: `{type: string, enum: ["x", 1]}` accepts only `"x"`).
fn values(s: &Map<String, Value>) -> Option<Vec<Value>> {
    let listed = match (s.get("const"), s.get("enum")) {
        (Some(c), _) => vec![c.clone()],
        (None, Some(Value::Array(e))) => e.clone(),
        _ => return None,
    };
    Some(match named_types(s) {
        Some(named) => listed
            .into_iter()
            .filter(|v| type_of(v).iter().any(|t| named.contains(t)))
            .collect(),
        None => listed,
    })
}

fn json_eq(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => x == y,
    }
}

fn num(s: &Map<String, Value>, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

/// A bound of a number range: the value and whether it is exclusive.
#[derive(Clone, Copy, PartialEq)]
struct Bound(f64, bool);

fn lower(s: &Map<String, Value>) -> Option<Bound> {
    let mut best: Option<Bound> = num(s, "minimum").map(|m| Bound(m, false));
    match s.get("exclusiveMinimum") {
        Some(Value::Bool(true)) => best = best.map(|b| Bound(b.0, true)),
        Some(v) => {
            if let Some(x) = v.as_f64() {
                if best.is_none_or(|b| x >= b.0) {
                    best = Some(Bound(x, true));
                }
            }
        }
        None => {}
    }
    best
}

fn upper(s: &Map<String, Value>) -> Option<Bound> {
    let mut best: Option<Bound> = num(s, "maximum").map(|m| Bound(m, false));
    match s.get("exclusiveMaximum") {
        Some(Value::Bool(true)) => best = best.map(|b| Bound(b.0, true)),
        Some(v) => {
            if let Some(x) = v.as_f64() {
                if best.is_none_or(|b| x <= b.0) {
                    best = Some(Bound(x, true));
                }
            }
        }
        None => {}
    }
    best
}

fn show_bound(b: Option<Bound>, lower: bool) -> String {
    match b {
        None => "none".into(),
        Some(Bound(v, ex)) => format!(
            "{}{v}",
            if ex {
                if lower {
                    ">"
                } else {
                    "<"
                }
            } else if lower {
                "≥"
            } else {
                "≤"
            }
        ),
    }
}

/// B's lower bound cuts values A's admits.
fn lower_narrowed(a: Option<Bound>, b: Option<Bound>) -> bool {
    match (a, b) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(Bound(x, xe)), Some(Bound(y, ye))) => y > x || (y == x && ye && !xe),
    }
}

fn upper_narrowed(a: Option<Bound>, b: Option<Bound>) -> bool {
    match (a, b) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(Bound(x, xe)), Some(Bound(y, ye))) => y < x || (y == x && ye && !xe),
    }
}

fn uint(s: &Map<String, Value>, key: &str) -> Option<u64> {
    s.get(key)
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
}

fn string_set(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Merges the branches of `allOf` into one schema object where that is exact enough:
/// properties, required and the other keywords are combined; a keyword both sides give with
/// different values keeps the parent's.
/// `s` with its `allOf` branches and sibling `$ref` merged in; borrowed when there is nothing
/// to merge (most schemas), so the walk does not copy whole subtrees at every level.
fn flatten<'m>(
    doc: &Doc<'_>,
    s: &'m Map<String, Value>,
    ptr: &str,
) -> Result<Cow<'m, Map<String, Value>>, CompatError> {
    let flat = if merge_free(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(flatten_at(doc, s, ptr, 0)?)
    };
    Ok(unevaluated_as_additional(flat))
}

/// `unevaluatedProperties` / `unevaluatedItems` of a merged schema in which no alternative or
/// condition is left to evaluate anything: exactly `additionalProperties` beside the merged
/// `properties` and `patternProperties`, and `items` after `prefixItems` (or `additionalItems`
/// after a draft-07 tuple). Where an `anyOf`, `oneOf`, `if` or `dependentSchemas` remains, what
/// is evaluated depends on the value; the keyword stays as written (and fails closed when the
/// two sides differ on it).
fn unevaluated_as_additional(s: Cow<'_, Map<String, Value>>) -> Cow<'_, Map<String, Value>> {
    const EVALUATE_BY_VALUE: [&str; 8] = [
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "dependencies",
        "$ref",
    ];
    let unevaluated = s.contains_key("unevaluatedProperties") || s.contains_key("unevaluatedItems");
    if !unevaluated || EVALUATE_BY_VALUE.iter().any(|k| s.contains_key(*k)) {
        return s;
    }
    let mut m = s.into_owned();
    if let Some(rest) = m.remove("unevaluatedProperties") {
        // With `additionalProperties` present every property is evaluated already.
        m.entry("additionalProperties").or_insert(rest);
    }
    if let Some(rest) = m.remove("unevaluatedItems") {
        match m.get("items") {
            Some(Value::Array(_)) => {
                m.entry("additionalItems").or_insert(rest);
            }
            Some(_) => {}
            None => {
                m.insert("items".to_owned(), rest);
            }
        }
    }
    Cow::Owned(m)
}

/// Whether `s` has nothing for [`flatten`] to merge.
fn merge_free(s: &Map<String, Value>) -> bool {
    !s.contains_key("allOf") && !s.contains_key("$ref")
}

/// Nesting of `allOf` / `$ref` merged at most; deeper (recursive) schemas stay as they are
/// and are compared lazily.
const MAX_FLATTEN_DEPTH: usize = 16;

fn flatten_at(
    doc: &Doc<'_>,
    s: &Map<String, Value>,
    ptr: &str,
    depth: usize,
) -> Result<Map<String, Value>, CompatError> {
    let mut out = s.clone();
    if depth >= MAX_FLATTEN_DEPTH {
        return Ok(out);
    }
    let mut branches = match out.remove("allOf") {
        Some(Value::Array(b)) => b,
        _ => Vec::new(),
    };
    // `$ref` beside other keywords (2019-09+) applies like one more `allOf` branch.
    if let Some(r) = out.remove("$ref") {
        branches.push(Value::Object(Map::from_iter([("$ref".to_owned(), r)])));
    }
    if branches.is_empty() {
        return Ok(out);
    }
    for (i, branch) in branches.iter().enumerate() {
        let (branch, bptr) = doc.resolve(branch, join(&join(ptr, "allOf"), &i.to_string()))?;
        let bptr = bptr.clone();
        let branch = match branch {
            Value::Bool(true) => continue,
            Value::Bool(false) => {
                return Ok(Map::from_iter([("not".to_owned(), Value::Bool(true))]))
            }
            Value::Object(o) => flatten_at(doc, o, &bptr, depth + 1)?,
            _ => continue,
        };
        for (k, v) in branch {
            match (k.as_str(), out.get_mut(&k)) {
                ("properties", Some(Value::Object(props))) => {
                    if let Value::Object(more) = v {
                        for (name, schema) in more {
                            match props.get_mut(&name) {
                                // Both constrain the property: it must satisfy both.
                                Some(existing) if *existing != schema => {
                                    let both = Value::Array(vec![existing.take(), schema]);
                                    *existing =
                                        Value::Object(Map::from_iter([("allOf".to_owned(), both)]));
                                }
                                Some(_) => {}
                                None => {
                                    props.insert(name, schema);
                                }
                            }
                        }
                    }
                }
                ("required", Some(Value::Array(req))) => {
                    if let Value::Array(more) = v {
                        for r in more {
                            if !req.contains(&r) {
                                req.push(r);
                            }
                        }
                    }
                }
                // Excluded by either: ¬x ∧ ¬y is ¬(x ∨ y). (Only for self-contained `not`s: a
                // `$ref` inside could make the merged schema grow with every unfolding.)
                ("not", Some(existing)) if !mentions_ref(existing) && !mentions_ref(&v) => {
                    let mut excluded = match existing.take() {
                        Value::Object(mut m) if m.len() == 1 && m.contains_key("anyOf") => {
                            match m.remove("anyOf") {
                                Some(Value::Array(branches)) => branches,
                                _ => Vec::new(),
                            }
                        }
                        other => vec![other],
                    };
                    excluded.push(v);
                    *existing = Value::Object(Map::from_iter([(
                        "anyOf".to_owned(),
                        Value::Array(excluded),
                    )]));
                }
                // A value has to be of a type both allow (none left: the schema is empty).
                ("type", Some(existing)) => {
                    let named = |t: &Value| -> BTreeSet<&'static str> {
                        let m = Map::from_iter([("type".to_owned(), t.clone())]);
                        types(&m)
                    };
                    let common: Vec<Value> = named(existing)
                        .intersection(&named(&v))
                        .map(|t| Value::from(*t))
                        .collect();
                    *existing = Value::Array(common);
                }
                (_, Some(_)) => {}
                (_, None) => {
                    out.insert(k, v);
                }
            }
        }
    }
    Ok(out)
}

impl<'v, 'b> Walk<'v, 'b> {
    fn push(&mut self, kind: Kind, a_ptr: &str, b_ptr: &str, narrowed: String, widened: String) {
        self.raw.push(Raw {
            kind,
            a_ptr: a_ptr.to_owned(),
            b_ptr: b_ptr.to_owned(),
            narrowed_message: narrowed,
            widened_message: widened,
        });
    }

    /// Counts one comparison against the budget.
    fn spend(&self, a_ptr: &str) -> Result<(), CompatError> {
        let left = self.budget.get();
        if left == 0 {
            return Err(self.a.error(
                a_ptr,
                "comparing this schema takes more subschema comparisons than its size allows \
                 (nested alternatives that refer to themselves); flatten its nested `anyOf`/`oneOf` \
                 (in a catalog, `\"compatibility\": \"NONE\"` in the event's `x-event` skips \
                 the check)"
                    .to_owned(),
            ));
        }
        self.budget.set(left - 1);
        Ok(())
    }

    /// Records every way `b` rejects a value `a` accepts.
    fn narrowing(
        &mut self,
        a: &Value,
        b: &Value,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        let (a, a_ptr) = self.a.resolve(a, a_ptr.to_owned())?;
        let (b, b_ptr) = self.b.resolve(b, b_ptr.to_owned())?;
        self.spend(&a_ptr)?;
        if self.depth >= MAX_DEPTH || !self.visiting.insert((a_ptr.clone(), b_ptr.clone())) {
            return Ok(());
        }
        self.depth += 1;
        let result = self.narrowing_resolved(a, b, &a_ptr, &b_ptr);
        self.depth -= 1;
        self.visiting.remove(&(a_ptr, b_ptr));
        result
    }

    fn narrowing_resolved(
        &mut self,
        a: &Value,
        b: &Value,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        // The same schema accepts the same values, when its `$ref`s (if any) name the same
        // schemas on both sides: comparing a schema with itself never finds a change.
        if a == b && (self.same_docs || !mentions_ref(a)) {
            return Ok(());
        }
        let empty = Map::new();
        let a_obj = match a {
            Value::Bool(false) => return Ok(()),
            Value::Bool(true) => &empty,
            Value::Object(o) => o,
            _ => {
                return Err(self
                    .a
                    .error(a_ptr, "a schema must be an object or a boolean".into()))
            }
        };
        let b_obj = match b {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => {
                self.push(
                    FALSE,
                    a_ptr,
                    b_ptr,
                    "now `false`: every value is rejected".into(),
                    "was `false`: values are now accepted".into(),
                );
                return Ok(());
            }
            Value::Object(o) => o,
            _ => {
                return Err(self
                    .b
                    .error(b_ptr, "a schema must be an object or a boolean".into()))
            }
        };
        let mut a_flat = flatten(&self.a, a_obj, a_ptr)?;
        // A accepts no value: there is none for B to reject.
        if accepts_nothing(&a_flat) {
            return Ok(());
        }
        let mut b_flat = flatten(&self.b, b_obj, b_ptr)?;
        // The same `oneOf` on both sides constrains both alike.
        if same_branches(a_flat.get("oneOf"), b_flat.get("oneOf")) {
            a_flat.to_mut().remove("oneOf");
            b_flat.to_mut().remove("oneOf");
        }
        // B as a value: the schema itself when flattening left it as it was.
        let b_owned;
        let b = match b_flat {
            Cow::Borrowed(_) => b,
            Cow::Owned(m) => {
                b_owned = Value::Object(m);
                &b_owned
            }
        };
        // A's alternatives: every one must fit B.
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = a_flat.get(key) {
                let mut base = a_flat.as_ref().clone();
                base.remove(key);
                // Only this choice is open in A: another (`oneOf` beside `anyOf`) would
                // multiply the alternatives below.
                let single = !base.contains_key("anyOf") && !base.contains_key("oneOf");
                for (i, branch) in branches.iter().enumerate() {
                    let by_ref = matches!(branch, Value::Object(o) if o.contains_key("$ref"));
                    let (branch, bp) = self
                        .a
                        .resolve(branch, join(&join(a_ptr, key), &i.to_string()))?;
                    let choice = single
                        && by_ref
                        && matches!(branch, Value::Object(o)
                            if (o.contains_key("anyOf") || o.contains_key("oneOf"))
                                && !mentions_ref(branch));
                    let merged = match branch {
                        Value::Object(o) => {
                            let mut m = base.clone();
                            m.insert("allOf".into(), Value::Array(vec![Value::Object(o.clone())]));
                            Value::Object(m)
                        }
                        Value::Bool(false) => continue,
                        _ => Value::Object(base.clone()),
                    };
                    let Value::Object(merged) = &merged else {
                        continue;
                    };
                    let merged = flatten(&self.a, merged, &bp)?;
                    if choice {
                        // The branch is a `$ref` to another choice: each of its own
                        // alternatives must fit B. (Only where it refers to nothing further
                        // and no second choice is open, so that the search stays linear.)
                        let merged = Value::Object(merged.into_owned());
                        self.narrowing(&merged, b, &bp, b_ptr)?;
                    } else {
                        self.narrowing_objects(&merged, b, a_ptr, b_ptr)?;
                    }
                }
                return Ok(());
            }
        }
        self.narrowing_objects(&a_flat, b, a_ptr, b_ptr)
    }

    /// `a` has no `anyOf` / `oneOf` of its own.
    fn narrowing_objects(
        &mut self,
        a: &Map<String, Value>,
        b: &Value,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        // Alternatives that merge a `$ref` back to an enclosing schema recurse here without
        // passing through `narrowing`: bound them by the same depth.
        self.spend(a_ptr)?;
        if self.depth >= MAX_DEPTH {
            return Ok(());
        }
        self.depth += 1;
        let result = self.narrowing_arms(a, b, a_ptr, b_ptr);
        self.depth -= 1;
        result
    }

    fn narrowing_arms(
        &mut self,
        a: &Map<String, Value>,
        b: &Value,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        let Value::Object(b) = b else { return Ok(()) };
        let b = &flatten(&self.b, b, b_ptr)?;
        // B's alternatives: A must fit one of them — or, split by JSON type, each part must.
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = b.get(key) {
                let mut base = b.as_ref().clone();
                base.remove(key);
                let arms: Vec<(Value, String)> = branches
                    .iter()
                    .enumerate()
                    .map(|(i, branch)| {
                        let mut m = base.clone();
                        m.insert("allOf".into(), Value::Array(vec![branch.clone()]));
                        (Value::Object(m), join(&join(b_ptr, key), &i.to_string()))
                    })
                    .collect();
                let mut best = match self.fitting_arm(a, &arms, a_ptr)? {
                    Ok(i) => {
                        return self.exclusive(key, a, &arms, i, a_ptr, b_ptr);
                    }
                    Err(best) => best,
                };
                // Split by JSON type, each part must fit an arm; or, when A lists its values,
                // each value must (`enum: [a, b]` against `anyOf: [{const: a}, {const: b}]`).
                let ta = types(a);
                let by_type: Vec<Map<String, Value>> = ta
                    .iter()
                    .filter(|t| !(**t == "integer" && ta.contains("number")))
                    .map(|t| {
                        let mut part = a.clone();
                        part.insert("type".into(), Value::String((*t).to_owned()));
                        part
                    })
                    .collect();
                // Each value with its own JSON type, so that `enum: ["x", 1]` fits a string arm
                // and an integer arm; a value A's `type` excludes is not one of A's values.
                let by_value: Vec<Map<String, Value>> = values(a)
                    .filter(|v| v.len() <= MAX_VALUE_SPLIT)
                    .into_iter()
                    .flatten()
                    .filter_map(|value| {
                        let kind = type_of(&value).into_iter().find(|t| ta.contains(t))?;
                        let mut part = a.clone();
                        part.remove("const");
                        part.insert("type".into(), Value::String(kind.to_owned()));
                        part.insert("enum".into(), Value::Array(vec![value]));
                        Some(part)
                    })
                    .collect();
                for parts in [by_type, by_value] {
                    if parts.len() < 2 {
                        continue;
                    }
                    match self.parts_fit(key, &parts, &arms, a_ptr, b_ptr)? {
                        Ok(()) => return Ok(()),
                        Err(found) => best = found,
                    }
                }
                let n = branches.len();
                self.push(
                    BRANCH,
                    a_ptr,
                    &join(b_ptr, key),
                    format!("some old values match none of the {n} `{key}` branches"),
                    format!("some new values match none of the old {n} `{key}` branches"),
                );
                self.raw.extend(best);
                return Ok(());
            }
        }
        self.keywords(a, b, a_ptr, b_ptr)
    }

    /// Whether each of `parts` fits an arm (exclusively, for `oneOf`), or the findings of the
    /// first that fits none.
    fn parts_fit(
        &mut self,
        key: &str,
        parts: &[Map<String, Value>],
        arms: &[(Value, String)],
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<Result<(), Vec<Raw>>, CompatError> {
        // What the parts that fit reported is dropped when a later one fits nothing.
        let reported = self.raw.len();
        for part in parts {
            match self.fitting_arm(part, arms, a_ptr)? {
                Ok(i) => self.exclusive(key, part, arms, i, a_ptr, b_ptr)?,
                Err(found) => {
                    self.raw.truncate(reported);
                    return Ok(Err(found));
                }
            }
        }
        Ok(Ok(()))
    }

    /// The first arm `a` fits entirely, or the findings of the closest one.
    fn fitting_arm(
        &mut self,
        a: &Map<String, Value>,
        arms: &[(Value, String)],
        a_ptr: &str,
    ) -> Result<Result<usize, Vec<Raw>>, CompatError> {
        let mut best: Option<Vec<Raw>> = None;
        for (i, (arm, arm_ptr)) in arms.iter().enumerate() {
            let saved = std::mem::take(&mut self.raw);
            self.narrowing_objects(a, arm, a_ptr, arm_ptr)?;
            let found = std::mem::replace(&mut self.raw, saved);
            if found.is_empty() {
                return Ok(Ok(i));
            }
            // The closest arm: fewest findings, and among those one of A's own JSON type
            // (a value missing from an arm of its type says more than a type mismatch).
            let score = |f: &[Raw]| {
                let type_findings = f
                    .iter()
                    .filter(|r| r.kind.narrowed == TYPE.narrowed)
                    .count();
                (f.len(), type_findings)
            };
            if best.as_ref().is_none_or(|f| score(&found) < score(f)) {
                best = Some(found);
            }
        }
        Ok(Err(best.unwrap_or_default()))
    }

    /// Under `oneOf`, a value matching a second arm is rejected: `a`, which fits arm `i`,
    /// must be disjoint from every other arm.
    fn exclusive(
        &mut self,
        key: &str,
        a: &Map<String, Value>,
        arms: &[(Value, String)],
        i: usize,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        if key != "oneOf" {
            return Ok(());
        }
        for (j, (arm, _)) in arms.iter().enumerate() {
            if j == i {
                continue;
            }
            let Value::Object(arm) = arm else { continue };
            let arm = flatten(&self.b, arm, b_ptr)?;
            if !disjoint(a, &arm) {
                self.push(
                    BRANCH,
                    a_ptr,
                    &join(b_ptr, key),
                    format!("old values that match `oneOf` branch {i} may also match branch {j}, which `oneOf` rejects"),
                    format!("new values that match old `oneOf` branch {i} may also match branch {j}, which `oneOf` rejects"),
                );
                break;
            }
        }
        Ok(())
    }

    fn keywords(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        // Undecided keywords: equal on both sides, or fail closed.
        for key in b.keys().chain(a.keys()) {
            if !KNOWN_KEYWORDS.contains(&key.as_str()) && a.get(key) != b.get(key) {
                let msg = format!("`{key}` differs and is not reasoned about");
                self.push(UNSUPPORTED, a_ptr, b_ptr, msg.clone(), msg);
                return Ok(());
            }
        }
        self.negations(a, b, a_ptr, b_ptr)?;
        self.conditionals(a, b, a_ptr, b_ptr)?;
        self.schema_dependencies(a, b, a_ptr, b_ptr)?;
        let ta = types(a);
        let tb = types(b);
        let lost: Vec<&str> = ta.iter().copied().filter(|t| !tb.contains(t)).collect();
        if !lost.is_empty() {
            let shown = lost.join(", ");
            self.push(
                TYPE,
                &join(a_ptr, "type"),
                &join(b_ptr, "type"),
                format!("no longer accepts {shown}"),
                format!("now accepts {shown}"),
            );
        }
        let both: BTreeSet<&str> = ta.intersection(&tb).copied().collect();
        if both.is_empty() {
            return Ok(());
        }
        self.enums(a, b, a_ptr, b_ptr);
        if values(a).is_some() {
            // A's values are listed: each was checked against B's enum above; the other
            // keywords of B are checked on the values themselves.
            self.values_against(a, b, a_ptr, b_ptr);
            return Ok(());
        }
        if both.contains("string") {
            self.strings(a, b, a_ptr, b_ptr);
        }
        if both.contains("number") || both.contains("integer") {
            self.numbers(a, b, a_ptr, b_ptr);
        }
        if both.contains("array") {
            self.arrays(a, b, a_ptr, b_ptr)?;
        }
        if both.contains("object") {
            self.objects(a, b, a_ptr, b_ptr)?;
        }
        Ok(())
    }

    /// Whether `x` (in document `xd`) accepts some value `y` (in `yd`) rejects, decided
    /// by a walk of its own.
    fn narrows(
        &self,
        xd: Doc<'v>,
        yd: Doc<'v>,
        x: &Value,
        y: &Value,
        xp: &str,
        yp: &str,
    ) -> Result<bool, CompatError> {
        let mut walk = Walk {
            a: xd,
            b: yd,
            same_docs: self.same_docs || std::ptr::eq(xd.root, yd.root),
            policy: self.policy,
            visiting: HashSet::new(),
            depth: self.depth,
            budget: self.budget,
            raw: Vec::new(),
        };
        walk.narrowing(x, y, xp, yp)?;
        Ok(!walk.raw.is_empty())
    }

    /// `not`: A ⊆ ¬Y when A's own `not X` has Y ⊆ X, or A's types and Y's cannot meet.
    fn negations(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        let Some(y) = b.get("not") else { return Ok(()) };
        let (ap, bp) = (join(a_ptr, "not"), join(b_ptr, "not"));
        let decided = match a.get("not") {
            Some(x) => !self.narrows(self.b, self.a, y, x, &bp, &ap)?,
            None => match self.b.resolve(y, bp.clone())? {
                (Value::Object(y), _) => types(a).is_disjoint(&types(y)),
                (Value::Bool(false), _) => true,
                _ => false,
            },
        };
        if !decided {
            self.push(
                NOT,
                &ap,
                &bp,
                "`not` added or changed: it excludes values the old schema accepted".into(),
                "`not` removed or changed".into(),
            );
        }
        Ok(())
    }

    /// `if` / `then` / `else`: decided when both sides share the `if` (compare the branches)
    /// or A has none (A must fit both branches); otherwise fails closed.
    fn conditionals(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        if b.get("if").is_none()
            || (a.get("if") == b.get("if")
                && a.get("then") == b.get("then")
                && a.get("else") == b.get("else"))
        {
            return Ok(());
        }
        let mut fits = true;
        for key in ["then", "else"] {
            let Some(y) = b.get(key) else { continue };
            let yp = join(b_ptr, key);
            // A's values in this branch: A's own keywords, and A's branch when it shares the `if`.
            let mut whole = a.clone();
            for k in ["if", "then", "else"] {
                whole.remove(k);
            }
            let narrowed = if a.get("if") == b.get("if") || a.get("if").is_none() {
                if let (Some(x), true) = (a.get(key), a.get("if").is_some()) {
                    whole.insert("allOf".into(), Value::Array(vec![x.clone()]));
                }
                let whole = flatten(&self.a, &whole, a_ptr)?.into_owned();
                self.narrows(self.a, self.b, &Value::Object(whole), y, a_ptr, &yp)?
            } else {
                true
            };
            fits &= !narrowed;
        }
        if !fits {
            self.push(CONDITIONAL, a_ptr, &join(b_ptr, "if"), "`if` / `then` / `else` added or changed in a way that rejects old values, or that cannot be decided".into(), "`if` / `then` / `else` removed or changed in a way that cannot be decided".into());
        }
        Ok(())
    }

    /// Schema-valued `dependencies` / `dependentSchemas`. Each applies its schema to the whole
    /// object when its property is present, so B's narrows A's exactly when, for some property,
    /// B's schema narrows A's (`true` where A has none). A removed dependency only widens.
    fn schema_dependencies(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        let schemas = |s: &Map<String, Value>| -> BTreeMap<String, (&'static str, Value)> {
            let mut out = BTreeMap::new();
            for key in ["dependentSchemas", "dependencies"] {
                if let Some(Value::Object(d)) = s.get(key) {
                    for (k, v) in d {
                        if !v.is_array() {
                            out.insert(k.clone(), (key, v.clone()));
                        }
                    }
                }
            }
            out
        };
        let (ad, bd) = (schemas(a), schemas(b));
        for (k, (b_key, y)) in &bd {
            let yp = join(&join(b_ptr, b_key), k);
            let (x, xp) = match ad.get(k) {
                Some((_, x)) if x == y => continue,
                Some((a_key, x)) => (x, join(&join(a_ptr, a_key), k)),
                None => (&TRUE, a_ptr.to_owned()),
            };
            if self.narrows(self.a, self.b, x, y, &xp, &yp)? {
                self.push(
                    DEPENDENT,
                    &xp,
                    &yp,
                    format!("the schema that applies when `{k}` is present was added or narrowed"),
                    format!("the schema that applies when `{k}` is present was removed or widened"),
                );
            }
        }
        Ok(())
    }

    fn enums(&mut self, a: &Map<String, Value>, b: &Map<String, Value>, a_ptr: &str, b_ptr: &str) {
        let Some(bv) = values(b) else { return };
        let key = if b.contains_key("const") {
            "const"
        } else {
            "enum"
        };
        match values(a) {
            Some(av) => {
                let missing: Vec<String> = av
                    .iter()
                    .filter(|v| !bv.iter().any(|w| json_eq(v, w)))
                    .map(Value::to_string)
                    .collect();
                if !missing.is_empty() {
                    let shown = missing.join(", ");
                    self.push(
                        ENUM,
                        &join(a_ptr, key),
                        &join(b_ptr, key),
                        format!("no longer accepts {shown}"),
                        format!("now accepts {shown}"),
                    );
                }
            }
            None => self.push(
                ENUM,
                a_ptr,
                &join(b_ptr, key),
                format!("restricted to `{key}` values"),
                format!("no longer restricted to `{key}` values"),
            ),
        }
    }

    /// A's listed values against B's non-enum keywords.
    fn values_against(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) {
        let Some(av) = values(a) else { return };
        let mut schema = b.clone();
        schema.remove("enum");
        schema.remove("const");
        for key in ["$defs", "definitions"] {
            if let Some(d) = self.b.root.get(key) {
                schema.entry(key.to_owned()).or_insert_with(|| d.clone());
            }
        }
        let Ok(validator) = jsonschema::options()
            .should_validate_formats(self.policy == Policy::Strict)
            .build(&Value::Object(schema))
        else {
            return;
        };
        let rejected: Vec<String> = av
            .iter()
            .filter(|v| !validator.is_valid(v))
            .map(Value::to_string)
            .collect();
        if !rejected.is_empty() {
            let shown = rejected.join(", ");
            self.push(
                ENUM,
                a_ptr,
                b_ptr,
                format!("no longer accepts {shown}"),
                format!("now accepts {shown}"),
            );
        }
    }

    /// A count bound pair (`minLength`/`maxLength`, `minItems`/`maxItems`,
    /// `minProperties`/`maxProperties`): B's minimum above A's (and above `implied`, the
    /// minimum A's other keywords already impose), or B's maximum below A's.
    fn count_bounds(
        &mut self,
        kind: Kind,
        (min_key, max_key): (&str, &str),
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        (a_ptr, b_ptr): (&str, &str),
        implied: u64,
    ) {
        let (amin, bmin) = (uint(a, min_key).unwrap_or(0), uint(b, min_key).unwrap_or(0));
        if bmin > amin.max(implied) {
            self.push(
                kind,
                &join(a_ptr, min_key),
                &join(b_ptr, min_key),
                format!("{min_key} rose from {amin} to {bmin}"),
                format!("{min_key} fell from {bmin} to {amin}"),
            );
        }
        if let Some(bm) = uint(b, max_key) {
            let am = uint(a, max_key);
            if am.is_none_or(|am| bm < am) {
                let was = am.map_or("none".into(), |m| m.to_string());
                self.push(
                    kind,
                    &join(a_ptr, max_key),
                    &join(b_ptr, max_key),
                    format!("{max_key} fell from {was} to {bm}"),
                    format!("{max_key} rose from {bm} to {was}"),
                );
            }
        }
    }

    fn strings(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) {
        self.count_bounds(LENGTH, ("minLength", "maxLength"), a, b, (a_ptr, b_ptr), 0);
        match (a.get("pattern"), b.get("pattern")) {
            (Some(x), Some(y)) if x != y => {
                let msg = format!("pattern changed from {x} to {y}");
                self.push(
                    PATTERN_CHANGED,
                    &join(a_ptr, "pattern"),
                    &join(b_ptr, "pattern"),
                    msg.clone(),
                    msg,
                );
            }
            (None, Some(y)) => self.push(
                PATTERN_ADDED,
                a_ptr,
                &join(b_ptr, "pattern"),
                format!("pattern {y} added"),
                format!("pattern {y} removed"),
            ),
            _ => {}
        }
        for key in ["contentEncoding", "contentMediaType"] {
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) if x != y => {
                    let msg = format!("{key} changed from {x} to {y}");
                    self.push(
                        FORMAT_CHANGED,
                        &join(a_ptr, key),
                        &join(b_ptr, key),
                        msg.clone(),
                        msg,
                    );
                }
                (None, Some(y)) => self.push(
                    FORMAT_ADDED,
                    a_ptr,
                    &join(b_ptr, key),
                    format!("{key} {y} added"),
                    format!("{key} {y} removed"),
                ),
                _ => {}
            }
        }
        if self.policy == Policy::Strict {
            match (a.get("format"), b.get("format")) {
                (Some(x), Some(y)) if x != y && !format_implies(x, y) => {
                    let msg = format!("format changed from {x} to {y}");
                    self.push(
                        FORMAT_CHANGED,
                        &join(a_ptr, "format"),
                        &join(b_ptr, "format"),
                        msg.clone(),
                        msg,
                    );
                }
                (None, Some(y)) => self.push(
                    FORMAT_ADDED,
                    a_ptr,
                    &join(b_ptr, "format"),
                    format!("format {y} added"),
                    format!("format {y} removed"),
                ),
                _ => {}
            }
        }
    }

    fn numbers(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) {
        let (al, bl) = (lower(a), lower(b));
        if lower_narrowed(al, bl) {
            self.push(
                RANGE,
                a_ptr,
                b_ptr,
                format!(
                    "lower bound moved from {} to {}",
                    show_bound(al, true),
                    show_bound(bl, true)
                ),
                format!(
                    "lower bound moved from {} to {}",
                    show_bound(bl, true),
                    show_bound(al, true)
                ),
            );
        }
        let (au, bu) = (upper(a), upper(b));
        if upper_narrowed(au, bu) {
            self.push(
                RANGE,
                a_ptr,
                b_ptr,
                format!(
                    "upper bound moved from {} to {}",
                    show_bound(au, false),
                    show_bound(bu, false)
                ),
                format!(
                    "upper bound moved from {} to {}",
                    show_bound(bu, false),
                    show_bound(au, false)
                ),
            );
        }
        if let Some(bm) = num(b, "multipleOf") {
            let divides = num(a, "multipleOf").is_some_and(|am| {
                let q = am / bm;
                (q - q.round()).abs() < 1e-9
            });
            if !divides {
                let was = num(a, "multipleOf").map_or("none".into(), |m| m.to_string());
                self.push(
                    MULTIPLE,
                    &join(a_ptr, "multipleOf"),
                    &join(b_ptr, "multipleOf"),
                    format!("multipleOf {bm} does not divide the old {was}"),
                    format!("multipleOf {was} replaced {bm}"),
                );
            }
        }
    }

    fn arrays(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        // A bound the items imply counts against a bound written on the other side; against
        // none, the items themselves are compared (below), and reported once.
        let implied = |s, other: &Map<String, Value>| {
            if other.contains_key("maxItems") {
                with_implied_max_items(s)
            } else {
                Cow::Borrowed(s)
            }
        };
        self.count_bounds(
            ITEMS_COUNT,
            ("minItems", "maxItems"),
            &implied(a, b),
            &implied(b, a),
            (a_ptr, b_ptr),
            0,
        );
        if b.get("uniqueItems") == Some(&Value::Bool(true))
            && a.get("uniqueItems") != Some(&Value::Bool(true))
        {
            self.push(
                UNIQUE,
                &join(a_ptr, "uniqueItems"),
                &join(b_ptr, "uniqueItems"),
                "uniqueItems added".into(),
                "uniqueItems removed".into(),
            );
        }
        if let Some(y) = b.get("contains") {
            let narrowed = match a.get("contains") {
                Some(x) => self.narrows(
                    self.a,
                    self.b,
                    x,
                    y,
                    &join(a_ptr, "contains"),
                    &join(b_ptr, "contains"),
                )?,
                None => true,
            };
            if narrowed {
                self.push(
                    CONTAINS,
                    &join(a_ptr, "contains"),
                    &join(b_ptr, "contains"),
                    "`contains` added or narrowed".into(),
                    "`contains` removed or widened".into(),
                );
            }
        }
        // The counts bound how many items match `contains`, so they compare as numbers only
        // under the same `contains` (without one in B they constrain nothing); otherwise a
        // change of either fails closed.
        if let Some(y) = b.get("contains") {
            // (min, max), an absent `maxContains` unbounded; `None` where a count is no count.
            let counts = |s: &Map<String, Value>| {
                let min = s.get("minContains").map_or(Some(1), Value::as_u64);
                let max = s.get("maxContains").map_or(Some(u64::MAX), Value::as_u64);
                (min, max)
            };
            let ((a_min, a_max), (b_min, b_max)) = (counts(a), counts(b));
            let narrowed = match (a_min, a_max, b_min, b_max) {
                (Some(a_min), Some(a_max), Some(b_min), Some(b_max))
                    if a.get("contains") == Some(y) =>
                {
                    b_min > a_min || b_max < a_max
                }
                _ => ["minContains", "maxContains"]
                    .iter()
                    .any(|k| a.get(*k) != b.get(*k)),
            };
            if narrowed {
                let key = if a_min != b_min {
                    "minContains"
                } else {
                    "maxContains"
                };
                self.push(
                    CONTAINS,
                    &join(a_ptr, key),
                    &join(b_ptr, key),
                    format!("`{key}` raised, lowered or changed so that fewer arrays match"),
                    format!("`{key}` changed so that more arrays match"),
                );
            }
        }
        // Positions: the tuple part (prefixItems, or items as an array), then the rest.
        let (a_tuple, a_rest, a_tkey, a_rkey) = tuple(a);
        let (b_tuple, b_rest, b_tkey, b_rkey) = tuple(b);
        let n = a_tuple.len().max(b_tuple.len());
        for i in 0..n {
            let (ax, ap) = match a_tuple.get(i) {
                Some(s) => (*s, join(&join(a_ptr, a_tkey), &i.to_string())),
                None => (a_rest.unwrap_or(&TRUE), join(a_ptr, a_rkey)),
            };
            let (bx, bp) = match b_tuple.get(i) {
                Some(s) => (*s, join(&join(b_ptr, b_tkey), &i.to_string())),
                None => (b_rest.unwrap_or(&TRUE), join(b_ptr, b_rkey)),
            };
            self.narrowing(ax, bx, &ap, &bp)?;
        }
        let ar = a_rest.unwrap_or(&TRUE);
        let br = b_rest.unwrap_or(&TRUE);
        let max_a = uint(a, "maxItems");
        if max_a.is_none_or(|m| m as usize > n) {
            self.narrowing(ar, br, &join(a_ptr, a_rkey), &join(b_ptr, b_rkey))?;
        }
        Ok(())
    }

    fn objects(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        a_ptr: &str,
        b_ptr: &str,
    ) -> Result<(), CompatError> {
        let empty = Map::new();
        let ap = a
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let bp = b
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let names: BTreeSet<&String> = ap.keys().chain(bp.keys()).collect();
        for name in names {
            match (ap.get(name), bp.get(name)) {
                (Some(x), Some(y)) => {
                    self.narrowing(
                        x,
                        y,
                        &join(&join(a_ptr, "properties"), name),
                        &join(&join(b_ptr, "properties"), name),
                    )?;
                }
                (None, Some(y)) => {
                    let Some((ax, aptr)) = self.undeclared(a, a_ptr, name, true) else {
                        continue;
                    };
                    let saved = std::mem::take(&mut self.raw);
                    self.narrowing(ax, y, &aptr, &join(&join(b_ptr, "properties"), name))?;
                    let found = std::mem::replace(&mut self.raw, saved);
                    if !found.is_empty() {
                        self.push(ONLY_IN_B, &aptr, &join(&join(b_ptr, "properties"), name), format!("property `{name}` added: old data may carry `{name}` with values the new declaration rejects"), format!("property `{name}` removed: new data may carry `{name}` with values the old declaration rejects"));
                    }
                }
                (Some(x), None) => {
                    let Some((bx, bptr)) = self.undeclared(b, b_ptr, name, false) else {
                        continue;
                    };
                    let saved = std::mem::take(&mut self.raw);
                    self.narrowing(x, bx, &join(&join(a_ptr, "properties"), name), &bptr)?;
                    let found = std::mem::replace(&mut self.raw, saved);
                    if !found.is_empty() {
                        self.push(ONLY_IN_A, &join(&join(a_ptr, "properties"), name), &bptr, format!("property `{name}` removed: old data carrying it is rejected by the new `additionalProperties`"), format!("property `{name}` added: new data carrying it is rejected by the old `additionalProperties`"));
                    }
                }
                (None, None) => {}
            }
        }
        // Properties neither declares.
        let ao = a.get("additionalProperties").unwrap_or(&TRUE);
        let bo = b.get("additionalProperties").unwrap_or(&TRUE);
        let a_open = !(self.policy == Policy::Lenient) && ao != &Value::Bool(false);
        if a_open {
            let saved = std::mem::take(&mut self.raw);
            self.narrowing(
                ao,
                bo,
                &join(a_ptr, "additionalProperties"),
                &join(b_ptr, "additionalProperties"),
            )?;
            let found = std::mem::replace(&mut self.raw, saved);
            let mut narrowed = !found.is_empty();
            // A pattern of B that A lacks: the names it matches got A's other schema.
            if let Some(Value::Object(bpp)) = b.get("patternProperties") {
                let app = a.get("patternProperties").and_then(Value::as_object);
                for (pattern, y) in bpp {
                    let x = app.and_then(|m| m.get(pattern)).unwrap_or(ao);
                    let (xp, yp) = (
                        join(a_ptr, "patternProperties"),
                        join(&join(b_ptr, "patternProperties"), pattern),
                    );
                    narrowed |= self.narrows(self.a, self.b, x, y, &xp, &yp)?;
                }
            }
            if narrowed {
                self.push(
                    ADDITIONAL,
                    &join(a_ptr, "additionalProperties"),
                    &join(b_ptr, "additionalProperties"),
                    "undeclared properties are accepted less".into(),
                    "undeclared properties are accepted more".into(),
                );
            }
        }
        let ar = string_set(a.get("required"));
        let br = string_set(b.get("required"));
        for r in br.difference(&ar) {
            self.push(
                REQUIRED,
                a_ptr,
                &join(b_ptr, "required"),
                format!("`{r}` became required"),
                format!("`{r}` is no longer required"),
            );
        }
        // Required properties already imply a minimum count.
        let implied = ar.len() as u64;
        self.count_bounds(
            PROPERTY_COUNT,
            ("minProperties", "maxProperties"),
            a,
            b,
            (a_ptr, b_ptr),
            implied,
        );
        let deps = |s: &Map<String, Value>| -> BTreeMap<String, BTreeSet<String>> {
            let mut out = BTreeMap::new();
            for key in ["dependentRequired", "dependencies"] {
                if let Some(Value::Object(d)) = s.get(key) {
                    for (k, v) in d {
                        if v.is_array() {
                            out.entry(k.clone())
                                .or_insert_with(BTreeSet::new)
                                .extend(string_set(Some(v)));
                        }
                    }
                }
            }
            out
        };
        let (ad, bd) = (deps(a), deps(b));
        for (k, needs) in &bd {
            let had = ad.get(k).cloned().unwrap_or_default();
            let added: Vec<&String> = needs
                .difference(&had)
                .filter(|n| !ar.contains(*n))
                .collect();
            if !added.is_empty() {
                let shown = added
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                self.push(
                    DEPENDENT,
                    a_ptr,
                    &join(b_ptr, "dependentRequired"),
                    format!("`{k}` now requires {shown}"),
                    format!("`{k}` no longer requires {shown}"),
                );
            }
        }
        if let Some(pn) = b.get("propertyNames") {
            let an = a.get("propertyNames").unwrap_or(&TRUE);
            let saved = std::mem::take(&mut self.raw);
            self.narrowing(
                an,
                pn,
                &join(a_ptr, "propertyNames"),
                &join(b_ptr, "propertyNames"),
            )?;
            let found = std::mem::replace(&mut self.raw, saved);
            if !found.is_empty() {
                self.push(
                    PROPERTY_NAMES,
                    &join(a_ptr, "propertyNames"),
                    &join(b_ptr, "propertyNames"),
                    "propertyNames accepts fewer names".into(),
                    "propertyNames accepts more names".into(),
                );
            }
        }
        Ok(())
    }

    /// The schema a property `name` gets in `s` when `s` does not declare it:
    /// the first matching `patternProperties`, else `additionalProperties`. `None` when such a
    /// property cannot occur in data written against `s` (closed, or lenient policy on the
    /// writing side).
    fn undeclared<'x>(
        &self,
        s: &'x Map<String, Value>,
        ptr: &str,
        name: &str,
        writer: bool,
    ) -> Option<(&'x Value, String)> {
        if writer && self.policy == Policy::Lenient {
            return None;
        }
        if let Some(Value::Object(pp)) = s.get("patternProperties") {
            for (pattern, schema) in pp {
                if regex_matches(pattern, name) {
                    return Some((schema, join(&join(ptr, "patternProperties"), pattern)));
                }
            }
        }
        let ap = s.get("additionalProperties").unwrap_or(&TRUE);
        if writer && ap == &Value::Bool(false) {
            return None;
        }
        Some((ap, join(ptr, "additionalProperties")))
    }
}

static TRUE: Value = Value::Bool(true);

/// Whether a `$ref` occurs anywhere in `v`.
fn mentions_ref(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("$ref") || o.values().any(mentions_ref),
        Value::Array(a) => a.iter().any(mentions_ref),
        _ => false,
    }
}

/// Two `oneOf` arrays with the same branches, in any order.
fn same_branches(x: Option<&Value>, y: Option<&Value>) -> bool {
    let (Some(Value::Array(x)), Some(Value::Array(y))) = (x, y) else {
        return false;
    };
    let mut x: Vec<String> = x.iter().map(Value::to_string).collect();
    let mut y: Vec<String> = y.iter().map(Value::to_string).collect();
    x.sort();
    y.sort();
    x == y
}

/// `s` with the `maxItems` its items imply: no item may follow the tuple when the schema for
/// the rest is `false` (`items: false` is `maxItems: 0` without `prefixItems`).
fn with_implied_max_items(s: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    let (tuple, rest) = match (s.get("prefixItems"), s.get("items")) {
        (Some(Value::Array(t)), rest) => (t.len(), rest),
        (None, Some(Value::Array(t))) => (t.len(), s.get("additionalItems")),
        (None, rest) => (0, rest),
        (Some(_), rest) => (0, rest),
    };
    let implied = (rest == Some(&Value::Bool(false))).then_some(tuple as u64);
    match implied {
        Some(n) if uint(s, "maxItems").is_none_or(|m| m > n) => {
            let mut m = s.clone();
            m.insert("maxItems".to_owned(), Value::from(n));
            Cow::Owned(m)
        }
        _ => Cow::Borrowed(s),
    }
}

/// Whether no value satisfies the (flattened) schema object, by evidence it carries: `not`
/// of everything, no JSON type left (contradictory `type`s, `allOf` branches or `enum`), or a
/// contradiction for every type it allows (`minLength` above `maxLength`, a range that does not
/// meet, `minItems` above `maxItems`, more `required` properties than `maxProperties` allows, a
/// required property whose schema is `false`).
fn accepts_nothing(s: &Map<String, Value>) -> bool {
    if matches!(s.get("not"), Some(Value::Bool(true)))
        || s.get("not")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        return true;
    }
    let above =
        |min: &str, max: &str| matches!((num(s, min), num(s, max)), (Some(l), Some(h)) if l > h);
    let types = types(s);
    types.iter().all(|t| match *t {
        "string" => above("minLength", "maxLength"),
        "number" | "integer" => match (lower(s), upper(s)) {
            (Some(Bound(l, le)), Some(Bound(h, he))) => l > h || (l == h && (le || he)),
            _ => false,
        },
        "array" => {
            above("minItems", "maxItems")
                || (matches!(s.get("items"), Some(Value::Bool(false)))
                    && num(s, "minItems").is_some_and(|m| m > 0.0))
        }
        "object" => {
            let required = string_set(s.get("required"));
            let never = |p: &String| {
                s.get("properties")
                    .and_then(|ps| ps.get(p))
                    .is_some_and(|v| *v == Value::Bool(false))
            };
            above("minProperties", "maxProperties")
                || num(s, "maxProperties").is_some_and(|m| (required.len() as f64) > m)
                || required.iter().any(never)
        }
        _ => false,
    })
}

/// Whether no value can satisfy both schema objects, by evidence the schemas carry: no
/// common JSON type, enum / const sets without a common value, numeric ranges that do not
/// meet, or a property both require whose schemas are disjoint (a discriminator).
fn disjoint(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    let common: BTreeSet<&str> = types(x).intersection(&types(y)).copied().collect();
    if common.is_empty() {
        return true;
    }
    if let (Some(xv), Some(yv)) = (values(x), values(y)) {
        if !xv.iter().any(|v| yv.iter().any(|w| json_eq(v, w))) {
            return true;
        }
    }
    let numeric_only = common.iter().all(|t| *t == "number" || *t == "integer");
    if numeric_only {
        let apart = |lo: Option<Bound>, hi: Option<Bound>| match (lo, hi) {
            (Some(Bound(l, le)), Some(Bound(h, he))) => l > h || (l == h && (le || he)),
            _ => false,
        };
        if apart(lower(x), upper(y)) || apart(lower(y), upper(x)) {
            return true;
        }
    }
    if common.iter().all(|t| *t == "object") {
        let (xr, yr) = (string_set(x.get("required")), string_set(y.get("required")));
        let props = |s: &Map<String, Value>, p: &str| {
            s.get("properties")
                .and_then(|ps| ps.get(p))
                .and_then(Value::as_object)
                .cloned()
        };
        for p in xr.intersection(&yr) {
            if let (Some(xp), Some(yp)) = (props(x, p), props(y, p)) {
                if disjoint(&xp, &yp) {
                    return true;
                }
            }
        }
    }
    false
}

fn regex_matches(pattern: &str, name: &str) -> bool {
    regress::Regex::new(pattern).is_ok_and(|r| r.find(name).is_some())
}

/// `x` is a format whose strings all satisfy `y` (date-time values are not dates, so only
/// the identical format qualifies, plus a few subsets).
fn format_implies(x: &Value, y: &Value) -> bool {
    matches!(
        (x.as_str(), y.as_str()),
        (Some("uuid"), Some("uri-reference"))
            | (Some("uri"), Some("uri-reference"))
            | (Some("iri"), Some("iri-reference"))
    )
}

/// The tuple part and the rest of an array schema, with their keywords.
fn tuple(s: &Map<String, Value>) -> (Vec<&Value>, Option<&Value>, &'static str, &'static str) {
    if let Some(Value::Array(prefix)) = s.get("prefixItems") {
        return (
            prefix.iter().collect(),
            s.get("items"),
            "prefixItems",
            "items",
        );
    }
    if let Some(Value::Array(items)) = s.get("items") {
        return (
            items.iter().collect(),
            s.get("additionalItems"),
            "items",
            "additionalItems",
        );
    }
    (Vec::new(), s.get("items"), "prefixItems", "items")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_compared_with_itself_never_changes() {
        // Found by compat-fuzz: alternatives the engine cannot match branch to branch, in a
        // schema with a `$ref`, were reported as changed when nothing was.
        let s = serde_json::json!({
            "propertyNames": {
                "anyOf": [
                    {"oneOf": [{"contains": false}, {"items": false}]},
                    {"type": ["number", "null"]}
                ],
                "id": {"$ref": "#A"}
            },
            "$anchor": "A"
        });
        for policy in [Policy::Strict, Policy::Lenient] {
            assert_eq!(compare(&s, &s, Mode::Full, policy).unwrap(), vec![]);
        }
    }
    use serde_json::json;

    /// The rule IDs `compare` reports, with their direction.
    fn ids(old: Value, new: Value, policy: Policy) -> Vec<(String, Direction)> {
        compare(&old, &new, Mode::Full, policy)
            .expect("comparable")
            .into_iter()
            .map(|f| (f.rule.id().to_owned(), f.direction))
            .collect()
    }

    fn has(found: &[(String, Direction)], id: &str, d: Direction) -> bool {
        found.iter().any(|(i, x)| i == id && *x == d)
    }

    use Direction::{Backward as B, Forward as F};

    #[test]
    fn bounds_print_with_their_own_symbols() {
        let messages = |old: Value, new: Value| -> Vec<String> {
            compare(&old, &new, Mode::Backward, Policy::Strict)
                .unwrap()
                .into_iter()
                .map(|f| f.message)
                .collect()
        };
        assert_eq!(
            messages(
                json!({"minimum": 1, "maximum": 65535}),
                json!({"minimum": 2, "maximum": 1024})
            ),
            [
                "lower bound moved from ≥1 to ≥2",
                "upper bound moved from ≤65535 to ≤1024"
            ]
        );
        assert_eq!(
            messages(
                json!({"exclusiveMinimum": 0, "exclusiveMaximum": 100}),
                json!({"exclusiveMinimum": 1, "exclusiveMaximum": 10})
            ),
            [
                "lower bound moved from >0 to >1",
                "upper bound moved from <100 to <10"
            ]
        );
    }

    #[test]
    fn equal_and_equivalent_schemas_are_compatible() {
        for (old, new) in [
            (
                json!({"type": "string"}),
                json!({"type": "string", "description": "now documented"}),
            ),
            (
                json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
                json!({"oneOf": [{"type": "integer"}, {"type": "string"}]}),
            ),
            (
                json!({"$ref": "#/$defs/A", "$defs": {"A": {"type": "string"}}}),
                json!({"type": "string"}),
            ),
            (
                json!({"type": "string", "title": "A"}),
                json!({"type": "string", "title": "B"}),
            ),
        ] {
            assert_eq!(
                ids(old.clone(), new.clone(), Policy::Strict),
                vec![],
                "{old} → {new}"
            );
        }
    }

    #[test]
    fn adding_an_optional_property_is_free_only_in_lenient_policy() {
        let old = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let new = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}});
        let strict = ids(old.clone(), new.clone(), Policy::Strict);
        assert!(has(&strict, "property-added", B), "{strict:?}");
        assert!(!has(&strict, "property-added", F), "{strict:?}");
        assert_eq!(ids(old, new, Policy::Lenient), vec![]);
        // Removing a property from a closed object breaks old data in both policies.
        let old = json!({"type": "object", "additionalProperties": false, "properties": {"a": {}, "b": {}}});
        let new = json!({"type": "object", "additionalProperties": false, "properties": {"a": {}}});
        assert!(has(
            &ids(old.clone(), new.clone(), Policy::Lenient),
            "property-removed",
            B
        ));
    }

    #[test]
    fn recursive_and_broken_references_end() {
        let tree = json!({"$defs": {"T": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/T"}}}}}, "$ref": "#/$defs/T"});
        assert_eq!(ids(tree.clone(), tree, Policy::Strict), vec![]);
        let dangling = json!({"$ref": "#/$defs/Nope"});
        let e = compare(&dangling, &json!({}), Mode::Full, Policy::Strict).unwrap_err();
        assert!(e.message.contains("points to nothing"), "{e}");
        let remote = json!({"$ref": "https://example.com/a.json"});
        assert!(compare(&json!({}), &remote, Mode::Backward, Policy::Strict).is_err());
        let selfref = json!({"$ref": "#"});
        assert!(compare(&selfref, &json!({}), Mode::Full, Policy::Strict).is_err());
    }

    #[test]
    fn odd_inputs_give_errors_or_findings_never_a_panic() {
        let odd = [
            json!(null),
            json!(42),
            json!({"type": 7}),
            json!({"enum": "not an array"}),
            json!({"properties": []}),
            json!({"items": [1, 2]}),
            json!({"allOf": [{"allOf": [{"allOf": [{"$ref": "#"}]}]}]}),
            json!({"anyOf": []}),
            json!({"minimum": "x", "multipleOf": 0}),
            json!({"patternProperties": {"(": {"type": "string"}}}),
            // Found by compat-fuzz: arms merging `#` back in recursed without bound.
            json!({"anyOf": [{"$ref": "#"}], "oneOf": [{"$ref": "#", "type": "string"}]}),
            json!({"$ref": "#/$defs/A", "$defs": {"A": {"anyOf": [{"$ref": "#"}]}}}),
        ];
        for a in &odd {
            for b in &odd {
                let _ = compare(a, b, Mode::Full, Policy::Strict);
                let _ = compare(a, b, Mode::Full, Policy::Lenient);
            }
        }
    }
}
