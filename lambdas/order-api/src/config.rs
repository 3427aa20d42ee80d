//! Configuration from the environment (names from CONVENTIONS.md), read once at start-up.

use crate::adapters::dynamodb::TableNames;
use crate::domain::SupportedCurrencies;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Every missing variable at once, so one failed deploy names them all.
    #[error("missing required environment variables: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: TableNames,
    pub topic_arn: String,
    pub supported_currencies: SupportedCurrencies,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let [orders, outbox, idempotency, topic_arn] = required_variables(
            &lookup,
            ["ORDERS_TABLE_NAME", "OUTBOX_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"],
        )
        .map_err(ConfigError::Missing)?;
        let currencies = lookup("SUPPORTED_CURRENCIES").filter(|value| !value.trim().is_empty());
        let supported_currencies =
            SupportedCurrencies::parse(currencies.as_deref().unwrap_or(SupportedCurrencies::DEFAULT))
                .map_err(|reason| ConfigError::Invalid { name: "SUPPORTED_CURRENCIES", reason })?;
        Ok(Config { tables: TableNames { orders, idempotency, outbox }, topic_arn, supported_currencies })
    }
}

/// Reads every variable in `names`, treating blank as missing, and fails with the names of all
/// the missing ones at once, so one failed deploy shows everything it lacks. Shared with the
/// outbox relay.
pub fn required_variables<const N: usize>(
    lookup: impl Fn(&str) -> Option<String>,
    names: [&'static str; N],
) -> Result<[String; N], Vec<&'static str>> {
    let values = names.map(|name| lookup(name).filter(|value| !value.trim().is_empty()));
    let missing: Vec<&'static str> =
        names.iter().zip(&values).filter(|(_, value)| value.is_none()).map(|(name, _)| *name).collect();
    if missing.is_empty() { Ok(values.map(Option::unwrap_or_default)) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn names_every_missing_variable() {
        let error = Config::from_lookup(lookup(&[("OUTBOX_TABLE_NAME", "o"), ("ORDERS_TABLE_NAME", " ")])).unwrap_err();
        assert_eq!(
            error,
            ConfigError::Missing(vec!["ORDERS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"])
        );
        assert_eq!(
            error.to_string(),
            "missing required environment variables: ORDERS_TABLE_NAME, IDEMPOTENCY_TABLE_NAME, ORDER_EVENTS_TOPIC_ARN"
        );
    }

    #[test]
    fn reads_tables_topic_and_currencies() {
        let all = [
            ("ORDERS_TABLE_NAME", "orders"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("IDEMPOTENCY_TABLE_NAME", "idem"),
            ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:t"),
        ];
        let config = Config::from_lookup(lookup(&all)).expect("complete");
        assert_eq!(config.tables.outbox, "outbox");
        assert_eq!(config.supported_currencies, SupportedCurrencies::default());

        let mut with_currencies = all.to_vec();
        with_currencies.push(("SUPPORTED_CURRENCIES", "EUR, JPY"));
        let config = Config::from_lookup(lookup(&with_currencies)).expect("complete");
        assert_eq!(config.supported_currencies.to_string(), "EUR, JPY");

        let mut lower_case = all.to_vec();
        lower_case.push(("SUPPORTED_CURRENCIES", "eur"));
        let error = Config::from_lookup(lookup(&lower_case)).unwrap_err();
        assert!(matches!(error, ConfigError::Invalid { name: "SUPPORTED_CURRENCIES", .. }));
    }
}
