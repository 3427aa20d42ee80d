use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;
use crate::order_placed::{Customer, InvalidEvent, LineItem, OrderPlacedV1, check_customer, check_declared_total};
use crate::shipping_address::ShippingAddress;

/// The data of an `orders.OrderConfirmed.v1` event: stock is reserved and payment authorized, so
/// the order goes ahead. It repeats the order (customer, items, total and, when given, the
/// shipping address) so that the consumers of confirmations need no lookup; the invariants are
/// those of OrderPlaced v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderConfirmedV1Wire")]
pub struct OrderConfirmedV1 {
    order_id: Uuid,
    customer: Customer,
    items: Vec<LineItem>,
    total: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipping_address: Option<ShippingAddress>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    rename = "OrderConfirmedV1",
    description = "The data of an orders.OrderConfirmed.v1 event. The decoder also checks the invariants \
                   of OrderPlaced v1: unique SKUs, one currency, total = Σ quantity × unitPrice.amount."
)]
struct OrderConfirmedV1Wire {
    order_id: Uuid,
    customer: Customer,
    #[schemars(length(min = 1))]
    items: Vec<LineItem>,
    total: Money,
    #[serde(default)]
    shipping_address: Option<ShippingAddress>,
}

impl OrderConfirmedV1 {
    /// The confirmation of `order`, repeating what it said.
    pub fn for_order(order: &OrderPlacedV1) -> Self {
        OrderConfirmedV1 {
            order_id: order.order_id(),
            customer: order.customer().clone(),
            items: order.items().to_vec(),
            total: order.total(),
            shipping_address: order.shipping_address().cloned(),
        }
    }

    pub fn new(
        order_id: Uuid,
        customer: Customer,
        items: Vec<LineItem>,
        total: Money,
        shipping_address: Option<ShippingAddress>,
    ) -> Result<Self, InvalidEvent> {
        check_customer(&customer)?;
        check_declared_total(&items, total)?;
        Ok(OrderConfirmedV1 { order_id, customer, items, total, shipping_address })
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn customer(&self) -> &Customer {
        &self.customer
    }
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }
    pub fn total(&self) -> Money {
        self.total
    }
    pub fn shipping_address(&self) -> Option<&ShippingAddress> {
        self.shipping_address.as_ref()
    }
}

impl TryFrom<OrderConfirmedV1Wire> for OrderConfirmedV1 {
    type Error = InvalidEvent;
    fn try_from(wire: OrderConfirmedV1Wire) -> Result<Self, Self::Error> {
        OrderConfirmedV1::new(wire.order_id, wire.customer, wire.items, wire.total, wire.shipping_address)
    }
}

crate::schema::schema_via_wire!(OrderConfirmedV1, OrderConfirmedV1Wire);
