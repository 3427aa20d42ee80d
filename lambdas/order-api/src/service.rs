//! The application service: places an order (one atomic write of order, idempotency record and
//! outbox entry, then a best-effort publish) and reads one back. Knows the ports, not HTTP.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use orderflow_kit::Clock;
use orderflow_outbox::{Announcer, EventPublisher, MetricSink, OutboxEntry, OutboxStore};
use tracing::info;
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order, ValidOrderRequest};
use crate::ports::{
    CommitOutcome, EventHistory, EventHistoryError, EventSummary, IdSource, IdempotencyRecord, OrderStore, Placement,
    StoreError, StoredResponse,
};

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: TimeDelta = TimeDelta::hours(24);
/// The `Service` dimension of the API's metrics (`OutboxPublishDeferred`); alarms name it.
pub const METRICS_SERVICE: &str = "order-api";
/// Attempts at the transaction when concurrent same-key requests keep conflicting.
const COMMIT_ATTEMPTS: u32 = 5;

/// The ports the service runs on.
#[derive(Clone)]
pub struct Dependencies {
    pub store: Arc<dyn OrderStore>,
    /// Marks the entry published after the API's own publish; the relay uses it for the rest.
    pub outbox: Arc<dyn OutboxStore>,
    pub publisher: Arc<dyn EventPublisher>,
    /// Where `OutboxPublishDeferred` goes when the publish after the commit fails.
    pub metrics: Arc<dyn MetricSink>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// The event store, for an order's history.
    pub events: Arc<dyn EventHistory>,
}

/// What the caller asked for, beyond the order itself.
pub struct PlaceOrder<'a> {
    pub request: ValidOrderRequest,
    /// `Some` when the client sent an `Idempotency-Key`.
    pub idempotency: Option<(IdempotencyKey, String)>,
    pub correlation_id: &'a str,
    pub traceparent: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order was stored (and, unless SNS failed, published).
    Created(StoredResponse),
    /// The key was seen before with the same body: the first response again.
    Replayed(StoredResponse),
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("the idempotency key was already used with a different request")]
    KeyReusedWithDifferentRequest,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every attempt lost a race (an order id collision, a transaction conflict).
    #[error("the order write kept conflicting after {0} attempts")]
    KeptConflicting(u32),
    #[error("could not build the event")]
    Event(#[source] orderflow_events::InvalidEvent),
}

/// Why an order's history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Orders(#[from] StoreError),
    #[error(transparent)]
    Events(#[from] EventHistoryError),
}

pub struct OrderService {
    deps: Dependencies,
}

impl OrderService {
    pub fn new(deps: Dependencies) -> Self {
        OrderService { deps }
    }

    pub async fn find_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        self.deps.store.find_order(order_id).await
    }

    /// The order's events in time order; `None` when there is no such order (an order whose
    /// events the store has not received yet has an empty history).
    pub async fn order_events(&self, order_id: Uuid) -> Result<Option<Vec<EventSummary>>, HistoryError> {
        if self.deps.store.find_order(order_id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.deps.events.events_of(order_id).await?))
    }

    pub async fn place_order(&self, command: PlaceOrder<'_>) -> Result<Placed, PlaceOrderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Built afresh on each attempt: a losing attempt wrote nothing, so its ids are unused.
            let placement = self.placement(&command)?;
            let now = self.deps.clock.now();
            match self.deps.store.commit_placement(&placement, now).await? {
                CommitOutcome::Committed => {
                    info!(order_id = %placement.order.order_id, event_id = %placement.outbox.event_id, "order placed");
                    self.publish(&placement.outbox).await;
                    let response = match placement.idempotency {
                        Some(record) => record.response,
                        None => response_for(&placement.order),
                    };
                    return Ok(Placed::Created(response));
                }
                CommitOutcome::IdempotencyKeyTaken | CommitOutcome::Contended => {
                    let Some((key, request_hash)) = &command.idempotency else {
                        // Without a key only an order id collision can fail the condition: a
                        // fresh id on the next attempt settles it.
                        if attempt >= COMMIT_ATTEMPTS {
                            return Err(PlaceOrderError::KeptConflicting(attempt));
                        }
                        continue;
                    };
                    // Strongly consistent: sees the record the winning request committed.
                    if let Some(record) = self.deps.store.find_idempotency_record(key).await?
                        && record.is_live(self.deps.clock.now())
                    {
                        if &record.request_hash != request_hash {
                            return Err(PlaceOrderError::KeyReusedWithDifferentRequest);
                        }
                        info!(idempotency_key = key.as_str(), "replaying the stored response");
                        return Ok(Placed::Replayed(record.response));
                    }
                    // The winner has not committed yet (a transaction conflict), or its record
                    // just expired: try again shortly.
                    if attempt >= COMMIT_ATTEMPTS {
                        return Err(PlaceOrderError::KeptConflicting(attempt));
                    }
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
            }
        }
    }

    fn placement(&self, command: &PlaceOrder<'_>) -> Result<Placement, PlaceOrderError> {
        let now = self.deps.clock.now();
        let order = Order::place(command.request.clone(), self.deps.ids.new_id(), now);
        let mut event = order
            .to_event(self.deps.ids.new_id())
            .map_err(PlaceOrderError::Event)?
            .with_correlation_id(command.correlation_id);
        if let Some(traceparent) = command.traceparent {
            event = event.with_traceparent(traceparent);
        }
        let outbox = OutboxEntry::for_event(&event, order.placed_at);
        // The response is fully known before the write, so the record is stored complete, in the
        // same transaction: there is no in-progress state for a crash to leave behind.
        let idempotency = command.idempotency.as_ref().map(|(key, request_hash)| IdempotencyRecord {
            key: key.clone(),
            request_hash: request_hash.clone(),
            response: response_for(&order),
            expires_at: now + IDEMPOTENCY_TTL,
        });
        Ok(Placement { order, idempotency, outbox })
    }

    /// Publishes after the commit. A failure only delays the event: the entry stays pending and
    /// the relay publishes it after its grace period, with the same event id. The order is
    /// committed, so the 201 stands; but the failure is an error log with the event id and the
    /// metric `OutboxPublishDeferred`, so a stuck topic is seen at once, not when the relay's
    /// backlog has aged.
    async fn publish(&self, entry: &OutboxEntry) {
        Announcer::new(Arc::clone(&self.deps.outbox), Arc::clone(&self.deps.publisher), Arc::clone(&self.deps.clock))
            .reporting_deferrals(METRICS_SERVICE, Arc::clone(&self.deps.metrics))
            .announce(entry)
            .await;
    }
}

fn response_for(order: &Order) -> StoredResponse {
    StoredResponse { status: 201, body: order.to_json(), location: order.location() }
}
