//! The transactional outbox, for any event of the contract.
//!
//! A producer must never change its state without announcing it, nor announce what it did not
//! do. So the state change and an [`OutboxEntry`] (the exact CloudEvent body and its SNS
//! attributes) are written in **one** DynamoDB transaction ([`DynamoDbOutbox::put`] gives the
//! transaction item). After the commit the producer publishes the entry itself and marks it
//! published; if that fails (a crash, an SNS outage) the entry stays on the pending index and
//! the [`Relay`] publishes it later, byte for byte, with the same event id, so consumers
//! de-duplicate it like any redelivery.
//!
//! - [`entry`]: what is stored; built from any `CloudEvent<D>`.
//! - [`ports`]: [`OutboxStore`] (pending entries, mark published) and [`EventPublisher`].
//! - [`adapters`]: DynamoDB and SNS, and in-memory ones for tests (feature `testing`).
//! - [`announce`]: [`Announcer`], the producer's publish right after its commit.
//! - [`relay`]: publishes what is still pending after a grace period.

pub mod adapters;
pub mod announce;
pub mod entry;
pub mod ports;
pub mod relay;

pub use adapters::dynamodb::DynamoDbOutbox;
pub use adapters::sns::SnsPublisher;
pub use announce::{Announced, Announcer};
pub use entry::{OutboxEntry, PUBLISHED_OUTBOX_TTL};
pub use ports::{EventPublisher, OutboxError, OutboxStore, PublishError};
pub use relay::{MAX_ENTRIES_PER_RUN, Relay, RelayReport};
