//! Adds loyalty points to the customer of every confirmed order: one point per whole currency
//! unit of the order's total (OrderConfirmed v1 repeats the customer and the total, so no lookup).
//!
//! This consumer is deployed from its own stack (infra/stacks/loyalty.yaml), beside the orders
//! stack and without changing it: its queue subscribes to the orders topic, its idempotency
//! records go to the orders stack's IdempotencyTable. Orders confirmed before it was deployed
//! are brought in with `orderflow replay --to loyalty`.
//!
//! The rule: **each confirmed order's points are added once**. The add (DynamoDB `ADD`) is not
//! idempotent by itself; the consumer core's claim `loyalty#<eventId>` is what turns a duplicate
//! delivery or a replay of an event into a no-op. The one gap the claim leaves (the add worked,
//! completing the claim did not, the message comes back) is covered by the account's
//! `lastEventId`: an add of the event applied last is refused.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values and [`LoyaltyHandler`], including the one mapping of failures to
//!   transient or permanent;
//! - [`ports`]: the ledger trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   ledger;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError};

pub use adapters::DynamoDbPointsLedger;
#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryPointsLedger;
pub use domain::{Account, AddOutcome, Award, LoyaltyError, LoyaltyHandler, points_for};
pub use ports::{LedgerError, PointsLedger};

/// The consumer's name: the prefix of its idempotency keys and the suffix of its queue's name
/// (`<orders stack>-loyalty`, where `orderflow replay --to loyalty` sends). Never change it.
pub const CONSUMER: &str = "loyalty";

/// The production processor: DynamoDB adapters, settings from the process environment. Every
/// missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let points_table = env.required("LOYALTY_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let (config, points_table, idempotency_table) = env.finish((config, points_table, idempotency_table))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let ledger = DynamoDbPointsLedger::new(client.clone(), points_table);
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = LoyaltyHandler::new(Arc::new(ledger));
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
        let bad = Env::from_pairs(&[("IDEMPOTENCY_IN_PROGRESS_SECONDS", "0")]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(error.missing, vec!["LOYALTY_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("LOYALTY_TABLE_NAME", "points"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SERVICE_NAME", "loyalty-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "loyalty-svc")
        );
    }
}
