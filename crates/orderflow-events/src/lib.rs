//! The OrderPlaced event contract shared by the order service and every consumer.
//!
//! The wire format is fixed by `docs/contracts/order-placed.v1.md`: a CloudEvents 1.0 envelope in
//! JSON structured mode carrying [`OrderPlacedV1`] data. This crate makes an invalid event
//! impossible to build ([`OrderPlacedV1::new`] upholds every invariant) and impossible to accept
//! ([`decode_message`] checks the same invariants), and it is the one source of truth for the SNS
//! message attributes that subscription filter policies match on.

mod decode;
mod envelope;
mod money;
mod order_placed;
mod schema;
mod time;

pub use decode::{DecodeError, DecodeErrorKind, Delivery, OrderEvent, decode_message};
pub use envelope::{CLOUDEVENTS_SPEC_VERSION, CloudEvent, EventData, JSON_CONTENT_TYPE, OrderPlacedEvent};
pub use money::{Currency, InvalidCurrency, Money};
pub use order_placed::{Customer, InvalidEvent, LineItem, OrderPlacedV1};
pub use schema::{ORDER_PLACED_V1_SCHEMA_FILE, order_placed_v1_schema};

/// SNS message attribute that carries the event's short type; filter policies match on it.
pub const EVENT_TYPE_ATTRIBUTE: &str = "event_type";
/// SNS message attribute that carries the event's major version.
pub const EVENT_VERSION_ATTRIBUTE: &str = "event_version";
/// `event_type` attribute value of every OrderPlaced version.
pub const ORDER_PLACED_EVENT_TYPE: &str = "OrderPlaced";
/// `event_version` attribute value of OrderPlaced v1.
pub const ORDER_PLACED_V1_VERSION: &str = "1";
/// CloudEvents `type` of OrderPlaced v1.
pub const ORDER_PLACED_V1_TYPE: &str = "orders.OrderPlaced.v1";
/// CloudEvents `source` of events published by the order service.
pub const ORDER_SERVICE_SOURCE: &str = "order-api";
