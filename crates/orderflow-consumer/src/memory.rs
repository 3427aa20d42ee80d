//! An in-memory [`IdempotencyStore`] with the same conditional semantics as the DynamoDB one,
//! for tests and the benchmark (feature `testing`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::idempotency::{
    BeginOutcome, Claim, CompleteOutcome, IdempotencyError, IdempotencyStore, RecordStatus, StoredRecord,
};

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
    async fn begin(&self, claim: &Claim<'_>) -> Result<BeginOutcome, IdempotencyError> {
        let mut records = self.lock();
        let outcome = match records.get(claim.key) {
            None => BeginOutcome::Acquired,
            Some(record) => match record.status {
                RecordStatus::Completed => BeginOutcome::AlreadyCompleted,
                RecordStatus::InProgress if record.blocks_at(claim.now_ms) => BeginOutcome::InProgressElsewhere,
                RecordStatus::InProgress => BeginOutcome::Acquired,
            },
        };
        if outcome == BeginOutcome::Acquired {
            records
                .insert(claim.key.to_owned(), StoredRecord::in_progress(claim.owner, claim.until_ms, claim.expires_at));
        }
        Ok(outcome)
    }

    async fn complete(
        &self,
        key: &str,
        owner: &str,
        _completed_at_ms: i64,
        expires_at: i64,
    ) -> Result<CompleteOutcome, IdempotencyError> {
        let completed =
            StoredRecord { status: RecordStatus::Completed, in_progress_until_ms: 0, owner: None, expires_at };
        let mut records = self.lock();
        match records.get_mut(key) {
            // Overwrite in place when claimed (the usual case): no second allocation of the key.
            Some(record) if record.status == RecordStatus::InProgress && record.owner.as_deref() == Some(owner) => {
                *record = completed;
                Ok(CompleteOutcome::Completed)
            }
            Some(record) if record.status == RecordStatus::Completed => Ok(CompleteOutcome::AlreadyCompleted),
            Some(_) => Ok(CompleteOutcome::HeldByOther),
            None => {
                records.insert(key.to_owned(), completed);
                Ok(CompleteOutcome::Completed)
            }
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<bool, IdempotencyError> {
        let mut records = self.lock();
        let ours = records
            .get(key)
            .is_some_and(|record| record.status == RecordStatus::InProgress && record.owner.as_deref() == Some(owner));
        if ours {
            records.remove(key);
        }
        Ok(ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim<'a>(key: &'a str, owner: &'a str, now_ms: i64, until_ms: i64) -> Claim<'a> {
        Claim { key, owner, now_ms, until_ms, expires_at: 1_000_000 }
    }

    #[tokio::test]
    async fn claims_once_then_reports_duplicates() {
        let store = InMemoryIdempotencyStore::new();
        assert_eq!(store.begin(&claim("c#1", "a", 100_000, 160_000)).await.unwrap(), BeginOutcome::Acquired);
        assert_eq!(store.begin(&claim("c#1", "b", 110_000, 170_000)).await.unwrap(), BeginOutcome::InProgressElsewhere);
        assert_eq!(store.complete("c#1", "a", 120_000, 2000).await.unwrap(), CompleteOutcome::Completed);
        assert_eq!(store.begin(&claim("c#1", "b", 130_000, 190_000)).await.unwrap(), BeginOutcome::AlreadyCompleted);
        assert!(!store.release("c#1", "a").await.unwrap());
        assert_eq!(store.get("c#1").map(|r| r.status), Some(RecordStatus::Completed), "release keeps COMPLETED");
        assert_eq!(store.complete("c#1", "b", 140_000, 2000).await.unwrap(), CompleteOutcome::AlreadyCompleted);
    }

    #[tokio::test]
    async fn a_claim_runs_out_at_its_millisecond_and_a_released_one_is_free() {
        let store = InMemoryIdempotencyStore::new();
        store.begin(&claim("c#1", "a", 100_000, 160_500)).await.unwrap();
        assert_eq!(store.begin(&claim("c#1", "b", 160_499, 220_000)).await.unwrap(), BeginOutcome::InProgressElsewhere);
        assert_eq!(store.begin(&claim("c#1", "b", 160_500, 220_000)).await.unwrap(), BeginOutcome::Acquired);
        assert!(store.release("c#1", "b").await.unwrap());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn only_the_owner_releases_or_completes_a_claim() {
        let store = InMemoryIdempotencyStore::new();
        store.begin(&claim("c#1", "a", 100_000, 101_000)).await.unwrap();
        // a's claim ran out; b took over.
        assert_eq!(store.begin(&claim("c#1", "b", 101_000, 111_000)).await.unwrap(), BeginOutcome::Acquired);
        assert!(!store.release("c#1", "a").await.unwrap(), "a must not delete b's claim");
        assert_eq!(store.get("c#1").and_then(|r| r.owner), Some("b".to_owned()));
        assert_eq!(store.complete("c#1", "a", 102_000, 2000).await.unwrap(), CompleteOutcome::HeldByOther);
        assert_eq!(store.get("c#1").map(|r| r.status), Some(RecordStatus::InProgress), "b's claim stands");
        assert_eq!(store.complete("c#1", "b", 103_000, 2000).await.unwrap(), CompleteOutcome::Completed);
    }
}
