use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// The state of an idempotency record (`status` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// A worker is applying the event; it owns the record until `inProgressUntil`.
    InProgress,
    /// The event's effect has happened; a redelivery is a duplicate.
    Completed,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::InProgress => "IN_PROGRESS",
            RecordStatus::Completed => "COMPLETED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "IN_PROGRESS" => Some(RecordStatus::InProgress),
            "COMPLETED" => Some(RecordStatus::Completed),
            _ => None,
        }
    }
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginOutcome {
    /// The caller now owns the record (it was absent, or its owner's time ran out): go ahead.
    Acquired,
    /// The event was applied before: skip it and report success.
    AlreadyCompleted,
    /// Another worker is applying it right now: report failure so SQS redelivers it later, by
    /// when the other worker has completed (a duplicate then) or released it (a retry then).
    InProgressElsewhere,
}

/// A record as stored, for adapters and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub status: RecordStatus,
    /// Epoch seconds; meaningful while IN_PROGRESS.
    pub in_progress_until: i64,
    /// Epoch seconds; the table's TTL attribute.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("idempotency store request failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("idempotency record {key:?} is malformed: {reason}")]
    Malformed { key: String, reason: String },
}

/// The idempotency port: one record per `<consumer>#<eventId>` key.
///
/// Times are passed in (epoch seconds) rather than read from a clock, so adapters stay free of
/// policy and tests can drive expiry.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key`: creates an IN_PROGRESS record owned until `in_progress_until`, or takes over
    /// one whose owner's time ran out before `now`.
    async fn begin(
        &self,
        key: &str,
        now: i64,
        in_progress_until: i64,
        expires_at: i64,
    ) -> Result<BeginOutcome, IdempotencyError>;

    /// Marks `key` COMPLETED, kept until `expires_at`.
    async fn complete(&self, key: &str, now: i64, expires_at: i64) -> Result<(), IdempotencyError>;

    /// Gives up a claim after a failed attempt, so the retry proceeds at once instead of waiting
    /// for the claim to expire. Never deletes a COMPLETED record.
    async fn release(&self, key: &str) -> Result<(), IdempotencyError>;
}

/// An in-memory [`IdempotencyStore`] with the same conditional semantics as the DynamoDB one: for
/// tests and the benchmark.
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

    async fn complete(&self, key: &str, _now: i64, expires_at: i64) -> Result<(), IdempotencyError> {
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
        store.complete("c#1", 120, 2000).await.unwrap();
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
