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

/// What [`IdempotencyStore::complete`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The caller's claim (or no record at all) is now COMPLETED.
    Completed,
    /// Someone completed it first. The effect happened either way; their record stands.
    AlreadyCompleted,
    /// Another worker took the claim over (ours had expired) and is applying the event again:
    /// their claim is left alone. Our effect happened, so the message is still done.
    HeldByOther,
}

/// A claim to apply one event: who asks, and until when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// `<consumer>#<eventId>`.
    pub key: &'a str,
    /// Who holds it: `<request id>/<message id>`, unique per attempt of an invocation.
    pub owner: &'a str,
    /// Epoch milliseconds now, by the claimer's clock.
    pub now_ms: i64,
    /// Epoch milliseconds until which the claim blocks others: the invocation's deadline plus a
    /// margin, so it has expired by the message's next receive if this worker dies.
    pub until_ms: i64,
    /// Epoch seconds: the record's TTL while IN_PROGRESS.
    pub expires_at: i64,
}

/// A record as stored, for adapters and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub status: RecordStatus,
    /// When the claim runs out, epoch **milliseconds**; meaningful while IN_PROGRESS. Records
    /// written before claims were in milliseconds held epoch seconds in `inProgressUntil`: the
    /// DynamoDB adapter reads those as the end of that second.
    pub in_progress_until_ms: i64,
    /// Who holds the claim; `None` for COMPLETED records and for claims written before owners.
    pub owner: Option<String>,
    /// Epoch seconds; the table's TTL attribute.
    pub expires_at: i64,
}

impl StoredRecord {
    /// A claim held by `owner` until `until_ms`.
    pub fn in_progress(owner: impl Into<String>, until_ms: i64, expires_at: i64) -> Self {
        StoredRecord {
            status: RecordStatus::InProgress,
            in_progress_until_ms: until_ms,
            owner: Some(owner.into()),
            expires_at,
        }
    }

    /// Whether a claim is still held at `now_ms`: it runs out *at* `in_progress_until_ms`.
    pub fn blocks_at(&self, now_ms: i64) -> bool {
        self.status == RecordStatus::InProgress && self.in_progress_until_ms > now_ms
    }
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
/// Times are passed in rather than read from a clock, so adapters stay free of policy and tests
/// can drive expiry. Every write after the claim is conditional on owning it: a worker whose
/// claim ran out and was taken over must not undo the new owner's.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims the key: creates an IN_PROGRESS record owned by `claim.owner` until
    /// `claim.until_ms`, or takes over one whose time ran out at or before `claim.now_ms`.
    async fn begin(&self, claim: &Claim<'_>) -> Result<BeginOutcome, IdempotencyError>;

    /// Marks the key COMPLETED at `completed_at_ms` (epoch milliseconds: hop times are read from
    /// it), kept until `expires_at` (epoch seconds), if `owner` holds the claim or there is no
    /// record; otherwise says who was there.
    async fn complete(
        &self,
        key: &str,
        owner: &str,
        completed_at_ms: i64,
        expires_at: i64,
    ) -> Result<CompleteOutcome, IdempotencyError>;

    /// Gives up `owner`'s claim after a failed attempt, so the retry proceeds at once instead of
    /// waiting for it to expire. Deletes nothing else: not a COMPLETED record, not another
    /// owner's claim. Returns whether a claim was released.
    async fn release(&self, key: &str, owner: &str) -> Result<bool, IdempotencyError>;
}
