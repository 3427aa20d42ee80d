//! Builders for tests of consumers: SQS records and OrderPlaced events (feature `testing`).
// Test builders: a bad input is a bug in the test, so they fail loudly.
#![allow(clippy::expect_used, clippy::panic)]

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

/// Helpers for the adapters' tests against a local DynamoDB (LocalStack). Those tests are
/// `#[ignore]`d: run them with `cargo test -- --ignored` after `localstack/start`.
#[cfg(feature = "dynamodb")]
pub mod dynamodb {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};

    /// A client for the LocalStack the end-to-end run started, with its test credentials: the
    /// endpoint is `AWS_ENDPOINT_URL`, else `LOCALSTACK_ENDPOINT`, else
    /// `http://127.0.0.1:${LOCALSTACK_PORT:-4566}`, as the scripts and the e2e crate resolve it.
    pub fn local_client() -> Client {
        let endpoint =
            std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("LOCALSTACK_ENDPOINT")).unwrap_or_else(|_| {
                let port = std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".to_owned());
                format!("http://127.0.0.1:{port}")
            });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "orderflow-tests"))
            .build();
        Client::from_conf(config)
    }

    /// Creates a fresh on-demand table keyed by the string attribute `key`; returns its name.
    ///
    /// # Panics
    /// When DynamoDB cannot be reached: the test cannot run.
    pub async fn create_table(client: &Client, prefix: &str, key: &str) -> String {
        let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        let attribute = AttributeDefinition::builder()
            .attribute_name(key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition");
        let schema =
            KeySchemaElement::builder().attribute_name(key).key_type(KeyType::Hash).build().expect("key schema");
        client
            .create_table()
            .table_name(&name)
            .attribute_definitions(attribute)
            .key_schema(schema)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!("create table {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(error))
            });
        name
    }

    /// Deletes a table made by [`create_table`]; errors are ignored (it is clean-up).
    pub async fn delete_table(client: &Client, name: &str) {
        let _ = client.delete_table().table_name(name).send().await;
    }
}
