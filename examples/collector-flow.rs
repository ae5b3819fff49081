//! The Collector order-to-cash flow, each hop a real RabbitMQ message through the generated
//! publishers and handler traits of the reference catalog:
//!
//! ```text
//! offers-service ──OfferApproved──▶ orders-service ──OrderCreated──▶ inventory-service ──StockLow──▶ procurement-service
//!                                         └──OrderConfirmed──▶ delivery-service ──DeliveryDispatched──▶ inventory-service
//!                                                                     └──DeliveryConfirmed──▶ invoices-service ──InvoiceIssued──▶ accounting-service
//!                                                                                                                └─────────────▶ payment-service ──InvoicePaid──▶ crm-service
//! ```
//!
//! Every service runs in this process with a connection of its own. The topology is declared
//! under a prefix unique to the run and deleted at the end. Run with
//! `cargo run --example collector-flow` against the broker at `AMQP_URL`
//! (default `amqp://guest:guest@127.0.0.1:5672/%2f`).

use std::error::Error;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use schemactl_catalog::consumers::{
    AccountingService, AccountingServiceHandler, CrmService, CrmServiceHandler, DeliveryService,
    DeliveryServiceHandler, InventoryService, InventoryServiceHandler, InvoicesService,
    InvoicesServiceHandler, OrdersService, OrdersServiceHandler, PaymentService,
    PaymentServiceHandler, ProcurementService, ProcurementServiceHandler,
};
use schemactl_catalog::delivery::delivery_confirmed_v1::DeliveryConfirmed;
use schemactl_catalog::delivery::delivery_dispatched_v1::{DeliveryDispatched, ShipmentItem};
use schemactl_catalog::hr::payroll_processed_v1::PayrollProcessed;
use schemactl_catalog::invoice::invoice_issued_v1::{InvoiceIssued, InvoiceLineItem};
use schemactl_catalog::invoice::invoice_paid_v1::InvoicePaid;
use schemactl_catalog::offer::offer_approved_v1::{OfferApproved, OfferLineItem};
use schemactl_catalog::order::order_confirmed_v1::{ConfirmedLineItem, OrderConfirmed};
use schemactl_catalog::order::order_created_v1::{OrderCreated, OrderLineItem};
use schemactl_catalog::producers::{
    DeliveryServicePublisher, InventoryServicePublisher, InvoicesServicePublisher,
    OffersServicePublisher, OrdersServicePublisher, PaymentServicePublisher,
};
use schemactl_catalog::stock::stock_low_v1::StockLow;
use schemactl_runtime::{
    ConsumerConfig, ConsumerHandle, HandlerError, PublishContext, Publisher, PublisherConfig,
    Received,
};
use tokio::sync::mpsc;
use uuid::Uuid;

type BoxError = Box<dyn Error + Send + Sync>;

/// One line of the printed chain.
struct Hop {
    line: String,
    /// The envelope's correlation ID and the W3C trace ID: the same on every hop.
    thread: (Option<String>, Option<String>),
}

/// Set when the first event is published; the printed times are relative to it.
static STARTED: OnceLock<Instant> = OnceLock::new();

fn elapsed_ms() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// What every service shares: where to report its hops.
#[derive(Clone)]
struct Flow {
    hops: mpsc::UnboundedSender<Hop>,
}

impl Flow {
    fn hop<E>(&self, service: &'static str, received: &Received<E>, did: impl Into<String>) {
        let e = &received.envelope;
        let line = format!(
            "{:>6.1} ms  {:<20} ◀ {:<22} from {:<18} {}",
            elapsed_ms(),
            service,
            e.message_type,
            e.source_service,
            did.into(),
        );
        let thread = (
            e.correlation_id.clone(),
            received.delivery.trace.map(|t| t.trace_id_hex()),
        );
        let _ = self.hops.send(Hop { line, thread });
    }
}

/// A handler error the broker retries: the publish of the next event failed.
fn retry(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::retryable(format!("publishing the next event: {e}"))
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, HandlerError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| HandlerError::permanent(format!("{s:?}: {e}")))
}

struct Orders {
    flow: Flow,
    publisher: OrdersServicePublisher,
}

impl OrdersServiceHandler for Orders {
    async fn offer_approved_v1(&self, m: Received<OfferApproved>) -> Result<(), HandlerError> {
        let offer = m.payload();
        let order_id = Uuid::new_v4();
        let number = format!("ORD-{}", &offer.offer_number.as_str()[4..]);
        let items: Vec<OrderLineItem> = offer
            .line_items
            .iter()
            .filter_map(|item| {
                Some(OrderLineItem {
                    extra: Default::default(),
                    product_id: item.product_id?,
                    sku: Some("SKU-123".into()),
                    description: item.description.clone(),
                    quantity: item.quantity.as_str().parse().ok()?,
                    unit_price: parse(item.unit_price.as_str()).ok()?,
                    warehouse_id: Some(WAREHOUSE),
                })
            })
            .collect();
        let created = OrderCreated {
            extra: Default::default(),
            order_id,
            order_number: parse(&number)?,
            customer_id: offer.customer_id,
            offer_id: Some(offer.offer_id),
            line_items: items.clone(),
            currency: parse(offer.currency.as_str())?,
            grand_total: parse(offer.grand_total.as_str())?,
        };
        let confirmed = OrderConfirmed {
            extra: Default::default(),
            order_id,
            order_number: parse(&number)?,
            customer_id: offer.customer_id,
            shipping_address_id: Uuid::new_v4(),
            line_items: items
                .iter()
                .map(|i| ConfirmedLineItem {
                    extra: Default::default(),
                    product_id: i.product_id,
                    description: i.description.clone(),
                    quantity: i.quantity,
                    unit: "pcs".into(),
                })
                .collect(),
        };
        let ctx = PublishContext::caused_by(&m);
        self.flow.hop(
            "orders-service",
            &m,
            format!("→ OrderCreated + OrderConfirmed {number}"),
        );
        self.publisher
            .order_created_v1(&created, &ctx)
            .await
            .map_err(retry)?;
        self.publisher
            .order_confirmed_v1(&confirmed, &ctx)
            .await
            .map_err(retry)?;
        Ok(())
    }
}

const WAREHOUSE: Uuid = Uuid::from_u128(0x4e5f6a7b_8c9d_4e0f_a1b2_c3d4e5f6a7b8);
const STOCK_ON_HAND: u64 = 8;
const MINIMUM_THRESHOLD: u64 = 10;

struct Inventory {
    flow: Flow,
    publisher: InventoryServicePublisher,
}

impl InventoryServiceHandler for Inventory {
    async fn order_created_v1(&self, m: Received<OrderCreated>) -> Result<(), HandlerError> {
        let order = m.payload();
        let mut low = Vec::new();
        for item in &order.line_items {
            let left = STOCK_ON_HAND.saturating_sub(item.quantity.get());
            if left < MINIMUM_THRESHOLD {
                low.push(StockLow {
                    extra: Default::default(),
                    product_id: item.product_id,
                    product_name: item.description.clone(),
                    sku: item.sku.clone().unwrap_or_default(),
                    warehouse_id: item.warehouse_id.unwrap_or(WAREHOUSE),
                    warehouse_name: "Main Warehouse".into(),
                    current_quantity: i64::try_from(left).unwrap_or(i64::MAX),
                    minimum_threshold: MINIMUM_THRESHOLD,
                    reorder_level: 2 * MINIMUM_THRESHOLD,
                });
            }
        }
        self.flow.hop(
            "inventory-service",
            &m,
            format!(
                "reserved {} line(s) → StockLow ×{}",
                order.line_items.len(),
                low.len()
            ),
        );
        for stock in &low {
            self.publisher
                .stock_low_v1(stock, &PublishContext::caused_by(&m))
                .await
                .map_err(retry)?;
        }
        Ok(())
    }

    async fn delivery_dispatched_v1(
        &self,
        m: Received<DeliveryDispatched>,
    ) -> Result<(), HandlerError> {
        let shipped: u64 = m.payload().items.iter().map(|i| i.quantity.get()).sum();
        self.flow.hop(
            "inventory-service",
            &m,
            format!("{shipped} unit(s) left the warehouse"),
        );
        Ok(())
    }
}

struct Procurement {
    flow: Flow,
}

impl ProcurementServiceHandler for Procurement {
    async fn stock_low_v1(&self, m: Received<StockLow>) -> Result<(), HandlerError> {
        let s = m.payload();
        self.flow.hop(
            "procurement-service",
            &m,
            format!("purchase request: {} × {}", s.reorder_level, s.product_name),
        );
        Ok(())
    }
}

struct Delivery {
    flow: Flow,
    publisher: DeliveryServicePublisher,
}

impl DeliveryServiceHandler for Delivery {
    async fn order_confirmed_v1(&self, m: Received<OrderConfirmed>) -> Result<(), HandlerError> {
        let order = m.payload();
        let note = Uuid::new_v4();
        let number = format!("DN-{}", &order.order_number.as_str()[4..]);
        let ctx = PublishContext::caused_by(&m);
        let dispatched = DeliveryDispatched {
            extra: Default::default(),
            delivery_note_id: note,
            delivery_number: parse(&number)?,
            order_id: order.order_id,
            items: order
                .line_items
                .iter()
                .map(|i| ShipmentItem {
                    extra: Default::default(),
                    product_id: i.product_id,
                    quantity: i.quantity,
                    warehouse_id: WAREHOUSE,
                })
                .collect(),
            tracking_number: Some("TRACK123".into()),
            carrier_id: None,
        };
        let confirmed = DeliveryConfirmed {
            extra: Default::default(),
            delivery_note_id: note,
            delivery_number: parse(&number)?,
            order_id: order.order_id,
            customer_id: order.customer_id,
            proof_of_delivery_url: Some(format!("https://pod.example.com/{number}.pdf")),
        };
        self.flow.hop(
            "delivery-service",
            &m,
            format!("→ DeliveryDispatched + DeliveryConfirmed {number}"),
        );
        self.publisher
            .delivery_dispatched_v1(&dispatched, &ctx)
            .await
            .map_err(retry)?;
        self.publisher
            .delivery_confirmed_v1(&confirmed, &ctx)
            .await
            .map_err(retry)?;
        Ok(())
    }
}

struct Invoices {
    flow: Flow,
    publisher: InvoicesServicePublisher,
}

impl InvoicesServiceHandler for Invoices {
    async fn delivery_confirmed_v1(
        &self,
        m: Received<DeliveryConfirmed>,
    ) -> Result<(), HandlerError> {
        let d = m.payload();
        let number = format!("INV-{}", &d.delivery_number.as_str()[3..]);
        let invoice = InvoiceIssued {
            extra: Default::default(),
            invoice_id: Uuid::new_v4(),
            invoice_number: parse(&number)?,
            customer_id: d.customer_id,
            order_id: Some(d.order_id),
            delivery_note_id: Some(d.delivery_note_id),
            currency: parse("USD")?,
            subtotal: parse("1250.00")?,
            tax_total: parse("250.00")?,
            grand_total: parse("1500.00")?,
            due_date: chrono::Utc::now() + chrono::Duration::days(30),
            line_items: vec![InvoiceLineItem {
                extra: Default::default(),
                description: "Product Name".into(),
                quantity: parse("5")?,
                unit_price: parse("250.00")?,
                total: parse("1250.00")?,
            }],
        };
        self.flow
            .hop("invoices-service", &m, format!("→ InvoiceIssued {number}"));
        self.publisher
            .invoice_issued_v1(&invoice, &PublishContext::caused_by(&m))
            .await
            .map_err(retry)?;
        Ok(())
    }
}

struct Accounting {
    flow: Flow,
}

impl AccountingServiceHandler for Accounting {
    async fn invoice_issued_v1(&self, m: Received<InvoiceIssued>) -> Result<(), HandlerError> {
        let i = m.payload();
        self.flow.hop(
            "accounting-service",
            &m,
            format!(
                "booked receivable {} {}",
                i.grand_total.as_str(),
                i.currency.as_str()
            ),
        );
        Ok(())
    }

    async fn payroll_processed_v1(
        &self,
        m: Received<PayrollProcessed>,
    ) -> Result<(), HandlerError> {
        self.flow.hop("accounting-service", &m, "booked payroll");
        Ok(())
    }
}

struct Payment {
    flow: Flow,
    publisher: PaymentServicePublisher,
}

impl PaymentServiceHandler for Payment {
    async fn invoice_issued_v1(&self, m: Received<InvoiceIssued>) -> Result<(), HandlerError> {
        let i = m.payload();
        let paid = InvoicePaid {
            extra: Default::default(),
            invoice_id: i.invoice_id,
            invoice_number: parse(i.invoice_number.as_str())?,
            customer_id: i.customer_id,
            amount: parse(i.grand_total.as_str())?,
            currency: parse(i.currency.as_str())?,
            payment_method: Some(parse("STRIPE")?),
            payment_date: chrono::Utc::now(),
        };
        self.flow.hop(
            "payment-service",
            &m,
            format!("charged → InvoicePaid {}", i.invoice_number.as_str()),
        );
        self.publisher
            .invoice_paid_v1(&paid, &PublishContext::caused_by(&m))
            .await
            .map_err(retry)?;
        Ok(())
    }
}

struct Crm {
    flow: Flow,
}

impl CrmServiceHandler for Crm {
    async fn invoice_paid_v1(&self, m: Received<InvoicePaid>) -> Result<(), HandlerError> {
        let p = m.payload();
        self.flow.hop(
            "crm-service",
            &m,
            format!(
                "customer {} paid {} {}",
                p.customer_id,
                p.amount.as_str(),
                p.currency.as_str()
            ),
        );
        Ok(())
    }
}

async fn publisher(url: &str, prefix: &str, service: &str) -> Result<Publisher, BoxError> {
    let config = PublisherConfig {
        prefix: prefix.to_owned(),
        connection_name: Some(format!("collector-flow {service}")),
        ..schemactl_catalog::publisher_config()
    };
    Ok(Publisher::connect(url, config).await?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let prefix = format!(
        "collector-flow-{}.",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let topology = schemactl_catalog::topology::catalog().with_prefix(&prefix);
    let (tx, mut hops) = mpsc::unbounded_channel();
    let flow = Flow { hops: tx };
    let config = |service: &str| ConsumerConfig {
        prefix: prefix.clone(),
        connection_name: Some(format!("collector-flow {service}")),
        ..ConsumerConfig::default()
    };

    // The first consumer declares the whole topology; the others find it in place.
    let mut consumers: Vec<ConsumerHandle> = Vec::new();
    consumers.push(
        OrdersService::new(Orders {
            flow: flow.clone(),
            publisher: OrdersServicePublisher::new(
                publisher(&url, &prefix, "orders-service").await?,
            ),
        })
        .consume(&url, config("orders-service"))
        .await?,
    );
    consumers.push(
        InventoryService::new(Inventory {
            flow: flow.clone(),
            publisher: InventoryServicePublisher::new(
                publisher(&url, &prefix, "inventory-service").await?,
            ),
        })
        .consume(&url, config("inventory-service"))
        .await?,
    );
    consumers.push(
        ProcurementService::new(Procurement { flow: flow.clone() })
            .consume(&url, config("procurement-service"))
            .await?,
    );
    consumers.push(
        DeliveryService::new(Delivery {
            flow: flow.clone(),
            publisher: DeliveryServicePublisher::new(
                publisher(&url, &prefix, "delivery-service").await?,
            ),
        })
        .consume(&url, config("delivery-service"))
        .await?,
    );
    consumers.push(
        InvoicesService::new(Invoices {
            flow: flow.clone(),
            publisher: InvoicesServicePublisher::new(
                publisher(&url, &prefix, "invoices-service").await?,
            ),
        })
        .consume(&url, config("invoices-service"))
        .await?,
    );
    consumers.push(
        AccountingService::new(Accounting { flow: flow.clone() })
            .consume(&url, config("accounting-service"))
            .await?,
    );
    consumers.push(
        PaymentService::new(Payment {
            flow: flow.clone(),
            publisher: PaymentServicePublisher::new(
                publisher(&url, &prefix, "payment-service").await?,
            ),
        })
        .consume(&url, config("payment-service"))
        .await?,
    );
    consumers.push(
        CrmService::new(Crm { flow: flow.clone() })
            .consume(&url, config("crm-service"))
            .await?,
    );

    println!("Collector flow on {prefix}* — each line is one message consumed:\n");
    let offers = OffersServicePublisher::new(publisher(&url, &prefix, "offers-service").await?);
    let offer = OfferApproved {
        extra: Default::default(),
        offer_id: Uuid::new_v4(),
        offer_number: parse("OFF-2026-042")?,
        customer_id: Uuid::new_v4(),
        valid_until: chrono::Utc::now() + chrono::Duration::days(14),
        currency: parse("USD")?,
        grand_total: parse("1500.00")?,
        line_items: vec![OfferLineItem {
            extra: Default::default(),
            product_id: Some(Uuid::new_v4()),
            description: "Product Name".into(),
            quantity: parse("5")?,
            unit_price: parse("300.00")?,
            discount_percent: Some(parse("10")?),
            tax_percent: Some(parse("20")?),
        }],
    };
    let ctx = PublishContext::new().correlation_id(format!("offer-{}", offer.offer_id));
    STARTED.get_or_init(Instant::now);
    let published = offers.offer_approved_v1(&offer, &ctx).await?;
    println!(
        "{:>6.1} ms  {:<20} ▶ OfferApproved.v1 confirmed ({})",
        elapsed_ms(),
        "offers-service",
        published.message_id,
    );

    // Nine deliveries make the flow: one per (consuming service, event) edge it takes.
    const HOPS: usize = 9;
    let mut count = 0;
    let mut threads = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count < HOPS {
        match tokio::time::timeout_at(deadline, hops.recv()).await {
            Ok(Some(hop)) => {
                count += 1;
                println!("{}", hop.line);
                threads.insert(hop.thread);
            }
            _ => break,
        }
    }

    for consumer in consumers {
        consumer.shutdown().await?;
    }
    offers.publisher().close().await;
    let cleanup = async {
        let connection =
            lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        topology.delete(&channel).await?;
        channel.close(200, "done".into()).await?;
        connection.close(200, "done".into()).await?;
        Ok::<_, BoxError>(())
    };
    cleanup.await?;

    if count == HOPS {
        println!("\n{count} messages consumed; flow complete, topology deleted.");
        match threads.iter().collect::<Vec<_>>().as_slice() {
            [(Some(correlation), Some(trace))] => {
                println!("correlation ID {correlation} and trace {trace} on every hop")
            }
            other => return Err(format!("the hops lost their thread: {other:?}").into()),
        }
        Ok(())
    } else {
        Err(format!("the flow stalled after {count} of {HOPS} deliveries (30 s)").into())
    }
}
