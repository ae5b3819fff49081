//! Generates the reference catalog's Rust from `schemas/` into `OUT_DIR`.

fn main() -> Result<(), schemactl_codegen::Error> {
    schemactl_codegen::Builder::new()
        .catalog_dir("schemas")
        .compile()?;
    Ok(())
}
