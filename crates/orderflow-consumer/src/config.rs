use std::time::Duration;

use orderflow_kit::Env;

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

    /// The defaults overridden by `SERVICE_NAME` and `IDEMPOTENCY_IN_PROGRESS_SECONDS`. Problems
    /// are recorded in `env`, which the consumer finishes after reading its own variables, so
    /// one error names everything that is wrong.
    pub fn from_env(consumer: impl Into<String>, env: &mut Env<'_>) -> Self {
        let mut config = ConsumerConfig::new(consumer);
        if let Some(service) = env.optional("SERVICE_NAME") {
            config.service = service;
        }
        let seconds =
            env.parsed_with("IDEMPOTENCY_IN_PROGRESS_SECONDS", DEFAULT_IN_PROGRESS_SECONDS, |text| {
                match text.parse::<u64>() {
                    Ok(0) => Err("must be at least 1".to_owned()),
                    other => other.map_err(|error| error.to_string()),
                }
            });
        config.in_progress_for = Duration::from_secs(seconds);
        config
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut defaults = Env::from_pairs(&[]);
        let config = ConsumerConfig::from_env("inventory", &mut defaults);
        assert_eq!((config.service.as_str(), config.in_progress_for.as_secs()), ("inventory", 60));
        assert!(defaults.finish(()).is_ok());

        let mut custom = Env::from_pairs(&[("SERVICE_NAME", "inv"), ("IDEMPOTENCY_IN_PROGRESS_SECONDS", "5")]);
        let config = ConsumerConfig::from_env("inventory", &mut custom);
        assert_eq!(
            (config.consumer.as_str(), config.service.as_str(), config.in_progress_for.as_secs()),
            ("inventory", "inv", 5)
        );

        let mut zero = Env::from_pairs(&[("IDEMPOTENCY_IN_PROGRESS_SECONDS", "0")]);
        ConsumerConfig::from_env("inventory", &mut zero);
        let error = zero.finish(()).unwrap_err();
        assert_eq!(error.invalid[0].2, "must be at least 1");
    }
}
