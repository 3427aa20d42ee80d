//! Records the shipment of every confirmed order.
//!
//! The rule: **one shipment per confirmed order, and none for any other**. On OrderConfirmed the
//! handler writes the order's ShipmentsTable record (`READY`, the items and, when the order has
//! one, the shipping address) with a conditional put keyed by the order id: a duplicate or
//! redelivered event, or the second of two concurrent attempts, finds the record and stands
//! down. No read comes first: the conditional write alone decides, so there is no window in
//! which two attempts both see "no shipment". OrderPlaced and OrderCancelled (not subscribed,
//! but harmless) are processed and change nothing: only a confirmed order ships.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values and [`ShippingHandler`], including the one mapping of failures to
//!   transient or permanent;
//! - [`ports`]: the shipments trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError};

pub use adapters::DynamoDbShipmentsStore;
#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryShipmentsStore;
pub use domain::{CreateOutcome, Shipment, ShipmentLine, ShipmentStatus, ShippingError, ShippingHandler};
pub use ports::{ShipmentsError, ShipmentsStore};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "shipping";

/// The production processor: DynamoDB adapters, settings from the process environment. Every
/// missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let shipments_table = env.required("SHIPMENTS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let (config, shipments_table, idempotency_table) = env.finish((config, shipments_table, idempotency_table))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let shipments = DynamoDbShipmentsStore::new(client.clone(), shipments_table);
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = ShippingHandler::new(Arc::new(shipments));
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
        assert_eq!(error.missing, vec!["SHIPMENTS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("SHIPMENTS_TABLE_NAME", "shipments"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SERVICE_NAME", "shipping-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "shipping-svc")
        );
    }
}
