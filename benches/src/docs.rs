//! `cargo run --release -p schemactl-bench --bin bench-docs -- [--events 1000] [--runs 5]`
//!
//! Writes a synthetic catalog of N events and times, with the release binary (built first),
//! `schemactl docs` (HTML site, into a fresh directory each run), `schemactl docs --format
//! markdown` and `schemactl asyncapi`, each end to end: load, lint, render, write. Reports
//! the site's size and, in-process, how the HTML time divides between loading, computing the
//! docs model (field tables, diffs) and rendering. `--keep DIR` leaves the catalog and the
//! outputs in DIR to look at.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use schemactl_bench::{median, synth};
use schemactl_codegen::docs::{asyncapi, site, DocsModel};
use schemactl_codegen::{load, LoadOptions};

fn size(dir: &Path) -> std::io::Result<(u64, usize)> {
    let (mut bytes, mut files) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += entry.metadata()?.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut events = 1000usize;
    let mut runs = 5usize;
    let mut keep: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--events" => events = v.parse()?,
            "--runs" => runs = v.parse::<usize>()?.max(1),
            "--keep" => keep = Some(v.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("workspace")?;
    let build = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "schemactl"])
        .current_dir(workspace)
        .output()?;
    if !build.status.success() {
        return Err(String::from_utf8_lossy(&build.stderr).into_owned().into());
    }
    let schemactl = workspace.join("target/release/schemactl");
    let tmp = tempfile::tempdir()?;
    let work = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    let catalog = work.join("schemas");
    synth::write_catalog(&catalog, events)?;

    let time = |label: &str,
                args: &[&str],
                fresh: Option<&Path>|
     -> Result<Duration, Box<dyn std::error::Error>> {
        let mut times = Vec::new();
        for _ in 0..runs {
            if let Some(dir) = fresh {
                let _ = std::fs::remove_dir_all(dir);
            }
            let started = Instant::now();
            let out = Command::new(&schemactl)
                .arg("--catalog")
                .arg(&catalog)
                .args(args)
                .output()?;
            times.push(started.elapsed());
            if !out.status.success() {
                return Err(format!("{label}: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
        }
        let m = median(times.clone());
        println!(
            "{label}: median {:.3} s of {runs} runs (min {:.3} s, max {:.3} s)",
            m.as_secs_f64(),
            times
                .iter()
                .min()
                .copied()
                .unwrap_or_default()
                .as_secs_f64(),
            times
                .iter()
                .max()
                .copied()
                .unwrap_or_default()
                .as_secs_f64(),
        );
        Ok(m)
    };
    let site_dir = work.join("site");
    let md_dir = work.join("md");
    let spec = work.join("asyncapi.yaml");
    let s = site_dir.to_str().ok_or("path")?;
    let m = md_dir.to_str().ok_or("path")?;
    let a = spec.to_str().ok_or("path")?;
    println!("synthetic catalog: {events} events");
    time(
        "`schemactl docs` (HTML site)",
        &["docs", "--out", s],
        Some(&site_dir),
    )?;
    time(
        "`schemactl docs --format markdown`",
        &["docs", "--format", "markdown", "--out", m],
        Some(&md_dir),
    )?;
    time("`schemactl asyncapi`", &["asyncapi", "--out", a], None)?;
    let (bytes, files) = size(&site_dir)?;
    println!(
        "site: {files} files, {:.1} MB; Markdown: {:.1} MB; asyncapi.yaml: {:.1} MB",
        bytes as f64 / 1e6,
        size(&md_dir)?.0 as f64 / 1e6,
        std::fs::metadata(&spec)?.len() as f64 / 1e6
    );

    // In-process phases of the HTML site.
    let started = Instant::now();
    let loaded = load(&catalog, &LoadOptions::default())
        .map_err(|d| format!("{} errors", d.error_count()))?;
    let t_load = started.elapsed();
    let started = Instant::now();
    let model = DocsModel::new(&loaded, None);
    let t_model = started.elapsed();
    let started = Instant::now();
    let files = site::render(&loaded, &model)?;
    let t_render = started.elapsed();
    let started = Instant::now();
    let doc = asyncapi::to_yaml(&asyncapi::document(&loaded));
    let t_asyncapi = started.elapsed();
    println!(
        "phases: load + lint {:.3} s, docs model {:.3} s, render {} pages {:.3} s; AsyncAPI build + YAML {:.3} s ({} bytes)",
        t_load.as_secs_f64(),
        t_model.as_secs_f64(),
        files.len(),
        t_render.as_secs_f64(),
        t_asyncapi.as_secs_f64(),
        doc.len()
    );
    Ok(())
}
