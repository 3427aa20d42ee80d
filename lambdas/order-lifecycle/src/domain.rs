//! The lifecycle's handler: turn an outcome event into a decision of the state machine
//! (`order_api::lifecycle`) and write it conditionally, settling each order exactly once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use order_api::lifecycle::{Decision, Outcome, Settlement, Unchanged, decide};
use order_api::ports::{IdSource, StoreError, UuidV7Ids};
use order_api::record::OrderRecord;
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{CloudEvent, EventData, ORDER_SERVICE_SOURCE, OrderCancelledV1, OrderConfirmedV1, OrderEvent};
use orderflow_kit::{Clock, SystemClock};
use orderflow_outbox::{Announcer, OutboxEntry};
use serde::Serialize;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::ports::{LifecycleError, OrderLifecycleStore, SaveOutcome, Transition};

/// Default of `SETTLE_TIMEOUT_SECONDS`: 15 minutes, also the longest SQS delay of the timer queue.
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(900);
/// Read-decide-write rounds before a conflict is left to a redelivery. Only outcomes of the
/// same order race (at most three: stock, payment, timer), so a few rounds always suffice.
pub const MAX_ATTEMPTS: u32 = 5;

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: LifecycleError) -> HandlerError {
    match error {
        // The table may answer next time; a racing writer will have finished; the deadline
        // will have come when the message is visible again.
        LifecycleError::Store(StoreError::Request(_) | StoreError::Unavailable(_))
        | LifecycleError::Cancelled(_)
        | LifecycleError::KeptConflicting { .. }
        | LifecycleError::NotYetDue { .. } => HandlerError::transient(error),
        // The same row or the same request will be refused on every delivery: the message
        // belongs in the DLQ, where someone looks at it.
        LifecycleError::Store(StoreError::Build(_) | StoreError::Malformed(_)) | LifecycleError::Event(_) => {
            HandlerError::permanent(error)
        }
    }
}

/// What the incoming event carries on to the settlement event.
struct Cause<'a> {
    event_type: &'a str,
    correlation_id: Option<&'a str>,
    traceparent: Option<&'a str>,
}

/// The incoming event as the state machine sees it; the deadline is judged against the row.
#[derive(Debug, Clone, Copy)]
enum Incoming {
    Outcome(Outcome),
    Timer,
}

/// The consumer: settles orders from StockReserved / StockRejected / PaymentAuthorized /
/// PaymentDeclined, and cancels the ones still PLACED when their (delayed) OrderPlaced comes back
/// after the settle timeout.
pub struct LifecycleHandler {
    store: Arc<dyn OrderLifecycleStore>,
    announcer: Announcer,
    settle_timeout: TimeDelta,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl LifecycleHandler {
    /// A handler on the wall clock, with UUID v7 event ids.
    pub fn new(store: Arc<dyn OrderLifecycleStore>, announcer: Announcer, settle_timeout: Duration) -> Self {
        LifecycleHandler {
            store,
            announcer,
            settle_timeout: TimeDelta::from_std(settle_timeout).unwrap_or(TimeDelta::MAX),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Ids),
        }
    }

    /// The time source of deadlines, `settledAt` and event times.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The source of the settlement events' ids.
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// When the order's settle timer is due.
    pub fn deadline(&self, record: &OrderRecord) -> DateTime<Utc> {
        record.order.placed_at.checked_add_signed(self.settle_timeout).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    async fn apply(&self, order_id: Uuid, incoming: Incoming, cause: &Cause<'_>) -> Result<(), LifecycleError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let Some(record) = self.store.load(order_id).await? else {
                // Logged once: the message is processed (not retried), so it is not seen again.
                warn!(event_type = cause.event_type, "event for an unknown order; nothing changed");
                return Ok(());
            };
            let now = self.clock.now();
            let outcome = match incoming {
                Incoming::Outcome(outcome) => outcome,
                Incoming::Timer => Outcome::Deadline { due: now >= self.deadline(&record) },
            };
            let (state, settlement) = match decide(record.state(), outcome) {
                Decision::Unchanged(why) => {
                    log_unchanged(why, cause);
                    return Ok(());
                }
                Decision::NotYetDue => return Err(LifecycleError::NotYetDue { due_at: self.deadline(&record) }),
                Decision::Record(state) => (state, None),
                Decision::Settle(state, settlement) => (state, Some(settlement)),
            };
            let next = record.with_state(state, now);
            let announcement =
                settlement.map(|settlement| self.announcement(&next, settlement, cause, now)).transpose()?;
            let transition = Transition { expected_version: record.bookkeeping.version, next, announcement };
            match self.store.save(&transition).await? {
                SaveOutcome::Saved => {
                    match (settlement, &transition.announcement) {
                        (Some(settlement), Some(entry)) => {
                            info!(
                                status = transition.next.order.status.as_str(),
                                reason = transition.next.order.status_reason.map(|reason| reason.as_str()),
                                event_id = %entry.event_id,
                                cause = cause.event_type,
                                ?settlement,
                                "order settled"
                            );
                            self.announcer.announce(entry).await;
                        }
                        _ => info!(?outcome, "outcome recorded; the order waits for the other one"),
                    }
                    return Ok(());
                }
                SaveOutcome::Conflict => {
                    debug!(attempt, "the order row changed under us; reloading");
                    if attempt < MAX_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                    }
                }
            }
        }
        Err(LifecycleError::KeptConflicting { attempts: MAX_ATTEMPTS })
    }

    /// The OrderConfirmed / OrderCancelled outbox entry for the settled row.
    fn announcement(
        &self,
        record: &OrderRecord,
        settlement: Settlement,
        cause: &Cause<'_>,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, LifecycleError> {
        let order = &record.order;
        let entry = match settlement {
            Settlement::Confirmed => {
                let data = OrderConfirmedV1::new(
                    order.order_id,
                    order.customer.clone(),
                    order.line_items(),
                    order.total_money(),
                    order.shipping_address.clone(),
                )
                .map_err(LifecycleError::Event)?;
                self.entry(data, cause, now)
            }
            Settlement::Cancelled(reason) => {
                let data = OrderCancelledV1::new(order.order_id, reason, order.customer.clone(), order.total_money())
                    .map_err(LifecycleError::Event)?;
                self.entry(data, cause, now)
            }
        };
        Ok(entry)
    }

    fn entry<D: EventData + Serialize>(&self, data: D, cause: &Cause<'_>, now: DateTime<Utc>) -> OutboxEntry {
        let mut event = CloudEvent::new(self.ids.new_id(), ORDER_SERVICE_SOURCE, now, data);
        if let Some(correlation_id) = cause.correlation_id {
            event = event.with_correlation_id(correlation_id);
        }
        if let Some(traceparent) = cause.traceparent {
            event = event.with_traceparent(traceparent);
        }
        OutboxEntry::for_event(&event, now)
    }
}

fn log_unchanged(why: Unchanged, cause: &Cause<'_>) {
    match why {
        Unchanged::AlreadySettled(status) => {
            info!(status = status.as_str(), event_type = cause.event_type, "order already settled; nothing changed")
        }
        Unchanged::Duplicate => info!(event_type = cause.event_type, "outcome already recorded; nothing changed"),
        Unchanged::Contradicts => warn!(
            event_type = cause.event_type,
            "outcome contradicts the one recorded for the order; the first one stands"
        ),
    }
}

/// Which events mean what to the lifecycle.
fn incoming(event: &OrderEvent) -> Option<Incoming> {
    Some(match event {
        OrderEvent::StockReservedV1(_) => Incoming::Outcome(Outcome::StockReserved),
        OrderEvent::StockRejectedV1(rejected) => Incoming::Outcome(Outcome::StockRejected(rejected.data().reason())),
        OrderEvent::PaymentAuthorizedV1(_) => Incoming::Outcome(Outcome::PaymentAuthorized),
        OrderEvent::PaymentDeclinedV1(_) => Incoming::Outcome(Outcome::PaymentDeclined),
        // Only the timer queue delivers OrderPlaced here, after the settle timeout.
        OrderEvent::OrderPlacedV1(_) => Incoming::Timer,
        // The settlements are this service's own; events added to the contract later are not
        // this consumer's business.
        _ => return None,
    })
}

#[async_trait]
impl EventHandler for LifecycleHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        let Some(incoming) = incoming(event) else {
            info!(event_type = event.event_type(), "event type ignored by the order lifecycle");
            return Ok(());
        };
        let cause = Cause {
            event_type: event.event_type(),
            correlation_id: event.correlation_id(),
            traceparent: event.traceparent(),
        };
        self.apply(event.order_id(), incoming, &cause).await.map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use orderflow_events::InvalidEvent;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;

    #[test]
    fn every_error_has_its_kind() {
        let failed = RequestFailed::new("TransactWriteItems", std::io::Error::other("connection reset"));
        let build = aws_sdk_dynamodb::types::Update::builder().build().unwrap_err();
        let cases: Vec<(LifecycleError, bool)> = vec![
            (StoreError::from(failed).into(), false),
            (StoreError::Unavailable("injected").into(), false),
            (LifecycleError::Cancelled(vec!["ThrottlingError".into(), "None".into()]), false),
            (LifecycleError::KeptConflicting { attempts: MAX_ATTEMPTS }, false),
            (LifecycleError::NotYetDue { due_at: DateTime::<Utc>::UNIX_EPOCH }, false),
            (StoreError::from(build).into(), true),
            (StoreError::from(MalformedItem::new("status", "is missing")).into(), true),
            (LifecycleError::Event(InvalidEvent::EmptyCustomerEmail), true),
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
        let error: LifecycleError = StoreError::from(RequestFailed::new("GetItem", std::io::Error::other("x"))).into();
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|text| text.contains("GetItem")), "{error}");
    }
}
