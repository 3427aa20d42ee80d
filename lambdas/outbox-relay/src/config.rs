//! Configuration from the environment (names in `docs/contracts/conventions.md`).

use chrono::TimeDelta;
use orderflow_kit::{Env, EnvError};

pub const DEFAULT_GRACE_SECONDS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub outbox_table: String,
    pub topic_arn: String,
    /// How old a pending entry must be before the relay publishes it: long enough that the
    /// producer has had its chance (its own publish normally follows the commit within
    /// milliseconds).
    pub default_grace: TimeDelta,
}

impl Config {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, EnvError> {
        let outbox_table = env.required("OUTBOX_TABLE_NAME");
        let topic_arn = env.required("ORDER_EVENTS_TOPIC_ARN");
        let grace: u32 = env.parsed_or("OUTBOX_GRACE_SECONDS", DEFAULT_GRACE_SECONDS);
        env.finish(Config { outbox_table, topic_arn, default_grace: TimeDelta::seconds(i64::from(grace)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable_and_defaults_the_grace() {
        let error = Config::from_env(Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.missing, vec!["OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"]);
        const BASE: [(&str, &str); 2] = [("OUTBOX_TABLE_NAME", "outbox"), ("ORDER_EVENTS_TOPIC_ARN", "arn")];
        assert_eq!(
            Config::from_env(Env::from_pairs(&BASE)).map(|config| config.default_grace),
            Ok(TimeDelta::seconds(60))
        );
        static CUSTOM: [(&str, &str); 3] = [BASE[0], BASE[1], ("OUTBOX_GRACE_SECONDS", "5")];
        assert_eq!(
            Config::from_env(Env::from_pairs(&CUSTOM)).map(|config| config.default_grace),
            Ok(TimeDelta::seconds(5))
        );
        static BAD: [(&str, &str); 3] = [BASE[0], BASE[1], ("OUTBOX_GRACE_SECONDS", "-1")];
        let error = Config::from_env(Env::from_pairs(&BAD)).unwrap_err();
        assert_eq!(error.invalid[0].0, "OUTBOX_GRACE_SECONDS");
    }
}
