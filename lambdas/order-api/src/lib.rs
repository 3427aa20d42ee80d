//! The order service: POST /orders and GET /orders/{orderId}, with its store and outbox.
//!
//! Hexagonal: [`domain`] is pure (validation, total, order and event construction), [`ports`]
//! are the traits the [`service`] needs, [`adapters`] implement them (DynamoDB, SNS, in-memory),
//! and [`http`] turns API Gateway requests into service calls and problems. `main.rs` only wires.
//! The transactional outbox (entry, publisher, relay) is the `orderflow-outbox` crate; the
//! in-memory adapters and [`testing`] exist only with the `testing` feature (tests, benches).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod ports;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use http::OrderApi;
