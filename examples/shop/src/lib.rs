//! The shop platform's events, generated at build time from `schemas/` by
//! `schemactl_codegen::Builder` in `build.rs`.

#![deny(warnings)]

schemactl_runtime::include_catalog!();
