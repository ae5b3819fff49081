//! Compiles the shop catalog through schemactl-codegen, as any dependent crate would.

fn main() -> Result<(), schemactl_codegen::Error> {
    schemactl_codegen::Builder::new()
        .catalog_dir("schemas")
        .compile()?;
    Ok(())
}
