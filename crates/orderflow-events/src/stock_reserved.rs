use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::order_placed::{InvalidEvent, LineItem};

/// How many units of one SKU: a line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLine {
    #[schemars(length(min = 1))]
    pub sku: String,
    #[schemars(range(min = 1))]
    pub quantity: u32,
}

impl From<&LineItem> for StockLine {
    fn from(item: &LineItem) -> Self {
        StockLine { sku: item.sku.clone(), quantity: item.quantity }
    }
}

/// The data of an `inventory.StockReserved.v1` event: every item of the order is reserved.
///
/// At least one line, SKUs unique and non-empty, quantities of at least one: [`StockReservedV1::new`]
/// and deserialisation both check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "StockReservedV1Wire")]
pub struct StockReservedV1 {
    order_id: Uuid,
    items: Vec<StockLine>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "StockReservedV1", description = "The data of an inventory.StockReserved.v1 event.")]
struct StockReservedV1Wire {
    order_id: Uuid,
    /// What was reserved, one line per SKU of the order.
    #[schemars(length(min = 1))]
    items: Vec<StockLine>,
}

impl StockReservedV1 {
    pub fn new(order_id: Uuid, items: Vec<StockLine>) -> Result<Self, InvalidEvent> {
        check_lines(&items)?;
        Ok(StockReservedV1 { order_id, items })
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn items(&self) -> &[StockLine] {
        &self.items
    }
}

/// At least one line; each SKU non-empty and once; each quantity at least one.
pub(crate) fn check_lines(items: &[StockLine]) -> Result<(), InvalidEvent> {
    if items.is_empty() {
        return Err(InvalidEvent::NoItems);
    }
    for (index, line) in items.iter().enumerate() {
        if line.sku.is_empty() {
            return Err(InvalidEvent::EmptySku { index });
        }
        if items[..index].iter().any(|earlier| earlier.sku == line.sku) {
            return Err(InvalidEvent::DuplicateSku { index, sku: line.sku.clone() });
        }
        if line.quantity == 0 {
            return Err(InvalidEvent::ZeroQuantity { index });
        }
    }
    Ok(())
}

impl TryFrom<StockReservedV1Wire> for StockReservedV1 {
    type Error = InvalidEvent;
    fn try_from(wire: StockReservedV1Wire) -> Result<Self, Self::Error> {
        StockReservedV1::new(wire.order_id, wire.items)
    }
}

crate::schema::schema_via_wire!(StockReservedV1, StockReservedV1Wire);
