//! `cargo run --release -p schemactl-bench --bin bench-check -- [--events 1000] [--runs 5]`
//!
//! Commits a synthetic catalog of N events to a temporary git repository, edits 10 % of the
//! events (half compatible: a description; half breaking: a string gets a `maxLength`), and
//! times `schemactl check --against HEAD` (the release binary, built first) over `--runs`
//! runs. Then times the engine alone on the largest reference schema compared with itself
//! and with a narrowed copy, per pair.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use schemactl_bench::{median, synth};
use schemactl_codegen::compat::{compare, Mode, Policy};
use schemactl_codegen::{load, LoadOptions};
use serde_json::Value;

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<std::process::Output, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(out)
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let mut all = vec![
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
    ];
    all.extend_from_slice(args);
    let out = run(dir, "git", &all)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut events = 1000usize;
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--events" => events = v.parse()?,
            "--runs" => runs = v.parse::<usize>()?.max(1),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("workspace")?;
    let build = run(
        workspace,
        env!("CARGO"),
        &["build", "--release", "-q", "-p", "schemactl"],
    )?;
    if !build.status.success() {
        return Err(String::from_utf8_lossy(&build.stderr).into_owned().into());
    }
    let schemactl = workspace.join("target/release/schemactl");

    let repo = tempfile::tempdir()?;
    let catalog = repo.path().join("schemas");
    synth::write_catalog(&catalog, events)?;
    git(repo.path(), &["init", "-q", "-b", "main"])?;
    git(repo.path(), &["add", "-A"])?;
    git(repo.path(), &["commit", "-q", "-m", "catalog"])?;
    let edited = events / 10;
    let mut paths: Vec<_> = load(&catalog, &LoadOptions::default())
        .map_err(|d| format!("synthetic catalog: {} errors", d.error_count()))?
        .versions()
        .map(|v| catalog.join(&v.path))
        .collect();
    paths.sort();
    for (i, path) in paths.iter().take(edited).enumerate() {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        if i % 2 == 0 {
            v["description"] = "Reworded description.".into();
        } else {
            v["properties"]["id"]["maxLength"] = 64.into();
        }
        std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
    }

    let mut times = Vec::new();
    let mut breaking = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let out = run(
            repo.path(),
            schemactl.to_str().ok_or("path")?,
            &["check", "--against", "HEAD"],
        )?;
        times.push(started.elapsed());
        if out.status.code() != Some(1) {
            return Err(format!(
                "expected exit 1, got {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        breaking = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(": error breaks"))
            .count();
    }
    println!(
        "`schemactl check --against HEAD`, {events} events, {edited} edited ({} compatible, {} breaking): median {:.3} s of {runs} runs (min {:.3} s, max {:.3} s); {breaking} breaking findings reported",
        edited.div_ceil(2),
        edited / 2,
        median(times.clone()).as_secs_f64(),
        times.iter().min().unwrap_or(&Duration::ZERO).as_secs_f64(),
        times.iter().max().unwrap_or(&Duration::ZERO).as_secs_f64(),
    );

    // Per pair: the largest reference schema, resolved.
    let reference = load(&workspace.join("schemas"), &LoadOptions::default())
        .map_err(|d| format!("reference catalog: {} errors", d.error_count()))?;
    let largest = reference
        .versions()
        .max_by_key(|v| v.resolved.to_string().len())
        .ok_or("no events")?;
    let mut narrowed = largest.resolved.clone();
    if let Some(req) = narrowed.get_mut("required").and_then(Value::as_array_mut) {
        req.push("extraField".into());
    }
    for (label, new) in [
        ("itself", &largest.resolved),
        ("a narrowed copy", &narrowed),
    ] {
        let n = 2000u32;
        let started = Instant::now();
        let mut findings = 0;
        for _ in 0..n {
            findings = compare(&largest.resolved, new, Mode::Full, Policy::Strict)?.len();
        }
        println!(
            "diff of {} ({} bytes resolved) against {label}: {:.1} µs per pair, {findings} finding(s)",
            largest.message_type,
            largest.resolved.to_string().len(),
            started.elapsed().as_secs_f64() * 1e6 / f64::from(n),
        );
    }
    Ok(())
}
