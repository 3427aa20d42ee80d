//! The order service: POST /orders and GET /orders/{orderId}, with its store and outbox.
//!
//! Hexagonal: [`domain`] is pure (validation, total, order and event construction), [`ports`]
//! are the traits the [`service`] needs, [`adapters`] implement them (DynamoDB, SNS, in-memory),
//! and [`http`] turns API Gateway requests into service calls and problems. `main.rs` only wires.
//! The outbox relay reuses the ports and adapters.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod ports;
pub mod service;
pub mod testing;

pub use http::OrderApi;
