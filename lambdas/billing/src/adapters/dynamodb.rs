//! The DynamoDB adapter of the payments port. PaymentsTable items: `{orderId, status, amount,
//! currency, eventId, gatewayReference, createdAt}` plus `declineReason` when DECLINED. The
//! end-to-end tests read these names: keep them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use orderflow_events::Money;
use orderflow_kit::dynamodb::{
    Item, ItemExt, MalformedItem, PutIfAbsentError, PutOutcome, RequestFailed, n, put_if_absent, s, timestamp,
};
use uuid::Uuid;

use crate::domain::{Payment, RecordOutcome};
use crate::ports::{PaymentsError, PaymentsStore};

/// The table's key.
const ORDER_ID: &str = "orderId";

#[derive(Debug, Clone)]
pub struct DynamoDbPaymentsStore {
    client: Client,
    table: String,
}

impl DynamoDbPaymentsStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbPaymentsStore { client, table: table.into() }
    }
}

fn to_item(payment: &Payment) -> Item {
    let mut item = Item::from([
        (ORDER_ID.to_owned(), s(payment.order_id.to_string())),
        ("status".to_owned(), s(payment.status.as_str())),
        ("amount".to_owned(), n(payment.amount.amount)),
        ("currency".to_owned(), s(payment.amount.currency.as_str())),
        ("eventId".to_owned(), s(payment.event_id.to_string())),
        ("gatewayReference".to_owned(), s(&payment.gateway_reference)),
        ("createdAt".to_owned(), timestamp(payment.created_at)),
    ]);
    if let Some(reason) = &payment.decline_reason {
        item.insert("declineReason".to_owned(), s(reason));
    }
    item
}

fn from_item(item: &Item) -> Result<Payment, MalformedItem> {
    Ok(Payment {
        order_id: item.parsed(ORDER_ID)?,
        status: item.parsed("status")?,
        amount: Money::new(item.number("amount")?, item.parsed("currency")?),
        event_id: item.parsed("eventId")?,
        gateway_reference: item.string("gatewayReference")?.to_owned(),
        decline_reason: item.optional_string("declineReason").map(str::to_owned),
        created_at: item.time("createdAt")?,
    })
}

/// The port's view of a failed conditional write. No `_` arm: a new way for the kit's write to
/// fail must be given a meaning here.
fn record_error(error: PutIfAbsentError, order_id: Uuid) -> PaymentsError {
    match error {
        PutIfAbsentError::Request(failed) => PaymentsError::Store(failed),
        PutIfAbsentError::Vanished { .. } => PaymentsError::Vanished { order_id },
    }
}

#[async_trait]
impl PaymentsStore for DynamoDbPaymentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_ID, s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item().map(from_item).transpose()?)
    }

    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
        match put_if_absent(&self.client, &self.table, ORDER_ID, to_item(payment)).await {
            Ok(PutOutcome::Written) => Ok(RecordOutcome::Recorded),
            Ok(PutOutcome::Exists(existing)) => Ok(RecordOutcome::AlreadyRecorded(from_item(&existing)?)),
            Err(error) => Err(record_error(error, payment.order_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::PaymentStatus;

    fn declined() -> Payment {
        Payment {
            order_id: Uuid::now_v7(),
            status: PaymentStatus::Declined,
            amount: Money::new(123_456, "JPY".parse().unwrap()),
            event_id: Uuid::now_v7(),
            gateway_reference: "sim_dc_x".into(),
            decline_reason: Some("AMOUNT_OVER_LIMIT".into()),
            created_at: DateTime::from_timestamp_millis(1_795_458_600_123).unwrap(),
        }
    }

    #[test]
    fn items_round_trip() {
        let payment = declined();
        let item = to_item(&payment);
        assert_eq!(item["amount"], n(123_456));
        assert_eq!(item["status"], s("DECLINED"));
        assert_eq!(item["createdAt"], s("2026-11-23T18:30:00.123Z"));
        assert_eq!(item["declineReason"], s("AMOUNT_OVER_LIMIT"));
        assert_eq!(from_item(&item).unwrap(), payment);

        let captured = Payment { status: PaymentStatus::Captured, decline_reason: None, ..payment };
        let item = to_item(&captured);
        assert!(!item.contains_key("declineReason"));
        assert_eq!(from_item(&item).unwrap(), captured);
    }

    #[test]
    fn a_malformed_item_names_its_attribute() {
        let mut item = to_item(&declined());
        item.insert("status".to_owned(), s("REFUNDED"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "status");
        item.remove("createdAt");
        item.insert("status".to_owned(), s("CAPTURED"));
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("createdAt", "is missing"));
    }

    #[test]
    fn a_vanished_winner_is_the_ports_vanished_payment() {
        let order_id = Uuid::now_v7();
        let vanished = record_error(PutIfAbsentError::Vanished { key: order_id.to_string() }, order_id);
        assert!(matches!(vanished, PaymentsError::Vanished { order_id: id } if id == order_id));
        let failed = PutIfAbsentError::Request(RequestFailed::new("PutItem", std::io::Error::other("throttled")));
        assert!(matches!(record_error(failed, order_id), PaymentsError::Store(_)));
    }
}
