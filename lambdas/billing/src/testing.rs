//! Builders and doubles for billing's tests (feature `testing`, never in a release binary).
// Test builders: a bad input is a bug in the test, so they fail loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use orderflow_events::{
    CancellationReason, Money, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1, OrderConfirmedEvent,
    OrderConfirmedV1, OrderPlacedEvent,
};
use orderflow_kit::Clock;
use orderflow_outbox::Announcer;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use uuid::Uuid;

use crate::adapters::{InMemoryPaymentsStore, SimulatedGateway};
use crate::domain::{Authorization, BillingHandler};
use crate::ports::{GatewayError, PaymentGateway};

/// The OrderConfirmed the order service publishes for `placed`, with a fresh id.
pub fn confirmed_for(placed: &OrderPlacedEvent) -> OrderConfirmedEvent {
    OrderConfirmedEvent::new(
        Uuid::now_v7(),
        ORDER_SERVICE_SOURCE,
        Utc::now(),
        OrderConfirmedV1::for_order(placed.data()),
    )
    .with_correlation_id("req-test")
}

/// The OrderCancelled the order service publishes for `placed`, with a fresh id.
pub fn cancelled_for(placed: &OrderPlacedEvent, reason: CancellationReason) -> OrderCancelledEvent {
    let order = placed.data();
    let data = OrderCancelledV1::new(order.order_id(), reason, order.customer().clone(), order.total())
        .expect("test cancellation");
    OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data).with_correlation_id("req-test")
}

/// The simulated gateway counting its calls, optionally slowed down so that concurrent
/// attempts overlap.
#[derive(Default)]
pub struct CountingGateway {
    inner: SimulatedGateway,
    delay: Option<Duration>,
    authorizations: AtomicUsize,
    captures: AtomicUsize,
    voids: AtomicUsize,
}

impl CountingGateway {
    pub fn new(decline_above: u64) -> Self {
        CountingGateway { inner: SimulatedGateway::new(decline_above), ..Self::default() }
    }

    pub fn slowed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn authorizations(&self) -> usize {
        self.authorizations.load(Ordering::SeqCst)
    }

    pub fn captures(&self) -> usize {
        self.captures.load(Ordering::SeqCst)
    }

    pub fn voids(&self) -> usize {
        self.voids.load(Ordering::SeqCst)
    }

    async fn pause(&self) {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
    }
}

#[async_trait]
impl PaymentGateway for CountingGateway {
    async fn authorize(&self, order_id: Uuid, amount: Money) -> Result<Authorization, GatewayError> {
        self.authorizations.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        self.inner.authorize(order_id, amount).await
    }

    async fn capture(&self, authorization_id: &str) -> Result<(), GatewayError> {
        self.captures.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        self.inner.capture(authorization_id).await
    }

    async fn void(&self, authorization_id: &str) -> Result<(), GatewayError> {
        self.voids.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        self.inner.void(authorization_id).await
    }
}

/// A handler on in-memory adapters, and those adapters for the assertions.
pub struct Billing {
    pub gateway: Arc<CountingGateway>,
    pub payments: Arc<InMemoryPaymentsStore>,
    pub publisher: Arc<RecordingPublisher>,
    pub clock: Arc<dyn Clock>,
}

impl Billing {
    pub fn new(gateway: CountingGateway, clock: Arc<dyn Clock>) -> Self {
        Billing {
            gateway: Arc::new(gateway),
            payments: Arc::new(InMemoryPaymentsStore::new()),
            publisher: Arc::new(RecordingPublisher::new()),
            clock,
        }
    }

    /// A handler sharing these adapters (several of them stand for concurrent invocations).
    pub fn handler(&self) -> BillingHandler {
        let announcer = Announcer::new(self.payments.outbox(), self.publisher.clone(), self.clock.clone());
        BillingHandler::new(self.gateway.clone(), self.payments.clone(), announcer).with_clock(self.clock.clone())
    }
}
