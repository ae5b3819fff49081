//! The Collector platform's order and stock events as the inventory service sees them,
//! generated from `schemas/` by build.rs: payload types, the publisher, the handler trait, the
//! topology.

schemactl_runtime::include_catalog!();
