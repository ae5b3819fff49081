//! Reading a standalone schema file for `schemactl diff`, with the sibling files it refers to.
//!
//! Schema repositories split a schema over files: `{"$ref": "common.json#/$defs/Money"}`,
//! `{"$ref": "./types/address.json"}`, or a `file://` URL of such a file. The comparison
//! works on one self-contained document, so the referenced files are read and bundled into
//! it (under `definitions`, as the catalog does). Only files inside the schema's own folder
//! are read: a reference that climbs out of it, an absolute path outside it, or any other
//! URL is an error, and nothing is ever fetched over the network.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::resolve::{bundle, resolve_ref, RefProblem};
use crate::walk;

/// Reads the schema at `path` and bundles the files under its folder that it refers to.
/// A schema that refers to no other file is returned exactly as written. Errors name the
/// file, the reference and what to do.
pub fn read(path: &Path) -> Result<Value, String> {
    let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let root = PathBuf::from(
        path.file_name()
            .ok_or_else(|| format!("error: {}: not a file name", path.display()))?,
    );
    let mut documents = BTreeMap::new();
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(rel) = queue.pop_front() {
        if documents.contains_key(&rel) {
            continue;
        }
        let mut doc = parse(&folder.join(&rel))?;
        let mut problem = None;
        let base = rel.clone();
        walk::visit_mut(&mut doc, &mut |node| {
            let Some(Value::String(reference)) = node.get_mut("$ref") else {
                return;
            };
            if problem.is_some() || reference.starts_with('#') {
                return;
            }
            match local(&folder, &base, reference) {
                Ok(Some(rewritten)) => *reference = rewritten,
                Ok(None) => {}
                Err(e) => problem = Some(e),
            }
            if problem.is_none() {
                match resolve_ref(&base, reference) {
                    Ok((target, _)) => queue.push_back(target),
                    Err(e) => problem = Some(explain(e, reference)),
                }
            }
        });
        if let Some(e) = problem {
            return Err(format!("error: {}: {e}", folder.join(&rel).display()));
        }
        documents.insert(rel, doc);
    }
    if documents.len() == 1 {
        return Ok(documents.remove(&root).unwrap_or(Value::Null));
    }
    Ok(bundle(&root, "Root", &documents, &BTreeMap::new()).schema)
}

fn parse(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "error: {}:{}:{}: not valid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// A `file://` reference rewritten as a path relative to the referring file `base` (both
/// under `folder`); `None` for any other reference.
fn local(folder: &Path, base: &Path, reference: &str) -> Result<Option<String>, String> {
    let Some(rest) = reference.strip_prefix("file://") else {
        return Ok(None);
    };
    let (path_part, fragment) = match rest.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (rest, None),
    };
    // `file:///abs/path` or `file://localhost/abs/path`.
    let path_part = path_part.strip_prefix("localhost").unwrap_or(path_part);
    let decoded = percent_encoding::percent_decode_str(path_part).decode_utf8_lossy();
    let target = Path::new(decoded.as_ref());
    let outside = || {
        format!(
            "`$ref: {reference}` names a file outside the schema's folder {}; copy it beside the schema and refer to it by a relative path",
            folder.display()
        )
    };
    let folder = folder
        .canonicalize()
        .or_else(|_| std::env::current_dir().map(|d| d.join(folder)))
        .map_err(|e| format!("cannot resolve the schema's folder: {e}"))?;
    let within = target
        .canonicalize()
        .unwrap_or_else(|_| normalize(target))
        .strip_prefix(&folder)
        .map(Path::to_path_buf)
        .map_err(|_| outside())?;
    // From the referring file's folder up to `folder`, then down to the target.
    let ups = base.parent().map_or(0, |p| p.components().count());
    let mut relative = "../".repeat(ups);
    relative.push_str(&within.to_string_lossy());
    if let Some(f) = fragment {
        relative.push('#');
        relative.push_str(f);
    }
    Ok(Some(relative))
}

/// `path` with `.` and `..` applied, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn explain(problem: RefProblem, reference: &str) -> String {
    match problem {
        RefProblem::Remote => format!(
            "`$ref: {reference}` is a URL; diff never fetches: save the schema beside this one and refer to it by a relative path"
        ),
        RefProblem::Escapes => format!(
            "`$ref: {reference}` climbs out of the schema's folder; diff reads only files inside it"
        ),
        RefProblem::Anchor => format!(
            "`$ref: {reference}` names an anchor in another file; refer to it by a JSON pointer (`file.json#/$defs/Name`)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, rel: &str, v: &Value) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string(v).unwrap()).unwrap();
    }

    #[test]
    fn sibling_files_by_relative_path_and_file_url_are_bundled() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        write(
            &d,
            "types/money.json",
            &json!({"$defs": {"Money": {"type": "integer", "minimum": 0}}}),
        );
        write(
            &d,
            "event.json",
            &json!({
                "type": "object",
                "properties": {
                    "a": {"$ref": "types/money.json#/$defs/Money"},
                    "b": {"$ref": format!("file://{}/types/money.json#/$defs/Money", d.display())}
                }
            }),
        );
        let bundled = read(&d.join("event.json")).unwrap();
        let a = bundled["properties"]["a"]["$ref"].as_str().unwrap();
        assert_eq!(bundled["properties"]["b"]["$ref"], a);
        let name = a.strip_prefix("#/definitions/").unwrap();
        assert_eq!(bundled["definitions"][name]["minimum"], 0);
    }

    #[test]
    fn a_schema_without_file_references_is_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let schema = json!({"$defs": {"A": {"type": "string"}}, "$ref": "#/$defs/A"});
        write(dir.path(), "s.json", &schema);
        assert_eq!(read(&dir.path().join("s.json")).unwrap(), schema);
    }

    #[test]
    fn references_out_of_the_folder_or_to_the_network_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("schemas");
        write(dir.path(), "outside.json", &json!({"type": "string"}));
        for (reference, says) in [
            ("../outside.json", "climbs out of the schema's folder"),
            ("https://example.com/s.json", "is a URL; diff never fetches"),
            ("file:///etc/passwd", "outside the schema's folder"),
        ] {
            write(
                &d,
                "s.json",
                &json!({"properties": {"x": {"$ref": reference}}}),
            );
            let e = read(&d.join("s.json")).unwrap_err();
            assert!(
                e.contains("s.json") && e.contains(reference) && e.contains(says),
                "{e}"
            );
        }
        // A referenced file that is not there names itself.
        write(&d, "s.json", &json!({"$ref": "missing.json"}));
        let e = read(&d.join("s.json")).unwrap_err();
        assert!(
            e.contains("cannot read") && e.contains("missing.json"),
            "{e}"
        );
    }
}
