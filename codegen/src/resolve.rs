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

/// Catalog-wide names for the definitions of shared files, given before any event is bundled
/// so that they depend on the shared files alone: each file that is a schema as a whole (after
/// its stem; not a mere container of definitions) and each of its `$defs` / `definitions`
/// entries, in path order; the first of two same-named keeps the plain name, the next gets a
/// number.
pub fn shared_names(shared: &BTreeMap<PathBuf, Value>) -> BTreeMap<Target, String> {
    const CONTAINER: &[&str] = &[
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "$defs",
        "definitions",
    ];
    let mut names = Names::default();
    for (file, doc) in shared {
        let is_schema = doc
            .as_object()
            .is_some_and(|map| map.keys().any(|k| !CONTAINER.contains(&k.as_str())));
        if is_schema {
            names.name((file.clone(), String::new()), None);
        }
        for target in definitions_of(file, doc) {
            names.name(target, None);
        }
    }
    names.names
}

/// The `$defs` and `definitions` entries of the document `doc` at `file`, in order.
fn definitions_of<'a>(file: &'a Path, doc: &'a Value) -> impl Iterator<Item = Target> + 'a {
    ["$defs", "definitions"].into_iter().flat_map(move |key| {
        doc.get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|defs| defs.keys())
            .map(move |name| {
                let pointer = format!("/{key}/{}", crate::source::escape_segment(name));
                (file.to_path_buf(), pointer)
            })
    })
}

/// Definition names, unique once upper-camel-cased (as typify spells type names).
#[derive(Default)]
struct Names {
    names: BTreeMap<Target, String>,
    taken: BTreeSet<String>,
}

impl Names {
    /// The name of `target`: the one it was given, or else `preferred` (or one after the
    /// pointer's last segment, or the file stem) when free, with a number when not. Returns
    /// whether it is new.
    fn name(&mut self, target: Target, preferred: Option<&str>) -> (String, bool) {
        if let Some(name) = self.names.get(&target) {
            return (name.clone(), false);
        }
        let base = match preferred {
            Some(name) => name.to_owned(),
            None => default_name(&target),
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name.to_upper_camel_case()) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.to_upper_camel_case());
        self.names.insert(target, name.clone());
        (name, true)
    }
}

/// A definition's name from where it is: its pointer's last segment, or its file's stem;
/// ASCII letters, digits and `_`, starting with a letter.
fn default_name(target: &Target) -> String {
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
    base
}

struct Bundler<'a> {
    root: &'a Path,
    documents: &'a BTreeMap<PathBuf, Value>,
    /// Names the shared definitions have catalog-wide, used where free.
    preferred: &'a BTreeMap<Target, String>,
    names: Names,
    queue: VecDeque<Target>,
}

impl Bundler<'_> {
    fn intern(&mut self, target: Target) -> String {
        let preferred = self.preferred.get(&target).map(String::as_str);
        let (name, new) = self.names.name(target.clone(), preferred);
        if new {
            self.queue.push_back(target);
        }
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
            definitions.insert(self.names.names[&target].clone(), def);
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
/// `root_name`. The schema's own definitions keep their names; a shared definition gets its
/// `preferred` (catalog-wide) name unless one of those has it. References must have passed
/// [`check_refs`].
pub fn bundle(
    root: &Path,
    root_name: &str,
    documents: &BTreeMap<PathBuf, Value>,
    preferred: &BTreeMap<Target, String>,
) -> Bundle {
    let mut b = Bundler {
        root,
        documents,
        preferred,
        names: Names {
            names: BTreeMap::new(),
            taken: BTreeSet::from([root_name.to_upper_camel_case()]),
        },
        queue: VecDeque::new(),
    };
    let Some(original) = documents.get(root) else {
        return Bundle {
            schema: Value::Null,
            origins: BTreeMap::new(),
        };
    };
    // The root's own definitions keep their names (typify names types after them).
    for target in definitions_of(root, original) {
        b.intern(target);
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
    let origins = b.names.names.into_iter().map(|(t, n)| (n, t)).collect();
    Bundle { schema, origins }
}

/// Bundles the definitions at `targets` and everything they reference into one schema of
/// `definitions` only: each under its `preferred` name, the others named in `targets` order
/// (the first of two same-named keeps the plain name). References must have passed
/// [`check_refs`]; a `#` reference inside a file names that file's root as one more definition.
pub fn bundle_definitions(
    targets: impl IntoIterator<Item = Target>,
    documents: &BTreeMap<PathBuf, Value>,
    preferred: &BTreeMap<Target, String>,
) -> Bundle {
    // No document has the empty path: every reference becomes a definition.
    let mut b = Bundler {
        root: Path::new(""),
        documents,
        preferred,
        names: Names::default(),
        queue: VecDeque::new(),
    };
    // Targets with a catalog-wide name first, so that no other takes it.
    let (named, unnamed): (Vec<Target>, Vec<Target>) =
        targets.into_iter().partition(|t| preferred.contains_key(t));
    for target in named.into_iter().chain(unnamed) {
        b.intern(target);
    }
    let definitions = b.drain();
    let origins = b.names.names.into_iter().map(|(t, n)| (n, t)).collect();
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
        let b = bundle(Path::new("a/Ev.v1.json"), "Ev", &docs, &BTreeMap::new());
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
                json!({"title": "Money", "$defs": {"Code": {"type": "string"}, "Money": {"type": "integer"}}}),
            ),
            (
                PathBuf::from("b/Tree.json"),
                json!({"type": "object", "properties": {"kids": {"items": {"$ref": "#"}}}}),
            ),
        ]
        .into_iter()
        .collect();
        // In path order; `b/Money.json` only holds definitions and is not named itself.
        let names = shared_names(&docs);
        let name =
            |file: &str, pointer: &str| names[&(PathBuf::from(file), pointer.to_owned())].as_str();
        assert_eq!(names.len(), 4);
        assert_eq!(name("a/Money.json", ""), "Money");
        assert_eq!(name("b/Money.json", "/$defs/Code"), "Code");
        assert_eq!(name("b/Money.json", "/$defs/Money"), "Money2");
        assert_eq!(name("b/Tree.json", ""), "Tree");

        // Bundled under those names, whichever are referenced, with what they reference; a
        // file's `#` is that file as a definition.
        let b = bundle_definitions(
            [
                ("b/Tree.json".into(), String::new()),
                ("b/Money.json".into(), "/$defs/Money".into()),
                ("a/Money.json".into(), String::new()),
            ],
            &docs,
            &names,
        );
        assert_eq!(
            b.schema,
            json!({"definitions": {
                "Money": {"type": "object", "properties": {"c": {"$ref": "#/definitions/Code"}}},
                "Money2": {"type": "integer"},
                "Tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/definitions/Tree"}}}},
                "Code": {"type": "string"}
            }})
        );
        let alone = bundle_definitions(
            [("b/Money.json".into(), "/$defs/Money".into())],
            &docs,
            &names,
        );
        assert_eq!(
            alone.schema,
            json!({"definitions": {"Money2": {"type": "integer"}}})
        );

        // An event gets the shared names where its own definitions leave them free; where not,
        // a number is added within the event (its Rust type stays the shared `Money`).
        let mut docs = docs;
        docs.insert(
            "e/Ev.v1.json".into(),
            json!({"title": "Ev", "properties": {
                "a": {"$ref": "../b/Money.json#/$defs/Code"},
                "b": {"$ref": "../a/Money.json"}
            }, "$defs": {"Money": {"type": "string"}}}),
        );
        let ev = bundle(Path::new("e/Ev.v1.json"), "Ev", &docs, &names);
        let local: BTreeMap<&str, &str> = ev
            .origins
            .iter()
            .map(|(n, (file, p))| {
                (
                    n.as_str(),
                    if p.is_empty() {
                        file.to_str().unwrap()
                    } else {
                        p.as_str()
                    },
                )
            })
            .collect();
        assert_eq!(
            local,
            BTreeMap::from([
                ("Code", "/$defs/Code"),
                ("Money", "/$defs/Money"),
                ("Money2", "a/Money.json")
            ])
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
        let b = bundle(Path::new("a/Ev.v1.json"), "Ev", &docs, &BTreeMap::new());
        assert_eq!(
            alias_cycle(&b),
            Some(vec!["A".into(), "B".into(), "A".into()])
        );
    }
}
