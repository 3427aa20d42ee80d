//! The closed sets of reasons the lifecycle events carry. Each is an enum, so a misspelt reason
//! cannot be built or decoded; adding a variant is a contract change (see the events README).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order_placed::InvalidEvent;

/// Why inventory reserved nothing for an order (StockRejected v1 `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StockRejectionReason {
    /// A SKU has fewer units available than the order asks for.
    OutOfStock,
    /// A SKU is not in the inventory at all.
    UnknownSku,
}

/// Why the order service cancelled an order (OrderCancelled v1 `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancellationReason {
    OutOfStock,
    UnknownSku,
    PaymentDeclined,
    /// No settling outcome arrived within the settle timeout.
    Timeout,
}

impl StockRejectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StockRejectionReason::OutOfStock => "OUT_OF_STOCK",
            StockRejectionReason::UnknownSku => "UNKNOWN_SKU",
        }
    }
}

impl CancellationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancellationReason::OutOfStock => "OUT_OF_STOCK",
            CancellationReason::UnknownSku => "UNKNOWN_SKU",
            CancellationReason::PaymentDeclined => "PAYMENT_DECLINED",
            CancellationReason::Timeout => "TIMEOUT",
        }
    }

    /// Every reason, for exhaustive tests and docs.
    pub const ALL: [CancellationReason; 4] = [
        CancellationReason::OutOfStock,
        CancellationReason::UnknownSku,
        CancellationReason::PaymentDeclined,
        CancellationReason::Timeout,
    ];
}

impl From<StockRejectionReason> for CancellationReason {
    fn from(reason: StockRejectionReason) -> Self {
        match reason {
            StockRejectionReason::OutOfStock => CancellationReason::OutOfStock,
            StockRejectionReason::UnknownSku => CancellationReason::UnknownSku,
        }
    }
}

impl std::str::FromStr for CancellationReason {
    type Err = InvalidEvent;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        CancellationReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == value)
            .ok_or(InvalidEvent::InvalidText { field: "reason", problem: "is not a known cancellation reason" })
    }
}

impl fmt::Display for StockRejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CancellationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the payment gateway refused an authorization (PaymentDeclined v1 `reason`).
///
/// Gateways grow new decline codes over time and the order service treats every decline alike,
/// so this is an open set: an upper-case code (`A-Z`, `0-9`, `_`, 1–64 characters), not an enum.
/// The simulated gateway only ever says [`DeclineReason::LIMIT_EXCEEDED`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "DeclineReasonWire")]
pub struct DeclineReason(String);

#[derive(JsonSchema)]
#[schemars(rename = "DeclineReason", description = "A decline code of the payment gateway, e.g. LIMIT_EXCEEDED.")]
#[allow(dead_code)] // exists for its schema only
struct DeclineReasonWire(#[schemars(regex(pattern = r"^[A-Z0-9_]{1,64}$"))] String);

impl DeclineReason {
    /// The simulated gateway's one reason: the total is above `PAYMENT_DECLINE_ABOVE`.
    pub const LIMIT_EXCEEDED: &'static str = "LIMIT_EXCEEDED";

    pub fn new(code: impl Into<String>) -> Result<Self, InvalidEvent> {
        let code = code.into();
        let valid = (1..=64).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(DeclineReason(code))
        } else {
            Err(InvalidEvent::InvalidText { field: "reason", problem: "must be an upper-case decline code" })
        }
    }

    pub fn limit_exceeded() -> Self {
        DeclineReason(Self::LIMIT_EXCEEDED.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeclineReason {
    type Error = InvalidEvent;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DeclineReason::new(value)
    }
}

impl From<DeclineReason> for String {
    fn from(reason: DeclineReason) -> Self {
        reason.0
    }
}

impl fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
