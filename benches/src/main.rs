//! `cargo run --release -p schemactl-bench -- [--sizes 100,1000] [--runs 3] [--build 100]`
//!
//! For each size N it writes a synthetic catalog of N events and measures, in one run:
//! - schemactl: load + lint + generate (all event versions in parallel);
//! - the baseline: raw typify + prettyplease over the same (bundled) schemas, one by one;
//!
//! then the size of the generated Rust, the `cargo build` time of a crate that includes the
//! tree for `--build` events, and whether a no-op `cargo build` of the root crate reruns its
//! build script.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use schemactl_bench::{median, synth};
use schemactl_codegen::{load, rust, LoadOptions};

struct Args {
    sizes: Vec<usize>,
    runs: usize,
    build: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        sizes: vec![100, 1000],
        runs: 3,
        build: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let value = it.next().unwrap_or_default();
        match a.as_str() {
            "--sizes" => args.sizes = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--runs" => args.runs = value.parse().unwrap_or(3).max(1),
            "--build" => args.build = value.parse().unwrap_or(100),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    args
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// schemactl's whole job: load + lint (meta-schema, refs, examples…) + render.
fn schemactl_once(root: &Path) -> (Duration, Duration, rust::Files) {
    let start = Instant::now();
    let catalog = load(root, &LoadOptions::default()).expect("synthetic catalog lints");
    let loaded = start.elapsed();
    let files = rust::render(&catalog).expect("synthetic catalog renders");
    (loaded, start.elapsed(), files)
}

/// The baseline: typify + prettyplease on each schema in turn, on one thread.
fn typify_once(schemas: &[schemars::schema::RootSchema]) -> Duration {
    let start = Instant::now();
    let mut bytes = 0;
    for schema in schemas {
        let mut settings = typify::TypeSpaceSettings::default();
        settings
            .with_struct_builder(false)
            .with_derive("PartialEq".to_owned());
        let mut space = typify::TypeSpace::new(&settings);
        space.add_root_schema(schema.clone()).expect("typify");
        let file: syn::File = syn::parse2(space.to_stream()).expect("tokens parse");
        bytes += prettyplease::unparse(&file).len();
    }
    assert!(bytes > 0);
    start.elapsed()
}

fn main() {
    let args = parse_args();
    println!(
        "machine: {} cores; runs per figure: {} (median)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.runs
    );
    println!();
    println!(
        "| events | schemactl load+lint | schemactl load+lint+generate | raw typify+prettyplease | ratio | generated Rust |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut build_tree = None;
    for &n in &args.sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        synth::write_catalog(dir.path(), n).expect("write catalog");
        let catalog = load(dir.path(), &LoadOptions::default()).expect("lints");
        let schemas: Vec<schemars::schema::RootSchema> = catalog
            .versions()
            .map(|v| serde_json::from_value(v.resolved.clone()).expect("schema"))
            .collect();
        let mut ours = Vec::new();
        let mut lint = Vec::new();
        let mut base = Vec::new();
        let mut files = rust::Files::new();
        for _ in 0..args.runs {
            let (l, t, f) = schemactl_once(dir.path());
            lint.push(l);
            ours.push(t);
            files = f;
            base.push(typify_once(&schemas));
        }
        let (ours, base) = (median(ours), median(base));
        let bytes: usize = files.values().map(String::len).sum();
        let lines: usize = files.values().map(|f| f.lines().count()).sum();
        println!(
            "| {n} | {} | {} | {} | {:.2}× | {:.1} MB, {lines} lines, {} files |",
            secs(median(lint)),
            secs(ours),
            secs(base),
            ours.as_secs_f64() / base.as_secs_f64(),
            bytes as f64 / 1e6,
            files.len()
        );
        if n == args.build {
            build_tree = Some(files);
        }
    }
    println!();
    if args.build > 0 {
        let files = build_tree.unwrap_or_else(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            synth::write_catalog(dir.path(), args.build).expect("write catalog");
            schemactl_once(dir.path()).2
        });
        match cargo_build_time(&files) {
            Ok((t, size)) => println!(
                "cargo build (debug) of a crate including the {}-event tree ({:.1} MB): {}",
                args.build,
                size as f64 / 1e6,
                secs(t)
            ),
            Err(e) => println!("cargo build of the generated crate failed: {e}"),
        }
    }
    match noop_build() {
        Ok((t, reran)) => println!(
            "no-op `cargo build -p schemactl-catalog`: {}, build script rerun: {}",
            secs(t),
            if reran { "YES" } else { "no" }
        ),
        Err(e) => println!("no-op build check failed: {e}"),
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Builds a crate that includes `files`; the dependencies are built first and not timed.
fn cargo_build_time(files: &rust::Files) -> Result<(Duration, usize), String> {
    let ws = workspace();
    let krate = ws.join("target/bench-generated-crate");
    let _ = std::fs::remove_dir_all(krate.join("src"));
    std::fs::create_dir_all(krate.join("src")).map_err(|e| e.to_string())?;
    let runtime = ws.join("runtime");
    let manifest = format!(
        "[package]\nname = \"bench-generated\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[dependencies]\nschemactl-runtime = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\nuuid = {{ version = \"1\", features = [\"serde\"] }}\nchrono = {{ version = \"0.4\", default-features = false, features = [\"serde\", \"std\"] }}\nregress = \"0.10\"\n",
        runtime.display()
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    let target = ws.join("target");
    let build = || {
        Command::new(env!("CARGO"))
            .args(["build", "-q", "--offline"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&krate)
            .status()
    };
    std::fs::write(krate.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    build().map_err(|e| e.to_string())?;
    let mut size = 0;
    for (path, text) in files {
        let p = krate.join("src/generated").join(path);
        std::fs::create_dir_all(p.parent().unwrap_or(&krate)).map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| e.to_string())?;
        size += text.len();
    }
    std::fs::write(
        krate.join("src/lib.rs"),
        "#![deny(warnings)]\ninclude!(\"generated/catalog.rs\");\n",
    )
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let status = build().map_err(|e| e.to_string())?;
    let t = start.elapsed();
    if !status.success() {
        return Err(format!("cargo build exited with {status}"));
    }
    Ok((t, size))
}

/// Builds the root crate, then builds it again and reports whether the build script reran.
fn noop_build() -> Result<(Duration, bool), String> {
    let run = || {
        Command::new(env!("CARGO"))
            .args(["build", "-v", "-p", "schemactl-catalog"])
            .current_dir(workspace())
            .output()
            .map_err(|e| e.to_string())
    };
    run()?;
    let start = Instant::now();
    let out = run()?;
    let t = start.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    let reran = log.lines().any(|l| {
        l.contains("Running") && l.contains("schemactl-catalog") && l.contains("build-script-build")
    });
    Ok((t, reran))
}
