//! The Collector platform's inventory service (seed 001), in Rust. The TypeScript orders
//! service keeps publishing `order.created` in the Collector's envelope on
//! `collector-events`; this service reserves stock for each order line and, when a
//! product falls below its reorder level, publishes `stock.low` in the same envelope, with
//! the order's tenant and correlation ID, for the TypeScript procurement service to read as
//! it reads every other event. Reads `AMQP_URL` (default: the local broker) and
//! `COLLECTOR_PREFIX` (a prefix of every name, to run beside other copies on one broker);
//! Ctrl-C stops it gracefully.

use std::collections::HashMap;
use std::sync::Mutex;

use collector_inventory::consumers::{InventoryService, InventoryServiceHandler};
use collector_inventory::order::OrderCreatedV1;
use collector_inventory::producers::InventoryServicePublisher;
use collector_inventory::publisher_config;
use collector_inventory::stock::StockLowV1;
use schemactl_runtime::{
    ConsumerConfig, HandlerError, PublishContext, Publisher, PublisherConfig, Received,
};
use uuid::Uuid;

/// Units on hand of a product not seen before (a stand-in for the service's database).
const ON_HAND: i64 = 12;
/// Below this, the product is reordered.
const REORDER_LEVEL: u64 = 10;
/// Safety stock.
const MINIMUM: u64 = 5;
/// Where an order line reserves stock when it names no warehouse.
const MAIN_WAREHOUSE: Uuid = Uuid::from_u128(0x4e5f6a7b_8c9d_4e0f_a1b2_c3d4e5f6a7b8);

/// Stock per (product, warehouse), and the publisher of `stock.low`.
struct Inventory {
    stock: Mutex<HashMap<(Uuid, Uuid), i64>>,
    publisher: InventoryServicePublisher,
}

impl Inventory {
    /// Takes `quantity` off the product's stock; the units left.
    fn reserve(&self, product: Uuid, warehouse: Uuid, quantity: u64) -> i64 {
        let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let left = stock.entry((product, warehouse)).or_insert(ON_HAND);
        *left -= i64::try_from(quantity).unwrap_or(i64::MAX);
        *left
    }
}

impl InventoryServiceHandler for Inventory {
    async fn order_created_v1(
        &self,
        message: Received<OrderCreatedV1>,
    ) -> Result<(), HandlerError> {
        let order = message.payload();
        for line in &order.line_items {
            let quantity = line.quantity.get();
            let warehouse = line.warehouse_id.unwrap_or(MAIN_WAREHOUSE);
            let sku = line
                .sku
                .clone()
                .unwrap_or_else(|| line.product_id.to_string());
            let left = self.reserve(line.product_id, warehouse, quantity);
            println!(
                "reserved {quantity} x {sku} for order {} of tenant {} ({left} left)",
                order.order_number.as_str(),
                message.envelope.tenant_id.as_deref().unwrap_or("-"),
            );
            if left < REORDER_LEVEL as i64 {
                let low = StockLowV1 {
                    product_id: line.product_id,
                    product_name: line.description.clone(),
                    sku: sku.clone(),
                    warehouse_id: warehouse,
                    warehouse_name: format!("warehouse {warehouse}"),
                    current_quantity: left,
                    minimum_threshold: MINIMUM,
                    reorder_level: REORDER_LEVEL,
                    extra: Default::default(),
                };
                // The order's correlation ID and tenant travel on; the order is the cause.
                let context = PublishContext::caused_by(&message);
                let published = self
                    .publisher
                    .stock_low_v1(&low, &context)
                    .await
                    .map_err(HandlerError::retryable)?;
                println!(
                    "published {} {} for {sku}",
                    published.routing_key, published.message_id
                );
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = std::env::var("COLLECTOR_PREFIX").unwrap_or_default();
    let publisher = InventoryServicePublisher::new(
        Publisher::connect(
            &url,
            PublisherConfig {
                prefix: prefix.clone(),
                ..publisher_config()
            },
        )
        .await?,
    );
    let inventory = Inventory {
        stock: Mutex::new(HashMap::new()),
        publisher,
    };
    let config = ConsumerConfig {
        prefix: prefix.clone(),
        ..ConsumerConfig::default()
    };
    let consumer = InventoryService::new(inventory)
        .consume(&url, config)
        .await?;
    println!("consuming {prefix}inventory-service; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    let stats = consumer.shutdown().await?;
    println!(
        "handled {} message(s), dead-lettered {}",
        stats.handled, stats.dead_lettered
    );
    Ok(())
}
