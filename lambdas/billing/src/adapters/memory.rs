//! An in-memory payments store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::RequestFailed;
use orderflow_outbox::OutboxEntry;
use orderflow_outbox::adapters::memory::InMemoryOutbox;
use uuid::Uuid;

use crate::domain::{Payment, RecordOutcome, SettleOutcome, Settlement};
use crate::ports::{PaymentsError, PaymentsStore};

/// An in-memory [`PaymentsStore`] with the semantics of the DynamoDB one: conditional puts,
/// the outcome and its outbox entry written together or not at all, settlement only from
/// AUTHORIZED. The outbox is an [`InMemoryOutbox`], so tests can give the same one to the
/// handler's announcer and assert what was announced (and published).
#[derive(Default)]
pub struct InMemoryPaymentsStore {
    payments: Mutex<HashMap<Uuid, Payment>>,
    outbox: Arc<InMemoryOutbox>,
    failing: AtomicBool,
}

impl InMemoryPaymentsStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The outbox the outcomes' entries are written to.
    pub fn outbox(&self) -> Arc<InMemoryOutbox> {
        Arc::clone(&self.outbox)
    }

    pub fn all(&self) -> Vec<Payment> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, order_id: Uuid) -> Option<Payment> {
        self.lock().get(&order_id).cloned()
    }

    /// Makes every later call fail like an unreachable table.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self, operation: &'static str) -> Result<(), PaymentsError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(RequestFailed::new(operation, std::io::Error::other("injected failure")).into())
        } else {
            Ok(())
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Payment>> {
        // A panicking test thread must not hide the payments from the other assertions.
        self.payments.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl PaymentsStore for InMemoryPaymentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
        self.check("GetItem")?;
        Ok(self.get(order_id))
    }

    async fn record_outcome(
        &self,
        payment: &Payment,
        announcement: &OutboxEntry,
    ) -> Result<RecordOutcome, PaymentsError> {
        self.check("TransactWriteItems")?;
        // Both writes under the payments lock: the stand-in for the one transaction.
        let mut payments = self.lock();
        if let Some(existing) = payments.get(&payment.order_id) {
            return Ok(RecordOutcome::AlreadyRecorded(existing.clone()));
        }
        if !self.outbox.insert_pending(announcement) {
            // The outbox put's condition failed (an event id taken): DynamoDB cancels it all.
            return Err(PaymentsError::Contended { order_id: payment.order_id });
        }
        payments.insert(payment.order_id, payment.clone());
        Ok(RecordOutcome::Recorded)
    }

    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
        self.check("PutItem")?;
        let mut payments = self.lock();
        if let Some(existing) = payments.get(&payment.order_id) {
            return Ok(RecordOutcome::AlreadyRecorded(existing.clone()));
        }
        payments.insert(payment.order_id, payment.clone());
        Ok(RecordOutcome::Recorded)
    }

    async fn settle(
        &self,
        order_id: Uuid,
        settlement: Settlement,
        at: DateTime<Utc>,
    ) -> Result<SettleOutcome, PaymentsError> {
        self.check("UpdateItem")?;
        let mut payments = self.lock();
        let current = payments.get(&order_id).ok_or(PaymentsError::Vanished { order_id })?;
        match current.settled(settlement, at) {
            Some(settled) => {
                payments.insert(order_id, settled.clone());
                Ok(SettleOutcome::Settled(settled))
            }
            None => Ok(SettleOutcome::NotAuthorized(current.clone())),
        }
    }
}
