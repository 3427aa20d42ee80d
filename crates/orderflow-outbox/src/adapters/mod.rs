//! One adapter per backend, and in-memory ones for tests.

pub mod dynamodb;
#[cfg(feature = "testing")]
pub mod memory;
pub mod sns;
