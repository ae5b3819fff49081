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
        assert_eq!(v.examples, 3);
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

    #[test]
    fn shared_definitions_are_one_type_across_events() {
        use crate::shapes_catalog::shapes::{everything_v1 as ev, priced_v1 as pv};
        use crate::shapes_catalog::shared;
        let p: pv::Priced = serde_json::from_str(<pv::Priced as Event>::EXAMPLES[0]).unwrap();
        // One `Money` for the catalog: a value moves from one event's payload to the other's.
        let total: shared::Money = p.total;
        let e = ev::Everything {
            price: Some(total.clone()),
            ..serde_json::from_str(<ev::Everything as Event>::EXAMPLES[0]).unwrap()
        };
        assert_eq!(e.price.as_ref(), Some(&total));
        // Re-exported under its own name where the event has no type of that name, with the
        // types of its inline schemas…
        let _: &ev::Money = &total;
        let _: &ev::MoneyAmount = &total.amount;
        let _: pv::Currency = shared::Currency::Uah;
        assert!(matches!(p.currency, shared::Currency::Uah));
        // …and not where it has one: `Priced`'s own `Money` is its integer definition.
        let cents: pv::Money = p.cents;
        assert_eq!(*cents, 1250);
        // A recursive shared definition.
        let category: shared::Category = p.category;
        assert_eq!(category.children[0].name, "saws");
    }
}
