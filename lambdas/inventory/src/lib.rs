//! Reserves stock for placed orders.
//!
//! The rule: every item of an order is reserved atomically or none is, and an order has exactly
//! one reservation record. The DynamoDB adapter runs one transaction with an
//! `available >= quantity` condition per SKU plus the reservation record. Stock that is too low
//! (or a SKU that does not exist) is a business outcome, recorded as a REJECTED reservation and
//! logged, not retried. A reservation is recorded once per order, so a redelivered event finds it
//! and does nothing, and a rejected order stays rejected when stock arrives later.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values and [`InventoryHandler`], including the one mapping of failures to
//!   transient or permanent;
//! - [`ports`]: the inventory store trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError};

pub use adapters::DynamoDbInventoryStore;
#[cfg(any(test, feature = "testing"))]
pub use adapters::{InMemoryInventoryStore, StoredReservation};
pub use domain::{
    InventoryHandler, MAX_ITEMS_PER_ORDER, RejectOutcome, ReservationRequest, ReservationStatus, ReserveOutcome,
    Unavailable, UnknownReservationStatus, classify,
};
pub use ports::{InventoryError, InventoryStore};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "inventory";

/// The production processor: DynamoDB adapters, tables and settings from the process
/// environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let inventory_table = env.required("INVENTORY_TABLE_NAME");
    let reservations_table = env.required("RESERVATIONS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let (config, inventory_table, reservations_table, idempotency_table) =
        env.finish((config, inventory_table, reservations_table, idempotency_table))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let store = DynamoDbInventoryStore::new(client.clone(), inventory_table, reservations_table);
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = InventoryHandler::new(Arc::new(store));
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
        let bad =
            Env::from_pairs(&[("RESERVATIONS_TABLE_NAME", "reservations"), ("IDEMPOTENCY_IN_PROGRESS_SECONDS", "0")]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(error.missing, vec!["INVENTORY_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("INVENTORY_TABLE_NAME", "inventory"),
            ("RESERVATIONS_TABLE_NAME", "reservations"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SERVICE_NAME", "inventory-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "inventory-svc")
        );
    }
}
