fn main() -> Result<(), schemactl_codegen::Error> {
    schemactl_codegen::Builder::new()
        .catalog_dir("schemas")
        .compile()?;
    Ok(())
}
