//! An in-memory points ledger (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::domain::{Account, AddOutcome, Award};
use crate::ports::{LedgerError, PointsLedger};

/// An in-memory [`PointsLedger`] with the semantics of the DynamoDB one: an add is applied
/// unless the account's last event is the award's.
#[derive(Debug, Default)]
pub struct InMemoryPointsLedger {
    accounts: Mutex<HashMap<String, Account>>,
}

impl InMemoryPointsLedger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, customer_id: &str) -> Option<Account> {
        self.lock().get(customer_id).cloned()
    }

    pub fn all(&self) -> Vec<Account> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        // A panicking test thread must not hide the accounts from the other assertions.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PointsLedger for InMemoryPointsLedger {
    async fn find(&self, customer_id: &str) -> Result<Option<Account>, LedgerError> {
        Ok(self.get(customer_id))
    }

    async fn add(&self, award: &Award) -> Result<AddOutcome, LedgerError> {
        let mut accounts = self.lock();
        let account = accounts.entry(award.customer_id.clone()).or_insert_with(|| Account {
            customer_id: award.customer_id.clone(),
            points: 0,
            orders: 0,
            last_order_id: None,
            last_event_id: None,
        });
        if account.last_event_id == Some(award.event_id) {
            return Ok(AddOutcome::AlreadyApplied);
        }
        account.points += award.points;
        account.orders += 1;
        account.last_order_id = Some(award.order_id);
        account.last_event_id = Some(award.event_id);
        Ok(AddOutcome::Added(account.clone()))
    }
}
