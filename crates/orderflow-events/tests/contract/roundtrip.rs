//! Property tests: any valid event survives encode-then-decode unchanged, delivered raw or wrapped
//! in an SNS notification.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use orderflow_events::{
    Currency, Customer, Delivery, LineItem, Money, OrderEvent, OrderPlacedEvent, OrderPlacedV1, decode_message,
};
use proptest::prelude::*;
use uuid::Uuid;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Any instant RFC 3339 can write (years 0000-9999), to the nanosecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_167_219_200i64..=253_402_300_799i64, 0u32..1_000_000_000)
        .prop_filter_map("representable", |(seconds, nanos)| DateTime::from_timestamp(seconds, nanos))
}

fn currency() -> impl Strategy<Value = Currency> {
    "[A-Z]{3}".prop_filter_map("three upper-case letters", |code| code.parse().ok())
}

/// Non-empty text, including quotes, backslashes, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z0-9_\"\\\\\u{0}-\u{1f}é€😀-]{1,12}"]
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn order() -> impl Strategy<Value = OrderPlacedV1> {
    let customer = (text(), text(), proptest::option::of(any::<String>())).prop_map(|(id, email, name)| Customer {
        id,
        email,
        name,
    });
    let lines = proptest::collection::btree_set(text(), 1..8).prop_flat_map(|skus: BTreeSet<String>| {
        let count = skus.len();
        (Just(skus), proptest::collection::vec((1u32..=10_000, 0u64..=100_000_000), count))
    });
    (uuid(), customer, lines, currency(), instant()).prop_map(|(order_id, customer, (skus, prices), currency, at)| {
        let items = skus
            .into_iter()
            .zip(prices)
            .map(|(sku, (quantity, amount))| LineItem { sku, quantity, unit_price: Money::new(amount, currency) })
            .collect();
        // Bounded quantities and prices cannot overflow, so every generated order is valid.
        OrderPlacedV1::new(order_id, customer, items, at).expect("generated orders are valid")
    })
}

fn event() -> impl Strategy<Value = OrderPlacedEvent> {
    (uuid(), text(), instant(), order(), proptest::option::of(text()), proptest::option::of(text())).prop_map(
        |(id, source, time, data, correlation_id, traceparent)| {
            let mut event = OrderPlacedEvent::new(id, source, time, data);
            if let Some(correlation_id) = correlation_id {
                event = event.with_correlation_id(correlation_id);
            }
            if let Some(traceparent) = traceparent {
                event = event.with_traceparent(traceparent);
            }
            event
        },
    )
}

/// The body SNS delivers to SQS without raw message delivery: the event is a JSON string in `Message`.
fn sns_wrapped(message: &str) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": "5f0c4d3e-9a2b-5c1d-8e7f-0a1b2c3d4e5f",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:OrderEventsTopic",
        "Message": message,
        "Timestamp": "2026-11-23T18:30:00.456Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "MessageAttributes": {
            "event_type": { "Type": "String", "Value": "OrderPlaced" },
            "event_version": { "Type": "String", "Value": "1" }
        }
    })
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn raw_round_trip(event in event()) {
        let (decoded, delivery) = decode_message(&event.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(delivery, Delivery::Raw);
        prop_assert_eq!(decoded, OrderEvent::OrderPlacedV1(event));
    }

    #[test]
    fn sns_wrapped_round_trip(event in event()) {
        let body = sns_wrapped(&event.to_json());
        let (decoded, delivery) = decode_message(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(delivery, Delivery::SnsNotification);
        prop_assert_eq!(decoded, OrderEvent::OrderPlacedV1(event));
    }

    /// Whatever the body, the decoder answers with a result, never a panic.
    #[test]
    fn arbitrary_bodies_do_not_panic(body in any::<String>()) {
        let _ = decode_message(&body);
    }
}
