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
    #[error("idempotency store request failed")]
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

    /// Marks `key` COMPLETED at `completed_at_ms` (epoch milliseconds: hop times are read from
    /// it), kept until `expires_at` (epoch seconds).
    async fn complete(&self, key: &str, completed_at_ms: i64, expires_at: i64) -> Result<(), IdempotencyError>;

    /// Gives up a claim after a failed attempt, so the retry proceeds at once instead of waiting
    /// for the claim to expire. Never deletes a COMPLETED record.
    async fn release(&self, key: &str) -> Result<(), IdempotencyError>;
}
