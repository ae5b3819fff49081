//! The `build.rs` API, in the style of prost-build.
//!
//! ```no_run
//! // build.rs of a crate that depends on schemactl-runtime:
//! fn main() -> Result<(), schemactl_codegen::Error> {
//!     schemactl_codegen::Builder::new().catalog_dir("schemas").compile()?;
//!     Ok(())
//! }
//! // src/lib.rs:
//! // schemactl_runtime::include_catalog!();
//! ```

use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostics, Rule};
use crate::load::{self, LoadOptions};
use crate::output::{self, WriteReport};
use crate::rust;
use crate::Error;

/// Sub-directory of `OUT_DIR` the tree is written to; [`include_catalog!`] reads it.
///
/// [`include_catalog!`]: https://docs.rs/schemactl-runtime/latest/schemactl_runtime/macro.include_catalog.html
pub const OUT_SUBDIR: &str = "schemactl";

/// Configures and runs code generation for one catalog.
#[derive(Debug, Clone)]
pub struct Builder {
    catalog_dir: PathBuf,
    out_dir: Option<PathBuf>,
    allow: Vec<Rule>,
    cargo_metadata: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`Builder::compile`] produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Where the tree was written.
    pub out_dir: PathBuf,
    /// The include root, for `include!`.
    pub root_file: PathBuf,
    /// Files written, unchanged and removed.
    pub report: WriteReport,
    /// Lint warnings.
    pub warnings: Diagnostics,
    /// Every input read.
    pub inputs: Vec<PathBuf>,
}

impl Builder {
    /// A builder for the catalog in `schemas/`, writing to `$OUT_DIR/schemactl`, printing
    /// `cargo:` directives.
    pub fn new() -> Self {
        Builder {
            catalog_dir: PathBuf::from("schemas"),
            out_dir: None,
            allow: Vec::new(),
            cargo_metadata: true,
        }
    }

    /// The catalog directory (the one holding `catalog.toml`), relative to the crate root.
    pub fn catalog_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.catalog_dir = dir.into();
        self
    }

    /// Where to write the tree (default `$OUT_DIR/schemactl`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Skips a warning rule by ID (errors cannot be skipped).
    pub fn allow(mut self, rule: Rule) -> Self {
        self.allow.push(rule);
        self
    }

    /// Whether to print `cargo:rerun-if-changed` and `cargo:warning` lines (default true).
    pub fn cargo_metadata(mut self, on: bool) -> Self {
        self.cargo_metadata = on;
        self
    }

    /// Loads, lints and renders the catalog, and writes the files that changed. Nothing is
    /// written when the catalog has errors.
    pub fn compile(&self) -> Result<Output, Error> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(|d| Path::new(&d).join(OUT_SUBDIR))
                .ok_or(Error::NoOutDir)?,
        };
        if self.cargo_metadata {
            // Before loading, so that a failed build still reruns when a file is fixed.
            println!("cargo:rerun-if-changed={}", self.catalog_dir.display());
        }
        let options = LoadOptions {
            allow: self.allow.clone(),
            ..LoadOptions::default()
        };
        let loaded = load::load(&self.catalog_dir, &options);
        let catalog = match loaded {
            Ok(c) => c,
            Err(diags) => return Err(Error::Lint(diags)),
        };
        if self.cargo_metadata {
            for input in &catalog.inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
            for w in &catalog.warnings {
                for line in w.to_string().lines() {
                    println!("cargo:warning={line}");
                }
            }
        }
        let files = rust::render(&catalog).map_err(Error::Codegen)?;
        let report = output::write_tree(&out_dir, &files).map_err(|source| Error::Io {
            path: out_dir.clone(),
            source,
        })?;
        Ok(Output {
            root_file: out_dir.join(rust::ROOT_FILE),
            out_dir,
            report,
            warnings: catalog.warnings,
            inputs: catalog.inputs,
        })
    }
}
