//! The ports' implementations: DynamoDB for the points table and, for tests only, an in-memory
//! ledger.

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use dynamodb::DynamoDbPointsLedger;
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryPointsLedger;
