//! Billing's values and its handler: charge once, record once.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{Money, OrderEvent, OrderPlacedEvent};
use orderflow_kit::{Clock, SystemClock};
use tracing::{info, warn};
use uuid::Uuid;

use crate::ports::{GatewayError, PaymentGateway, PaymentsError, PaymentsStore};

/// `status` of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Captured,
    Declined,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Captured => "CAPTURED",
            PaymentStatus::Declined => "DECLINED",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` that is neither CAPTURED nor DECLINED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment status {0:?}")]
pub struct UnknownPaymentStatus(pub String);

impl FromStr for PaymentStatus {
    type Err = UnknownPaymentStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "CAPTURED" => Ok(PaymentStatus::Captured),
            "DECLINED" => Ok(PaymentStatus::Declined),
            other => Err(UnknownPaymentStatus(other.to_owned())),
        }
    }
}

/// A charge as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The same key always gets the same result and charges at most once: the event id.
    pub idempotency_key: String,
    pub order_id: Uuid,
    pub amount: Money,
}

/// What the gateway decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeResult {
    pub status: PaymentStatus,
    /// The gateway's reference for the charge (or the declined attempt).
    pub reference: String,
    pub decline_reason: Option<String>,
}

/// One `payments` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub order_id: Uuid,
    pub status: PaymentStatus,
    pub amount: Money,
    pub event_id: Uuid,
    pub gateway_reference: String,
    pub decline_reason: Option<String>,
    /// When billing decided, from the handler's clock (`createdAt`).
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The order already had a payment record: it stands, this one was not written.
    AlreadyRecorded(Payment),
}

/// Everything that can stop billing an order.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: BillingError) -> HandlerError {
    match error {
        // The gateway or the table may answer next time; the same idempotency key makes the
        // retried charge safe.
        BillingError::Gateway(GatewayError::Unavailable(_))
        | BillingError::Payments(PaymentsError::Store(_))
        | BillingError::Payments(PaymentsError::Vanished { .. }) => HandlerError::transient(error),
        // The same request or the same stored record will be refused on every delivery: the
        // message belongs in the DLQ, where someone looks at it.
        BillingError::Gateway(GatewayError::InvalidRequest(_))
        | BillingError::Payments(PaymentsError::Malformed(_)) => HandlerError::permanent(error),
    }
}

/// The consumer: charge once, record once.
pub struct BillingHandler {
    gateway: Arc<dyn PaymentGateway>,
    payments: Arc<dyn PaymentsStore>,
    clock: Arc<dyn Clock>,
}

impl BillingHandler {
    /// A handler on the wall clock.
    pub fn new(gateway: Arc<dyn PaymentGateway>, payments: Arc<dyn PaymentsStore>) -> Self {
        BillingHandler { gateway, payments, clock: Arc::new(SystemClock) }
    }

    /// The time source of the records' `createdAt`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn bill(&self, event: &OrderPlacedEvent) -> Result<(), BillingError> {
        let order_id = event.data().order_id();
        // A record means the order is settled, whichever event settled it; this also keeps a
        // second event for the same order (a new id) from charging again.
        if let Some(existing) = self.payments.find(order_id).await? {
            info!(status = existing.status.as_str(), "payment already recorded; nothing to do");
            return Ok(());
        }
        let request = ChargeRequest { idempotency_key: event.id().to_string(), order_id, amount: event.data().total() };
        let result = self.gateway.charge(&request).await?;
        let payment = Payment {
            order_id,
            status: result.status,
            amount: request.amount,
            event_id: event.id(),
            gateway_reference: result.reference,
            decline_reason: result.decline_reason,
            created_at: self.clock.now(),
        };
        match self.payments.record(&payment).await? {
            RecordOutcome::Recorded => info!(
                status = payment.status.as_str(),
                amount = payment.amount.amount,
                currency = %payment.amount.currency,
                gateway_reference = %payment.gateway_reference,
                decline_reason = payment.decline_reason.as_deref(),
                "payment recorded"
            ),
            RecordOutcome::AlreadyRecorded(existing) if existing.event_id == payment.event_id => {
                info!(status = existing.status.as_str(), "payment recorded concurrently by another attempt")
            }
            RecordOutcome::AlreadyRecorded(existing) => warn!(
                existing_event_id = %existing.event_id,
                existing_status = existing.status.as_str(),
                "order already has a payment from another event; this charge is not recorded"
            ),
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for BillingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderPlacedV1(placed) => self.bill(placed).await.map_err(classify),
            other => {
                info!(event_type = other.event_type(), "event type ignored by billing");
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
    use crate::adapters::{InMemoryPaymentsStore, SimulatedGateway};

    fn request_failed() -> RequestFailed {
        RequestFailed::new("GetItem", std::io::Error::other("connection reset"))
    }

    #[test]
    fn every_error_has_its_kind() {
        let cases: Vec<(BillingError, bool)> = vec![
            (GatewayError::Unavailable("timeout".into()).into(), false),
            (GatewayError::InvalidRequest("amount must be positive".into()).into(), true),
            (PaymentsError::Store(request_failed()).into(), false),
            (PaymentsError::Vanished { order_id: Uuid::nil() }.into(), false),
            (PaymentsError::Malformed(MalformedItem::new("status", "is missing")).into(), true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in [PaymentStatus::Captured, PaymentStatus::Declined] {
            assert_eq!(status.to_string().parse(), Ok(status));
        }
        assert_eq!("captured".parse::<PaymentStatus>(), Err(UnknownPaymentStatus("captured".into())));
    }

    /// A gateway that always fails the same way, counting calls.
    struct FailingGateway {
        invalid: bool,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl PaymentGateway for FailingGateway {
        async fn charge(&self, _: &ChargeRequest) -> Result<ChargeResult, GatewayError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Err(if self.invalid {
                GatewayError::InvalidRequest("currency not supported".into())
            } else {
                GatewayError::Unavailable("503 Service Unavailable".into())
            })
        }
    }

    /// A store whose reads fail, or that finds nothing and then loses the write to `winner`
    /// (a concurrent attempt for another event of the same order).
    struct ScriptedStore {
        winner: Option<Payment>,
    }

    #[async_trait]
    impl PaymentsStore for ScriptedStore {
        async fn find(&self, _: Uuid) -> Result<Option<Payment>, PaymentsError> {
            match self.winner {
                Some(_) => Ok(None),
                None => Err(request_failed().into()),
            }
        }

        async fn record(&self, _: &Payment) -> Result<RecordOutcome, PaymentsError> {
            match &self.winner {
                Some(winner) => Ok(RecordOutcome::AlreadyRecorded(winner.clone())),
                None => Err(request_failed().into()),
            }
        }
    }

    fn placed() -> OrderEvent {
        OrderEvent::OrderPlacedV1(order_placed(&[("BOOK-0001", 2, 1999)], "EUR"))
    }

    #[tokio::test]
    async fn gateway_failures_record_nothing_and_keep_their_kind() {
        for invalid in [false, true] {
            let payments = Arc::new(InMemoryPaymentsStore::new());
            let gateway = Arc::new(FailingGateway { invalid, calls: AtomicUsize::new(0) });
            let handler = BillingHandler::new(gateway.clone(), payments.clone());
            let error = handler.handle(&placed()).await.unwrap_err();
            assert_eq!(error.is_permanent(), invalid, "{error}");
            assert_eq!(gateway.calls.load(Ordering::SeqCst), 1);
            assert!(payments.all().is_empty());
        }
    }

    #[tokio::test]
    async fn an_unreadable_store_is_retried_before_any_charge() {
        let gateway = Arc::new(FailingGateway { invalid: false, calls: AtomicUsize::new(0) });
        let handler = BillingHandler::new(gateway.clone(), Arc::new(ScriptedStore { winner: None }));
        let error = handler.handle(&placed()).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert_eq!(gateway.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn losing_the_write_to_another_event_is_not_an_error() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let winner = Payment {
            order_id: Uuid::now_v7(),
            status: PaymentStatus::Captured,
            amount: Money::new(3998, "EUR".parse().unwrap()),
            event_id: Uuid::now_v7(),
            gateway_reference: "sim_ch_other".into(),
            decline_reason: None,
            created_at: clock.now(),
        };
        let handler = BillingHandler::new(
            Arc::new(SimulatedGateway::new(100_000)),
            Arc::new(ScriptedStore { winner: Some(winner) }),
        )
        .with_clock(clock);
        handler.handle(&placed()).await.unwrap();
    }

    #[tokio::test]
    async fn the_record_is_stamped_by_the_handler_clock() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let payments = Arc::new(InMemoryPaymentsStore::new());
        let handler =
            BillingHandler::new(Arc::new(SimulatedGateway::new(100_000)), payments.clone()).with_clock(clock.clone());
        handler.handle(&placed()).await.unwrap();
        let recorded = payments.all();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].created_at, clock.now());
    }
}
