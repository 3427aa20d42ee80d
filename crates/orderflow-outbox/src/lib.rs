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
//! - [`shard`]: the pending index's partitions, [`PENDING_SHARDS`] of them by event id.
//! - [`ports`]: [`OutboxStore`] (pending entries by partition, mark published) and
//!   [`EventPublisher`].
//! - [`adapters`]: DynamoDB and SNS, and in-memory ones for tests (feature `testing`).
//! - [`announce`]: [`Announcer`], the producer's publish right after its commit.
//! - [`relay`]: publishes what is still pending after a grace period, and reports failure.
//! - [`metrics`]: the relay's and the producers' EMF metrics.

pub mod adapters;
pub mod announce;
pub mod entry;
pub mod metrics;
pub mod ports;
pub mod relay;
pub mod shard;

pub use adapters::dynamodb::DynamoDbOutbox;
pub use adapters::sns::SnsPublisher;
pub use announce::{Announced, Announcer};
pub use entry::{OutboxEntry, PUBLISHED_OUTBOX_TTL};
pub use metrics::{MetricSink, StdoutMetrics};
pub use ports::{BeyondLimit, EventPublisher, MalformedEntry, OutboxError, OutboxStore, PendingPage, PublishError};
pub use relay::{MAX_ENTRIES_PER_RUN, Relay, RelayFailed, RelayReport};
pub use shard::{PENDING_SHARDS, PendingPartition, PendingShard};
