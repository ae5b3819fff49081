//! The onboarding platform's events as this worker sees them, generated from `schemas/` by
//! build.rs: payload types, the handler trait, the topology.

schemactl_runtime::include_catalog!();
