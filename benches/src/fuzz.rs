//! `cargo run --release -p schemactl-bench --bin compat-fuzz -- [--seconds 120] [--seed N]`
//!
//! Property-based fuzzing of the compatibility engine: random schema pairs from a grammar of
//! every keyword the engine reads (nested, with local `$ref`s, cycles, odd values where
//! schemas or numbers belong), each compared in both directions and both policies, and each
//! compared with itself, which must give no finding. A panic or a comparison slower than 5 s is
//! a failure: the schema is printed so it can be kept as a regression case.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemactl_codegen::compat::{compare, Mode, Policy, KNOWN_KEYWORDS};
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
    while Instant::now() < deadline && failures.len() < 10 {
        let (a, b) = (schema(&mut rng, 0), schema(&mut rng, 0));
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
        "{pairs} comparisons in {seconds} s (seed {seed}): {} crash(es); {errors} inputs rejected with an error; \
         {} self-comparisons with a (fail-closed) finding",
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
