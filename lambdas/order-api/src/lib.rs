//! The order service: POST /orders and GET /orders/{orderId}, with its store and outbox.
//!
//! Hexagonal: [`domain`] is pure (validation, total, order and event construction), [`ports`]
//! are the traits the [`service`] needs, [`adapters`] implement them (DynamoDB, SNS, in-memory),
//! and [`http`] turns API Gateway requests into service calls and problems. `main.rs` only wires.
//! The transactional outbox (entry, publisher, relay) is the `orderflow-outbox` crate; the
//! in-memory adapters and [`testing`] exist only with the `testing` feature (tests, benches).
//!
//! The order lifecycle (`lambdas/order-lifecycle`, part of the order service) uses this crate as
//! a library: [`record`] is the OrdersTable item and its codec, [`lifecycle`] the pure state
//! machine that settles an order. Neither pulls in a feature: the release binary stays as it is.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod lifecycle;
pub mod ports;
pub mod record;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use http::OrderApi;
