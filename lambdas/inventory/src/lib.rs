//! Inventory: reserves stock for placed orders, commits it for confirmed ones, releases it for
//! cancelled ones, and announces each reservation's outcome (StockReserved / StockRejected).
//!
//! The rules: every item of an order is reserved or none is; an order has exactly one
//! reservation record, which every event moves forward (RESERVED -> COMMITTED or RELEASED,
//! REJECTED, or CANCELLED when the cancellation came first, which makes a late OrderPlaced a
//! no-op); the outcome event is written to the outbox in the same transaction as the record it
//! announces, then published by the [`orderflow_outbox::Announcer`] (the relay publishes what that
//! misses, with the same event id). So a redelivered event finds its effect recorded and
//! publishes nothing new, and any order of arrival and any duplicate ends in the same state.
//! Orders larger than one DynamoDB transaction go through in chunks ([`domain`] says how).
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values, the state machine [`decide`], [`InventoryHandler`] and the one
//!   mapping of failures to transient or permanent;
//! - [`ports`]: the inventory store trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError, SystemClock};
use orderflow_outbox::{Announcer, DynamoDbOutbox, SnsPublisher};

pub use adapters::DynamoDbInventoryStore;
#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryInventoryStore;
pub use domain::{
    Applied, CHUNK_LINES, Decision, Expect, InventoryHandler, MAX_ACTIONS_PER_TRANSACTION, Rejection, Reservation,
    ReservationStatus, SINGLE_WRITE_RESERVE_LINES, Step, StepContext, StockChange, StockEffect, Trigger, Unavailable,
    UnknownReservationStatus, classify, decide,
};
pub use ports::{InventoryError, InventoryStore};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "inventory";

/// The production processor: DynamoDB and SNS adapters, tables, topic and settings from the
/// process environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let inventory_table = env.required("INVENTORY_TABLE_NAME");
    let reservations_table = env.required("RESERVATIONS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let outbox_table = env.required("OUTBOX_TABLE_NAME");
    let topic_arn = env.required("ORDER_EVENTS_TOPIC_ARN");
    let (config, inventory_table, reservations_table, idempotency_table, outbox_table, topic_arn) =
        env.finish((config, inventory_table, reservations_table, idempotency_table, outbox_table, topic_arn))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let store = DynamoDbInventoryStore::new(client.clone(), inventory_table, reservations_table, &outbox_table);
    let announcer = Announcer::new(
        Arc::new(DynamoDbOutbox::new(client.clone(), outbox_table)),
        Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(aws), topic_arn)),
        Arc::new(SystemClock),
    );
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let handler = InventoryHandler::new(Arc::new(store), announcer);
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
        assert_eq!(
            error.missing,
            vec!["INVENTORY_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"]
        );
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("INVENTORY_TABLE_NAME", "inventory"),
            ("RESERVATIONS_TABLE_NAME", "reservations"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:OrderEvents"),
            ("SERVICE_NAME", "inventory-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "inventory-svc")
        );
    }
}
