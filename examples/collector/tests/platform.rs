//! The inventory service joins the Collector platform as it runs: an `order.created`
//! published as the Collector's TypeScript event bus publishes it (amqplib, its envelope,
//! the bare type as routing key) is reserved, and the `stock.low` it causes reaches a queue
//! bound as the Collector's own consumers bind, in the Collector's envelope with every field
//! set. Real broker, names unique to the run, deleted afterwards.

#[path = "../../common/worker.rs"]
mod worker;

use std::time::Duration;

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::{json, Value};
use worker::{amqp_url, unique_prefix, Broker, Worker};

#[test]
fn the_inventory_service_reads_and_writes_the_collector_bus() {
    let url = amqp_url();
    let prefix = unique_prefix("collector");
    let exchange = format!("{prefix}collector-events");
    let mut worker = Worker::start(
        env!("CARGO_BIN_EXE_collector-inventory"),
        &[("AMQP_URL", &url), ("COLLECTOR_PREFIX", &prefix)],
    );
    worker.wait_for("consuming", Duration::from_secs(30));
    let broker = Broker::connect(&url);
    let channel = &broker.channel;
    // A Collector consumer's queue: bound with the bare type, as the platform binds.
    let watcher = format!("{prefix}procurement-watch");
    broker.rt.block_on(async {
        channel
            .queue_declare(
                watcher.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                watcher.as_str().into(),
                exchange.as_str().into(),
                "stock.low".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    });

    let order = json!({
        "type": "order.created",
        "timestamp": "2024-01-15T10:35:00.000Z",
        "tenantId": "tenant-123",
        "source": "orders-service",
        "correlationId": "corr-42",
        "data": {
            "orderId": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "orderNumber": "ORD-2024-001",
            "customerId": "9a8b7c6d-5e4f-4321-8fed-cba987654321",
            "lineItems": [{
                "productId": "2b3c4d5e-6f70-4182-9a3b-4c5d6e7f8091",
                "sku": "SKU-123",
                "description": "Product Name",
                "quantity": 5,
                "unitPrice": "300.00",
                "warehouseId": "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
            }],
            "currency": "USD",
            "grandTotal": "1500.00"
        }
    });
    broker.publish(
        &exchange,
        "order.created",
        &serde_json::to_vec(&order).unwrap(),
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2),
    );
    let line = worker.wait_for("reserved", Duration::from_secs(30));
    assert_eq!(
        line,
        "reserved 5 x SKU-123 for order ORD-2024-001 of tenant tenant-123 (7 left)"
    );
    worker.wait_for("published stock.low", Duration::from_secs(30));

    // The confirm came before the line was printed: the message is in the queue.
    let got = broker.take(&watcher, Duration::ZERO);
    let body: Value = serde_json::from_slice(&got.data).unwrap();
    assert_eq!(body["type"], "stock.low");
    assert_eq!(body["tenantId"], "tenant-123");
    assert_eq!(body["source"], "inventory-service");
    assert_eq!(body["correlationId"], "corr-42");
    assert!(
        body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    assert_eq!(body["data"]["sku"], "SKU-123");
    assert_eq!(body["data"]["currentQuantity"], 7);
    assert_eq!(body["data"]["reorderLevel"], 10);

    let rest = worker.interrupt();
    assert!(
        rest.contains("handled 1 message(s), dead-lettered 0"),
        "{rest}"
    );
    broker.rt.block_on(async {
        channel
            .queue_delete(watcher.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap()
    });
    broker.finish(collector_inventory::topology::catalog().with_prefix(&prefix));
}
