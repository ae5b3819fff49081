//! schemactl-codegen: loads a catalog of versioned JSON Schemas, lints it into a validated
//! [`Catalog`] model, and renders outputs from that model.
//!
//! The pipeline reads one way: files → [`load()`] → [`Catalog`] → [`rust::render`] (and the
//! other renderers). [`Builder`] wraps it for `build.rs`.

#![warn(missing_docs)]

pub mod builder;
pub mod check;
pub mod compat;
pub mod config;
pub mod diagnostics;
pub mod docs;
pub mod envelope;
pub mod export;
pub mod fields;
pub mod load;
pub mod model;
pub mod naming;
pub mod output;
mod panic_guard;
pub mod resolve;
pub mod rust;
pub mod source;
pub mod standalone;
pub mod stubs;
pub mod topology;
pub mod walk;

use std::fmt;
use std::path::PathBuf;

pub use builder::{Builder, Output};
pub use diagnostics::{Diagnostic, Diagnostics, Rule, Severity};
pub use load::{load, LoadOptions};
pub use model::{Catalog, Event, EventVersion};

/// Why generation failed.
#[derive(thiserror::Error)]
pub enum Error {
    /// The catalog has lint errors.
    #[error("the catalog has {count} error(s):\n{0}", count = .0.error_count())]
    Lint(Diagnostics),
    /// The Rust generator failed on some schemas.
    #[error("code generation failed:\n{0}")]
    Codegen(Diagnostics),
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `OUT_DIR` is not set and no output directory was given.
    #[error("OUT_DIR is not set: call Builder::out_dir, or run from a build script")]
    NoOutDir,
}

impl Error {
    /// The diagnostics behind a lint or codegen failure.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Error::Lint(d) | Error::Codegen(d) => Some(d),
            _ => None,
        }
    }
}

// `fn main() -> Result<(), Error>` in build.rs prints `Debug`: make it the readable text.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
