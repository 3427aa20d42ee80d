//! Property tests: any valid event of any type survives encode-then-decode unchanged, delivered raw
//! or wrapped in an SNS notification.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use orderflow_events::{
    CancellationReason, CloudEvent, Currency, Customer, DeclineReason, Delivery, EventData, LineItem, Money,
    OrderCancelledV1, OrderConfirmedV1, OrderEvent, OrderPlacedEvent, OrderPlacedV1, PaymentAuthorizedV1,
    PaymentDeclinedV1, ShippingAddress, StockLine, StockRejectedV1, StockRejectionReason, StockReservedV1,
    decode_message,
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

fn customer() -> impl Strategy<Value = Customer> {
    (text(), text(), proptest::option::of(any::<String>())).prop_map(|(id, email, name)| Customer { id, email, name })
}

fn money() -> impl Strategy<Value = Money> {
    (any::<u64>(), currency()).prop_map(|(amount, currency)| Money::new(amount, currency))
}

/// 1-100 characters, none of them a control character or a line break (the contract's free-text rule).
fn address_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 ,.'/#-]{1,30}", "[^\\p{Cc}\u{2028}\u{2029}]{1,100}"]
}

fn shipping_address() -> impl Strategy<Value = ShippingAddress> {
    (address_text(), proptest::option::of(address_text()), address_text(), address_text(), "[A-Z]{2}").prop_map(
        |(line1, line2, city, postal_code, country)| {
            ShippingAddress::new(line1, line2, city, postal_code, country).expect("generated addresses are valid")
        },
    )
}

fn order() -> impl Strategy<Value = OrderPlacedV1> {
    let lines = proptest::collection::btree_set(text(), 1..8).prop_flat_map(|skus: BTreeSet<String>| {
        let count = skus.len();
        (Just(skus), proptest::collection::vec((1u32..=10_000, 0u64..=100_000_000), count))
    });
    (uuid(), customer(), lines, currency(), instant(), proptest::option::of(shipping_address())).prop_map(
        |(order_id, customer, (skus, prices), currency, at, address)| {
            let items = skus
                .into_iter()
                .zip(prices)
                .map(|(sku, (quantity, amount))| LineItem { sku, quantity, unit_price: Money::new(amount, currency) })
                .collect();
            // Bounded quantities and prices cannot overflow, so every generated order is valid.
            let order = OrderPlacedV1::new(order_id, customer, items, at).expect("generated orders are valid");
            match address {
                Some(address) => order.with_shipping_address(address),
                None => order,
            }
        },
    )
}

/// Any envelope around data from `data`.
fn envelope<D: EventData + std::fmt::Debug>(data: impl Strategy<Value = D>) -> impl Strategy<Value = CloudEvent<D>> {
    (uuid(), text(), instant(), data, proptest::option::of(text()), proptest::option::of(text())).prop_map(
        |(id, source, time, data, correlation_id, traceparent)| {
            let mut event = CloudEvent::new(id, source, time, data);
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

fn event() -> impl Strategy<Value = OrderPlacedEvent> {
    envelope(order())
}

fn stock_reserved() -> impl Strategy<Value = StockReservedV1> {
    let lines = proptest::collection::btree_set(text(), 1..8).prop_flat_map(|skus: BTreeSet<String>| {
        let count = skus.len();
        (Just(skus), proptest::collection::vec(1u32..=u32::MAX, count))
    });
    (uuid(), lines).prop_map(|(order_id, (skus, quantities))| {
        let items = skus.into_iter().zip(quantities).map(|(sku, quantity)| StockLine { sku, quantity }).collect();
        StockReservedV1::new(order_id, items).expect("generated reservations are valid")
    })
}

fn stock_rejected() -> impl Strategy<Value = StockRejectedV1> {
    let reason = prop_oneof![Just(StockRejectionReason::OutOfStock), Just(StockRejectionReason::UnknownSku)];
    (uuid(), reason, text())
        .prop_map(|(order_id, reason, sku)| StockRejectedV1::new(order_id, reason, sku).expect("valid rejection"))
}

fn payment_authorized() -> impl Strategy<Value = PaymentAuthorizedV1> {
    (uuid(), money(), text())
        .prop_map(|(order_id, amount, id)| PaymentAuthorizedV1::new(order_id, amount, id).expect("valid authorization"))
}

fn payment_declined() -> impl Strategy<Value = PaymentDeclinedV1> {
    (uuid(), money(), "[A-Z0-9_]{1,64}").prop_map(|(order_id, amount, code)| {
        PaymentDeclinedV1::new(order_id, amount, DeclineReason::new(code).expect("generated codes are valid"))
    })
}

fn order_confirmed() -> impl Strategy<Value = OrderConfirmedV1> {
    order().prop_map(|order| OrderConfirmedV1::for_order(&order))
}

fn order_cancelled() -> impl Strategy<Value = OrderCancelledV1> {
    (uuid(), proptest::sample::select(CancellationReason::ALL.to_vec()), customer(), money()).prop_map(
        |(order_id, reason, customer, total)| {
            OrderCancelledV1::new(order_id, reason, customer, total).expect("valid cancellation")
        },
    )
}

/// Any event of any type this crate decodes, with the SNS attributes its producer publishes it with.
fn any_event() -> impl Strategy<Value = (OrderEvent, [(&'static str, &'static str); 2])> {
    prop_oneof![
        envelope(order()).prop_map(|e| (e.message_attributes(), OrderEvent::OrderPlacedV1(e))),
        envelope(stock_reserved()).prop_map(|e| (e.message_attributes(), OrderEvent::StockReservedV1(e))),
        envelope(stock_rejected()).prop_map(|e| (e.message_attributes(), OrderEvent::StockRejectedV1(e))),
        envelope(payment_authorized()).prop_map(|e| (e.message_attributes(), OrderEvent::PaymentAuthorizedV1(e))),
        envelope(payment_declined()).prop_map(|e| (e.message_attributes(), OrderEvent::PaymentDeclinedV1(e))),
        envelope(order_confirmed()).prop_map(|e| (e.message_attributes(), OrderEvent::OrderConfirmedV1(e))),
        envelope(order_cancelled()).prop_map(|e| (e.message_attributes(), OrderEvent::OrderCancelledV1(e))),
    ]
    .prop_map(|(attributes, event)| (event, attributes))
}

/// The body SNS delivers to SQS without raw message delivery: the event is a JSON string in `Message`.
fn sns_wrapped(message: &str) -> String {
    sns_wrapped_with(message, [("event_type", "OrderPlaced"), ("event_version", "1")])
}

fn sns_wrapped_with(message: &str, attributes: [(&str, &str); 2]) -> String {
    let attributes: serde_json::Map<String, serde_json::Value> = attributes
        .into_iter()
        .map(|(name, value)| (name.to_owned(), serde_json::json!({ "Type": "String", "Value": value })))
        .collect();
    serde_json::json!({
        "Type": "Notification",
        "MessageId": "5f0c4d3e-9a2b-5c1d-8e7f-0a1b2c3d4e5f",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:OrderEventsTopic",
        "Message": message,
        "Timestamp": "2026-11-23T18:30:00.456Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "MessageAttributes": attributes
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

    /// Every type of the contract, not only OrderPlaced: raw delivery.
    #[test]
    fn every_event_type_raw_round_trip((event, _) in any_event()) {
        let (decoded, delivery) = decode_message(&event.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(delivery, Delivery::Raw);
        prop_assert_eq!(decoded, event);
    }

    /// Every type of the contract, wrapped in an SNS notification with its own attributes.
    #[test]
    fn every_event_type_sns_wrapped_round_trip((event, attributes) in any_event()) {
        let body = sns_wrapped_with(&event.to_json(), attributes);
        let (decoded, delivery) = decode_message(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(delivery, Delivery::SnsNotification);
        prop_assert_eq!(decoded, event);
    }

    /// Whatever the body, the decoder answers with a result, never a panic.
    #[test]
    fn arbitrary_bodies_do_not_panic(body in any::<String>()) {
        let _ = decode_message(&body);
    }
}
