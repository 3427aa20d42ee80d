//! One adapter per backend (DynamoDB here; the outbox's SNS publisher is in `orderflow-outbox`),
//! plus in-memory ones for tests.

pub mod dynamodb;
pub mod event_store;
#[cfg(feature = "testing")]
pub mod memory;
