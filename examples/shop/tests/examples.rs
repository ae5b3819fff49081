//! Every example of the shop catalog validates, deserializes and round-trips.

use schemactl_runtime::examples::ExampleChecker;
use schemactl_runtime::Event;

#[test]
fn every_example_round_trips() {
    let mut check = ExampleChecker::default();
    shop_events::visit_events(&mut check);
    assert!(check.failures.is_empty(), "{}", check.failures.join("\n"));
    // 8 order, 7 product, 6 customer, 4 payment and 4 notification events.
    assert_eq!(check.routing_keys.len(), 29);
    assert_eq!(check.examples, 29);
    for key in [
        "order.created",
        "product.stock.low",
        "payment.refund.completed",
        "notification.telegram",
    ] {
        assert!(check.routing_keys.contains(&key), "{key}");
    }
}

#[test]
fn snake_case_fields_map_to_rust_names() {
    let order: shop_events::orders::OrderCreatedV1 =
        serde_json::from_str(shop_events::orders::OrderCreatedV1::EXAMPLES[0]).unwrap();
    assert_eq!(order.items[0].quantity.get(), 2);
    assert_eq!(shop_events::exchanges::ANALYTICS, "analytics");
    assert_eq!(shop_events::routing_keys::ORDER_CREATED_V1, "order.created");
}
