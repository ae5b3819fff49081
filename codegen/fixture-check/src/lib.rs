//! The generated code of the codegen fixture catalogs, compiled under `#![deny(warnings)]`.

#![deny(warnings)]

/// The `shapes` fixture catalog.
pub mod shapes_catalog {
    include!(concat!(env!("OUT_DIR"), "/shapes/catalog.rs"));
}

/// The `names` fixture catalog.
pub mod names_catalog {
    include!(concat!(env!("OUT_DIR"), "/names/catalog.rs"));
}

/// The `fidelity` fixture catalog.
pub mod fidelity_catalog {
    include!(concat!(env!("OUT_DIR"), "/fidelity/catalog.rs"));
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

    #[test]
    fn awkward_names_keep_their_json_spelling_on_the_wire() {
        use crate::names_catalog::names::awkward_v1 as aw;
        let mut v = ExampleChecker::default();
        crate::names_catalog::visit_events(&mut v);
        assert!(v.failures.is_empty(), "{}", v.failures.join("\n"));
        assert_eq!(v.examples, 2);

        let json: serde_json::Value =
            serde_json::from_str(<aw::Awkward as Event>::EXAMPLES[0]).unwrap();
        let a: aw::Awkward = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(a.type_.as_deref(), Some(""));
        assert_eq!(a.self_, Some(1));
        assert_eq!(a.x1st.as_deref(), Some("x"));
        assert_eq!(a.日本.as_deref(), Some("y"));
        assert_eq!(a.timestamp.as_deref(), Some("t"));
        assert!(matches!(a.kind, Some(aw::AwkwardKind::Axb)));
        assert_eq!(serde_json::to_value(&a).unwrap(), json);
        // `a-b` and `A_B` stay two values.
        let other: aw::AwkwardKind = serde_json::from_str("\"a-b\"").unwrap();
        assert!(matches!(other, aw::AwkwardKind::AXb));
    }

    #[test]
    fn open_objects_keep_what_they_do_not_declare() {
        use crate::fidelity_catalog::fidelity::open_v1 as o;
        let mut v = ExampleChecker::default();
        crate::fidelity_catalog::visit_events(&mut v);
        assert!(v.failures.is_empty(), "{}", v.failures.join("\n"));
        assert_eq!(v.examples, 2);

        let json: serde_json::Value =
            serde_json::from_str(<o::Open as Event>::EXAMPLES[0]).unwrap();
        let open: o::Open = serde_json::from_value(json.clone()).unwrap();
        // At the root, nested, in array items, beside a pattern, in a `$ref` alternative.
        assert_eq!(open.extra["addedLater"]["n"][1], 2);
        assert_eq!(open.nested.as_ref().unwrap().extra["b"], "undeclared");
        assert_eq!(open.lines[0].extra["qty"], 2);
        assert_eq!(open.labels.as_ref().unwrap().extra["x-team"], "core");
        assert_eq!(open.counts["b"], 2);
        let Some(o::OpenPet::Dog(dog)) = &open.pet else {
            panic!("a dog: {:?}", open.pet)
        };
        assert_eq!(dog.extra["name"], "Rex");
        assert_eq!(serde_json::to_value(&open).unwrap(), json);
        // A closed object still refuses what it does not declare.
        let mut bad = json;
        bad["closed"]["y"] = 1.into();
        assert!(serde_json::from_value::<o::Open>(bad).is_err());
    }
}
