//! The order lifecycle, the order service's consumer: it settles every order exactly once.
//!
//! Inventory and billing announce their outcomes (StockReserved / StockRejected,
//! PaymentAuthorized / PaymentDeclined). Each one is recorded on the order row; the order is
//! CONFIRMED once both are positive and CANCELLED at the first negative one (reason
//! `OUT_OF_STOCK`, `UNKNOWN_SKU` or `PAYMENT_DECLINED`). A second queue delivers every
//! OrderPlaced again after the settle timeout (`SETTLE_TIMEOUT_SECONDS`, the queue's delay):
//! an order still PLACED then is cancelled with `TIMEOUT`.
//!
//! Every write of the row is conditional on the version it was decided on, so two Lambda
//! invocations handling the two outcomes of one order at once can neither lose one nor settle
//! twice: the loser reloads and decides again. A settling write is one DynamoDB transaction of
//! the row and the outbox entry of OrderConfirmed / OrderCancelled, announced right after by the
//! outbox crate's `Announcer` (the relay publishes whatever that misses, with the same id).
//!
//! Layout, the same in every consumer:
//! - [`domain`]: [`LifecycleHandler`], including the one mapping of failures to transient or
//!   permanent; the state machine itself is `order_api::lifecycle` and the row's codec
//!   `order_api::record`, shared with the order API;
//! - [`ports`]: the lifecycle store trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;
use std::time::Duration;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError, SystemClock};
use orderflow_outbox::{Announcer, DynamoDbOutbox, SnsPublisher};

pub use adapters::DynamoDbLifecycleStore;
#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryLifecycleStore;
pub use domain::{DEFAULT_SETTLE_TIMEOUT, LifecycleHandler, MAX_ATTEMPTS, classify};
pub use ports::{LifecycleError, OrderLifecycleStore, SaveOutcome, Transition};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "order-lifecycle";

/// The production processor: DynamoDB and SNS adapters, tables and settings from the process
/// environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let orders_table = env.required("ORDERS_TABLE_NAME");
    let outbox_table = env.required("OUTBOX_TABLE_NAME");
    let topic_arn = env.required("ORDER_EVENTS_TOPIC_ARN");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let settle_timeout = env.parsed_with("SETTLE_TIMEOUT_SECONDS", DEFAULT_SETTLE_TIMEOUT, parse_timeout);
    let (config, orders_table, outbox_table, topic_arn, idempotency_table, settle_timeout) =
        env.finish((config, orders_table, outbox_table, topic_arn, idempotency_table, settle_timeout))?;
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let announcer = Announcer::new(
        Arc::new(DynamoDbOutbox::new(dynamodb.clone(), outbox_table.clone())),
        Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(aws), topic_arn)),
        Arc::new(SystemClock),
    );
    let store = DynamoDbLifecycleStore::new(dynamodb.clone(), orders_table, outbox_table);
    let idempotency = DynamoDbIdempotencyStore::new(dynamodb, idempotency_table);
    let handler = LifecycleHandler::new(Arc::new(store), announcer, settle_timeout);
    Ok(BatchProcessor::new(config, Arc::new(handler), Arc::new(idempotency)))
}

/// Whole seconds, at least 1.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, SdkConfig};

    use super::*;

    fn aws() -> SdkConfig {
        SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build()
    }

    #[test]
    fn a_bad_deploy_names_every_problem_at_once() {
        let bad = Env::from_pairs(&[
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("SETTLE_TIMEOUT_SECONDS", "0"),
            ("IDEMPOTENCY_IN_PROGRESS_SECONDS", "soon"),
        ]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(error.missing, vec!["ORDERS_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN", "IDEMPOTENCY_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS", "SETTLE_TIMEOUT_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("ORDERS_TABLE_NAME", "orders"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:orderflow-local-order-events"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SETTLE_TIMEOUT_SECONDS", "60"),
            ("SERVICE_NAME", "orderflow-local-order-lifecycle"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "orderflow-local-order-lifecycle")
        );
    }

    #[test]
    fn the_settle_timeout_is_whole_seconds_of_at_least_one() {
        assert_eq!(parse_timeout("900"), Ok(DEFAULT_SETTLE_TIMEOUT));
        assert_eq!(parse_timeout("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "1.5", "15m"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
