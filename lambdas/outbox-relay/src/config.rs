//! Configuration from the environment (names from CONVENTIONS.md).

use chrono::TimeDelta;
use order_api::config::required_variables;

pub const DEFAULT_GRACE_SECONDS: i64 = 60;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required environment variables: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("environment variable OUTBOX_GRACE_SECONDS must be a non-negative integer, got {0:?}")]
    InvalidGrace(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub outbox_table: String,
    pub topic_arn: String,
    /// How old a pending entry must be before the relay publishes it: long enough that the API
    /// has had its chance (its own publish normally follows the commit within milliseconds).
    pub default_grace: TimeDelta,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let [outbox_table, topic_arn] = required_variables(&lookup, ["OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"])
            .map_err(ConfigError::Missing)?;
        let default_grace = match lookup("OUTBOX_GRACE_SECONDS").filter(|value| !value.trim().is_empty()) {
            None => TimeDelta::seconds(DEFAULT_GRACE_SECONDS),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(seconds) => TimeDelta::seconds(i64::from(seconds)),
                Err(_) => return Err(ConfigError::InvalidGrace(text)),
            },
        };
        Ok(Config { outbox_table, topic_arn, default_grace })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable_and_defaults_the_grace() {
        assert_eq!(
            Config::from_lookup(|_| None),
            Err(ConfigError::Missing(vec!["OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"]))
        );
        let base = |name: &str| match name {
            "OUTBOX_TABLE_NAME" => Some("outbox".to_owned()),
            "ORDER_EVENTS_TOPIC_ARN" => Some("arn".to_owned()),
            _ => None,
        };
        assert_eq!(Config::from_lookup(base).map(|config| config.default_grace), Ok(TimeDelta::seconds(60)));
        let custom = |name: &str| if name == "OUTBOX_GRACE_SECONDS" { Some("5".to_owned()) } else { base(name) };
        assert_eq!(Config::from_lookup(custom).map(|config| config.default_grace), Ok(TimeDelta::seconds(5)));
        let bad = |name: &str| if name == "OUTBOX_GRACE_SECONDS" { Some("-1".to_owned()) } else { base(name) };
        assert_eq!(Config::from_lookup(bad), Err(ConfigError::InvalidGrace("-1".to_owned())));
    }
}
