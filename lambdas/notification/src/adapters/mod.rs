//! The ports' implementations: DynamoDB for the notifications table, SES (API v1) for email and,
//! for tests only, an in-memory store and sender.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod ses;

pub use dynamodb::DynamoDbNotificationsStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::{InMemoryEmailSender, InMemoryNotificationsStore};
pub use ses::SesEmailSender;
