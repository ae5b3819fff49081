//! The static HTML site: handlebars templates embedded in the binary, every link relative so
//! the site works from `file://` and from any sub-path of a web server, no network needed.
//!
//! Layout: `index.html`, `events/<Name>/v<N>.html` and `events/<Name>/latest.html`,
//! `services/<name>.html`, `graph.html` + `graph.svg`, `catalog.json`,
//! `envelope.schema.json`, `assets/`.

use std::path::PathBuf;

use handlebars::Handlebars;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::{graph, DocsModel, VersionView, SAMPLE_TIME};
use crate::model::Catalog;
use crate::rust::Files;
use schemactl_runtime::dialect::DialectBase;

const LAYOUT: &str = include_str!("../../templates/site/layout.hbs");
const INDEX: &str = include_str!("../../templates/site/index.hbs");
const ENTRY: &str = include_str!("../../templates/site/entry.hbs");
const EVENT: &str = include_str!("../../templates/site/event.hbs");
const SERVICE: &str = include_str!("../../templates/site/service.hbs");
const GRAPH: &str = include_str!("../../templates/site/graph.hbs");
const LATEST: &str = include_str!("../../templates/site/latest.hbs");
const STYLE: &str = include_str!("../../templates/site/style.css");
const SEARCH: &str = include_str!("../../templates/site/search.js");

/// Why the site could not be rendered: a template failed (a bug, reported rather than
/// panicking).
#[derive(Debug, thiserror::Error)]
#[error("rendering {page}: {message}")]
pub struct RenderError {
    /// The page being rendered.
    pub page: String,
    /// What went wrong.
    pub message: String,
}

fn registry() -> Result<Handlebars<'static>, RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_helper("text", Box::new(helpers::text));
    for (name, text) in [
        ("layout", LAYOUT),
        ("index", INDEX),
        ("entry", ENTRY),
        ("event", EVENT),
        ("service", SERVICE),
        ("graph", GRAPH),
        ("latest", LATEST),
    ] {
        hb.register_template_string(name, text)
            .map_err(|e| RenderError {
                page: format!("template {name}"),
                message: e.to_string(),
            })?;
    }
    Ok(hb)
}

/// Escapes `text` for element content (`<pre>`): `&`, `<` and `>` only, so JSON keeps its
/// quotes readable and small. Not for attribute values.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

mod helpers {
    #![allow(missing_docs)]
    use handlebars::handlebars_helper;
    handlebars_helper!(text: |s: str| super::escape_text(s));
}

/// A page: its path, its title and the relative path back to the site root.
struct Page<'a> {
    path: String,
    title: &'a str,
    root: &'static str,
}

impl Page<'_> {
    fn render(
        &self,
        hb: &Handlebars<'_>,
        template: &str,
        mut data: Value,
        model: &DocsModel,
    ) -> Result<(PathBuf, String), RenderError> {
        let err = |e: handlebars::RenderError| RenderError {
            page: self.path.clone(),
            message: e.to_string(),
        };
        if let Value::Object(m) = &mut data {
            m.insert("root".into(), self.root.into());
            m.insert("catalog".into(), json!(model.catalog));
        }
        let body = hb.render(template, &data).map_err(err)?;
        let page = json!({
            "root": self.root,
            "title": self.title,
            "catalog": model.catalog,
            "body": body,
        });
        let html = hb.render("layout", &page).map_err(err)?;
        Ok((PathBuf::from(&self.path), html))
    }
}

/// Renders the site of `catalog` from its docs `model`.
pub fn render(catalog: &Catalog, model: &DocsModel) -> Result<Files, RenderError> {
    let hb = registry()?;
    let mut files = Files::new();

    let index = Page {
        path: "index.html".into(),
        title: "Events",
        root: "",
    };
    let (path, html) = index.render(&hb, "index", to_value(model), model)?;
    files.insert(path, html);

    let pages: Vec<(PathBuf, String)> = model
        .versions
        .par_iter()
        .map(|v| -> Result<Vec<(PathBuf, String)>, RenderError> {
            let mut data = to_value(v);
            if let Value::Object(m) = &mut data {
                m.insert("envelope".into(), to_value(&envelope_sample(catalog, v)));
            }
            let page = Page {
                path: format!("{}.html", v.summary.page),
                title: &v.summary.message_type,
                root: "../../",
            };
            let mut out = vec![page.render(&hb, "event", data, model)?];
            if v.summary.latest {
                // The alias redirects, so every version's content exists once.
                let path = format!("events/{}/latest.html", v.summary.name);
                let html = hb.render("latest", &v.summary).map_err(|e| RenderError {
                    page: path.clone(),
                    message: e.to_string(),
                })?;
                out.push((PathBuf::from(path), html));
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    files.extend(pages);

    for s in &model.services {
        let related: Vec<_> = model
            .versions
            .iter()
            .map(|v| &v.summary)
            .filter(|e| e.producer == s.name || e.consumers.contains(&s.name))
            .cloned()
            .collect();
        let mut data = to_value(s);
        if let Value::Object(m) = &mut data {
            m.insert("graph".into(), graph::svg(&related, "../").into());
        }
        let page = Page {
            path: format!("{}.html", s.page),
            title: &s.name,
            root: "../",
        };
        let (path, html) = page.render(&hb, "service", data, model)?;
        files.insert(path, html);
    }

    let all: Vec<_> = model.versions.iter().map(|v| v.summary.clone()).collect();
    let page = Page {
        path: "graph.html".into(),
        title: "Graph",
        root: "",
    };
    let (path, html) = page.render(
        &hb,
        "graph",
        json!({ "graph": graph::svg(&all, "") }),
        model,
    )?;
    files.insert(path, html);
    files.insert("graph.svg".into(), graph::svg(&all, ""));
    // Compact: at 1,000 events the index is a megabyte smaller than pretty-printed.
    let mut index = serde_json::to_string(&model.index_json()).unwrap_or_default();
    index.push('\n');
    files.insert("catalog.json".into(), index);
    files.insert(
        "envelope.schema.json".into(),
        crate::envelope::schema_text(),
    );
    files.insert("assets/style.css".into(), STYLE.to_owned());
    files.insert("assets/search.js".into(), SEARCH.to_owned());
    Ok(files)
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// How an event version travels: the AMQP properties and headers a publisher sets and the
/// body, in the event's dialect, with the first example as payload. Laid out by the runtime's
/// own [`schemactl_runtime::render::render`], so the sample is what a publisher sends.
#[derive(Debug, Clone, Serialize)]
pub struct EnvelopeSample {
    /// One sentence about the dialect.
    pub summary: String,
    /// AMQP properties and headers.
    pub properties: Vec<NameValue>,
    /// The body, pretty-printed.
    pub body: String,
}

/// A name and a value.
#[derive(Debug, Clone, Serialize)]
pub struct NameValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// The sample message of `v` in its dialect (declared in `catalog`, or built in).
pub fn envelope_sample(catalog: &Catalog, v: &VersionView) -> EnvelopeSample {
    let payload: Value = v
        .examples
        .first()
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| json!({}));
    let Some(version) = catalog.version(&v.summary.message_type) else {
        return EnvelopeSample {
            summary: String::new(),
            properties: Vec::new(),
            body: String::new(),
        };
    };
    let dialect = super::dialect_of(catalog, version);
    let summary = match dialect.base {
        DialectBase::Standard => "the standard envelope: a JSON body with identity, type, provenance and correlation around the payload",
        DialectBase::CloudeventsBinary => "CloudEvents 1.0 in binary content mode: the payload is the body, the event's attributes are cloudEvents_* headers",
        DialectBase::CloudeventsStructured => "CloudEvents 1.0 in structured content mode: one JSON body with the attributes and the payload as data",
        DialectBase::Masstransit => "MassTransit's JSON envelope: the payload is message, the type a urn:message: URN in messageType",
        DialectBase::Json => "a JSON envelope declared in catalog.toml by where each attribute lives",
    };
    let summary = format!(
        "Travels in dialect {} ({summary}), as type {}.",
        v.dialect, v.wire_type
    );
    match super::sample_message(catalog, version, &payload) {
        Ok(rendered) => {
            let mut properties: Vec<NameValue> = rendered
                .properties
                .iter()
                .map(|(name, value)| NameValue {
                    name: (*name).to_owned(),
                    value: if *name == "delivery_mode" {
                        format!("{value} (persistent)")
                    } else if *name == "timestamp" {
                        SAMPLE_TIME.to_owned()
                    } else {
                        value.clone()
                    },
                })
                .collect();
            properties.extend(rendered.headers.iter().map(|(name, value)| NameValue {
                name: format!("headers.{name}"),
                value: value.clone(),
            }));
            let body: Value = serde_json::from_slice(&rendered.body).unwrap_or(Value::Null);
            EnvelopeSample {
                summary,
                properties,
                body: serde_json::to_string_pretty(&body).unwrap_or_default(),
            }
        }
        Err(e) => EnvelopeSample {
            summary: format!("{summary} The sample cannot be laid out: {e}."),
            properties: Vec::new(),
            body: String::new(),
        },
    }
}
