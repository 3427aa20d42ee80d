//! Inventory's values and its handler: reserve every item or none, record the outcome once.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use orderflow_kit::{Clock, SystemClock};
use tracing::{info, warn};
use uuid::Uuid;

use crate::ports::{InventoryError, InventoryStore};

/// DynamoDB allows 100 actions per transaction: one Update per SKU plus the reservation Put.
pub const MAX_ITEMS_PER_ORDER: usize = 99;

/// `status` of a reservation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Reserved,
    Rejected,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Reserved => "RESERVED",
            ReservationStatus::Rejected => "REJECTED",
        }
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` that is neither RESERVED nor REJECTED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reservation status {0:?}")]
pub struct UnknownReservationStatus(pub String);

impl FromStr for ReservationStatus {
    type Err = UnknownReservationStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "RESERVED" => Ok(ReservationStatus::Reserved),
            "REJECTED" => Ok(ReservationStatus::Rejected),
            other => Err(UnknownReservationStatus(other.to_owned())),
        }
    }
}

/// What to reserve for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub order_id: Uuid,
    pub event_id: Uuid,
    /// `(sku, quantity)`; SKUs are unique (the event contract guarantees it).
    pub items: Vec<(String, u32)>,
    /// When inventory decided, from the handler's clock (`createdAt` of the record).
    pub created_at: DateTime<Utc>,
}

impl ReservationRequest {
    pub fn from_event(event: &OrderPlacedEvent, created_at: DateTime<Utc>) -> Self {
        ReservationRequest {
            order_id: event.data().order_id(),
            event_id: event.id(),
            items: event.data().items().iter().map(|item| (item.sku.clone(), item.quantity)).collect(),
            created_at,
        }
    }
}

/// Why an order cannot be reserved: the reason recorded on its REJECTED reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    UnknownSku { sku: String },
    InsufficientStock { sku: String, requested: u32, available: i64 },
}

impl Unavailable {
    /// The `reason` attribute.
    pub fn reason(&self) -> &'static str {
        match self {
            Unavailable::UnknownSku { .. } => "UNKNOWN_SKU",
            Unavailable::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
        }
    }

    pub fn sku(&self) -> &str {
        match self {
            Unavailable::UnknownSku { sku } | Unavailable::InsufficientStock { sku, .. } => sku,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every item was reserved and the RESERVED record written, in one transaction.
    Reserved,
    /// The order already has a reservation record (an earlier delivery): nothing changed.
    AlreadyRecorded(ReservationStatus),
    /// Nothing changed: this item cannot be reserved.
    Unavailable(Unavailable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectOutcome {
    Recorded,
    /// Someone recorded a reservation for the order first (RESERVED or REJECTED): that one stands.
    AlreadyRecorded(ReservationStatus),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: InventoryError) -> HandlerError {
    match error {
        // The table may answer next time; a concurrent writer will have finished by then.
        InventoryError::Store(_) | InventoryError::Contention(_) => HandlerError::transient(error),
        // The same order or the same stored record will be refused on every delivery: the
        // message belongs in the DLQ, where someone looks at it.
        InventoryError::TooManyItems(_) | InventoryError::Malformed(_) => HandlerError::permanent(error),
    }
}

/// The consumer: reserve, or record why not.
pub struct InventoryHandler {
    store: Arc<dyn InventoryStore>,
    clock: Arc<dyn Clock>,
}

impl InventoryHandler {
    /// A handler on the wall clock.
    pub fn new(store: Arc<dyn InventoryStore>) -> Self {
        InventoryHandler { store, clock: Arc::new(SystemClock) }
    }

    /// The time source of the records' `createdAt`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn reserve(&self, event: &OrderPlacedEvent) -> Result<(), InventoryError> {
        let request = ReservationRequest::from_event(event, self.clock.now());
        if request.items.len() > MAX_ITEMS_PER_ORDER {
            return Err(InventoryError::TooManyItems(request.items.len()));
        }
        let unavailable = match self.store.reserve(&request).await? {
            ReserveOutcome::Reserved => {
                info!(items = request.items.len(), "stock reserved");
                return Ok(());
            }
            ReserveOutcome::AlreadyRecorded(status) => {
                info!(status = status.as_str(), "reservation already recorded; nothing to do");
                return Ok(());
            }
            ReserveOutcome::Unavailable(unavailable) => unavailable,
        };
        match self.store.record_rejection(&request, &unavailable).await? {
            RejectOutcome::Recorded => {
                warn!(reason = unavailable.reason(), sku = unavailable.sku(), ?unavailable, "reservation rejected")
            }
            RejectOutcome::AlreadyRecorded(status) => {
                info!(status = status.as_str(), "reservation recorded concurrently; that one stands")
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for InventoryHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderPlacedV1(placed) => self.reserve(placed).await.map_err(classify),
            // Events added to the contract later are not this consumer's business.
            other => {
                info!(event_type = other.event_type(), "event type ignored by inventory");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use orderflow_consumer::testing::order_placed;
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::InMemoryInventoryStore;

    #[test]
    fn every_error_has_its_kind() {
        let failed = RequestFailed::new("TransactWriteItems", std::io::Error::other("connection reset"));
        let cases: Vec<(InventoryError, bool)> = vec![
            (failed.into(), false),
            (InventoryError::Contention("transaction conflict".into()), false),
            (InventoryError::TooManyItems(120), true),
            (MalformedItem::new("status", "is missing").into(), true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    #[test]
    fn store_errors_keep_their_cause() {
        let error: InventoryError = RequestFailed::new("GetItem", std::io::Error::other("throttled")).into();
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|text| text.contains("GetItem")), "{error}");
    }

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in [ReservationStatus::Reserved, ReservationStatus::Rejected] {
            assert_eq!(status.to_string().parse(), Ok(status));
        }
        assert_eq!("reserved".parse::<ReservationStatus>(), Err(UnknownReservationStatus("reserved".into())));
    }

    #[tokio::test]
    async fn too_many_items_is_permanent_and_reserves_nothing() {
        let items: Vec<(String, u32, u64)> =
            (0..=MAX_ITEMS_PER_ORDER).map(|index| (format!("SKU-{index:04}"), 1, 100)).collect();
        let lines: Vec<(&str, u32, u64)> = items.iter().map(|(sku, q, p)| (sku.as_str(), *q, *p)).collect();
        let store = Arc::new(InMemoryInventoryStore::new().with_stock("SKU-0000", 10));
        let handler = InventoryHandler::new(store.clone());
        let error = handler.handle(&OrderEvent::OrderPlacedV1(order_placed(&lines, "EUR"))).await.unwrap_err();
        assert!(error.is_permanent(), "{error}");
        assert_eq!(store.stock("SKU-0000"), Some((10, 0)));
        assert_eq!(store.reservation_count(), 0);
    }

    #[tokio::test]
    async fn the_record_is_stamped_by_the_handler_clock() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let store = Arc::new(InMemoryInventoryStore::new().with_stock("BOOK-0001", 1));
        let handler = InventoryHandler::new(store.clone()).with_clock(clock.clone());
        for quantity in [1, 5] {
            let placed = order_placed(&[("BOOK-0001", quantity, 1999)], "EUR");
            let order_id = placed.data().order_id();
            handler.handle(&OrderEvent::OrderPlacedV1(placed)).await.unwrap();
            assert_eq!(store.reservation(order_id).map(|r| r.created_at), Some(clock.now()));
        }
    }

    /// A store that answers as told: for the races the in-memory store cannot stage.
    struct Scripted {
        reserve: fn() -> Result<ReserveOutcome, InventoryError>,
        reject: fn() -> Result<RejectOutcome, InventoryError>,
        rejections: AtomicUsize,
    }

    #[async_trait]
    impl InventoryStore for Scripted {
        async fn reserve(&self, _: &ReservationRequest) -> Result<ReserveOutcome, InventoryError> {
            (self.reserve)()
        }

        async fn record_rejection(
            &self,
            _: &ReservationRequest,
            _: &Unavailable,
        ) -> Result<RejectOutcome, InventoryError> {
            self.rejections.fetch_add(1, Ordering::SeqCst);
            (self.reject)()
        }
    }

    fn placed() -> OrderEvent {
        OrderEvent::OrderPlacedV1(order_placed(&[("BOOK-0001", 1, 1999)], "EUR"))
    }

    #[tokio::test]
    async fn a_rejection_recorded_concurrently_is_left_standing() {
        // Another delivery reserved (or rejected) the order between our transaction and our
        // rejection write: its record stands and this delivery is done.
        let store = Arc::new(Scripted {
            reserve: || Ok(ReserveOutcome::Unavailable(Unavailable::UnknownSku { sku: "BOOK-0001".into() })),
            reject: || Ok(RejectOutcome::AlreadyRecorded(ReservationStatus::Reserved)),
            rejections: Default::default(),
        });
        InventoryHandler::new(store.clone()).handle(&placed()).await.unwrap();
        assert_eq!(store.rejections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn store_failures_reach_the_batch_core_classified() {
        let contended = Arc::new(Scripted {
            reserve: || Err(InventoryError::Contention("transaction conflict".into())),
            reject: || Ok(RejectOutcome::Recorded),
            rejections: Default::default(),
        });
        let error = InventoryHandler::new(contended.clone()).handle(&placed()).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert_eq!(contended.rejections.load(Ordering::SeqCst), 0, "no rejection on a failure");

        let malformed = Arc::new(Scripted {
            reserve: || Ok(ReserveOutcome::Unavailable(Unavailable::UnknownSku { sku: "BOOK-0001".into() })),
            reject: || Err(MalformedItem::new("status", "is missing").into()),
            rejections: Default::default(),
        });
        let error = InventoryHandler::new(malformed).handle(&placed()).await.unwrap_err();
        assert!(error.is_permanent(), "{error}");
    }
}
