use std::time::Duration;

/// How many messages (FIFO groups) of a batch are processed at once by default. The event source
/// mapping's batch size is 10, so a batch runs fully in parallel while a larger one stays bounded
/// (each message holds a DynamoDB connection or two).
pub const DEFAULT_CONCURRENCY: usize = 10;
/// How long a COMPLETED idempotency record is kept (its `expiresAt` TTL): far longer than any
/// redelivery or DLQ redrive we expect, short enough that the table does not grow forever.
pub const DEFAULT_COMPLETED_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default for `IDEMPOTENCY_IN_PROGRESS_SECONDS`: longer than the 10 s function timeout, so a
/// record is never taken over while its owner may still be running.
const DEFAULT_IN_PROGRESS_SECONDS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} = {value:?} is invalid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

/// Reads a required environment variable; an empty value counts as missing.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// How a consumer runs its batches.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The consumer's stable name: the prefix of its idempotency keys (`<consumer>#<eventId>`).
    /// It must never change for a deployed consumer, or every event would look new again.
    pub consumer: String,
    /// The `Service` dimension of the metrics (the `SERVICE_NAME` environment variable).
    pub service: String,
    /// At most this many messages or FIFO groups are processed at once (at least 1).
    pub concurrency: usize,
    /// How long an IN_PROGRESS record blocks other workers; after that a crashed attempt is
    /// taken over.
    pub in_progress_for: Duration,
    /// How long a COMPLETED record is kept.
    pub completed_ttl: Duration,
}

impl ConsumerConfig {
    pub fn new(consumer: impl Into<String>) -> Self {
        let consumer = consumer.into();
        ConsumerConfig {
            service: consumer.clone(),
            consumer,
            concurrency: DEFAULT_CONCURRENCY,
            in_progress_for: Duration::from_secs(DEFAULT_IN_PROGRESS_SECONDS),
            completed_ttl: DEFAULT_COMPLETED_TTL,
        }
    }

    /// The defaults overridden by `SERVICE_NAME` and `IDEMPOTENCY_IN_PROGRESS_SECONDS`.
    pub fn from_env(consumer: impl Into<String>) -> Result<Self, ConfigError> {
        let mut config = ConsumerConfig::new(consumer);
        if let Ok(service) = std::env::var("SERVICE_NAME")
            && !service.trim().is_empty()
        {
            config.service = service;
        }
        if let Ok(value) = std::env::var("IDEMPOTENCY_IN_PROGRESS_SECONDS") {
            let seconds: u64 = value.trim().parse().map_err(|error: std::num::ParseIntError| ConfigError::Invalid {
                name: "IDEMPOTENCY_IN_PROGRESS_SECONDS",
                value: value.clone(),
                reason: error.to_string(),
            })?;
            if seconds == 0 {
                return Err(ConfigError::Invalid {
                    name: "IDEMPOTENCY_IN_PROGRESS_SECONDS",
                    value,
                    reason: "must be at least 1".into(),
                });
            }
            config.in_progress_for = Duration::from_secs(seconds);
        }
        Ok(config)
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn with_in_progress_for(mut self, in_progress_for: Duration) -> Self {
        self.in_progress_for = in_progress_for;
        self
    }
}
