//! Pays for orders: authorizes the total when an order is placed, captures it when the order is
//! confirmed, voids it when the order is cancelled.
//!
//! The rules: one `payments` record per order, and it only moves forward (none -> AUTHORIZED or
//! DECLINED -> CAPTURED or VOIDED; a cancellation seen before its order writes VOIDED straight
//! away, which makes the late OrderPlaced a no-op). The outcome of an authorization and the
//! PaymentAuthorized / PaymentDeclined event announcing it are written in one transaction (the
//! outbox), then published at once by the [`orderflow_outbox::Announcer`]; the relay publishes
//! whatever that misses, with the same event id. A redelivered event finds the record and does
//! nothing, so any order of arrival and any duplicate ends in the same state: a confirmed order
//! is captured exactly once, a cancelled one never. Gateway calls are idempotent (the
//! authorization id is derived from the order), so a retry after a crash is safe.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values, the state machine ([`domain::on_placed`], [`domain::on_confirmed`],
//!   [`domain::on_cancelled`]) and [`BillingHandler`], including the one mapping of failures to
//!   transient or permanent;
//! - [`ports`]: the gateway and payments traits and their errors;
//! - [`adapters`]: DynamoDB, the simulated gateway and (feature `testing`, never in a release
//!   binary) an in-memory store and the [`testing`] builders;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError, SystemClock};
use orderflow_outbox::{Announcer, DynamoDbOutbox, SnsPublisher};

#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryPaymentsStore;
pub use adapters::{DEFAULT_DECLINE_ABOVE, DynamoDbPaymentsStore, SimulatedGateway};
pub use domain::{
    Authorization, BillingError, BillingHandler, Payment, PaymentState, PaymentStatus, RecordOutcome, SettleOutcome,
    Settlement, classify,
};
pub use ports::{GatewayError, PaymentGateway, PaymentsError, PaymentsStore};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "billing";

/// The production processor: simulated gateway, DynamoDB and SNS adapters, settings from the
/// process environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let payments_table = env.required("PAYMENTS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    // The one OutboxTable and topic of every producer (the same names as the order API's).
    let outbox_table = env.required("OUTBOX_TABLE_NAME");
    let topic_arn = env.required("ORDER_EVENTS_TOPIC_ARN");
    let decline_above = env.parsed_or("PAYMENT_DECLINE_ABOVE", DEFAULT_DECLINE_ABOVE);
    let (config, payments_table, idempotency_table, outbox_table, topic_arn, decline_above) =
        env.finish((config, payments_table, idempotency_table, outbox_table, topic_arn, decline_above))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let payments = DynamoDbPaymentsStore::new(client.clone(), payments_table, outbox_table.clone());
    let announcer = Announcer::new(
        Arc::new(DynamoDbOutbox::new(client.clone(), outbox_table)),
        Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(aws), topic_arn)),
        Arc::new(SystemClock),
    );
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = BillingHandler::new(Arc::new(SimulatedGateway::new(decline_above)), Arc::new(payments), announcer);
    Ok(BatchProcessor::new(config, Arc::new(handler), Arc::new(idempotency)))
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
        let bad = Env::from_pairs(&[("PAYMENT_DECLINE_ABOVE", "lots"), ("IDEMPOTENCY_IN_PROGRESS_SECONDS", "0")]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(
            error.missing,
            vec!["PAYMENTS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"]
        );
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS", "PAYMENT_DECLINE_ABOVE"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("PAYMENTS_TABLE_NAME", "payments"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:OrderEvents"),
            ("SERVICE_NAME", "billing-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "billing-svc")
        );
    }
}
