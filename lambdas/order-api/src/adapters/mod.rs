//! One adapter per backend, plus in-memory ones for tests.

pub mod dynamodb;
pub mod memory;
pub mod sns;
