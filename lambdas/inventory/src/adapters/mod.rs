//! The port's implementations: DynamoDB for the inventory, reservations and outbox tables and,
//! for tests only, an in-memory store.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbInventoryStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryInventoryStore;
