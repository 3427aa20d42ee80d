use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::order_placed::InvalidEvent;
use crate::reasons::StockRejectionReason;

/// The data of an `inventory.StockRejected.v1` event: nothing was reserved for the order, and
/// `sku` is the first line that could not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "StockRejectedV1Wire")]
pub struct StockRejectedV1 {
    order_id: Uuid,
    reason: StockRejectionReason,
    sku: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "StockRejectedV1", description = "The data of an inventory.StockRejected.v1 event.")]
struct StockRejectedV1Wire {
    order_id: Uuid,
    reason: StockRejectionReason,
    /// The SKU that could not be reserved.
    #[schemars(length(min = 1))]
    sku: String,
}

impl StockRejectedV1 {
    pub fn new(order_id: Uuid, reason: StockRejectionReason, sku: impl Into<String>) -> Result<Self, InvalidEvent> {
        let sku = sku.into();
        if sku.is_empty() {
            return Err(InvalidEvent::EmptySku { index: 0 });
        }
        Ok(StockRejectedV1 { order_id, reason, sku })
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn reason(&self) -> StockRejectionReason {
        self.reason
    }
    pub fn sku(&self) -> &str {
        &self.sku
    }
}

impl TryFrom<StockRejectedV1Wire> for StockRejectedV1 {
    type Error = InvalidEvent;
    fn try_from(wire: StockRejectedV1Wire) -> Result<Self, Self::Error> {
        StockRejectedV1::new(wire.order_id, wire.reason, wire.sku)
    }
}

crate::schema::schema_via_wire!(StockRejectedV1, StockRejectedV1Wire);
