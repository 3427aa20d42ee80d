//! An in-memory payments store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{Payment, RecordOutcome};
use crate::ports::{PaymentsError, PaymentsStore};

/// An in-memory [`PaymentsStore`] with the conditional-put semantics of the DynamoDB one.
#[derive(Debug, Default)]
pub struct InMemoryPaymentsStore {
    payments: Mutex<HashMap<Uuid, Payment>>,
}

impl InMemoryPaymentsStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn all(&self) -> Vec<Payment> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Payment>> {
        // A panicking test thread must not hide the payments from the other assertions.
        self.payments.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl PaymentsStore for InMemoryPaymentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
        Ok(self.lock().get(&order_id).cloned())
    }

    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
        let mut payments = self.lock();
        if let Some(existing) = payments.get(&payment.order_id) {
            return Ok(RecordOutcome::AlreadyRecorded(existing.clone()));
        }
        payments.insert(payment.order_id, payment.clone());
        Ok(RecordOutcome::Recorded)
    }
}
