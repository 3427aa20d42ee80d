//! Shipping's values and its handler: one shipment, ready to ship, per confirmed order.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{OrderConfirmedEvent, OrderEvent, ShippingAddress};
use orderflow_kit::{Clock, SystemClock};
use tracing::info;
use uuid::Uuid;

use crate::ports::{ShipmentsError, ShipmentsStore};

/// A shipment's `status`. Only `READY` exists today: the order is confirmed and waits for the
/// warehouse. Later steps (picked, shipped, ...) are the next statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShipmentStatus {
    Ready,
}

impl ShipmentStatus {
    /// The stored value, read by the end-to-end tests: never change it.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::Ready => "READY",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "READY" => Some(ShipmentStatus::Ready),
            _ => None,
        }
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many units of one SKU go in the parcel. Prices stay with billing: the warehouse does
/// not need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLine {
    pub sku: String,
    pub quantity: u32,
}

/// A ShipmentsTable record: what to ship for a confirmed order, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub order_id: Uuid,
    pub status: ShipmentStatus,
    pub items: Vec<ShipmentLine>,
    /// The order's address, when it was placed with one.
    pub shipping_address: Option<ShippingAddress>,
    /// When the shipment was recorded, from the handler's clock (`createdAt`).
    pub created_at: DateTime<Utc>,
    /// The OrderConfirmed event that created it (`eventId`).
    pub event_id: Uuid,
    /// Carried from the event, so that the shipment can be traced to the original request.
    pub correlation_id: Option<String>,
}

impl Shipment {
    /// The shipment of a confirmed order, ready to ship, created at `now`.
    pub fn for_confirmed(event: &OrderConfirmedEvent, now: DateTime<Utc>) -> Self {
        let order = event.data();
        Shipment {
            order_id: order.order_id(),
            status: ShipmentStatus::Ready,
            items: order
                .items()
                .iter()
                .map(|item| ShipmentLine { sku: item.sku.clone(), quantity: item.quantity })
                .collect(),
            shipping_address: order.shipping_address().cloned(),
            created_at: now,
            event_id: event.id(),
            correlation_id: event.correlation_id().map(str::to_owned),
        }
    }
}

/// What [`ShipmentsStore::create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The order had a shipment already (a duplicate or redelivered OrderConfirmed, or a
    /// concurrent attempt that won): it stands.
    AlreadyExists,
}

/// Everything that can stop an order's shipment from being recorded.
#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    #[error(transparent)]
    Shipments(#[from] ShipmentsError),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: ShippingError) -> HandlerError {
    match error {
        // The table may answer next time, and the conditional write makes the retry safe.
        ShippingError::Shipments(ShipmentsError::Store(_))
        | ShippingError::Shipments(ShipmentsError::Vanished { .. }) => HandlerError::transient(error),
        // The same stored record will be unreadable on every delivery: the message belongs in
        // the DLQ, where someone looks at it.
        ShippingError::Shipments(ShipmentsError::Malformed(_)) => HandlerError::permanent(error),
    }
}

/// The consumer: on OrderConfirmed, record the order's shipment once.
pub struct ShippingHandler {
    shipments: Arc<dyn ShipmentsStore>,
    clock: Arc<dyn Clock>,
}

impl ShippingHandler {
    /// A handler on the wall clock.
    pub fn new(shipments: Arc<dyn ShipmentsStore>) -> Self {
        ShippingHandler { shipments, clock: Arc::new(SystemClock) }
    }

    /// The time source of the shipments' `createdAt`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn ship(&self, event: &OrderConfirmedEvent) -> Result<(), ShippingError> {
        let shipment = Shipment::for_confirmed(event, self.clock.now());
        match self.shipments.create(&shipment).await? {
            CreateOutcome::Created => {
                info!(items = shipment.items.len(), "shipment recorded, ready to ship")
            }
            CreateOutcome::AlreadyExists => info!("the order has its shipment already; nothing to do"),
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for ShippingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderConfirmedV1(confirmed) => self.ship(confirmed).await.map_err(classify),
            // OrderPlaced and OrderCancelled are not subscribed, but harmless: only a confirmed
            // order ships. `_` as well: the event enum is non-exhaustive.
            other => {
                info!(event_type = other.event_type(), "event type ignored by shipping");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orderflow_consumer::testing::order_placed;
    use orderflow_events::{
        CancellationReason, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1, OrderConfirmedV1,
    };
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::InMemoryShipmentsStore;

    fn request_failed() -> RequestFailed {
        RequestFailed::new("PutItem", std::io::Error::other("connection reset"))
    }

    fn confirmed(address: Option<ShippingAddress>) -> OrderConfirmedEvent {
        let placed = order_placed(&[("BOOK-0001", 2, 1999), ("MUG-0002", 1, 500)], "EUR");
        let mut order = placed.data().clone();
        if let Some(address) = address {
            order = order.with_shipping_address(address);
        }
        OrderConfirmedEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), OrderConfirmedV1::for_order(&order))
            .with_correlation_id("req-test")
    }

    fn address() -> ShippingAddress {
        ShippingAddress::new("1 Rue de la Paix", Some("3e étage".into()), "Lyon", "69001", "FR").unwrap()
    }

    #[test]
    fn every_error_has_its_kind() {
        let cases: Vec<(ShippingError, bool)> = vec![
            (ShipmentsError::Store(request_failed()).into(), false),
            (ShipmentsError::Vanished { order_id: Uuid::nil() }.into(), false),
            (ShipmentsError::Malformed(MalformedItem::new("status", "is missing")).into(), true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    #[test]
    fn a_shipment_has_the_confirmed_items_and_address() {
        let event = confirmed(Some(address()));
        let now = Utc::now();
        let shipment = Shipment::for_confirmed(&event, now);
        assert_eq!(shipment.order_id, event.data().order_id());
        assert_eq!(shipment.status, ShipmentStatus::Ready);
        assert_eq!(
            shipment.items,
            [
                ShipmentLine { sku: "BOOK-0001".into(), quantity: 2 },
                ShipmentLine { sku: "MUG-0002".into(), quantity: 1 }
            ]
        );
        assert_eq!(shipment.shipping_address, Some(address()));
        assert_eq!(shipment.created_at, now);
        assert_eq!(shipment.event_id, event.id());
        assert_eq!(shipment.correlation_id.as_deref(), Some("req-test"));
        assert_eq!(Shipment::for_confirmed(&confirmed(None), now).shipping_address, None);
    }

    #[test]
    fn the_status_round_trips() {
        assert_eq!(ShipmentStatus::parse(ShipmentStatus::Ready.as_str()), Some(ShipmentStatus::Ready));
        assert_eq!(ShipmentStatus::parse("SHIPPED"), None);
    }

    #[tokio::test]
    async fn a_confirmed_order_gets_one_shipment_stamped_by_the_handler_clock() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let store = Arc::new(InMemoryShipmentsStore::new());
        let handler = ShippingHandler::new(store.clone()).with_clock(clock.clone());
        let event = confirmed(None);
        handler.handle(&OrderEvent::OrderConfirmedV1(event.clone())).await.unwrap();
        handler.handle(&OrderEvent::OrderConfirmedV1(event.clone())).await.unwrap();
        assert_eq!(store.all().len(), 1);
        let shipment = store.get(event.data().order_id()).unwrap();
        assert_eq!(shipment.created_at, clock.now());
        assert_eq!(shipment.status, ShipmentStatus::Ready);
    }

    #[tokio::test]
    async fn placed_and_cancelled_orders_are_not_shipped() {
        let store = Arc::new(InMemoryShipmentsStore::new());
        let handler = ShippingHandler::new(store.clone());
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        let cancelled = OrderCancelledEvent::new(
            Uuid::now_v7(),
            ORDER_SERVICE_SOURCE,
            Utc::now(),
            OrderCancelledV1::new(
                placed.data().order_id(),
                CancellationReason::OutOfStock,
                placed.data().customer().clone(),
                placed.data().total(),
            )
            .unwrap(),
        );
        handler.handle(&OrderEvent::OrderPlacedV1(placed)).await.unwrap();
        handler.handle(&OrderEvent::OrderCancelledV1(cancelled)).await.unwrap();
        assert!(store.all().is_empty());
    }

    /// A store whose writes fail.
    struct FailingStore;

    #[async_trait]
    impl ShipmentsStore for FailingStore {
        async fn find(&self, _: Uuid) -> Result<Option<Shipment>, ShipmentsError> {
            Err(request_failed().into())
        }

        async fn create(&self, _: &Shipment) -> Result<CreateOutcome, ShipmentsError> {
            Err(request_failed().into())
        }
    }

    #[tokio::test]
    async fn an_unavailable_table_is_retried() {
        let handler = ShippingHandler::new(Arc::new(FailingStore));
        let error = handler.handle(&OrderEvent::OrderConfirmedV1(confirmed(None))).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
    }
}
