//! Converts the Iglu Central schemas under `testdata/iglu-central/` into one schemactl catalog
//! per vendor, lints each, generates Rust for every event that lints clean and writes
//! `OUT_DIR/corpus.rs` (a module per vendor) and `OUT_DIR/report.tsv` (one line per schema:
//! compiled, or the first error that kept it out).
//!
//! The conversion is what a team adopting schemactl would do by hand: the file at
//! `<vendor>/<name>/jsonschema/<M>-<m>-<p>` becomes `<vendor_snake>/<Name>.v<M>.json` with the
//! event's name as `title`, an `x-event` naming a producer and a consumer, `$schema` set to
//! draft-07, and the draft-04 forms draft-07 changed rewritten (boolean `exclusiveMinimum` /
//! `exclusiveMaximum`, `id`). Iglu's own `self` block is dropped. Nothing else is touched.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use heck::ToUpperCamelCase;
use schemactl_codegen::{load, rust, LoadOptions, Severity};
use serde_json::{json, Value};

const CORPUS: &str = "../../testdata/iglu-central/schemas";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={CORPUS}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let catalogs = out.join("catalogs");
    let generated = out.join("gen");
    for dir in [&catalogs, &generated] {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
    }
    let mut report = String::new();
    let mut modules = String::new();
    for (vendor, events) in corpus()? {
        let domain = snake(&vendor);
        let root = catalogs.join(&domain);
        fs::create_dir_all(root.join(&domain))?;
        fs::write(root.join("catalog.toml"), catalog_toml(&vendor, &domain))?;
        let mut sources: BTreeMap<PathBuf, String> = BTreeMap::new();
        for (file, (id, schema)) in events {
            let rel = PathBuf::from(&domain).join(&file);
            fs::write(root.join(&rel), serde_json::to_string_pretty(&schema)?)?;
            sources.insert(rel, id);
        }
        // Lint; an event with an error leaves the catalog and is reported with it.
        let mut outcome: BTreeMap<String, String> = BTreeMap::new();
        let catalog = loop {
            match load(&root, &LoadOptions::default()) {
                Ok(catalog) => break Some(catalog),
                Err(diags) => {
                    let mut removed = false;
                    for d in diags.iter().filter(|d| d.severity == Severity::Error) {
                        let rel = d.file.strip_prefix(&root).unwrap_or(&d.file).to_path_buf();
                        if let Some(id) = sources.remove(&rel) {
                            let line =
                                format!("{}\t{}\t{}", d.rule, d.pointer, one_line(&d.message));
                            outcome.insert(id, line);
                            fs::remove_file(root.join(&rel))?;
                            removed = true;
                        }
                    }
                    if !removed {
                        let first = diags
                            .iter()
                            .next()
                            .map(|d| d.to_string())
                            .unwrap_or_default();
                        return Err(
                            format!("{vendor}: lint fails outside its events: {first}").into()
                        );
                    }
                }
            }
        };
        let files = match catalog.filter(|_| !sources.is_empty()) {
            None => None,
            Some(catalog) => match rust::render(&catalog) {
                Ok(files) => Some(files),
                Err(diags) => {
                    // Lint-clean input the generator failed on: the contract is broken; the
                    // test reads these lines.
                    for d in diags.iter() {
                        let rel = d.file.strip_prefix(&root).unwrap_or(&d.file).to_path_buf();
                        let id = sources.get(&rel).cloned().unwrap_or_else(|| vendor.clone());
                        outcome.insert(
                            id,
                            format!("{}\t{}\t{}", d.rule, d.pointer, one_line(&d.message)),
                        );
                    }
                    sources.clear();
                    None
                }
            },
        };
        if let Some(files) = files {
            let dir = generated.join(&domain);
            for (path, text) in &files {
                let path = dir.join(path);
                fs::create_dir_all(path.parent().expect("a file in a folder"))?;
                fs::write(path, text)?;
            }
            writeln!(
                modules,
                "/// Iglu Central: `{vendor}`.\npub mod {domain}_catalog {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/gen/{domain}/catalog.rs\"));\n}}"
            )?;
            for id in sources.values() {
                outcome.insert(id.clone(), "compiled".to_owned());
            }
        }
        for (id, line) in outcome {
            writeln!(report, "{id}\t{line}")?;
        }
    }
    fs::write(out.join("corpus.rs"), modules)?;
    fs::write(out.join("report.tsv"), report)?;
    Ok(())
}

/// Vendor → event file name → (registry path, converted schema), the latest revision of each
/// model being what the corpus holds.
type Corpus = BTreeMap<String, BTreeMap<String, (String, Value)>>;

fn corpus() -> Result<Corpus, Box<dyn Error>> {
    let mut corpus = Corpus::new();
    for vendor in sorted(Path::new(CORPUS))? {
        let vendor_name = name_of(&vendor);
        for event in sorted(&vendor)? {
            for version in sorted(&event.join("jsonschema"))? {
                let id = format!("{vendor_name}/{}/{}", name_of(&event), name_of(&version));
                let model = name_of(&version)
                    .split('-')
                    .next()
                    .and_then(|m| m.parse::<u32>().ok())
                    .ok_or_else(|| format!("{id}: not <model>-<revision>-<addition>"))?;
                let name = event_name(&name_of(&event));
                let schema: Value = serde_json::from_str(&fs::read_to_string(&version)?)
                    .map_err(|e| format!("{id}: {e}"))?;
                let file = format!("{name}.v{model}.json");
                corpus
                    .entry(vendor_name.clone())
                    .or_default()
                    .insert(file, (id, convert(schema, &name)));
            }
        }
    }
    Ok(corpus)
}

/// An Iglu schema as a schemactl event schema named `name`.
fn convert(mut schema: Value, name: &str) -> Value {
    schemactl_codegen::walk::visit_mut(&mut schema, &mut |m| {
        for (bound, exclusive) in [
            ("minimum", "exclusiveMinimum"),
            ("maximum", "exclusiveMaximum"),
        ] {
            match m.get(exclusive) {
                Some(Value::Bool(true)) => {
                    let limit = m.remove(bound).unwrap_or(Value::Null);
                    m.insert(exclusive.to_owned(), limit);
                }
                Some(Value::Bool(false)) => {
                    m.remove(exclusive);
                }
                _ => {}
            }
        }
        m.remove("id");
    });
    if let Value::Object(m) = &mut schema {
        m.remove("self");
        m.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-07/schema#"),
        );
        m.insert("title".into(), json!(name));
        m.insert(
            "x-event".into(),
            json!({"producer": "producer", "consumers": ["consumer"]}),
        );
    }
    schema
}

fn catalog_toml(vendor: &str, domain: &str) -> String {
    format!(
        "[catalog]\nname = \"{domain}\"\nversion = \"0.1.0\"\ndescription = \"Iglu Central schemas of {vendor}.\"\n\n\
         [defaults]\nexchange = \"{domain}\"\n\n[exchanges.{domain}]\ntype = \"topic\"\n\n\
         [services.producer]\ndescription = \"Publishes the events.\"\n\
         [services.consumer]\ndescription = \"Reads them.\"\n\n\
         [lint]\nallow = [\"missing-description\", \"missing-example\", \"closed-payload\"]\n"
    )
}

/// `com.snowplowanalytics.snowplow` → `com_snowplowanalytics_snowplow`.
fn snake(vendor: &str) -> String {
    vendor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `link_click` → `LinkClick`; a name that would start with a digit gets an `X`.
fn event_name(iglu: &str) -> String {
    let name = iglu.to_upper_camel_case();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("X{name}")
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\t'], " ")
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}
