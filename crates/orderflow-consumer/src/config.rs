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

/// How long past the invocation's deadline a claim still blocks others: the time a frozen or
/// killed environment's last writes may still take to land. The claim has run out long before
/// the message's next receive (the visibility timeout is 60 s, the function timeout 10 s), so a
/// crashed worker costs one receive, not two.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(2);

/// How a transient failure is retried inside the invocation, before the message goes back to
/// SQS (a visibility timeout later): a lost transaction race or a throttled call usually
/// succeeds a few hundred milliseconds later. Full jitter (`random(0, min(cap, base * 2^n))`)
/// keeps workers that failed together from retrying together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of the handler per receive, the first included (at least 1).
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// No retry starts unless this much time is left before the deadline after its back-off:
    /// the time to release the claim, write the metrics and answer.
    pub reserve: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            reserve: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// One attempt only: the message goes back to SQS at the first failure.
    pub fn none() -> Self {
        RetryPolicy { attempts: 1, ..RetryPolicy::default() }
    }

    /// The back-off before retry `retry` (1 for the first retry), `unit` a random number in [0, 1).
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << retry.saturating_sub(1).min(16)).min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
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
    /// Retries of a transient failure within the invocation.
    pub retry: RetryPolicy,
    /// `DEAD_LETTER_QUEUE_URL`: where permanent failures and undecodable messages are parked at
    /// once. Without it they take the queue's redrive policy (`maxReceiveCount` receives).
    pub dead_letter_queue_url: Option<String>,
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
            retry: RetryPolicy::default(),
            dead_letter_queue_url: None,
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
        config.dead_letter_queue_url = env.optional("DEAD_LETTER_QUEUE_URL");
        config
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy { attempts: retry.attempts.max(1), ..retry };
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

    #[test]
    fn back_off_doubles_up_to_the_cap_and_is_jittered_below_it() {
        let retry = RetryPolicy::default();
        assert_eq!(retry.backoff(1, 0.999_999).as_millis(), 99);
        assert_eq!(retry.backoff(2, 0.5), Duration::from_millis(100));
        assert_eq!(retry.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(retry.backoff(9, 0.5), Duration::from_millis(500), "capped at 1 s");
        assert_eq!(retry.backoff(40, 1.0), Duration::from_secs(1));
        assert_eq!(retry.backoff(1, 0.0), Duration::ZERO);
        let mut env = Env::from_pairs(&[("DEAD_LETTER_QUEUE_URL", "http://q/dlq")]);
        assert_eq!(ConsumerConfig::from_env("c", &mut env).dead_letter_queue_url.as_deref(), Some("http://q/dlq"));
    }
}
