//! The OrdersTable item: the order body (what GET returns) plus the lifecycle's bookkeeping
//! (which outcomes arrived, a version for optimistic concurrency, when the order settled), and
//! its codec to and from DynamoDB. The order API writes it at placement; the order lifecycle
//! (`lambdas/order-lifecycle`) reads it and updates it conditionally on `version`. Both use this
//! one codec, so the attribute names cannot drift apart.
//!
//! Attributes beyond the order body (`orderId`, `status`, `statusReason`, `customer`, `items`,
//! `currency`, `total`, `placedAt`, `shippingAddress`): `stockOutcome` (`RESERVED` or
//! `REJECTED`), `paymentOutcome` (`AUTHORIZED` or `DECLINED`), `version` (N, 1 at placement, +1
//! on every lifecycle write) and `settledAt` (RFC 3339, ms, `Z`) once CONFIRMED or CANCELLED.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{Item, MalformedItem, from_item, n, s, timestamp, to_attribute};
use serde::{Deserialize, Serialize};

use crate::domain::Order;
use crate::lifecycle::LifecycleState;

/// The key.
pub const ORDER_ID: &str = "orderId";
pub const STATUS: &str = "status";
pub const STATUS_REASON: &str = "statusReason";
pub const STOCK_OUTCOME: &str = "stockOutcome";
pub const PAYMENT_OUTCOME: &str = "paymentOutcome";
pub const VERSION: &str = "version";
pub const SETTLED_AT: &str = "settledAt";

/// The version a placed order starts at. A row without `version` (written before the
/// lifecycle existed) reads as version 0.
pub const PLACED_VERSION: u64 = 1;

/// What inventory announced for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StockOutcome {
    Reserved,
    Rejected,
}

/// What billing announced for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentOutcome {
    Authorized,
    Declined,
}

impl StockOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StockOutcome::Reserved => "RESERVED",
            StockOutcome::Rejected => "REJECTED",
        }
    }
}

impl PaymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentOutcome::Authorized => "AUTHORIZED",
            PaymentOutcome::Declined => "DECLINED",
        }
    }
}

/// The lifecycle's bookkeeping on the order row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bookkeeping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_outcome: Option<StockOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_outcome: Option<PaymentOutcome>,
    /// Optimistic concurrency: every lifecycle write is conditional on the version it read.
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_millisecond_timestamp")]
    pub settled_at: Option<DateTime<Utc>>,
}

/// One OrdersTable item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(flatten)]
    pub order: Order,
    #[serde(flatten)]
    pub bookkeeping: Bookkeeping,
}

impl OrderRecord {
    /// The row of a newly placed order.
    pub fn placed(order: Order) -> Self {
        OrderRecord { order, bookkeeping: Bookkeeping { version: PLACED_VERSION, ..Bookkeeping::default() } }
    }

    /// What the lifecycle's state machine decides on.
    pub fn state(&self) -> LifecycleState {
        LifecycleState {
            status: self.order.status,
            reason: self.order.status_reason,
            stock: self.bookkeeping.stock_outcome,
            payment: self.bookkeeping.payment_outcome,
        }
    }

    /// The row after a lifecycle write of `state`: the version moves on by one, and a settling
    /// write stamps `settledAt`.
    pub fn with_state(&self, state: LifecycleState, now: DateTime<Utc>) -> OrderRecord {
        let mut next = self.clone();
        next.order.status = state.status;
        next.order.status_reason = state.reason;
        next.bookkeeping.stock_outcome = state.stock;
        next.bookkeeping.payment_outcome = state.payment;
        next.bookkeeping.version = self.bookkeeping.version.saturating_add(1);
        if state.status.is_settled() && !self.order.status.is_settled() {
            next.bookkeeping.settled_at = Some(crate::domain::truncate_to_millis(now));
        }
        next
    }

    pub fn to_item(&self) -> Result<Item, MalformedItem> {
        match serde_json::to_value(self).map(|value| to_attribute(&value)) {
            Ok(AttributeValue::M(item)) => Ok(item),
            _ => Err(MalformedItem::new("(order)", "did not serialise to a map")),
        }
    }

    pub fn from_item(item: &Item) -> Result<Self, MalformedItem> {
        let value = from_item(item)?;
        serde_json::from_value(value).map_err(|error| MalformedItem::new("(order)", error.to_string()))
    }

    /// The attributes a lifecycle write sets, each `(name, value)`: `status`, `version` and
    /// whichever of `statusReason`, `stockOutcome`, `paymentOutcome`, `settledAt` the row has.
    /// Nothing is ever removed: the lifecycle only adds facts.
    pub fn lifecycle_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        let mut attributes = vec![(STATUS, s(self.order.status.as_str())), (VERSION, n(self.bookkeeping.version))];
        if let Some(reason) = self.order.status_reason {
            attributes.push((STATUS_REASON, s(reason.as_str())));
        }
        if let Some(stock) = self.bookkeeping.stock_outcome {
            attributes.push((STOCK_OUTCOME, s(stock.as_str())));
        }
        if let Some(payment) = self.bookkeeping.payment_outcome {
            attributes.push((PAYMENT_OUTCOME, s(payment.as_str())));
        }
        if let Some(settled_at) = self.bookkeeping.settled_at {
            attributes.push((SETTLED_AT, timestamp(settled_at)));
        }
        attributes
    }
}

mod optional_millisecond_timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => serializer.serialize_str(&crate::domain::format_timestamp(*time)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text).map(|time| time.with_timezone(&Utc)).map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use orderflow_events::ShippingAddress;
    use serde_json::{Value, json};
    use uuid::Uuid;

    use orderflow_events::CancellationReason;

    use super::*;
    use crate::domain::{OrderStatus, SupportedCurrencies, validate_order};

    fn order() -> Order {
        let body = json!({
            "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
            "currency": "EUR",
            "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ],
            "shippingAddress": { "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR" }
        });
        let request =
            validate_order(body.as_object().expect("object"), &SupportedCurrencies::default()).expect("valid");
        let now = DateTime::from_timestamp_millis(1_795_458_600_123).expect("time");
        Order::place(request, Uuid::parse_str("0193a5d2-7c1d-7000-8000-0123456789ab").expect("uuid"), now)
    }

    #[test]
    fn a_placed_row_has_the_order_body_and_version_1() {
        let record = OrderRecord::placed(order());
        let item = record.to_item().expect("item");
        assert_eq!(item[ORDER_ID], s("0193a5d2-7c1d-7000-8000-0123456789ab"));
        assert_eq!(item[STATUS], s("PLACED"));
        assert_eq!(item[VERSION], n(1));
        assert_eq!(item["total"], n(3998));
        assert_eq!(item["placedAt"], s("2026-11-23T18:30:00.123Z"));
        let address = item["shippingAddress"].as_m().expect("map");
        assert_eq!(address["country"], s("FR"));
        for absent in [STATUS_REASON, STOCK_OUTCOME, PAYMENT_OUTCOME, SETTLED_AT] {
            assert!(!item.contains_key(absent), "{absent}");
        }
        assert_eq!(OrderRecord::from_item(&item).expect("round trip"), record);
    }

    #[test]
    fn a_settled_row_round_trips_and_its_body_shows_status_and_reason() {
        let record = OrderRecord::placed(order());
        let now = DateTime::from_timestamp_millis(1_795_458_700_456).expect("time");
        let state = LifecycleState {
            status: OrderStatus::Cancelled,
            reason: Some(CancellationReason::PaymentDeclined),
            stock: Some(StockOutcome::Reserved),
            payment: Some(PaymentOutcome::Declined),
        };
        let settled = record.with_state(state, now);
        assert_eq!(settled.bookkeeping.version, 2);
        assert_eq!(settled.bookkeeping.settled_at, Some(now));
        let item = settled.to_item().expect("item");
        assert_eq!(item[STATUS_REASON], s("PAYMENT_DECLINED"));
        assert_eq!(item[STOCK_OUTCOME], s("RESERVED"));
        assert_eq!(item[PAYMENT_OUTCOME], s("DECLINED"));
        assert_eq!(item[SETTLED_AT], s("2026-11-23T18:31:40.456Z"));
        assert_eq!(OrderRecord::from_item(&item).expect("round trip"), settled);

        let names: Vec<&str> = settled.lifecycle_attributes().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, [STATUS, VERSION, STATUS_REASON, STOCK_OUTCOME, PAYMENT_OUTCOME, SETTLED_AT]);

        let body: Value = serde_json::from_str(&settled.order.to_json()).expect("json");
        assert_eq!(body["status"], "CANCELLED");
        assert_eq!(body["statusReason"], "PAYMENT_DECLINED");
        for internal in ["version", "stockOutcome", "paymentOutcome", "settledAt"] {
            assert!(body.get(internal).is_none(), "{internal} stays internal");
        }
        assert_eq!(
            body["shippingAddress"],
            serde_json::to_value(ShippingAddress::new("1 Main St", None, "Lyon", "69001", "FR").expect("address"))
                .expect("json")
        );
    }

    #[test]
    fn a_row_from_before_the_lifecycle_reads_as_version_0() {
        let mut item = OrderRecord::placed(order()).to_item().expect("item");
        item.remove(VERSION);
        let record = OrderRecord::from_item(&item).expect("old row");
        assert_eq!(record.bookkeeping.version, 0);
        assert_eq!(record.order.status, OrderStatus::Placed);
    }

    #[test]
    fn a_broken_row_is_malformed() {
        let mut item = OrderRecord::placed(order()).to_item().expect("item");
        item.insert(STATUS.to_owned(), s("SHIPPED"));
        assert!(OrderRecord::from_item(&item).is_err());
    }
}
