//! Loyalty's values and its handler: points for every confirmed order.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{Money, OrderConfirmedEvent, OrderEvent};
use orderflow_kit::{Clock, SystemClock};
use tracing::info;
use uuid::Uuid;

use crate::ports::{LedgerError, PointsLedger};

/// The points an order total earns: one per whole currency unit (EUR 39.98 -> 39, JPY 3998 ->
/// 3998, KWD 1.250 -> 1). Integer arithmetic, as all money here; the fraction is not rounded up,
/// so that splitting an order never earns more than placing it whole.
pub fn points_for(total: Money) -> u64 {
    total.amount / 10u64.pow(total.currency.minor_unit_exponent())
}

/// What one confirmed order adds to its customer's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Award {
    pub customer_id: String,
    pub points: u64,
    pub order_id: Uuid,
    /// The OrderConfirmed event that earned it (`lastEventId` of the account).
    pub event_id: Uuid,
    /// From the handler's clock (`updatedAt`).
    pub at: DateTime<Utc>,
}

impl Award {
    /// The award of a confirmed order, at `now`.
    pub fn for_confirmed(event: &OrderConfirmedEvent, now: DateTime<Utc>) -> Self {
        let order = event.data();
        Award {
            customer_id: order.customer().id.clone(),
            points: points_for(order.total()),
            order_id: order.order_id(),
            event_id: event.id(),
            at: now,
        }
    }
}

/// A LoyaltyPoints record: the customer's points and how many orders earned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub customer_id: String,
    pub points: u64,
    pub orders: u64,
    pub last_order_id: Option<Uuid>,
    pub last_event_id: Option<Uuid>,
}

/// What [`PointsLedger::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The points were added; the account as it is now.
    Added(Account),
    /// The account's last applied event is this one (a retry after the add succeeded and the
    /// idempotency record was not completed): nothing added.
    AlreadyApplied,
}

/// Everything that can stop an order's points from being added.
#[derive(Debug, thiserror::Error)]
pub enum LoyaltyError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: LoyaltyError) -> HandlerError {
    match error {
        // The table may answer next time; the claim (and the ledger's last-event guard) keep the
        // retry from adding twice.
        LoyaltyError::Ledger(LedgerError::Store(_)) => HandlerError::transient(error),
        // The same stored account will be unreadable on every delivery: the message belongs in
        // the DLQ, where someone looks at it.
        LoyaltyError::Ledger(LedgerError::Malformed(_)) => HandlerError::permanent(error),
    }
}

/// The consumer: on OrderConfirmed, add the order's points to its customer, once.
pub struct LoyaltyHandler {
    ledger: Arc<dyn PointsLedger>,
    clock: Arc<dyn Clock>,
}

impl LoyaltyHandler {
    /// A handler on the wall clock.
    pub fn new(ledger: Arc<dyn PointsLedger>) -> Self {
        LoyaltyHandler { ledger, clock: Arc::new(SystemClock) }
    }

    /// The time source of the accounts' `updatedAt`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn award(&self, event: &OrderConfirmedEvent) -> Result<(), LoyaltyError> {
        let award = Award::for_confirmed(event, self.clock.now());
        match self.ledger.add(&award).await? {
            AddOutcome::Added(account) => info!(
                customer_id = %award.customer_id,
                points = award.points,
                balance = account.points,
                orders = account.orders,
                "loyalty points added"
            ),
            AddOutcome::AlreadyApplied => info!("the account has this event's points already; nothing to do"),
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for LoyaltyHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderConfirmedV1(confirmed) => self.award(confirmed).await.map_err(classify),
            // Only OrderConfirmed v1 is subscribed, but anything else is harmless: only a
            // confirmed order earns points. `_` as well: the event enum is non-exhaustive.
            other => {
                info!(event_type = other.event_type(), "event type ignored by loyalty");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orderflow_consumer::testing::order_placed;
    use orderflow_events::{Currency, ORDER_SERVICE_SOURCE, OrderConfirmedV1};
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::InMemoryPointsLedger;

    fn request_failed() -> RequestFailed {
        RequestFailed::new("UpdateItem", std::io::Error::other("connection reset"))
    }

    fn confirmed(items: &[(&str, u32, u64)], currency: &str) -> OrderConfirmedEvent {
        let placed = order_placed(items, currency);
        OrderConfirmedEvent::new(
            Uuid::now_v7(),
            ORDER_SERVICE_SOURCE,
            Utc::now(),
            OrderConfirmedV1::for_order(placed.data()),
        )
    }

    fn money(amount: u64, currency: &str) -> Money {
        Money::new(amount, currency.parse::<Currency>().unwrap())
    }

    #[test]
    fn one_point_per_whole_currency_unit() {
        assert_eq!(points_for(money(3998, "EUR")), 39);
        assert_eq!(points_for(money(99, "EUR")), 0);
        assert_eq!(points_for(money(100, "EUR")), 1);
        assert_eq!(points_for(money(3998, "JPY")), 3998);
        assert_eq!(points_for(money(1250, "KWD")), 1);
    }

    #[test]
    fn every_error_has_its_kind() {
        let cases: Vec<(LoyaltyError, bool)> = vec![
            (LedgerError::Store(request_failed()).into(), false),
            (LedgerError::Malformed(MalformedItem::new("points", "is not a number")).into(), true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    #[test]
    fn an_award_is_the_orders_customer_and_total() {
        let event = confirmed(&[("BOOK-0001", 2, 1999), ("MUG-0002", 1, 500)], "EUR");
        let now = Utc::now();
        let award = Award::for_confirmed(&event, now);
        assert_eq!(award.customer_id, event.data().customer().id);
        assert_eq!(award.points, 44); // EUR 44.98
        assert_eq!((award.order_id, award.event_id, award.at), (event.data().order_id(), event.id(), now));
    }

    #[tokio::test]
    async fn each_confirmed_order_adds_its_points() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let ledger = Arc::new(InMemoryPointsLedger::new());
        let handler = LoyaltyHandler::new(ledger.clone()).with_clock(clock);
        let first = confirmed(&[("BOOK-0001", 1, 1999)], "EUR");
        let second = confirmed(&[("MUG-0002", 3, 500)], "EUR");
        handler.handle(&OrderEvent::OrderConfirmedV1(first.clone())).await.unwrap();
        handler.handle(&OrderEvent::OrderConfirmedV1(second.clone())).await.unwrap();
        let account = ledger.get(&first.data().customer().id).unwrap();
        assert_eq!((account.points, account.orders), (19 + 15, 2));
        assert_eq!(account.last_event_id, Some(second.id()));
    }

    #[tokio::test]
    async fn the_last_applied_event_is_not_applied_again() {
        let ledger = Arc::new(InMemoryPointsLedger::new());
        let handler = LoyaltyHandler::new(ledger.clone());
        let event = confirmed(&[("BOOK-0001", 1, 1999)], "EUR");
        handler.handle(&OrderEvent::OrderConfirmedV1(event.clone())).await.unwrap();
        handler.handle(&OrderEvent::OrderConfirmedV1(event.clone())).await.unwrap();
        let account = ledger.get(&event.data().customer().id).unwrap();
        assert_eq!((account.points, account.orders), (19, 1));
    }

    #[tokio::test]
    async fn placed_orders_earn_nothing() {
        let ledger = Arc::new(InMemoryPointsLedger::new());
        let handler = LoyaltyHandler::new(ledger.clone());
        handler.handle(&OrderEvent::OrderPlacedV1(order_placed(&[("BOOK-0001", 1, 1999)], "EUR"))).await.unwrap();
        assert!(ledger.all().is_empty());
    }

    /// A ledger whose writes fail.
    struct FailingLedger;

    #[async_trait]
    impl PointsLedger for FailingLedger {
        async fn find(&self, _: &str) -> Result<Option<Account>, LedgerError> {
            Err(request_failed().into())
        }

        async fn add(&self, _: &Award) -> Result<AddOutcome, LedgerError> {
            Err(request_failed().into())
        }
    }

    #[tokio::test]
    async fn an_unavailable_table_is_retried() {
        let handler = LoyaltyHandler::new(Arc::new(FailingLedger));
        let event = confirmed(&[("BOOK-0001", 1, 1999)], "EUR");
        let error = handler.handle(&OrderEvent::OrderConfirmedV1(event)).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
    }
}
