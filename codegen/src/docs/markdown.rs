//! The docs as Markdown readable on GitHub: `index.md` and `events/<Name>/v<N>.md`.
//!
//! Text from schemas is escaped for Markdown (so it cannot open links, emphasis or HTML) and
//! for tables (`|` and line breaks); code spans and fences are chosen so their content cannot
//! close them.

use std::path::PathBuf;

use handlebars::{handlebars_helper, Handlebars};
use rayon::prelude::*;
use serde_json::{json, Value};

use super::site::RenderError;
use super::DocsModel;
use crate::rust::Files;

const INDEX: &str = include_str!("../../templates/markdown/index.hbs");
const EVENT: &str = include_str!("../../templates/markdown/event.hbs");

/// Escapes `text` for Markdown prose and table cells.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for inside a single-backtick code span in a table cell.
fn code_span(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
        .replace('`', "'")
        .replace('|', "\\|")
}

/// A fenced `json` block whose fence is longer than any backtick run in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let f = "`".repeat((longest + 1).max(3));
    format!("{f}json\n{text}\n{f}")
}

mod helpers {
    #![allow(missing_docs)]
    use super::{code_span, fence, handlebars_helper};
    handlebars_helper!(code: |s: str| code_span(s));
    handlebars_helper!(fenced: |s: str| fence(s));
}

/// Renders the Markdown docs from `model`.
pub fn render(model: &DocsModel) -> Result<Files, RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(escape);
    hb.register_helper("code", Box::new(helpers::code));
    hb.register_helper("fenced", Box::new(helpers::fenced));
    for (name, text) in [("index", INDEX), ("event", EVENT)] {
        hb.register_template_string(name, text)
            .map_err(|e| RenderError {
                page: format!("template {name}"),
                message: e.to_string(),
            })?;
    }
    let render = |template: &str, path: String, data: &Value| {
        hb.render(template, data)
            .map(|text| (PathBuf::from(&path), tidy(&text)))
            .map_err(|e| RenderError {
                page: path,
                message: e.to_string(),
            })
    };
    let mut files = Files::new();
    let (path, text) = render("index", "index.md".into(), &json!(model))?;
    files.insert(path, text);
    let pages: Vec<(PathBuf, String)> = model
        .versions
        .par_iter()
        .map(|v| render("event", format!("{}.md", v.summary.page), &json!(v)))
        .collect::<Result<_, _>>()?;
    files.extend(pages);
    Ok(files)
}

/// Collapses the blank lines template blocks leave behind to one and ends with a newline.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    let mut in_fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if line.trim().is_empty() && !in_fence {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_cannot_open_html_links_or_cells() {
        assert_eq!(
            escape("<script>x</script> [a](b) | *c*"),
            "&lt;script&gt;x&lt;/script&gt; \\[a\\](b) \\| \\*c\\*"
        );
        assert_eq!(escape("two\nlines"), "two lines");
    }

    #[test]
    fn fences_outgrow_their_content() {
        assert_eq!(fence("{}"), "```json\n{}\n```");
        assert_eq!(fence("a ```` b"), "`````json\na ```` b\n`````");
        assert_eq!(code_span("a`b|c"), "a'b\\|c");
    }
}
