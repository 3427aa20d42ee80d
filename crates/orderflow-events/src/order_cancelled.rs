use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;
use crate::order_placed::{Customer, InvalidEvent, check_customer};
use crate::reasons::CancellationReason;

/// The data of an `orders.OrderCancelled.v1` event: the first negative outcome (or the settle
/// timeout) ended the order. It carries no items: inventory releases what its own reservation
/// record says, so a cancellation that arrives before the order still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderCancelledV1Wire")]
pub struct OrderCancelledV1 {
    order_id: Uuid,
    reason: CancellationReason,
    customer: Customer,
    total: Money,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "OrderCancelledV1", description = "The data of an orders.OrderCancelled.v1 event.")]
struct OrderCancelledV1Wire {
    order_id: Uuid,
    reason: CancellationReason,
    customer: Customer,
    /// The order total (what a held payment is voided for).
    total: Money,
}

impl OrderCancelledV1 {
    pub fn new(
        order_id: Uuid,
        reason: CancellationReason,
        customer: Customer,
        total: Money,
    ) -> Result<Self, InvalidEvent> {
        check_customer(&customer)?;
        Ok(OrderCancelledV1 { order_id, reason, customer, total })
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn reason(&self) -> CancellationReason {
        self.reason
    }
    pub fn customer(&self) -> &Customer {
        &self.customer
    }
    pub fn total(&self) -> Money {
        self.total
    }
}

impl TryFrom<OrderCancelledV1Wire> for OrderCancelledV1 {
    type Error = InvalidEvent;
    fn try_from(wire: OrderCancelledV1Wire) -> Result<Self, Self::Error> {
        OrderCancelledV1::new(wire.order_id, wire.reason, wire.customer, wire.total)
    }
}

crate::schema::schema_via_wire!(OrderCancelledV1, OrderCancelledV1Wire);
