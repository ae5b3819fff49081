//! The greetings catalog, generated from `schemas/` by build.rs: payload types, publishers,
//! handler traits, topology.

schemactl_runtime::include_catalog!();
