//! The port's implementations: DynamoDB for OrdersTable (+ OutboxTable) and, for tests only, an
//! in-memory store on the order API's in-memory tables.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbLifecycleStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryLifecycleStore;
