//! Renders every catalog under `codegen/tests/fixtures/codegen/` into `OUT_DIR/<name>/`: the
//! same files the snapshot tests in schemactl-codegen compare.

use std::path::Path;

/// Fixture catalogs, each included as a module by `src/lib.rs`.
const FIXTURES: &[&str] = &["shapes", "names", "fidelity"];

fn main() -> Result<(), schemactl_codegen::Error> {
    let fixtures = Path::new("../tests/fixtures/codegen");
    let out = std::env::var("OUT_DIR").map_err(|_| schemactl_codegen::Error::NoOutDir)?;
    for name in FIXTURES {
        schemactl_codegen::Builder::new()
            .catalog_dir(fixtures.join(name))
            .out_dir(Path::new(&out).join(name))
            .compile()?;
    }
    Ok(())
}
