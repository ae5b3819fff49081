//! Writing a generated tree: only files whose content changed are written, each atomically
//! (temporary file + rename), and generated files no longer produced are removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::rust::{Files, HEADER};

/// What [`write_tree`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or rewritten.
    pub written: Vec<PathBuf>,
    /// Files already up to date.
    pub unchanged: Vec<PathBuf>,
    /// Generated files removed because nothing produces them any more.
    pub removed: Vec<PathBuf>,
}

/// How a file on disk differs from what generation produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The file is missing.
    Missing(PathBuf),
    /// The file's content differs.
    Changed(PathBuf),
    /// A generated file that nothing produces any more.
    Extra(PathBuf),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Missing(p) => write!(f, "{}: missing", p.display()),
            Stale::Changed(p) => write!(f, "{}: out of date", p.display()),
            Stale::Extra(p) => write!(f, "{}: no longer generated", p.display()),
        }
    }
}

/// Which files under a tree's directory belong to the tree: those are removed (or reported
/// as stale) when generation no longer produces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// `.rs` files carrying the generated header; hand-written files beside them are kept.
    Marked,
    /// Every file under the directory (a docs site, Markdown docs).
    All,
    /// Only the files produced now; nothing else is touched.
    Listed,
}

/// Writes `files` under `out`, touching only what changed; stale generated Rust files are
/// removed.
pub fn write_tree(out: &Path, files: &Files) -> io::Result<WriteReport> {
    write_tree_as(out, files, Ownership::Marked)
}

/// Lists how the Rust tree under `out` differs from `files`; empty when it is fresh.
pub fn check_tree(out: &Path, files: &Files) -> io::Result<Vec<Stale>> {
    check_tree_as(out, files, Ownership::Marked)
}

/// [`write_tree`] for a tree owned as `ownership` says.
pub fn write_tree_as(out: &Path, files: &Files, ownership: Ownership) -> io::Result<WriteReport> {
    let mut report = WriteReport::default();
    // Files are independent: compared and written on all cores (a docs site has thousands).
    let outcomes: Vec<(PathBuf, bool)> = files
        .par_iter()
        .map(|(rel, content)| {
            let path = out.join(rel);
            if fs::read(&path).is_ok_and(|old| old == content.as_bytes()) {
                return Ok((path, false));
            }
            write_atomic(&path, content.as_bytes())?;
            Ok((path, true))
        })
        .collect::<io::Result<_>>()?;
    for (path, written) in outcomes {
        if written {
            report.written.push(path);
        } else {
            report.unchanged.push(path);
        }
    }
    for extra in owned_files(out, ownership)? {
        let rel = extra.strip_prefix(out).unwrap_or(&extra);
        if !files.contains_key(rel) {
            fs::remove_file(&extra)?;
            report.removed.push(extra);
        }
    }
    Ok(report)
}

/// [`check_tree`] for a tree owned as `ownership` says.
pub fn check_tree_as(out: &Path, files: &Files, ownership: Ownership) -> io::Result<Vec<Stale>> {
    let mut stale = Vec::new();
    for (rel, content) in files {
        let path = out.join(rel);
        match fs::read(&path) {
            Ok(old) if old == content.as_bytes() => {}
            Ok(_) => stale.push(Stale::Changed(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => stale.push(Stale::Missing(path)),
            Err(e) => return Err(e),
        }
    }
    for extra in owned_files(out, ownership)? {
        let rel = extra.strip_prefix(out).unwrap_or(&extra);
        if !files.contains_key(rel) {
            stale.push(Stale::Extra(extra));
        }
    }
    Ok(stale)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a reader
/// never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Files under `dir` that belong to a tree owned as `ownership` says.
fn owned_files(dir: &Path, ownership: Ownership) -> io::Result<Vec<PathBuf>> {
    if ownership == Ownership::Listed {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if ownership == Ownership::All
                || path.extension().is_some_and(|e| e == "rs")
                    && fs::read_to_string(&path).is_ok_and(|t| t.starts_with(HEADER))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_changes_and_removes_stale() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::new();
        files.insert("a.rs".into(), format!("{HEADER}\nA"));
        files.insert("d/b.rs".into(), format!("{HEADER}\nB"));
        let r = write_tree(dir.path(), &files).unwrap();
        assert_eq!(r.written.len(), 2);
        assert!(check_tree(dir.path(), &files).unwrap().is_empty());

        let r = write_tree(dir.path(), &files).unwrap();
        assert_eq!((r.written.len(), r.unchanged.len()), (0, 2));

        fs::write(dir.path().join("hand.rs"), "// mine").unwrap();
        files.remove(Path::new("a.rs"));
        files.insert("d/b.rs".into(), format!("{HEADER}\nB2"));
        let stale = check_tree(dir.path(), &files).unwrap();
        assert_eq!(
            stale,
            [
                Stale::Changed(dir.path().join("d/b.rs")),
                Stale::Extra(dir.path().join("a.rs"))
            ]
        );
        let r = write_tree(dir.path(), &files).unwrap();
        assert_eq!(r.removed, [dir.path().join("a.rs")]);
        assert!(
            dir.path().join("hand.rs").exists(),
            "hand-written files are kept"
        );
    }
}
