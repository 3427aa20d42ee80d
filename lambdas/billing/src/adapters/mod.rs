//! The ports' implementations: DynamoDB for the payments table, the simulated gateway and,
//! for tests only, an in-memory payments store.

pub mod dynamodb;
pub mod gateway;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbPaymentsStore;
pub use gateway::{DEFAULT_DECLINE_ABOVE, SimulatedGateway};
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryPaymentsStore;
