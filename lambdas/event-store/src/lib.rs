//! Stores every event of the order-events topic once, for audit and replay.
//!
//! The rule: **every message that is a CloudEvent is stored exactly once, whatever its type or
//! version**. The queue's subscription has no filter policy, and the handler reads only the
//! CloudEvents envelope (`id`, `type`, `source`, `time`, `subject` or `data.orderId`,
//! `correlationid`), never the typed payload, so an event type this code has never heard of is
//! stored like the others. Each record keeps the body and the message attributes exactly as
//! delivered, so `orderflow replay` can re-send an event as it was published. The write is a
//! conditional put keyed by the event id: a redelivery or a duplicate publish stands down. A body
//! that is not a CloudEvent at all is permanent: it reaches the DLQ.
//!
//! Layout, as in every consumer:
//! - [`domain`]: the values and [`EventStoreProcessor`], including the one mapping of failures
//!   to transient or permanent;
//! - [`ports`]: the store trait and its errors;
//! - [`adapters`]: DynamoDB and (feature `testing`, never in a release binary) an in-memory
//!   store;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use orderflow_kit::{Env, EnvError};

pub use adapters::DynamoDbEventStore;
#[cfg(any(test, feature = "testing"))]
pub use adapters::InMemoryEventStore;
pub use domain::{EnvelopeError, EventStoreProcessor, PutOutcome, Retention, StoreFailure, StoredEvent, classify};
pub use ports::{EventStore, EventStoreError};

/// The consumer's name (its SERVICE_NAME default and metrics dimension).
pub const CONSUMER: &str = "event-store";
/// `EVENT_RETENTION_DAYS` when unset: the template parameter's default.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// The production processor: the DynamoDB store, settings from the process environment. Every
/// missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<EventStoreProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<EventStoreProcessor, EnvError> {
    let service = env.optional("SERVICE_NAME").unwrap_or_else(|| CONSUMER.to_owned());
    let table = env.required("EVENT_STORE_TABLE_NAME");
    let days = env.parsed_or("EVENT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS);
    let (table, days) = env.finish((table, days))?;
    let store = DynamoDbEventStore::new(aws_sdk_dynamodb::Client::new(aws), table);
    Ok(EventStoreProcessor::new(Arc::new(store), service, Retention { days }))
}

/// Runs the Lambda runtime loop with `processor` as the handler.
pub async fn run(processor: EventStoreProcessor) -> Result<(), lambda_runtime::Error> {
    let processor = Arc::new(processor);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let processor = Arc::clone(&processor);
        async move { processor.handle(event).await }
    }))
    .await
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
        let bad = Env::from_pairs(&[("EVENT_RETENTION_DAYS", "a year")]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(error.missing, vec!["EVENT_STORE_TABLE_NAME"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["EVENT_RETENTION_DAYS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[("EVENT_STORE_TABLE_NAME", "events"), ("SERVICE_NAME", "store-svc")]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!((processor.service(), processor.retention()), ("store-svc", Retention { days: 400 }));
        let forever = Env::from_pairs(&[("EVENT_STORE_TABLE_NAME", "events"), ("EVENT_RETENTION_DAYS", "0")]);
        assert_eq!(processor_from(&aws(), forever).unwrap().retention(), Retention::FOREVER);
    }
}
