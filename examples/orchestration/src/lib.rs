//! The orchestration platform's task events as the dashboard sees them, generated from
//! `schemas/` by build.rs: payload types, the handler trait, MassTransit's topology.

schemactl_runtime::include_catalog!();
