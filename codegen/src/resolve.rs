//! `$ref` resolution inside the catalog root, and bundling: each event version becomes one
//! self-contained schema whose every reference is `#` or `#/definitions/<Name>`.
//!
//! Bundling is what lets typify (which keys references by their last path segment and
//! rejects external references) and the validator see the same, complete schema.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use heck::ToUpperCamelCase;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, Rule};
use crate::walk;

/// A resolved reference target: a catalog file and a JSON pointer inside it.
pub type Target = (PathBuf, String);

/// Why a `$ref` cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefProblem {
    /// A URL or URN.
    Remote,
    /// An absolute path or one that climbs above the catalog root.
    Escapes,
    /// A plain-name fragment (`#foo`), which needs `$anchor` support.
    Anchor,
}

/// Resolves `reference` as written in `from` (a path relative to the catalog root).
pub fn resolve_ref(from: &Path, reference: &str) -> Result<Target, RefProblem> {
    let (path_part, fragment) = match reference.split_once('#') {
        Some((p, f)) => (p, f),
        None => (reference, ""),
    };
    if has_scheme(path_part) || path_part.starts_with("//") {
        return Err(RefProblem::Remote);
    }
    let fragment = percent_decode_str(fragment)
        .decode_utf8_lossy()
        .into_owned();
    if !fragment.is_empty() && !fragment.starts_with('/') {
        return Err(RefProblem::Anchor);
    }
    if path_part.is_empty() {
        return Ok((from.to_path_buf(), fragment));
    }
    let decoded = percent_decode_str(path_part).decode_utf8_lossy();
    let rel = Path::new(decoded.as_ref());
    if rel.is_absolute() || decoded.starts_with('/') || decoded.starts_with('\\') {
        return Err(RefProblem::Escapes);
    }
    let mut out = PathBuf::new();
    for c in from
        .parent()
        .unwrap_or(Path::new(""))
        .join(rel)
        .components()
    {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(RefProblem::Escapes);
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(RefProblem::Escapes),
        }
    }
    Ok((out, fragment))
}

fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Checks every `$ref` in one file; returns a diagnostic per reference that cannot be followed.
pub fn check_refs(
    file: &Path,
    schema: &Value,
    documents: &BTreeMap<PathBuf, Value>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk::visit(schema, "", &mut |pointer, node| {
        let Some(Value::String(reference)) = node.get("$ref") else {
            return;
        };
        let at = format!("{pointer}/$ref");
        match resolve_ref(file, reference) {
            Err(RefProblem::Remote) => out.push(
                Diagnostic::new(
                    Rule::RefRemote,
                    file,
                    &at,
                    format!("`$ref: \"{reference}\"` is remote; schemactl never fetches schemas"),
                )
                .help("copy the definition into the catalog (e.g. schemas/common/) and reference it by relative path"),
            ),
            Err(RefProblem::Escapes) => out.push(
                Diagnostic::new(
                    Rule::RefEscapes,
                    file,
                    &at,
                    format!("`$ref: \"{reference}\"` leaves the catalog root"),
                )
                .help("move the referenced definition inside the catalog and use a relative path"),
            ),
            Err(RefProblem::Anchor) => out.push(
                Diagnostic::new(
                    Rule::UnsupportedKeyword,
                    file,
                    &at,
                    format!("`$ref: \"{reference}\"` uses a plain-name fragment (`$anchor`)"),
                )
                .help("reference the definition by JSON pointer, e.g. `#/$defs/Name`"),
            ),
            Ok((target, pointer)) => match documents.get(&target) {
                None => out.push(
                    Diagnostic::new(
                        Rule::RefDangling,
                        file,
                        &at,
                        format!(
                            "`$ref: \"{reference}\"` points to {}, which is not a readable JSON schema in the catalog",
                            target.display()
                        ),
                    )
                    .help("fix the path (it is relative to the referencing file) or add the missing file"),
                ),
                Some(doc) if walk::lookup(doc, &pointer).is_none() => out.push(
                    Diagnostic::new(
                        Rule::RefDangling,
                        file,
                        &at,
                        format!(
                            "`$ref: \"{reference}\"`: {} has nothing at `{pointer}`",
                            target.display()
                        ),
                    )
                    .help("point at an existing definition, e.g. `#/$defs/Name`"),
                ),
                Some(_) => {}
            },
        }
    });
    out
}

/// The result of bundling one event version.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The self-contained schema.
    pub schema: Value,
    /// Where each definition came from.
    pub origins: BTreeMap<String, Target>,
}

struct Bundler<'a> {
    root: &'a Path,
    documents: &'a BTreeMap<PathBuf, Value>,
    names: BTreeMap<Target, String>,
    taken: BTreeSet<String>,
    queue: VecDeque<Target>,
}

impl Bundler<'_> {
    fn intern(&mut self, target: Target) -> String {
        if let Some(name) = self.names.get(&target) {
            return name.clone();
        }
        let base = match target.1.rsplit('/').next() {
            Some(seg) if !target.1.is_empty() => crate::source::unescape_segment(seg),
            _ => target
                .0
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let mut base: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base.insert_str(0, "Def");
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name.to_upper_camel_case()) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.to_upper_camel_case());
        self.names.insert(target.clone(), name.clone());
        self.queue.push_back(target);
        name
    }

    /// Copies every interned definition (and what it references, interned on the way) out of
    /// its document, references rewritten; in name order.
    fn drain(&mut self) -> Map<String, Value> {
        let mut definitions = BTreeMap::new();
        while let Some(target) = self.queue.pop_front() {
            let Some(mut def) = self
                .documents
                .get(&target.0)
                .and_then(|doc| walk::lookup(doc, &target.1))
                .cloned()
            else {
                continue;
            };
            if let Value::Object(map) = &mut def {
                for key in ["$id", "$schema", "$defs", "definitions"] {
                    map.remove(key);
                }
            }
            self.rewrite(&target.0, &mut def);
            definitions.insert(self.names[&target].clone(), def);
        }
        definitions.into_iter().collect()
    }

    fn rewrite(&mut self, file: &Path, schema: &mut Value) {
        walk::visit_mut(schema, &mut |node| {
            let Some(Value::String(reference)) = node.get("$ref") else {
                return;
            };
            // Checked beforehand by `check_refs`; an unresolvable reference is left as is and
            // reported there.
            let Ok(target) = resolve_ref(file, reference) else {
                return;
            };
            let new = if target.0 == self.root && target.1.is_empty() {
                "#".to_owned()
            } else {
                format!("#/definitions/{}", self.intern(target))
            };
            node.insert("$ref".to_owned(), Value::String(new));
        });
    }
}

/// Bundles the event schema at `root` (a catalog-relative path), whose root type is named
/// `root_name`. References must have passed [`check_refs`].
pub fn bundle(root: &Path, root_name: &str, documents: &BTreeMap<PathBuf, Value>) -> Bundle {
    let mut b = Bundler {
        root,
        documents,
        names: BTreeMap::new(),
        taken: BTreeSet::from([root_name.to_upper_camel_case()]),
        queue: VecDeque::new(),
    };
    let Some(original) = documents.get(root) else {
        return Bundle {
            schema: Value::Null,
            origins: BTreeMap::new(),
        };
    };
    // The root's own definitions keep their names (typify names types after them).
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = original.get(key) {
            for name in defs.keys() {
                let pointer = format!("/{key}/{}", crate::source::escape_segment(name));
                b.intern((root.to_path_buf(), pointer));
            }
        }
    }
    let mut schema = original.clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$defs");
        map.remove("definitions");
    }
    b.rewrite(root, &mut schema);

    let definitions = b.drain();
    if !definitions.is_empty() {
        if let Value::Object(map) = &mut schema {
            map.insert("definitions".to_owned(), Value::Object(definitions));
        }
    }
    let origins = b.names.into_iter().map(|(t, n)| (n, t)).collect();
    Bundle { schema, origins }
}

/// Bundles the definitions at `targets` and everything they reference into one schema of
/// `definitions` only, named catalog-wide (in `targets` order, so the first of two same-named
/// definitions keeps the plain name). References must have passed [`check_refs`]; a `#`
/// reference inside a file names that file's root as one more definition.
pub fn bundle_definitions(
    targets: impl IntoIterator<Item = Target>,
    documents: &BTreeMap<PathBuf, Value>,
) -> Bundle {
    // No document has the empty path: every reference becomes a definition.
    let mut b = Bundler {
        root: Path::new(""),
        documents,
        names: BTreeMap::new(),
        taken: BTreeSet::new(),
        queue: VecDeque::new(),
    };
    for target in targets {
        b.intern(target);
    }
    let definitions = b.drain();
    let origins = b.names.into_iter().map(|(t, n)| (n, t)).collect();
    Bundle {
        schema: serde_json::json!({ "definitions": Value::Object(definitions) }),
        origins,
    }
}

/// Keywords that only annotate; a schema of `$ref` plus these is an alias.
const ANNOTATIONS: &[&str] = &[
    "$ref",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Finds a cycle of `$ref`s through aliases only (`A = B`, `B = A`), which no type can
/// represent. Returns the chain of definition names, the first repeated at the end.
pub fn alias_cycle(bundle: &Bundle) -> Option<Vec<String>> {
    let defs = bundle.schema.get("definitions").and_then(Value::as_object);
    let alias_of = |schema: &Value| -> Option<String> {
        let map = schema.as_object()?;
        if !map.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) {
            return None;
        }
        let r = map.get("$ref")?.as_str()?;
        if r == "#" {
            Some("#".to_owned())
        } else {
            r.strip_prefix("#/definitions/").map(str::to_owned)
        }
    };
    let lookup = |name: &str| -> Option<&Value> {
        if name == "#" {
            Some(&bundle.schema)
        } else {
            defs?.get(name)
        }
    };
    let mut starts: Vec<String> = vec!["#".to_owned()];
    if let Some(defs) = defs {
        starts.extend(defs.keys().cloned());
    }
    for start in starts {
        let mut chain = vec![start.clone()];
        let mut current = start;
        while let Some(next) = lookup(&current).and_then(alias_of) {
            if let Some(i) = chain.iter().position(|c| *c == next) {
                let mut cycle = chain.split_off(i);
                cycle.push(next);
                return Some(cycle);
            }
            chain.push(next.clone());
            current = next;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_relative_paths_inside_root() {
        let from = Path::new("user/UserRegistered.v1.json");
        assert_eq!(
            resolve_ref(from, "../common/Money.json#/$defs/Amount"),
            Ok(("common/Money.json".into(), "/$defs/Amount".into()))
        );
        assert_eq!(
            resolve_ref(from, "#/%24defs/A"),
            Ok((from.into(), "/$defs/A".into()))
        );
        assert_eq!(resolve_ref(from, "../../x.json"), Err(RefProblem::Escapes));
        assert_eq!(
            resolve_ref(from, "https://example.com/x.json"),
            Err(RefProblem::Remote)
        );
        assert_eq!(resolve_ref(from, "urn:x:y"), Err(RefProblem::Remote));
        assert_eq!(resolve_ref(from, "#anchor"), Err(RefProblem::Anchor));
        assert_eq!(resolve_ref(from, "/etc/passwd"), Err(RefProblem::Escapes));
    }

    #[test]
    fn bundles_shared_files_under_unique_names() {
        let docs: BTreeMap<PathBuf, Value> = [
            (
                PathBuf::from("a/Ev.v1.json"),
                json!({
                    "title": "Ev",
                    "properties": {
                        "x": {"$ref": "../common/Money.json"},
                        "y": {"$ref": "#/$defs/Money"},
                        "z": {"$ref": "#"}
                    },
                    "$defs": {"Money": {"type": "integer"}}
                }),
            ),
            (
                PathBuf::from("common/Money.json"),
                json!({"$id": "x", "type": "object", "properties": {"c": {"$ref": "#/$defs/Ev"}},
                       "$defs": {"Ev": {"type": "string"}}}),
            ),
        ]
        .into_iter()
        .collect();
        let b = bundle(Path::new("a/Ev.v1.json"), "Ev", &docs);
        assert_eq!(
            b.schema,
            json!({
                "title": "Ev",
                "properties": {
                    "x": {"$ref": "#/definitions/Money2"},
                    "y": {"$ref": "#/definitions/Money"},
                    "z": {"$ref": "#"}
                },
                "definitions": {
                    "Ev2": {"type": "string"},
                    "Money": {"type": "integer"},
                    "Money2": {"type": "object", "properties": {"c": {"$ref": "#/definitions/Ev2"}}}
                }
            })
        );
        assert_eq!(alias_cycle(&b), None);
    }

    #[test]
    fn bundles_shared_definitions_once_under_catalog_wide_names() {
        let docs: BTreeMap<PathBuf, Value> = [
            (
                PathBuf::from("a/Money.json"),
                json!({"type": "object", "properties": {"c": {"$ref": "../b/Money.json#/$defs/Code"}}}),
            ),
            (
                PathBuf::from("b/Money.json"),
                json!({"$defs": {"Code": {"type": "string"}, "Money": {"type": "integer"}}}),
            ),
            (
                PathBuf::from("b/Tree.json"),
                json!({"type": "object", "properties": {"kids": {"items": {"$ref": "#"}}}}),
            ),
        ]
        .into_iter()
        .collect();
        let b = bundle_definitions(
            [
                ("a/Money.json".into(), String::new()),
                ("b/Money.json".into(), "/$defs/Money".into()),
                ("b/Tree.json".into(), String::new()),
            ],
            &docs,
        );
        // The first target keeps the plain name; a file's `#` is that file as a definition;
        // what a target references comes along.
        assert_eq!(
            b.schema,
            json!({"definitions": {
                "Money": {"type": "object", "properties": {"c": {"$ref": "#/definitions/Code"}}},
                "Money2": {"type": "integer"},
                "Tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/definitions/Tree"}}}},
                "Code": {"type": "string"}
            }})
        );
        assert_eq!(
            b.origins["Code"],
            (PathBuf::from("b/Money.json"), "/$defs/Code".to_owned())
        );
    }

    #[test]
    fn finds_alias_cycles() {
        let docs: BTreeMap<PathBuf, Value> = [(
            PathBuf::from("a/Ev.v1.json"),
            json!({"title": "Ev", "$ref": "#/$defs/A",
                   "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A", "description": "d"}}}),
        )]
        .into_iter()
        .collect();
        let b = bundle(Path::new("a/Ev.v1.json"), "Ev", &docs);
        assert_eq!(
            alias_cycle(&b),
            Some(vec!["A".into(), "B".into(), "A".into()])
        );
    }
}
