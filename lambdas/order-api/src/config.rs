//! Configuration from the environment (names in `docs/contracts/conventions.md`), read once at
//! start-up through `orderflow_kit::Env`, which names every missing or invalid variable at once.

use orderflow_kit::{Env, EnvError};

use crate::adapters::dynamodb::TableNames;
use crate::domain::SupportedCurrencies;

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: TableNames,
    pub topic_arn: String,
    pub supported_currencies: SupportedCurrencies,
    /// EventStoreTable, read for GET /orders/{orderId}/events.
    pub event_store_table: String,
}

impl Config {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, EnvError> {
        let tables = TableNames {
            orders: env.required("ORDERS_TABLE_NAME"),
            outbox: env.required("OUTBOX_TABLE_NAME"),
            idempotency: env.required("IDEMPOTENCY_TABLE_NAME"),
        };
        let topic_arn = env.required("ORDER_EVENTS_TOPIC_ARN");
        let event_store_table = env.required("EVENT_STORE_TABLE_NAME");
        let supported_currencies =
            env.parsed_with("SUPPORTED_CURRENCIES", SupportedCurrencies::default(), SupportedCurrencies::parse);
        env.finish(Config { tables, topic_arn, supported_currencies, event_store_table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable() {
        let error =
            Config::from_env(Env::from_pairs(&[("OUTBOX_TABLE_NAME", "o"), ("ORDERS_TABLE_NAME", " ")])).unwrap_err();
        assert_eq!(
            error.missing,
            vec!["ORDERS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN", "EVENT_STORE_TABLE_NAME"]
        );
        assert_eq!(
            error.to_string(),
            "missing required environment variables: ORDERS_TABLE_NAME, IDEMPOTENCY_TABLE_NAME, \
             ORDER_EVENTS_TOPIC_ARN, EVENT_STORE_TABLE_NAME"
        );
    }

    #[test]
    fn reads_tables_topic_and_currencies() {
        let all = [
            ("ORDERS_TABLE_NAME", "orders"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("IDEMPOTENCY_TABLE_NAME", "idem"),
            ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:t"),
            ("EVENT_STORE_TABLE_NAME", "events"),
        ];
        let config = Config::from_env(Env::from_pairs(&all)).expect("complete");
        assert_eq!((config.tables.outbox.as_str(), config.event_store_table.as_str()), ("outbox", "events"));
        assert_eq!(config.supported_currencies, SupportedCurrencies::default());

        let mut with_currencies = all.to_vec();
        with_currencies.push(("SUPPORTED_CURRENCIES", "EUR, JPY"));
        let config = Config::from_env(Env::from_pairs(&with_currencies)).expect("complete");
        assert_eq!(config.supported_currencies.to_string(), "EUR, JPY");

        let mut lower_case = all.to_vec();
        lower_case.push(("SUPPORTED_CURRENCIES", "eur"));
        let error = Config::from_env(Env::from_pairs(&lower_case)).unwrap_err();
        assert_eq!(error.invalid[0].0, "SUPPORTED_CURRENCIES");
    }
}
