//! Builders for tests of consumers: SQS records and OrderPlaced events. Not used at run time.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use orderflow_events::{Currency, Customer, LineItem, Money, ORDER_SERVICE_SOURCE, OrderPlacedEvent, OrderPlacedV1};
use uuid::Uuid;

/// A standard-queue record, first delivery.
pub fn sqs_message(message_id: &str, body: impl Into<String>) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_owned());
    message.body = Some(body.into());
    message.attributes = HashMap::from([("ApproximateReceiveCount".to_owned(), "1".to_owned())]);
    message
}

/// A FIFO-queue record in `group`.
pub fn fifo_message(message_id: &str, group: &str, body: impl Into<String>) -> SqsMessage {
    let mut message = sqs_message(message_id, body);
    message.attributes.insert("MessageGroupId".to_owned(), group.to_owned());
    message
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// An OrderPlaced v1 event with fresh ids, placed at `time`, for `items` of `(sku, quantity,
/// unit price in minor units)` in `currency`.
///
/// # Panics
/// If the items break the contract (no items, a zero quantity...): a bug in the test.
pub fn order_placed_at(items: &[(&str, u32, u64)], currency: &str, time: DateTime<Utc>) -> OrderPlacedEvent {
    let currency: Currency = currency.parse().expect("test currency");
    let items = items
        .iter()
        .map(|&(sku, quantity, amount)| LineItem {
            sku: sku.to_owned(),
            quantity,
            unit_price: Money::new(amount, currency),
        })
        .collect();
    let customer =
        Customer { id: "cus_1001".into(), email: "ada@example.com".into(), name: Some("Ada Lovelace".into()) };
    let data = OrderPlacedV1::new(Uuid::now_v7(), customer, items, time).expect("test order");
    OrderPlacedEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, time, data).with_correlation_id("req-test")
}

/// [`order_placed_at`] now.
pub fn order_placed(items: &[(&str, u32, u64)], currency: &str) -> OrderPlacedEvent {
    order_placed_at(items, currency, Utc::now())
}

/// The event wrapped in an SNS notification envelope (non-raw delivery).
pub fn sns_wrapped(event: &OrderPlacedEvent) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": Uuid::new_v4().to_string(),
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:OrderEvents",
        "Message": event.to_json(),
        "Timestamp": Utc::now().to_rfc3339(),
    })
    .to_string()
}
