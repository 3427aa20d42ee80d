//! Sends the one email of every settled order: the confirmation when it is confirmed, the
//! cancellation (the reason in plain words, never the event's code) when it is cancelled.
//! OrderPlaced gets none: an order is not settled when it is placed.
//!
//! The rule: **one email per order, at least once**. Before sending, the handler looks for the
//! order's record in NotificationsTable (keyed by order id, whichever email it was: `kind`
//! CONFIRMATION or CANCELLATION); after SES accepts the email it writes that record with a
//! conditional put, so whichever of two concurrent attempts writes second stands down. Any
//! record under the order's key means its email went out. With the idempotency claim on the
//! event around it, the only way to get a second email is a crash (or a failed write) in the
//! window between SES accepting the email and the record being written: the retry then sends it
//! again. That caveat is chosen: at-least-once over at-most-once (claim a record first, then
//! send) because a customer missing their email is worse than a rare duplicate, and an
//! at-most-once claim that crashed could never tell whether its email went out.
//!
//! If SES accepted the email but the record cannot be written, the handler logs an error and
//! still reports success: a retry would send the email a second time for certain.
//!
//! Layout, the same in every consumer:
//! - [`domain`]: the values, the email rendering and [`NotificationHandler`], including the one
//!   mapping of failures to transient or permanent;
//! - [`ports`]: the email-sender and notifications traits and their errors;
//! - [`adapters`]: DynamoDB, SES (API v1) and (feature `testing`, never in a release binary)
//!   an in-memory store and sender;
//! - [`processor_from_env`]: the production wiring, used by `main.rs`.

pub mod adapters;
pub mod domain;
pub mod ports;

use std::sync::Arc;

use orderflow_consumer::{BatchProcessor, ConsumerConfig, DynamoDbIdempotencyStore};
use orderflow_kit::{Env, EnvError};

pub use adapters::{DynamoDbNotificationsStore, SesEmailSender};
#[cfg(any(test, feature = "testing"))]
pub use adapters::{InMemoryEmailSender, InMemoryNotificationsStore};
pub use domain::render::{Email, html_escape, reason_in_words, render_cancellation, render_confirmation};
pub use domain::{NotificationError, NotificationHandler, NotificationKind, NotificationRecord};
pub use ports::{EmailSender, NotificationsError, NotificationsStore, SendError};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "notification";

/// The production processor: SES (API v1) from `SENDER_EMAIL`, DynamoDB adapters, settings from
/// the process environment. Every missing or invalid variable is named in the one error.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, EnvError> {
    processor_from(aws, Env::process())
}

fn processor_from(aws: &aws_config::SdkConfig, mut env: Env<'_>) -> Result<BatchProcessor, EnvError> {
    let config = ConsumerConfig::from_env(CONSUMER, &mut env);
    let notifications_table = env.required("NOTIFICATIONS_TABLE_NAME");
    let idempotency_table = env.required("IDEMPOTENCY_TABLE_NAME");
    let sender_email = env.required("SENDER_EMAIL");
    let (config, notifications_table, idempotency_table, sender_email) =
        env.finish((config, notifications_table, idempotency_table, sender_email))?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let notifications = DynamoDbNotificationsStore::new(client.clone(), notifications_table);
    let idempotency = DynamoDbIdempotencyStore::new(client, idempotency_table);
    let sender = SesEmailSender::new(aws_sdk_ses::Client::new(aws), sender_email);
    let handler = NotificationHandler::new(Arc::new(sender), Arc::new(notifications));
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
            Env::from_pairs(&[("IDEMPOTENCY_TABLE_NAME", "idempotency"), ("IDEMPOTENCY_IN_PROGRESS_SECONDS", "0")]);
        let Err(error) = processor_from(&aws(), bad) else { panic!("an incomplete environment was accepted") };
        assert_eq!(error.missing, vec!["NOTIFICATIONS_TABLE_NAME", "SENDER_EMAIL"]);
        let invalid: Vec<_> = error.invalid.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(invalid, vec!["IDEMPOTENCY_IN_PROGRESS_SECONDS"]);
    }

    #[test]
    fn a_complete_environment_builds_the_processor() {
        let good = Env::from_pairs(&[
            ("NOTIFICATIONS_TABLE_NAME", "notifications"),
            ("IDEMPOTENCY_TABLE_NAME", "idempotency"),
            ("SENDER_EMAIL", "orders@example.com"),
            ("SERVICE_NAME", "notification-svc"),
        ]);
        let processor = processor_from(&aws(), good).unwrap();
        assert_eq!(
            (processor.config().consumer.as_str(), processor.config().service.as_str()),
            (CONSUMER, "notification-svc")
        );
    }
}
