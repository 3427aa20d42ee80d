//! The outbox relay function: publishes outbox entries a producer could not publish itself
//! (a crash or an SNS outage between its commit and its publish). Runs every minute, and on
//! demand with `{"graceSeconds": N}`.
//!
//! The relaying itself is `orderflow_outbox::Relay`; this crate is its Lambda face:
//! [`config`] reads the environment, [`handler`] turns an invocation into a relay run, and
//! `main.rs` wires the DynamoDB and SNS adapters.

pub mod config;
pub mod handler;
