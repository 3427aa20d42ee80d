use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;
use crate::order_placed::InvalidEvent;

/// The data of a `billing.PaymentAuthorized.v1` event: the gateway holds `amount` for the order
/// under `authorizationId`, to be captured or voided once the order settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "PaymentAuthorizedV1Wire")]
pub struct PaymentAuthorizedV1 {
    order_id: Uuid,
    amount: Money,
    authorization_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "PaymentAuthorizedV1", description = "The data of a billing.PaymentAuthorized.v1 event.")]
struct PaymentAuthorizedV1Wire {
    order_id: Uuid,
    /// The amount held: the order total.
    amount: Money,
    /// The gateway's reference for the hold.
    #[schemars(length(min = 1))]
    authorization_id: String,
}

impl PaymentAuthorizedV1 {
    pub fn new(order_id: Uuid, amount: Money, authorization_id: impl Into<String>) -> Result<Self, InvalidEvent> {
        let authorization_id = authorization_id.into();
        if authorization_id.is_empty() {
            return Err(InvalidEvent::InvalidText { field: "authorizationId", problem: "must not be empty" });
        }
        Ok(PaymentAuthorizedV1 { order_id, amount, authorization_id })
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn amount(&self) -> Money {
        self.amount
    }
    pub fn authorization_id(&self) -> &str {
        &self.authorization_id
    }
}

impl TryFrom<PaymentAuthorizedV1Wire> for PaymentAuthorizedV1 {
    type Error = InvalidEvent;
    fn try_from(wire: PaymentAuthorizedV1Wire) -> Result<Self, Self::Error> {
        PaymentAuthorizedV1::new(wire.order_id, wire.amount, wire.authorization_id)
    }
}

crate::schema::schema_via_wire!(PaymentAuthorizedV1, PaymentAuthorizedV1Wire);
