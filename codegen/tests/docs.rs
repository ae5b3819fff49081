//! The docs outputs on real catalogs: every link of the site resolves, text from schemas is
//! inert, the AsyncAPI document validates against the AsyncAPI 3.0 JSON Schema.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use schemactl_codegen::docs::{asyncapi, markdown, site, DocsModel};
use schemactl_codegen::{load, Catalog, LoadOptions};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A file of the shared reference material: `$SCHEMACTL_SHARED_DIR`, else the `shared/`
/// folder beside the repository or beside any folder above it (a clone elsewhere on this
/// machine), else `/work/shared`.
fn shared_file(rel: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("SCHEMACTL_SHARED_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(repo().ancestors().map(|a| a.join("shared")));
    candidates.push(PathBuf::from("/work/shared"));
    candidates
        .iter()
        .map(|dir| dir.join(rel))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("shared/{rel} not found (set SCHEMACTL_SHARED_DIR to the shared folder)")
        })
}

fn catalog(dir: &Path) -> Catalog {
    load(dir, &LoadOptions::default()).unwrap_or_else(|d| panic!("{}: {d}", dir.display()))
}

/// Writes the site of `catalog` into a temporary directory.
fn write_site(catalog: &Catalog) -> tempfile::TempDir {
    let model = DocsModel::new(catalog, None);
    let files = site::render(catalog, &model).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in &files {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// Values of `href="…"` and `src="…"` attributes in `html`, entity-decoded.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            // Only attributes: the character before is a space.
            let before = rest[..i].chars().last();
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            if before.is_some_and(char::is_whitespace) {
                out.push(
                    rest[..end]
                        .replace("&amp;", "&")
                        .replace("&#x3D;", "=")
                        .replace("&#x2F;", "/"),
                );
            }
            rest = &rest[end..];
        }
    }
    out
}

/// The start tags of `html` (`<name …>`), attributes included.
fn tags(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let end = rest.find('>').unwrap_or(rest.len());
            out.push(&rest[..end]);
        }
    }
    out
}

/// The attribute names of a start tag, as a browser splits them (quoted values skipped).
fn attribute_names(tag: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = tag.chars().peekable();
    // The element name.
    while chars.next_if(|c| !c.is_whitespace()).is_some() {}
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == '/').is_some() {}
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=')).collect();
        if name.is_empty() {
            return names;
        }
        names.push(name.to_lowercase());
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.next_if(|c| *c == '"' || *c == '\'') {
                Some(q) => while chars.next().is_some_and(|c| c != q) {},
                None => while chars.next_if(|c| !c.is_whitespace()).is_some() {},
            }
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_link_and_asset_of_the_site_resolves() {
    for cat in ["schemas", "examples/shop/schemas"] {
        let catalog = catalog(&repo().join(cat));
        let site = write_site(&catalog);
        let mut checked = 0;
        let pages: Vec<PathBuf> = files_under(site.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "html" || e == "svg"))
            .collect();
        let versions = catalog.versions().count();
        assert!(
            pages.len() > versions + catalog.services.len(),
            "{cat}: a page per version, per service, plus the index and graph"
        );
        for page in &pages {
            let html = fs::read_to_string(page).unwrap();
            for link in links(&html) {
                assert!(
                    !link.contains("://") && !link.starts_with("//"),
                    "{}: `{link}` leaves the site (it must work offline)",
                    page.display()
                );
                let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
                let target = if path.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(path)
                };
                assert!(
                    target.is_file(),
                    "{}: `{link}` points to nothing",
                    page.display()
                );
                if !fragment.is_empty() && !fragment.starts_with("q=") {
                    let text = fs::read_to_string(&target).unwrap();
                    assert!(
                        text.contains(&format!("id=\"{fragment}\"")),
                        "{}: `{link}`: no element with that id",
                        page.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 500, "{cat}: {checked} links checked");
        // Every event version has its page and the latest ones their alias.
        for v in catalog.versions() {
            let page = site
                .path()
                .join(format!("events/{}/v{}.html", v.name, v.version));
            assert!(page.is_file(), "{}", page.display());
        }
        for e in catalog.events.values() {
            assert!(site
                .path()
                .join(format!("events/{}/latest.html", e.name))
                .is_file());
        }
    }
}

#[test]
fn version_pages_show_fields_examples_and_the_diff_to_the_previous_major() {
    let catalog = catalog(&repo().join("schemas"));
    let model = DocsModel::new(&catalog, None);
    let v2 = model
        .versions
        .iter()
        .find(|v| v.summary.message_type == "UserRegistered.v2")
        .unwrap();
    let paths: Vec<&str> = v2.fields.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.contains(&"contact.email"), "{paths:?}");
    let email = v2
        .fields
        .iter()
        .find(|f| f.path == "contact.email")
        .unwrap();
    assert!(email.required && email.constraints.contains(&"format: email".to_owned()));
    assert_eq!(
        v2.examples.len(),
        catalog.version("UserRegistered.v2").unwrap().examples.len()
    );
    let diff = &v2.diffs[0];
    assert_eq!(diff.against, "UserRegistered.v1");
    assert!(diff.breaking > 0, "v2 is a breaking change of v1");
    assert!(diff.findings.iter().any(|f| f.breaking));
    // The page shows them, marked.
    let site = write_site(&catalog);
    let html = fs::read_to_string(site.path().join("events/UserRegistered/v2.html")).unwrap();
    assert!(html.contains("<tr class=\"breaking\">"));
    assert!(html.contains("Compared with <a href=\"../../events/UserRegistered/v1.html\">"));
    let v1 = fs::read_to_string(site.path().join("events/UserRegistered/v1.html")).unwrap();
    assert!(v1.contains("First version: nothing to compare with."));
    // The diff to a previous revision comes from a second catalog.
    let with_previous = DocsModel::new(&catalog, Some(&catalog));
    assert!(
        with_previous.versions.iter().all(|v| v.diffs.len() <= 1),
        "an unchanged revision shows no diff"
    );
}

/// A catalog whose every free text is hostile.
fn hostile_catalog() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("catalog.toml"),
        r#"
[catalog]
name = "evil"
version = "0.1.0"
description = "<script>alert('catalog')</script>"

[defaults]
exchange = "ev"

[exchanges.ev]
type = "topic"
description = "\"><img src=x onerror=alert('exchange')>"

[services.a]
description = "<iframe src=javascript:alert('service')></iframe>"
owner = "\" onmouseover=\"alert('owner')"
[services.b]
description = "Consumer."
"#,
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("d")).unwrap();
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Thing",
        "description": "<script>alert('description')</script>",
        "type": "object",
        "x-event": {
            "producer": "a",
            "consumers": ["b"],
            "trigger": "\" onmouseover=\"alert('trigger')",
            "purpose": "</dd><script>alert('purpose')</script>"
        },
        "properties": {
            "id": {"type": "string", "description": "<img src=x onerror=alert('field')>"},
            "kind": {
                "type": "string",
                "enum": ["<b>bold</b>", "\"'><script>alert('enum')</script>"],
                "description": "Kind | with a pipe\nand a line break [link](javascript:alert('md'))"
            }
        },
        "required": ["id"],
        "examples": [{"id": "</pre><script>alert('example')</script>", "kind": "<b>bold</b>"}]
    });
    fs::write(
        dir.path().join("d/Thing.v1.json"),
        serde_json::to_string_pretty(&schema).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn text_from_schemas_renders_inert_in_html() {
    let dir = hostile_catalog();
    let catalog = catalog(dir.path());
    let site = write_site(&catalog);
    let pages: Vec<PathBuf> = files_under(site.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html" || e == "svg"))
        .collect();
    assert!(pages.len() >= 6);
    for page in &pages {
        let html = fs::read_to_string(page).unwrap();
        for tag in tags(&html) {
            assert!(
                !attribute_names(tag).iter().any(|a| a.starts_with("on")),
                "{}: an event-handler attribute in `{tag}`",
                page.display()
            );
        }
        for live in [
            "<script>alert",
            "<img src=x",
            "<iframe",
            "<b>bold",
            "</pre><script",
        ] {
            assert!(
                !html.contains(live),
                "{}: `{live}` is live markup",
                page.display()
            );
        }
        // The only scripts are the site's own.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("assets/search.js\"></script>").count(),
            "{}",
            page.display()
        );
    }
    let event = fs::read_to_string(site.path().join("events/Thing/v1.html")).unwrap();
    // Shown as text, not dropped.
    assert!(event.contains("&lt;script&gt;alert(&#x27;description&#x27;)&lt;/script&gt;"));
    assert!(event.contains("&lt;img src&#x3D;x onerror&#x3D;alert(&#x27;field&#x27;)&gt;"));
    assert!(event.contains("&lt;b&gt;bold&lt;/b&gt;"));
    let index = fs::read_to_string(site.path().join("index.html")).unwrap();
    assert!(index.contains("&lt;script&gt;alert(&#x27;catalog&#x27;)"));
}

#[test]
fn text_from_schemas_renders_inert_in_markdown() {
    let dir = hostile_catalog();
    let catalog = catalog(dir.path());
    let files = markdown::render(&DocsModel::new(&catalog, None)).unwrap();
    let page = &files[Path::new("events/Thing/v1.md")];
    let mut in_fence = false;
    for line in page.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Code spans show their content literally; escapes keep them closed.
        let line: String = line.split('`').step_by(2).collect();
        // An escaped bracket opens no link.
        let line = line.replace("\\]", "");
        for live in ["<script", "<img", "<b>", "](javascript:"] {
            assert!(!line.contains(live), "live `{live}` in: {line}");
        }
        if line.starts_with('|') {
            // Cells keep their count: an escaped pipe does not split a cell.
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells == 3 || cells == 6, "{cells} separators in: {line}");
        }
    }
    assert!(page.contains("&lt;script&gt;alert('description')&lt;/script&gt;"));
    assert!(page.contains("Kind \\| with a pipe and a line break"));
}

#[test]
fn markdown_links_resolve() {
    let catalog = catalog(&repo().join("schemas"));
    let files = markdown::render(&DocsModel::new(&catalog, None)).unwrap();
    assert_eq!(files.len(), catalog.versions().count() + 1);
    let names: BTreeSet<PathBuf> = files.keys().cloned().collect();
    for (path, text) in &files {
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap();
            let target = path.parent().unwrap().join(&rest[..end]);
            let normal: PathBuf = target.components().fold(PathBuf::new(), |mut p, c| {
                match c {
                    std::path::Component::ParentDir => {
                        p.pop();
                    }
                    c => p.push(c),
                }
                p
            });
            assert!(
                names.contains(&normal),
                "{}: {}",
                path.display(),
                &rest[..end]
            );
        }
    }
}

#[test]
fn asyncapi_document_validates_against_the_asyncapi_3_schema() {
    let meta_path = shared_file("asyncapi/asyncapi-3.0.0.json");
    let meta: Value = serde_json::from_str(&fs::read_to_string(&meta_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&meta).expect("the AsyncAPI 3.0.0 schema compiles");
    for cat in ["schemas", "examples/shop/schemas"] {
        let catalog = catalog(&repo().join(cat));
        let doc = asyncapi::document(&catalog);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .take(10)
            .collect();
        assert!(errors.is_empty(), "{cat}: {errors:#?}");
        // One channel per event version, addressed by its routing key, bound to its exchange.
        for v in catalog.versions() {
            let channel = &doc["channels"][&v.message_type];
            assert_eq!(channel["address"], v.routing_key.as_str());
            assert_eq!(
                channel["bindings"]["amqp"]["exchange"]["name"],
                v.exchange.as_str()
            );
            assert_eq!(channel["bindings"]["amqp"]["bindingVersion"], "0.3.0");
            let send = format!("{}.send.{}", v.producer, v.message_type);
            assert_eq!(doc["operations"][&send]["action"], "send", "{send}");
            for c in &v.consumers {
                let receive = format!("{c}.receive.{}", v.message_type);
                assert_eq!(doc["operations"][&receive]["action"], "receive");
            }
            let message = &doc["components"]["messages"][&v.message_type];
            assert_eq!(
                message["examples"].as_array().unwrap().len(),
                v.examples.len()
            );
            // Each example, as it travels in the event's dialect, fits the message's payload
            // schema (the dialect's envelope around the event's schema).
            let mut schema = doc.clone();
            schema["$ref"] = format!("#/components/messages/{}/payload", v.message_type).into();
            let payload = jsonschema::validator_for(&schema).expect("the payload schema compiles");
            for example in message["examples"].as_array().unwrap() {
                let errors: Vec<String> = payload
                    .iter_errors(&example["payload"])
                    .map(|e| format!("{}: {e}", e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{} in {}: {errors:?}",
                    v.message_type,
                    v.dialect
                );
            }
        }
        // Shared definitions are components once, under their catalog-wide names; an event's
        // own definitions are its own components.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for v in catalog.versions() {
            for (name, origin) in &v.definitions {
                let own = format!("{}.{name}", v.message_type);
                match catalog.shared_definitions.names.get(origin) {
                    Some(shared) if origin.0 != v.path => {
                        assert!(
                            schemas.contains_key(&format!("shared.{shared}")),
                            "{shared}"
                        );
                        assert!(!schemas.contains_key(&own), "{own} is a copy");
                    }
                    _ => assert!(schemas.contains_key(&own), "{own}"),
                }
            }
        }
        if cat == "schemas" {
            assert!(schemas.contains_key("shared.DecimalAmount"));
            assert_eq!(
                schemas["InvoicePaid.v1"]["properties"]["amount"]["$ref"],
                "#/components/schemas/shared.DecimalAmount"
            );
        }
        // Every `$ref` of the document points inside it.
        let text = serde_json::to_string(&doc).unwrap();
        for r in text.split("\"$ref\":\"").skip(1) {
            let pointer = &r[..r.find('"').unwrap()];
            let pointer = pointer.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{cat}: dangling {pointer}");
        }
        // YAML carries the same document.
        let yaml: Value = serde_yaml_ng::from_str(&asyncapi::to_yaml(&doc)).unwrap();
        assert_eq!(yaml, doc);
    }
}

#[test]
fn field_tables_name_shared_types_as_generated() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codegen/shapes");
    let catalog = catalog(&dir);
    let v = catalog.version("Priced.v1").expect("Priced.v1");
    let rows = schemactl_codegen::fields::fields_of(v, &catalog.shared_definitions);
    let ty = |path: &str| {
        rows.iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no field {path}"))
            .rust_type
            .as_str()
    };
    // `Priced` has a `Money` of its own: the shared one (`Money2` in its bundle) is
    // `shared::Money`, as the generated struct has it, and so are its inline types.
    assert_eq!(ty("cents"), "Money");
    assert_eq!(ty("total"), "shared::Money");
    assert_eq!(ty("total.amount"), "shared::MoneyAmount");
    // Re-exported under their own names.
    assert_eq!(ty("currency"), "Currency");
    assert_eq!(ty("category"), "Category");
}
