//! Writes random catalogs of random valid event schemas, each with random payloads valid
//! against it as its `examples`, lints them, generates Rust for every event that lints clean
//! and writes `OUT_DIR/property.rs` (a module per catalog) and `OUT_DIR/report.tsv` (one line
//! per event: compiled, or the first lint error that kept it out).
//!
//! The schemas come from a grammar of what the generator supports, nested: objects (open,
//! closed, with an `additionalProperties` schema or `patternProperties`), arrays with bounds and
//! `uniqueItems`, strings with bounds, `pattern`s and `format`s, integers and numbers with
//! bounds, booleans, nullable types, `enum`s and `const`s, unions of scalar types, tagged
//! alternatives and shared definitions through `$ref`. Property names are drawn from a pool of
//! plain names, Rust keywords, unicode, leading digits, punctuation and names that collide after
//! case conversion. Each payload is drawn from its schema by reading the schema, so it is valid
//! by construction; the test validates it again before the round trip.
//!
//! `SCHEMACTL_PROPERTY_SEED` (default 1) and `SCHEMACTL_PROPERTY_CASES` (default 240) choose
//! another sample; the same seed always gives the same catalogs.

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use schemactl_codegen::{load, rust, LoadOptions, Severity};
use serde_json::{json, Map, Value};

/// Events per catalog: a lint error outside the events would lose no more than one catalog.
const PER_CATALOG: usize = 24;
/// Payloads drawn per event.
const EXAMPLES: usize = 6;
/// How deep schemas nest.
const MAX_DEPTH: u32 = 3;

/// Property names: plain, Rust keywords, unicode, leading digits, punctuation, names that
/// collide after case conversion, and the name of the field that holds undeclared properties.
const NAMES: &[&str] = &[
    "id",
    "name",
    "count",
    "createdAt",
    "value",
    "items",
    "type",
    "match",
    "self",
    "Self",
    "async",
    "ref",
    "crate",
    "fn",
    "super",
    "dyn",
    "naïve",
    "日本",
    "straße",
    "Ωmega",
    "1st",
    "2fa",
    "42",
    "x9",
    "x-y",
    "a.b",
    "@type",
    "$meta",
    "with space",
    "_hidden",
    "fooBar",
    "foo_bar",
    "FooBar",
    "foo-bar",
    "ID",
    "Id",
    "extra",
];
/// Enum values, some of which collide after case conversion.
const ENUM_VALUES: &[&str] = &[
    "a",
    "b",
    "a-b",
    "A_B",
    "aB",
    "in progress",
    "IN_PROGRESS",
    "1",
    "日本",
    "self",
    "Type",
    "x.y",
];
/// Characters strings are made of: ASCII, escapes, unicode beyond the BMP.
const CHARS: &[char] = &[
    'a', 'b', 'z', 'Q', '0', '9', ' ', '-', '_', '"', '\\', '/', '\n', '\t', 'é', 'ß', '日', '😀',
];
/// `pattern`s with a way to write a matching string.
const PATTERNS: &[&str] = &["^[a-z]+$", "^[A-Z]{3}$", "^x-[0-9]+$"];
/// Titles of nested objects, few so that several inline schemas share one.
const TITLES: &[&str] = &["Item", "Address", "item", "Case0"];
/// Descriptions that Rust doc comments must carry as text.
const DESCRIPTIONS: &[&str] = &[
    "Ends a block comment */ and opens one /*.",
    "A `code span`, a [link] and <html>.",
    "Line one.\n\n    indented as code\n",
    "Quotes \" and backslashes \\.",
];
const FORMATS: &[&str] = &["date-time", "date", "uuid", "email", "uri", "ipv4"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SCHEMACTL_PROPERTY_SEED");
    println!("cargo:rerun-if-env-changed=SCHEMACTL_PROPERTY_CASES");
    let seed: u64 = env_number("SCHEMACTL_PROPERTY_SEED", 1)?;
    let cases: usize = env_number("SCHEMACTL_PROPERTY_CASES", 240)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let catalogs = out.join("catalogs");
    let generated = out.join("gen");
    for dir in [&catalogs, &generated] {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = format!("# seed {seed}, {cases} cases\n");
    let mut modules = String::new();
    let mut omissions = Map::new();
    let mut visits = String::new();
    for (c, first) in (0..cases).step_by(PER_CATALOG).enumerate() {
        let domain = format!("p{c}");
        let root = catalogs.join(&domain);
        fs::create_dir_all(root.join(&domain))?;
        fs::write(root.join("catalog.toml"), catalog_toml(&domain))?;
        let mut events: BTreeSet<PathBuf> = BTreeSet::new();
        for case in first..(first + PER_CATALOG).min(cases) {
            let name = format!("Case{case}");
            let rel = PathBuf::from(&domain).join(format!("{name}.v1.json"));
            let (schema, omitted) = Schemas::new(&mut rng).event(&name);
            fs::write(root.join(&rel), serde_json::to_string_pretty(&schema)?)?;
            omissions.insert(format!("{name}.v1"), json!(omitted));
            events.insert(rel);
        }
        // Lint; an event with an error leaves the catalog and is reported with its error.
        let catalog = loop {
            match load(&root, &LoadOptions::default()) {
                Ok(catalog) => break catalog,
                Err(diags) => {
                    let mut removed = false;
                    for d in diags.iter().filter(|d| d.severity == Severity::Error) {
                        let rel = d.file.strip_prefix(&root).unwrap_or(&d.file).to_path_buf();
                        if events.remove(&rel) {
                            let message = d.message.replace(['\n', '\t'], " ");
                            writeln!(
                                report,
                                "{}\t{}\t{}\t{message}",
                                rel.display(),
                                d.rule,
                                d.pointer
                            )?;
                            fs::remove_file(root.join(&rel))?;
                            removed = true;
                        }
                    }
                    if !removed {
                        let first = diags.iter().next().map(|d| d.to_string());
                        return Err(format!(
                            "{domain}: lint fails outside its events: {}",
                            first.unwrap_or_default()
                        )
                        .into());
                    }
                }
            }
        };
        if events.is_empty() {
            continue;
        }
        match rust::render(&catalog) {
            Ok(files) => {
                let dir = generated.join(&domain);
                for (path, text) in &files {
                    let path = dir.join(path);
                    fs::create_dir_all(path.parent().ok_or("a generated file has no folder")?)?;
                    fs::write(path, text)?;
                }
                writeln!(
                    modules,
                    "/// Random catalog {c}.\npub mod {domain}_catalog {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/gen/{domain}/catalog.rs\"));\n}}"
                )?;
                writeln!(visits, "    {domain}_catalog::visit_events(visitor);")?;
                for rel in &events {
                    writeln!(report, "{}\tcompiled", rel.display())?;
                }
            }
            // Lint-clean input the generator failed on breaks the contract; the test reads it.
            Err(diags) => {
                for d in diags.iter() {
                    let message = d.message.replace(['\n', '\t'], " ");
                    writeln!(
                        report,
                        "{}\tcodegen\t{}\t{message}",
                        d.file.display(),
                        d.pointer
                    )?;
                }
            }
        }
    }
    writeln!(
        modules,
        "/// Visits every event version of every random catalog.\npub fn visit_all<V: ::schemactl_runtime::EventVisitor>(visitor: &mut V) {{\n{visits}}}"
    )?;
    fs::write(out.join("property.rs"), modules)?;
    fs::write(out.join("report.tsv"), report)?;
    fs::write(
        out.join("omitted.json"),
        serde_json::to_string(&Value::Object(omissions))?,
    )?;
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a number").into()),
        Err(_) => Ok(default),
    }
}

fn catalog_toml(domain: &str) -> String {
    format!(
        "[catalog]\nname = \"{domain}\"\nversion = \"0.1.0\"\ndescription = \"Random schemas.\"\n\n\
         [defaults]\nexchange = \"{domain}\"\n\n[exchanges.{domain}]\ntype = \"topic\"\n\n\
         [services.producer]\ndescription = \"Publishes the events.\"\n\
         [services.consumer]\ndescription = \"Reads them.\"\n\n\
         [lint]\nallow = [\"missing-description\", \"closed-payload\"]\n"
    )
}

/// One event schema in the making: the random source and the `$defs` it has written.
struct Schemas<'r> {
    rng: &'r mut StdRng,
    defs: Map<String, Value>,
}

impl<'r> Schemas<'r> {
    fn new(rng: &'r mut StdRng) -> Self {
        Schemas {
            rng,
            defs: Map::new(),
        }
    }

    /// An event schema named `name`, with payloads drawn from it as its `examples`, and for
    /// each payload the JSON pointers of the members its type leaves out when it serializes.
    fn event(mut self, name: &str) -> (Value, Vec<Vec<String>>) {
        let mut root = self.object(0);
        let (examples, omitted): (Vec<Value>, Vec<Vec<String>>) = {
            let defs = self.defs.clone();
            let mut payloads = Payloads {
                rng: &mut *self.rng,
                defs: &defs,
                omitted: Vec::new(),
            };
            (0..EXAMPLES)
                .map(|_| {
                    let payload = payloads.draw(&root, 0, "");
                    (payload, std::mem::take(&mut payloads.omitted))
                })
                .unzip()
        };
        let m = root.as_object_mut().expect("an object schema");
        m.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        m.insert("title".into(), json!(name));
        m.insert(
            "x-event".into(),
            json!({"producer": "producer", "consumers": ["consumer"]}),
        );
        if !self.defs.is_empty() {
            m.insert("$defs".into(), Value::Object(self.defs));
        }
        m.insert("examples".into(), Value::Array(examples));
        (root, omitted)
    }

    fn any(&mut self, depth: u32) -> Value {
        let nested = depth < MAX_DEPTH;
        match self.rng.random_range(0..if nested { 14 } else { 8 }) {
            0 | 1 => self.string(),
            2 => self.integer(),
            3 => self.number(),
            4 => json!({"type": "boolean"}),
            5 => self.nullable(),
            6 => self.enumeration(),
            7 => self.union(),
            8 | 9 => self.object(depth + 1),
            10 | 11 => self.array(depth + 1),
            12 => self.shared(depth + 1),
            _ => self.tagged(depth + 1),
        }
    }

    fn scalar(&mut self) -> Value {
        match self.rng.random_range(0..4) {
            0 => self.string(),
            1 => self.integer(),
            2 => self.number(),
            _ => json!({"type": "boolean"}),
        }
    }

    fn string(&mut self) -> Value {
        match self.rng.random_range(0..5) {
            0 => json!({"type": "string", "format": *FORMATS.choose(self.rng).expect("formats")}),
            1 => {
                json!({"type": "string", "pattern": *PATTERNS.choose(self.rng).expect("patterns")})
            }
            2 => {
                let min = self.rng.random_range(0..3u64);
                let max = min + self.rng.random_range(0..6u64);
                json!({"type": "string", "minLength": min, "maxLength": max})
            }
            _ => json!({"type": "string"}),
        }
    }

    fn integer(&mut self) -> Value {
        let mut s = json!({"type": "integer"});
        match self.rng.random_range(0..6) {
            4 => {
                s["format"] = json!("int32");
                s["minimum"] = json!(i32::MIN);
                s["maximum"] = json!(i32::MAX);
            }
            5 => {
                s["format"] = json!("uint8");
                s["minimum"] = json!(0);
                s["maximum"] = json!(u8::MAX);
            }
            0 => s["minimum"] = json!(0),
            1 => {
                let min = self.rng.random_range(-50..50i64);
                s["minimum"] = json!(min);
                s["maximum"] = json!(min + self.rng.random_range(0..100i64));
            }
            2 => s["exclusiveMinimum"] = json!(self.rng.random_range(-5..5i64)),
            _ => {}
        }
        s
    }

    fn number(&mut self) -> Value {
        let mut s = json!({"type": "number"});
        if self.rng.random_bool(0.4) {
            let min = self.rng.random_range(-10..10i64);
            s["minimum"] = json!(min);
            s["maximum"] = json!(min + self.rng.random_range(1..1000i64));
        }
        s
    }

    fn nullable(&mut self) -> Value {
        let mut s = self.scalar();
        let t = s["type"].take();
        s["type"] = json!([t, "null"]);
        s
    }

    fn enumeration(&mut self) -> Value {
        let n = self.rng.random_range(1..5);
        let values: Vec<&str> = ENUM_VALUES.choose_multiple(self.rng, n).copied().collect();
        if self.rng.random_bool(0.2) {
            json!({"const": values[0]})
        } else {
            json!({"type": "string", "enum": values})
        }
    }

    /// An `anyOf` of scalar types, or a type list.
    fn union(&mut self) -> Value {
        let pairs = [
            ("string", "integer"),
            ("integer", "boolean"),
            ("string", "number"),
        ];
        let (a, b) = *pairs.choose(self.rng).expect("pairs");
        if self.rng.random_bool(0.5) {
            json!({"type": [a, b]})
        } else {
            json!({"anyOf": [{"type": a}, {"type": b}]})
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let n = self.rng.random_range(usize::from(depth == 0)..6);
        let names: Vec<&str> = NAMES.choose_multiple(self.rng, n).copied().collect();
        let mut properties = Map::new();
        let mut required = Vec::new();
        for name in names {
            properties.insert(name.to_owned(), self.any(depth));
            if self.rng.random_bool(0.5) {
                required.push(json!(name));
            }
        }
        let mut s = json!({"type": "object", "properties": properties});
        if depth > 0 && self.rng.random_bool(0.3) {
            // Inline schemas that share a title must not merge into one type.
            s["title"] = json!(*TITLES.choose(self.rng).expect("titles"));
        }
        if self.rng.random_bool(0.2) {
            s["description"] = json!(*DESCRIPTIONS.choose(self.rng).expect("descriptions"));
        }
        if !required.is_empty() {
            s["required"] = Value::Array(required);
        }
        match self.rng.random_range(0..10) {
            0 | 1 => s["additionalProperties"] = json!(false),
            2 => s["additionalProperties"] = self.scalar(),
            3 => s["additionalProperties"] = json!(true),
            4 => s["patternProperties"] = json!({"^ext-": {"type": "string"}}),
            _ => {}
        }
        s
    }

    fn array(&mut self, depth: u32) -> Value {
        let mut s = json!({"type": "array", "items": self.any(depth)});
        match self.rng.random_range(0..4) {
            0 => {
                let min = self.rng.random_range(0..3u64);
                s["minItems"] = json!(min);
                s["maxItems"] = json!(min + self.rng.random_range(0..4u64));
            }
            1 => s["uniqueItems"] = json!(true),
            _ => {}
        }
        s
    }

    /// A `$ref` to a definition, written once and referenced from where it is drawn again.
    fn shared(&mut self, depth: u32) -> Value {
        if !self.defs.is_empty() && self.rng.random_bool(0.4) {
            let name = self
                .defs
                .keys()
                .nth(self.rng.random_range(0..self.defs.len()))
                .cloned()
                .expect("a definition");
            return json!({"$ref": format!("#/$defs/{name}")});
        }
        let schema = if self.rng.random_bool(0.7) {
            self.object(depth)
        } else {
            self.enumeration()
        };
        // Named after what it contains was written, so that no name is taken twice.
        let name = format!("Def{}", self.defs.len());
        self.defs.insert(name.clone(), schema);
        json!({"$ref": format!("#/$defs/{name}")})
    }

    /// A `oneOf` of object definitions told apart by a one-value `enum` tag.
    fn tagged(&mut self, depth: u32) -> Value {
        let n = self.rng.random_range(2..4);
        let first = self.defs.len();
        let mut branches = Vec::new();
        for i in 0..n {
            let mut s = self.object(depth);
            let tag = format!("t{}", first + i);
            s["properties"]["kind"] = json!({"enum": [tag]});
            let mut required = s["required"].as_array().cloned().unwrap_or_default();
            if !required.contains(&json!("kind")) {
                required.push(json!("kind"));
            }
            s["required"] = Value::Array(required);
            let name = format!("Def{}", self.defs.len());
            self.defs.insert(name.clone(), s);
            branches.push(json!({"$ref": format!("#/$defs/{name}")}));
        }
        json!({"oneOf": branches})
    }
}

/// Payloads drawn from a schema of the grammar above, valid by construction.
struct Payloads<'r, 'd> {
    rng: &'r mut StdRng,
    defs: &'d Map<String, Value>,
    /// Pointers of the members of the payload being drawn that its type does not write back:
    /// a property that is not required and holds `null`, `[]` or, where the object declares no
    /// property, `{}` (typify gives such a property a default and skips it when it is one).
    omitted: Vec<String>,
}

impl Payloads<'_, '_> {
    fn draw(&mut self, schema: &Value, depth: u32, at: &str) -> Value {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let defs = self.defs;
            return self.draw(&defs[r.trim_start_matches("#/$defs/")], depth, at);
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values.choose(self.rng).cloned().unwrap_or(Value::Null);
        }
        if let Some(branches) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            let branch = branches.choose(self.rng).expect("a branch");
            return self.draw(branch, depth, at);
        }
        let ty = match &schema["type"] {
            Value::Array(types) => types.choose(self.rng).cloned().unwrap_or(Value::Null),
            t => t.clone(),
        };
        match ty.as_str().unwrap_or("null") {
            "object" => self.object(schema, depth, at),
            "array" => self.array(schema, depth, at),
            "string" => self.string(schema),
            "integer" => {
                let (min, max) = self.bounds(schema);
                json!(self.rng.random_range(min..=max))
            }
            "number" => {
                let (min, max) = self.bounds(schema);
                if self.rng.random_bool(0.5) || min == max {
                    json!(self.rng.random_range(min..=max))
                } else {
                    json!(self.rng.random_range(min..max) as f64 + 0.5)
                }
            }
            "boolean" => json!(self.rng.random_bool(0.5)),
            _ => Value::Null,
        }
    }

    fn bounds(&mut self, schema: &Value) -> (i64, i64) {
        let min = match (schema.get("minimum"), schema.get("exclusiveMinimum")) {
            (Some(m), _) => m.as_i64().unwrap_or(0),
            (_, Some(m)) => m.as_i64().unwrap_or(0) + 1,
            _ => self.rng.random_range(-1_000_000..1_000_000),
        };
        let max = schema
            .get("maximum")
            .and_then(Value::as_i64)
            .unwrap_or(min + self.rng.random_range(0..1_000));
        (min, max)
    }

    fn object(&mut self, schema: &Value, depth: u32, at: &str) -> Value {
        let empty = Map::new();
        let properties = schema["properties"].as_object().unwrap_or(&empty);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        for (name, property) in properties {
            let required = required.contains(&name.as_str());
            if required || self.rng.random_bool(0.6) {
                let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                let value = self.draw(property, depth + 1, &pointer);
                if !required && Self::defaulted(property, &value) {
                    self.omitted.push(pointer);
                }
                out.insert(name.clone(), value);
            }
        }
        // What the schema accepts beyond what it declares.
        let undeclared = self.rng.random_range(0..3);
        for i in 0..undeclared {
            let name = format!("undeclared{i}");
            let value = match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => continue,
                Some(s @ Value::Object(_)) => self.draw(s, depth + 1, &format!("{at}/{name}")),
                _ if depth < MAX_DEPTH => json!({"by": "a newer producer", "n": [i, null]}),
                _ => json!(i),
            };
            out.insert(name, value);
        }
        if schema.get("patternProperties").is_some() && self.rng.random_bool(0.7) {
            out.insert("ext-team".into(), self.string(&json!({"type": "string"})));
        }
        Value::Object(out)
    }

    /// Whether `value` is the default typify gives a property of `schema` that is not required:
    /// `null` of a nullable type, `[]` of a plain array (one with `uniqueItems` is a type of its
    /// own) and `{}` of a map: an object written in place (a `$ref` names a type of its own)
    /// that declares no property, no pattern and is not closed.
    fn defaulted(schema: &Value, value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Array(items) => items.is_empty() && schema.get("uniqueItems").is_none(),
            Value::Object(m) => {
                m.is_empty()
                    && schema.get("$ref").is_none()
                    && schema.get("patternProperties").is_none()
                    && schema["properties"].as_object().is_none_or(Map::is_empty)
                    && schema["additionalProperties"] != json!(false)
            }
            _ => false,
        }
    }

    fn array(&mut self, schema: &Value, depth: u32, at: &str) -> Value {
        let min = schema["minItems"].as_u64().unwrap_or(0);
        let max = schema["maxItems"].as_u64().unwrap_or(min + 3);
        let n = self.rng.random_range(min..=max);
        let mut items: Vec<Value> = Vec::new();
        let mut tries = 0;
        while (items.len() as u64) < n && tries < 20 {
            tries += 1;
            let item = self.draw(
                &schema["items"],
                depth + 1,
                &format!("{at}/{}", items.len()),
            );
            if schema["uniqueItems"] == json!(true) && items.contains(&item) {
                continue;
            }
            items.push(item);
        }
        Value::Array(items)
    }

    fn string(&mut self, schema: &Value) -> Value {
        if let Some(format) = schema["format"].as_str() {
            let n = self.rng.random_range(0..1000u32);
            return json!(match format {
                "date-time" => format!(
                    "2024-0{}-1{}T0{}:{:02}:00{}",
                    n % 9 + 1,
                    n % 10,
                    n % 10,
                    n % 60,
                    ["Z", ".250Z", "+02:00", "-05:30"][n as usize % 4]
                ),
                "date" => format!("2024-0{}-2{}", n % 9 + 1, n % 9),
                "uuid" => format!("0191e4a2-7b3c-7d4e-8f00-{n:012}"),
                "email" => format!("user{n}@example.org"),
                "uri" => format!("https://example.org/items/{n}?q=a%20b"),
                _ => format!("10.0.{}.{}", n % 256, n / 4),
            });
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            let n = self.rng.random_range(1..6);
            return json!(match pattern {
                "^[a-z]+$" => "abcxyz"[..n].to_owned(),
                "^[A-Z]{3}$" => ["EUR", "USD", "UAH"][n % 3].to_owned(),
                _ => format!("x-{n}{n}"),
            });
        }
        let min = schema["minLength"].as_u64().unwrap_or(0);
        let max = schema["maxLength"].as_u64().unwrap_or(min + 12);
        let n = self.rng.random_range(min..=max);
        json!((0..n)
            .map(|_| *CHARS.choose(self.rng).expect("chars"))
            .collect::<String>())
    }
}
