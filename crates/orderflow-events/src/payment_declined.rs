use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;
use crate::reasons::DeclineReason;

/// The data of a `billing.PaymentDeclined.v1` event: the gateway refused to hold `amount`.
/// Every field is valid by its type, so this one needs no checks of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "PaymentDeclinedV1", description = "The data of a billing.PaymentDeclined.v1 event.")]
pub struct PaymentDeclinedV1 {
    order_id: Uuid,
    /// The amount that was refused: the order total.
    amount: Money,
    reason: DeclineReason,
}

impl PaymentDeclinedV1 {
    pub fn new(order_id: Uuid, amount: Money, reason: DeclineReason) -> Self {
        PaymentDeclinedV1 { order_id, amount, reason }
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn amount(&self) -> Money {
        self.amount
    }
    pub fn reason(&self) -> &DeclineReason {
        &self.reason
    }
}
