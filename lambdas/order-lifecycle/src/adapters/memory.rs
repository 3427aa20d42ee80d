//! An in-memory lifecycle store (tests only: feature `testing`) on the order API's in-memory
//! tables, so a test can place an order through the API and settle it here.

use std::sync::Arc;

use async_trait::async_trait;
use order_api::adapters::memory::InMemoryStore;
use order_api::record::OrderRecord;
use orderflow_outbox::adapters::memory::InMemoryOutbox;
use uuid::Uuid;

use crate::ports::{LifecycleError, OrderLifecycleStore, SaveOutcome, Transition};

/// The port over [`InMemoryStore`]: its lock makes each save atomic, like the transaction, and
/// its version check stands in for the condition expression.
#[derive(Clone, Default)]
pub struct InMemoryLifecycleStore {
    orders: Arc<InMemoryStore>,
}

impl InMemoryLifecycleStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// On the tables an order API harness writes to.
    pub fn on(orders: Arc<InMemoryStore>) -> Self {
        InMemoryLifecycleStore { orders }
    }

    pub fn orders(&self) -> &Arc<InMemoryStore> {
        &self.orders
    }

    /// The outbox the settlements are written to (for the announcer and assertions).
    pub fn outbox(&self) -> Arc<InMemoryOutbox> {
        self.orders.outbox()
    }

    pub fn record(&self, order_id: Uuid) -> Option<OrderRecord> {
        self.orders.record(order_id).ok().flatten()
    }
}

#[async_trait]
impl OrderLifecycleStore for InMemoryLifecycleStore {
    async fn load(&self, order_id: Uuid) -> Result<Option<OrderRecord>, LifecycleError> {
        let record = self.orders.record(order_id)?;
        // Lets concurrent handlers interleave between the read and the write, as two Lambda
        // invocations do, so the tests exercise the version check.
        tokio::task::yield_now().await;
        Ok(record)
    }

    async fn save(&self, transition: &Transition) -> Result<SaveOutcome, LifecycleError> {
        let saved = self.orders.replace_if_version(
            transition.expected_version,
            &transition.next,
            transition.announcement.as_ref(),
        )?;
        Ok(if saved { SaveOutcome::Saved } else { SaveOutcome::Conflict })
    }
}
