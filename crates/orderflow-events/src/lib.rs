//! The event contracts shared by the order service and every consumer.
//!
//! The wire format is fixed by `docs/contracts/order-placed.v1.md` and
//! `docs/contracts/order-lifecycle.md`: CloudEvents 1.0 envelopes in JSON structured mode, one data
//! type per event and major version. This crate makes an invalid event impossible to build (each
//! data type's constructor upholds its invariants) and impossible to accept ([`decode_message`]
//! checks the same invariants), and it is the one source of truth for the SNS message attributes
//! that subscription filter policies match on.
//!
//! Layout: one file per data type ([`OrderPlacedV1`] and the lifecycle's outcomes and
//! settlements), [`envelope`](CloudEvent) for the CloudEvent around them, `decode` for reading a
//! message body into an [`OrderEvent`], `schema` for the generated JSON Schemas.

mod decode;
mod envelope;
mod money;
mod order_cancelled;
mod order_confirmed;
mod order_placed;
mod payment_authorized;
mod payment_declined;
mod reasons;
mod schema;
mod shipping_address;
mod stock_rejected;
mod stock_reserved;
mod time;

pub use decode::{DecodeError, DecodeErrorKind, Delivery, OrderEvent, decode_message};
pub use envelope::{
    CLOUDEVENTS_SPEC_VERSION, CloudEvent, EventData, JSON_CONTENT_TYPE, OrderCancelledEvent, OrderConfirmedEvent,
    OrderPlacedEvent, PaymentAuthorizedEvent, PaymentDeclinedEvent, StockRejectedEvent, StockReservedEvent,
};
pub use money::{Currency, InvalidCurrency, Money};
pub use order_cancelled::OrderCancelledV1;
pub use order_confirmed::OrderConfirmedV1;
pub use order_placed::{Customer, InvalidEvent, LineItem, OrderPlacedV1};
pub use payment_authorized::PaymentAuthorizedV1;
pub use payment_declined::PaymentDeclinedV1;
pub use reasons::{CancellationReason, DeclineReason, StockRejectionReason};
pub use schema::{ORDER_PLACED_V1_SCHEMA_FILE, all_schemas, event_schema, order_placed_v1_schema, schema_file};
pub use shipping_address::{MAX_ADDRESS_FIELD_CHARS, ShippingAddress};
pub use stock_rejected::StockRejectedV1;
pub use stock_reserved::{StockLine, StockReservedV1};

/// SNS message attribute that carries the event's short type; filter policies match on it.
pub const EVENT_TYPE_ATTRIBUTE: &str = "event_type";
/// SNS message attribute that carries the event's major version.
pub const EVENT_VERSION_ATTRIBUTE: &str = "event_version";

// Per event: the `event_type` attribute (all versions), the `event_version` attribute and the
// CloudEvents `type` of each version. infra/scripts/generate-template reads the `*_EVENT_TYPE`
// and `*_V<n>_VERSION` constants to check `infra/consumers.yaml`.

/// `event_type` attribute value of every OrderPlaced version.
pub const ORDER_PLACED_EVENT_TYPE: &str = "OrderPlaced";
/// `event_version` attribute value of OrderPlaced v1.
pub const ORDER_PLACED_V1_VERSION: &str = "1";
/// CloudEvents `type` of OrderPlaced v1.
pub const ORDER_PLACED_V1_TYPE: &str = "orders.OrderPlaced.v1";

pub const STOCK_RESERVED_EVENT_TYPE: &str = "StockReserved";
pub const STOCK_RESERVED_V1_VERSION: &str = "1";
pub const STOCK_RESERVED_V1_TYPE: &str = "inventory.StockReserved.v1";

pub const STOCK_REJECTED_EVENT_TYPE: &str = "StockRejected";
pub const STOCK_REJECTED_V1_VERSION: &str = "1";
pub const STOCK_REJECTED_V1_TYPE: &str = "inventory.StockRejected.v1";

pub const PAYMENT_AUTHORIZED_EVENT_TYPE: &str = "PaymentAuthorized";
pub const PAYMENT_AUTHORIZED_V1_VERSION: &str = "1";
pub const PAYMENT_AUTHORIZED_V1_TYPE: &str = "billing.PaymentAuthorized.v1";

pub const PAYMENT_DECLINED_EVENT_TYPE: &str = "PaymentDeclined";
pub const PAYMENT_DECLINED_V1_VERSION: &str = "1";
pub const PAYMENT_DECLINED_V1_TYPE: &str = "billing.PaymentDeclined.v1";

pub const ORDER_CONFIRMED_EVENT_TYPE: &str = "OrderConfirmed";
pub const ORDER_CONFIRMED_V1_VERSION: &str = "1";
pub const ORDER_CONFIRMED_V1_TYPE: &str = "orders.OrderConfirmed.v1";

pub const ORDER_CANCELLED_EVENT_TYPE: &str = "OrderCancelled";
pub const ORDER_CANCELLED_V1_VERSION: &str = "1";
pub const ORDER_CANCELLED_V1_TYPE: &str = "orders.OrderCancelled.v1";

/// CloudEvents `source` of events published by the order service (its API and its lifecycle).
pub const ORDER_SERVICE_SOURCE: &str = "order-api";
/// CloudEvents `source` of events published by inventory.
pub const INVENTORY_SOURCE: &str = "inventory";
/// CloudEvents `source` of events published by billing.
pub const BILLING_SOURCE: &str = "billing";
