//! `cargo run --release -p schemactl-bench --bin compat-conformance -- [CASES.jsonl] [--list]`
//!
//! Runs every labelled pair of `../shared/compat-suites/cases.jsonl` (read in place, never
//! copied) through the compatibility engine behind `schemactl diff`, strict policy, in each
//! direction the case labels, and prints the agreement per source and direction. `--list`
//! also prints every disagreement with the engine's findings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemactl_codegen::compat::{compare, Mode, Policy};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat-suites/cases.jsonl");
    let mut list = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--list" => list = true,
            other => path = PathBuf::from(other),
        }
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // (source, direction) → (agree, total)
    let mut score: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let source = case["source"].as_str().unwrap_or("?").to_owned();
        let id = case["id"].as_str().unwrap_or("?").to_owned();
        for (direction, mode) in [("backward", Mode::Backward), ("forward", Mode::Forward)] {
            let Some(expected) = case["expect"][direction].as_bool() else {
                continue;
            };
            let (got, detail) = match compare(&case["old"], &case["new"], mode, Policy::Strict) {
                Ok(findings) => (
                    findings.is_empty(),
                    findings
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                Err(e) => (false, format!("error: {e}")),
            };
            let entry = score.entry((source.clone(), direction)).or_default();
            entry.1 += 1;
            if got == expected {
                entry.0 += 1;
            } else {
                disagreements.push(format!(
                    "{source} {id:?} {direction}: expected {}, got {} {detail}",
                    if expected {
                        "compatible"
                    } else {
                        "incompatible"
                    },
                    if got { "compatible" } else { "incompatible:" },
                ));
            }
        }
    }
    println!("| source | direction | agree | cases | agreement |");
    println!("|---|---|---:|---:|---:|");
    let (mut agree, mut total) = (0, 0);
    for ((source, direction), (a, t)) in &score {
        println!(
            "| {source} | {direction} | {a} | {t} | {:.1} % |",
            100.0 * *a as f64 / *t as f64
        );
        agree += a;
        total += t;
    }
    println!(
        "| all | both | {agree} | {total} | {:.1} % |",
        100.0 * agree as f64 / total.max(1) as f64
    );
    if list {
        println!();
        for d in &disagreements {
            println!("- {d}");
        }
    }
    Ok(())
}
