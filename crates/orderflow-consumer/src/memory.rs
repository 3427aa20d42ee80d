//! An in-memory [`IdempotencyStore`] with the same conditional semantics as the DynamoDB one,
//! for tests and the benchmark (feature `testing`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::idempotency::{BeginOutcome, IdempotencyError, IdempotencyStore, RecordStatus, StoredRecord};

/// IdempotencyTable in memory.
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, StoredRecord>>,
}

impl InMemoryIdempotencyStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<StoredRecord> {
        self.lock().get(key).cloned()
    }

    /// Stores a record as is: for tests that stage a crashed attempt.
    pub fn insert(&self, key: &str, record: StoredRecord) {
        self.lock().insert(key.to_owned(), record);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredRecord>> {
        // A panic while holding the lock cannot leave a half-written map entry behind.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn begin(
        &self,
        key: &str,
        now: i64,
        in_progress_until: i64,
        expires_at: i64,
    ) -> Result<BeginOutcome, IdempotencyError> {
        let mut records = self.lock();
        let outcome = match records.get(key) {
            None => BeginOutcome::Acquired,
            Some(record) => match record.status {
                RecordStatus::Completed => BeginOutcome::AlreadyCompleted,
                RecordStatus::InProgress if record.in_progress_until < now => BeginOutcome::Acquired,
                RecordStatus::InProgress => BeginOutcome::InProgressElsewhere,
            },
        };
        if outcome == BeginOutcome::Acquired {
            records.insert(
                key.to_owned(),
                StoredRecord { status: RecordStatus::InProgress, in_progress_until, expires_at },
            );
        }
        Ok(outcome)
    }

    async fn complete(&self, key: &str, _completed_at_ms: i64, expires_at: i64) -> Result<(), IdempotencyError> {
        let completed = StoredRecord { status: RecordStatus::Completed, in_progress_until: 0, expires_at };
        let mut records = self.lock();
        // Overwrite in place when claimed (the usual case): no second allocation of the key.
        match records.get_mut(key) {
            Some(record) => *record = completed,
            None => {
                records.insert(key.to_owned(), completed);
            }
        }
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let mut records = self.lock();
        if records.get(key).is_some_and(|record| record.status == RecordStatus::InProgress) {
            records.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_once_then_reports_duplicates() {
        let store = InMemoryIdempotencyStore::new();
        assert_eq!(store.begin("c#1", 100, 160, 1000).await.unwrap(), BeginOutcome::Acquired);
        assert_eq!(store.begin("c#1", 110, 170, 1000).await.unwrap(), BeginOutcome::InProgressElsewhere);
        store.complete("c#1", 120_000, 2000).await.unwrap();
        assert_eq!(store.begin("c#1", 130, 190, 1000).await.unwrap(), BeginOutcome::AlreadyCompleted);
        store.release("c#1").await.unwrap();
        assert_eq!(store.get("c#1").map(|r| r.status), Some(RecordStatus::Completed), "release keeps COMPLETED");
    }

    #[tokio::test]
    async fn an_expired_claim_is_taken_over_and_a_released_one_is_free() {
        let store = InMemoryIdempotencyStore::new();
        store.begin("c#1", 100, 160, 1000).await.unwrap();
        assert_eq!(store.begin("c#1", 160, 220, 1000).await.unwrap(), BeginOutcome::InProgressElsewhere);
        assert_eq!(store.begin("c#1", 161, 221, 1000).await.unwrap(), BeginOutcome::Acquired);
        store.release("c#1").await.unwrap();
        assert!(store.is_empty());
    }
}
