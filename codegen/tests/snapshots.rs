//! Snapshots of the Rust generated for each fixture catalog under `tests/fixtures/codegen/`.
//! The crate `schemactl-fixture-check` compiles the very same files under
//! `#![deny(warnings)]`; the reference catalog's are compiled by the root crate.

use std::path::Path;

use schemactl_codegen::{load, rust, LoadOptions};

#[test]
fn generated_code_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codegen");
    for name in ["shapes", "names", "fidelity"] {
        let catalog = load(&root.join(name), &LoadOptions::default()).expect("fixture lints");
        let files = rust::render(&catalog).expect("fixture renders");
        for (path, text) in &files {
            let snapshot = format!(
                "{name}__{}",
                path.to_string_lossy().replace(['/', '\\'], "__")
            );
            insta::assert_snapshot!(snapshot, text);
        }
        // Same input, same bytes.
        assert_eq!(rust::render(&catalog).unwrap(), files);
    }
}
