//! Timeouts and retries of every AWS client, chosen against the function's own timeout.
//!
//! Without them an SDK call waits as long as the socket does: a slow SNS held the order API until
//! its 10 s timeout, and the client saw a 5xx for an order that was committed. Every function
//! builds its clients from [`load`] (or [`load_for_function`]) instead of
//! `aws_config::load_from_env()`, so each call has
//! - a **connect timeout** and a **per-attempt timeout**: one stuck connection or attempt is cut
//!   and retried instead of eating the budget;
//! - an **operation timeout**: all attempts and back-offs of one call together, so a dependency
//!   that is down costs a known, small part of the invocation;
//! - the SDK's **standard retry mode**: throttling and transient errors retried with exponential
//!   back-off and full jitter (`random(0, min(max_backoff, initial * 2^n))`), so a burst of
//!   workers does not retry in lock-step.
//!
//! [`ClientTimeouts`] is the pure derivation (no SDK types, unit-tested); the SDK part is behind
//! feature `aws`. The values are listed in `docs/contracts/conventions.md`.

use std::time::Duration;

/// The variable the Lambda runtime sets to the function's timeout in seconds (LocalStack sets it
/// too). Read once at start-up.
pub const FUNCTION_TIMEOUT_VAR: &str = "AWS_LAMBDA_FUNCTION_TIMEOUT";
/// The template's function timeout, used when the variable is absent or not a number of seconds.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// One call may use at most a quarter of the function timeout: an invocation makes several calls
/// in sequence (a claim, the effect's reads and writes, the completion) and must keep time to
/// release its claim and answer when one of them hangs.
const OPERATION_SHARE: u32 = 4;
/// An operation timeout never below this (a cold TLS handshake plus one DynamoDB transaction fits)
/// nor above that (a call still waiting after 10 s is not coming back in time to matter).
const MIN_OPERATION: Duration = Duration::from_secs(1);
const MAX_OPERATION: Duration = Duration::from_secs(10);
/// Every attempt may take half the operation, so two attempts fit in it: the retry is what saves
/// a call whose first connection went to a bad host.
const MIN_ATTEMPT: Duration = Duration::from_millis(400);
const MAX_ATTEMPT: Duration = Duration::from_secs(3);
/// A TCP+TLS connect inside AWS takes milliseconds; one that takes a second will not succeed.
const MAX_CONNECT: Duration = Duration::from_secs(1);
/// Three attempts (the SDK's standard default), back-off from 50 ms, capped at 1 s: in-Lambda
/// budgets are seconds, not the SDK's default 20 s cap.
const MAX_ATTEMPTS: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The timeouts and retries of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// Establishing one connection.
    pub connect: Duration,
    /// One attempt: sending the request and reading the whole response.
    pub attempt: Duration,
    /// The whole call: every attempt and every back-off between them.
    pub operation: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl ClientTimeouts {
    /// The clients of a function whose timeout is `function_timeout`: for the 10 s functions of
    /// the template, 2.5 s per call, 1.25 s per attempt, 3 attempts, 1 s to connect.
    pub fn for_function(function_timeout: Duration) -> Self {
        let operation = (function_timeout / OPERATION_SHARE).clamp(MIN_OPERATION, MAX_OPERATION);
        let attempt = (operation / 2).clamp(MIN_ATTEMPT, MAX_ATTEMPT);
        ClientTimeouts {
            connect: attempt.min(MAX_CONNECT),
            attempt,
            operation,
            max_attempts: MAX_ATTEMPTS,
            initial_backoff: INITIAL_BACKOFF,
            max_backoff: MAX_BACKOFF,
        }
    }

    /// A call the caller survives losing, made after the work is committed: the order API's
    /// publish right after its commit (the outbox entry is committed and the relay publishes it
    /// later). It must not hold the answer past the function timeout, yet a publish that is only
    /// slow should still go out now: a deferred event waits for the relay's next run (a minute),
    /// and the whole order with it. So two fifths of the function timeout in all, two attempts:
    /// for the API's 10 s, 4 s (1.9 s per attempt), well inside API Gateway's 29 s. (A budget of
    /// one second, tried first, deferred 182 of 217 orders to the relay on a loaded local stack.)
    pub fn after_commit(function_timeout: Duration) -> Self {
        let operation = (function_timeout * 2 / 5).clamp(MIN_OPERATION, MAX_OPERATION);
        let max_backoff = INITIAL_BACKOFF * 4;
        // Both attempts and the back-off between them fit in the operation.
        let attempt = (operation - max_backoff) / 2;
        ClientTimeouts {
            connect: attempt.min(MAX_CONNECT),
            attempt,
            operation,
            max_attempts: 2,
            initial_backoff: INITIAL_BACKOFF,
            max_backoff,
        }
    }

    /// [`ClientTimeouts::for_function`] of the timeout in `AWS_LAMBDA_FUNCTION_TIMEOUT`.
    pub fn from_env() -> Self {
        ClientTimeouts::for_function(function_timeout(std::env::var(FUNCTION_TIMEOUT_VAR).ok().as_deref()))
    }
}

/// The function timeout from the value of `AWS_LAMBDA_FUNCTION_TIMEOUT` (whole seconds); the
/// default when it is absent, not a number or zero (a client must never get a zero budget).
pub fn function_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .map_or(DEFAULT_FUNCTION_TIMEOUT, Duration::from_secs)
}

#[cfg(feature = "aws")]
mod sdk {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, SdkConfig};

    use super::ClientTimeouts;

    impl ClientTimeouts {
        pub fn timeout_config(&self) -> TimeoutConfig {
            TimeoutConfig::builder()
                .connect_timeout(self.connect)
                .operation_attempt_timeout(self.attempt)
                .operation_timeout(self.operation)
                .build()
        }

        pub fn retry_config(&self) -> RetryConfig {
            RetryConfig::standard()
                .with_max_attempts(self.max_attempts)
                .with_initial_backoff(self.initial_backoff)
                .with_max_backoff(self.max_backoff)
        }
    }

    /// The shared configuration (region, credentials, `AWS_ENDPOINT_URL` for LocalStack) with
    /// `timeouts` on every client built from it.
    pub async fn load(timeouts: ClientTimeouts) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts.timeout_config())
            .retry_config(timeouts.retry_config())
            .load()
            .await
    }

    /// [`load`] with the timeouts derived from the function's own timeout: what every `main.rs`
    /// calls.
    pub async fn load_for_function() -> SdkConfig {
        let timeouts = ClientTimeouts::from_env();
        tracing::debug!(?timeouts, "AWS client timeouts");
        load(timeouts).await
    }

    /// `config` with other timeouts, for the one client that needs them (the order API's SNS).
    pub fn with_timeouts(config: &SdkConfig, timeouts: ClientTimeouts) -> SdkConfig {
        config.to_builder().timeout_config(timeouts.timeout_config()).retry_config(timeouts.retry_config()).build()
    }
}

#[cfg(feature = "aws")]
pub use sdk::{load, load_for_function, with_timeouts};

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_ten_second_function_gets_two_and_a_half_seconds_per_call() {
        let timeouts = ClientTimeouts::for_function(Duration::from_secs(10));
        assert_eq!(
            timeouts,
            ClientTimeouts {
                connect: ms(1000),
                attempt: ms(1250),
                operation: ms(2500),
                max_attempts: 3,
                initial_backoff: ms(50),
                max_backoff: ms(1000),
            }
        );
        // At least two attempts fit in one operation, and four operations in the function.
        assert!(timeouts.attempt * 2 <= timeouts.operation);
        assert!(timeouts.operation * 4 <= Duration::from_secs(10));
    }

    #[test]
    fn budgets_are_clamped_at_both_ends() {
        let short = ClientTimeouts::for_function(Duration::from_secs(1));
        assert_eq!((short.operation, short.attempt, short.connect), (ms(1000), ms(500), ms(500)));
        let thirty = ClientTimeouts::for_function(Duration::from_secs(30));
        assert_eq!((thirty.operation, thirty.attempt, thirty.connect), (ms(7500), ms(3000), ms(1000)));
        let long = ClientTimeouts::for_function(Duration::from_secs(900));
        assert_eq!((long.operation, long.attempt), (ms(10_000), ms(3000)));
    }

    #[test]
    fn after_commit_gives_up_within_two_fifths_of_the_function_timeout() {
        let timeouts = ClientTimeouts::after_commit(Duration::from_secs(10));
        assert_eq!((timeouts.operation, timeouts.attempt, timeouts.max_attempts), (ms(4000), ms(1900), 2));
        assert_eq!(ClientTimeouts::after_commit(Duration::from_secs(1)).operation, ms(1000), "never below 1 s");
        // Both attempts and the longest back-off between them fit in the operation.
        assert!(timeouts.attempt * timeouts.max_attempts + timeouts.max_backoff <= timeouts.operation);
    }

    #[test]
    fn the_function_timeout_comes_from_the_environment_or_the_default() {
        assert_eq!(function_timeout(Some("30")), Duration::from_secs(30));
        assert_eq!(function_timeout(Some(" 6 ")), Duration::from_secs(6));
        for bad in [None, Some(""), Some("ten"), Some("0"), Some("-3"), Some("2.5")] {
            assert_eq!(function_timeout(bad), DEFAULT_FUNCTION_TIMEOUT, "{bad:?}");
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn the_sdk_settings_carry_the_values() {
        let timeouts = ClientTimeouts::after_commit(Duration::from_secs(10));
        let timeout = timeouts.timeout_config();
        assert_eq!(timeout.operation_timeout(), Some(ms(4000)));
        assert_eq!(timeout.operation_attempt_timeout(), Some(ms(1900)));
        assert_eq!(timeout.connect_timeout(), Some(ms(1000)));
        let retry = timeouts.retry_config();
        assert_eq!((retry.max_attempts(), retry.initial_backoff(), retry.max_backoff()), (2, ms(50), ms(200)));
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
    }
}
