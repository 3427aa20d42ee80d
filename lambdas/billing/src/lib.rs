//! Charges the customer for placed orders.
//!
//! The rule: an order is charged at most once and has exactly one payment record. The charge
//! goes through a [`PaymentGateway`] with the event id as its idempotency key, so a retried or
//! duplicated event gets the gateway's first answer instead of a second charge. Its outcome
//! (CAPTURED, or DECLINED: a business outcome, not an error) is written as one `payments` record
//! per order by a conditional put: whichever of two concurrent attempts writes second finds the
//! record and stands down, and an order that already has a record is not charged again.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values and [`BillingHandler`], including the one mapping of failures to
//!   transient or permanent;
//! - [`ports`]: the gateway and payments traits and their errors;
//! - [`adapters`]: DynamoDB, the simulated gateway and (feature `testing`, never in a release
//!   binary) an in-memory store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError};

#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryPaymentsStore;
pub use adapters::{DEFAULT_DECLINE_ABOVE, DynamoDbPaymentsStore, SimulatedGateway};
pub use domain::{BillingHandler, ChargeRequest, ChargeResult, Payment, PaymentStatus, RecordOutcome};
pub use ports::{GatewayError, PaymentGateway, PaymentsError, PaymentsStore};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "billing";

/// The production processor: simulated gateway, DynamoDB adapters, settings from the process
/// environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let payments_table = env.required("PAYMENTS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let decline_above = env.parsed_or("PAYMENT_DECLINE_ABOVE", DEFAULT_DECLINE_ABOVE);
    let (config, payments_table, idempotency_table, decline_above) =
        env.finish((config, payments_table, idempotency_table, decline_above))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let payments = DynamoDbPaymentsStore::new(client.clone(), payments_table);
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = BillingHandler::new(Arc::new(SimulatedGateway::new(decline_above)), Arc::new(payments));
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
        assert_eq!(error.missing, vec!["PAYMENTS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS", "PAYMENT_DECLINE_ABOVE"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("PAYMENTS_TABLE_NAME", "payments"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SERVICE_NAME", "billing-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "billing-svc")
        );
    }
}
