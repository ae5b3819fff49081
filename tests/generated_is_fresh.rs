//! The tree build.rs writes into OUT_DIR equals the checked-in `generated/rust/`, byte for
//! byte: the CLI and build.rs produce the same code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn build_rs_output_equals_generated_tree() {
    let built = tree(&Path::new(env!("OUT_DIR")).join("schemactl"));
    let committed = tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/rust"));
    assert!(built.len() > 20, "build.rs wrote {} files", built.len());
    let built_names: Vec<_> = built.keys().collect();
    let committed_names: Vec<_> = committed.keys().collect();
    assert_eq!(
        built_names, committed_names,
        "file sets differ; run `schemactl generate`"
    );
    for (path, bytes) in &built {
        assert!(
            committed[path] == *bytes,
            "generated/rust/{} is stale; run `cargo run -p schemactl -- generate`",
            path.display()
        );
    }
}
