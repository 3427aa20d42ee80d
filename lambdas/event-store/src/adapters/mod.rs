//! The port's implementations: DynamoDB for EventStoreTable and, for tests only, an in-memory
//! store.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbEventStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryEventStore;
