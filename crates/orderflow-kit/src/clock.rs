//! The time source. Domain code asks a [`Clock`] for "now" instead of calling `Utc::now()`, so
//! tests can move time (idempotency expiry, outbox grace periods, event ages) without sleeping.

use chrono::{DateTime, Utc};

/// The time source port.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(any(test, feature = "testing"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "testing"))]
mod manual {
    use std::sync::Mutex;

    use chrono::{DateTime, TimeDelta, Utc};

    use super::Clock;

    /// A clock that only moves when told to: for tests.
    #[derive(Debug)]
    pub struct ManualClock(Mutex<DateTime<Utc>>);

    impl ManualClock {
        pub fn new(start: DateTime<Utc>) -> Self {
            ManualClock(Mutex::new(start))
        }

        /// A clock at a fixed, readable instant (2026-11-23T18:30:00Z).
        pub fn at_contract_time() -> Self {
            ManualClock::new(DateTime::from_timestamp(1_795_458_600, 0).unwrap_or_default())
        }

        pub fn advance(&self, by: TimeDelta) {
            *self.lock() += by;
        }

        pub fn set(&self, to: DateTime<Utc>) {
            *self.lock() = to;
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
            // A panicking test thread must not hide the time from the other assertions.
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            *self.lock()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_contract_time();
        let start = clock.now();
        assert_eq!(start.to_rfc3339(), "2026-11-23T18:30:00+00:00");
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now() - start, TimeDelta::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
