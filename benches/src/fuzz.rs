//! `cargo run --release -p schemactl-bench --bin compat-fuzz -- [--seconds 120] [--seed N]`
//!
//! Property-based fuzzing of the compatibility engine and the catalog loader. Random schema
//! pairs from a grammar of
//! every keyword the engine reads (nested, with local `$ref`s, cycles, odd values where
//! schemas or numbers belong), each compared in both directions and both policies, and each
//! compared with itself, which must give no finding. Every fourth pair also goes through the
//! loader as a catalog: inside a valid event file, as a whole file, as a shared `$ref`
//! target, or as a valid file's bytes truncated or corrupted. A panic (engine or loader) or a
//! comparison slower than 5 s is a failure: the schema is printed so it can be kept as a regression case.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemactl_codegen::compat::{compare, Mode, Policy, KNOWN_KEYWORDS};
use schemactl_codegen::{load, LoadOptions};
use serde_json::{json, Map, Value};

/// A comparison slower than this counts as a failure (a hang in the making).
const SLOW: Duration = Duration::from_secs(5);

/// Every keyword the engine reads; annotations among them get random values too.
const KEYWORDS: &[&str] = KNOWN_KEYWORDS;
const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "string", "integer",
];
const NAMES: &[&str] = &["a", "b", "c", "kind", "x-y"];

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..6) {
        0 => Value::Null,
        1 => rng.random_bool(0.5).into(),
        2 => rng.random_range(-3i64..10).into(),
        3 => json!(rng.random_range(-2.0f64..5.0)),
        4 => NAMES[rng.random_range(0..NAMES.len())].into(),
        _ => json!([1, "a"]),
    }
}

fn schema(rng: &mut StdRng, depth: u32) -> Value {
    if depth > 4 || rng.random_bool(0.15) {
        return match rng.random_range(0..4) {
            0 => true.into(),
            1 => false.into(),
            2 => json!({}),
            _ => scalar(rng),
        };
    }
    let mut m = Map::new();
    for _ in 0..rng.random_range(1..5) {
        let k = KEYWORDS[rng.random_range(0..KEYWORDS.len())];
        let v = match k {
            "type" => {
                if rng.random_bool(0.5) {
                    TYPES[rng.random_range(0..TYPES.len())].into()
                } else {
                    json!([TYPES[rng.random_range(0..TYPES.len())], "null"])
                }
            }
            "enum" => Value::Array((0..rng.random_range(0..4)).map(|_| scalar(rng)).collect()),
            "const" => scalar(rng),
            "properties" | "patternProperties" | "dependencies" => {
                let mut p = Map::new();
                for _ in 0..rng.random_range(0..3) {
                    let name = if k == "patternProperties" && rng.random_bool(0.3) {
                        "([".to_owned()
                    } else {
                        NAMES[rng.random_range(0..NAMES.len())].to_owned()
                    };
                    p.insert(name, schema(rng, depth + 1));
                }
                Value::Object(p)
            }
            "required" => json!([NAMES[rng.random_range(0..NAMES.len())]]),
            "dependentRequired" => json!({"a": ["b"], "c": 3}),
            "items" | "prefixItems" if rng.random_bool(0.4) => Value::Array(
                (0..rng.random_range(0..3))
                    .map(|_| schema(rng, depth + 1))
                    .collect(),
            ),
            "anyOf" | "oneOf" | "allOf" => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| schema(rng, depth + 1))
                    .collect(),
            ),
            "$ref" => [
                "#",
                "#/$defs/A",
                "#/$defs/B",
                "#A",
                "#/nope",
                "http://x/y.json",
            ][rng.random_range(0..6)]
            .into(),
            "pattern" => ["^a", "[", "^[0-9]+$"][rng.random_range(0..3)].into(),
            "format" => ["uuid", "date-time", "email", "nope"][rng.random_range(0..4)].into(),
            "uniqueItems" => rng.random_bool(0.5).into(),
            "exclusiveMinimum" | "exclusiveMaximum" if rng.random_bool(0.3) => {
                rng.random_bool(0.5).into()
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties"
            | "maxProperties" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum"
            | "multipleOf" => scalar(rng),
            _ => schema(rng, depth + 1),
        };
        m.insert(k.to_owned(), v);
    }
    if depth == 0 {
        m.insert(
            "$defs".into(),
            json!({"A": schema(rng, depth + 2), "B": {"$ref": "#/$defs/A"}}),
        );
        if rng.random_bool(0.2) {
            m.insert("$anchor".into(), "A".into());
        }
    }
    Value::Object(m)
}

const CATALOG_TOML: &str = "[catalog]\nname = \"fuzz\"\nversion = \"0.1.0\"\n\n[defaults]\nexchange = \"ev\"\n\n[exchanges.ev]\ntype = \"topic\"\n\n[services.a]\ndescription = \"A.\"\n[services.b]\ndescription = \"B.\"\n";

/// The text of an event file for the loader: a valid event around random schemas (as a
/// property, as a shared file it references), a random schema as the whole file, or a valid
/// file's bytes truncated, flipped or made non-UTF-8.
fn event_file(rng: &mut StdRng, a: &Value, b: &Value, valid: bool) -> Vec<u8> {
    let reference = if valid {
        "../common/Shared.json"
    } else {
        [
            "../common/Shared.json#/properties/a",
            "#/properties/x",
            "Nope.json",
            "#/$defs/A",
        ][rng.random_range(0..4)]
    };
    let examples = if valid {
        json!([])
    } else {
        json!([{"x": scalar(rng)}])
    };
    let event = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Thing",
        "description": "A thing happened.",
        "type": "object",
        "x-event": {"producer": "a", "consumers": ["b"]},
        "properties": {
            "x": a,
            "shared": {"$ref": "../common/Shared.json", "description": "Shared."},
            "y": {"$ref": reference}
        },
        "$defs": {"A": b},
        "examples": examples
    });
    let text = serde_json::to_vec_pretty(&event).unwrap_or_default();
    match rng.random_range(0..if valid { 1 } else { 5 }) {
        0 if valid => text,
        0 => serde_json::to_vec(a).unwrap_or_default(),
        1 if !text.is_empty() => text[..rng.random_range(0..text.len())].to_vec(),
        2 => {
            let mut t = text;
            for _ in 0..rng.random_range(1..4) {
                if !t.is_empty() {
                    let i = rng.random_range(0..t.len());
                    t[i] = [b'{', b'"', b'\\', 0xff, b']', b'0'][rng.random_range(0..6)];
                }
            }
            t
        }
        _ => text,
    }
}

/// Loads a catalog holding `event` (and `shared`) and reports whether loading panicked.
fn load_case(dir: &Path, event: &[u8], shared: &Value) -> Result<bool, String> {
    std::fs::write(dir.join("d/Thing.v1.json"), event).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("common/Shared.json"), shared.to_string())
        .map_err(|e| e.to_string())?;
    match std::panic::catch_unwind(AssertUnwindSafe(|| {
        load(dir, &LoadOptions::default()).is_ok()
    })) {
        Ok(loaded) => Ok(loaded),
        Err(_) => Err(format!(
            "loader panic on\n  {}\n  shared {shared}",
            String::from_utf8_lossy(event)
        )),
    }
}

/// The schemas of `testdata/compat/*/{previous,current}/schema.json`, without `$schema`/`$id`.
fn fixture_schemas() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/compat");
    let mut out = Vec::new();
    for case in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for side in ["previous", "current"] {
            let path = case.path().join(side).join("schema.json");
            if let Some(mut v) = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            {
                if let Some(o) = v.as_object_mut() {
                    o.remove("$schema");
                    o.remove("$id");
                }
                out.push(v);
            }
        }
    }
    out
}

fn main() {
    let mut seconds = 120u64;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--seconds" => seconds = v.parse().unwrap_or(seconds),
            "--seed" => seed = v.parse().unwrap_or(seed),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut pairs, mut errors, mut failures) = (0u64, 0u64, Vec::new());
    let mut reflexive = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let catalog = tempfile::tempdir().expect("a temporary directory");
    for dir in ["d", "common"] {
        std::fs::create_dir_all(catalog.path().join(dir)).expect("catalog directories");
    }
    std::fs::write(catalog.path().join("catalog.toml"), CATALOG_TOML).expect("catalog.toml");
    let (mut loads, mut loaded) = (0u64, 0u64);
    let fixtures = fixture_schemas();
    while Instant::now() < deadline && failures.len() < 10 {
        let (a, b) = (schema(&mut rng, 0), schema(&mut rng, 0));
        if pairs % 4 == 0 {
            // Half the time valid schemas from the fixtures, so loading gets past the
            // meta-schema into bundling, linting and example validation.
            let valid = !fixtures.is_empty() && rng.random_bool(0.5);
            let pick = |rng: &mut StdRng| fixtures[rng.random_range(0..fixtures.len())].clone();
            let (x, y, shared) = if valid {
                (pick(&mut rng), pick(&mut rng), pick(&mut rng))
            } else {
                (a.clone(), b.clone(), schema(&mut rng, 1))
            };
            let file = event_file(&mut rng, &x, &y, valid);
            match load_case(catalog.path(), &file, &shared) {
                Ok(ok) => loaded += u64::from(ok),
                Err(f) => failures.push(f),
            }
            loads += 1;
        }
        for policy in [Policy::Strict, Policy::Lenient] {
            let started = Instant::now();
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let ab = compare(&a, &b, Mode::Full, policy);
                let aa = compare(&a, &a, Mode::Full, policy);
                (ab.is_err(), aa)
            }));
            pairs += 1;
            let took = started.elapsed();
            if took > slowest.0 {
                slowest = (took, format!("old {a}\n  new {b}"));
            }
            if took > SLOW {
                failures.push(format!("{took:?} on\n  old {a}\n  new {b}"));
            }
            match run {
                Err(_) => failures.push(format!("panic on\n  old {a}\n  new {b}")),
                Ok((ab_err, Ok(self_findings))) if !self_findings.is_empty() => {
                    reflexive.push(format!(
                        "{a}\n  is incompatible with itself ({policy:?}): {}",
                        self_findings[0]
                    ));
                    errors += u64::from(ab_err);
                }
                Ok((ab_err, aa)) => errors += u64::from(ab_err) + u64::from(aa.is_err()),
            }
        }
    }
    println!(
        "{pairs} comparisons and {loads} catalog loads ({loaded} loaded, the rest rejected with diagnostics) in {seconds} s (seed {seed}): \
         {} crash(es); {errors} comparisons rejected with an error; {} self-comparisons with a (fail-closed) finding",
        failures.len(),
        reflexive.len()
    );
    println!(
        "slowest pair: {:.1} ms\n  {}",
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
    for f in &failures {
        println!("- crash: {f}");
    }
    for r in reflexive.iter().take(3) {
        println!("- self-comparison: {r}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
