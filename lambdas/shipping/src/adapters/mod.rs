//! The ports' implementations: DynamoDB for the shipments table and, for tests only, an
//! in-memory store.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbShipmentsStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryShipmentsStore;
