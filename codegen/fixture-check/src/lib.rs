//! The generated code of the codegen fixture catalogs, compiled under `#![deny(warnings)]`.

#![deny(warnings)]

/// The `shapes` fixture catalog.
pub mod shapes_catalog {
    include!(concat!(env!("OUT_DIR"), "/shapes/catalog.rs"));
}

#[cfg(test)]
mod tests {
    use schemactl_runtime::examples::ExampleChecker;
    use schemactl_runtime::Event;

    #[test]
    fn fixture_examples_round_trip() {
        let mut v = ExampleChecker::default();
        crate::shapes_catalog::visit_events(&mut v);
        assert!(v.failures.is_empty(), "{}", v.failures.join("\n"));
        assert_eq!(v.examples, 2);
    }

    #[test]
    fn recursive_and_union_types_are_usable() {
        use crate::shapes_catalog::shapes::everything_v1 as ev;
        let e: ev::Everything =
            serde_json::from_str(<ev::Everything as Event>::EXAMPLES[0]).unwrap();
        let tree = e.tree.expect("tree");
        assert_eq!(tree.children[0].label, "leaf");
        assert!(matches!(e.status, ev::EverythingStatus::InProgress));
        let price = e.price.expect("price");
        assert!(matches!(price.currency, ev::Currency::Eur));
    }
}
