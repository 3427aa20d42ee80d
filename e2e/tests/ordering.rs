//! The lifecycle's edge paths on the deployed stack: an OrderCancelled that reaches inventory and
//! billing before its OrderPlaced, an outcome for an order the order service does not know, and
//! the settle timeout. Events are published straight to the topic (or the timer queue), as their
//! producers would, with the contract's message attributes.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SubsecRound, TimeDelta, Utc};
use e2e::lifecycle::Expect;
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder, eventually, number, string};
use orderflow_events::{
    BILLING_SOURCE, CancellationReason, CloudEvent, INVENTORY_SOURCE, ORDER_CANCELLED_V1_TYPE, ORDER_SERVICE_SOURCE,
    OrderCancelledV1, OrderEvent, PAYMENT_AUTHORIZED_V1_TYPE, PAYMENT_DECLINED_V1_TYPE, PaymentDeclinedV1,
    STOCK_REJECTED_V1_TYPE, STOCK_RESERVED_V1_TYPE, StockLine, StockReservedV1,
};
use serde_json::Value;
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_seen_before_its_order_makes_the_late_order_a_no_op() {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 500)]);
    let order_id = Uuid::now_v7();
    let placed = order.placed_event(order_id, Utc::now().trunc_subsecs(3));

    let cancelled = CloudEvent::new(
        Uuid::now_v7(),
        ORDER_SERVICE_SOURCE,
        Utc::now(),
        OrderCancelledV1::new(order_id, CancellationReason::Timeout, order.customer(), order.money(order.total()))
            .expect("valid"),
    )
    .with_correlation_id(format!("e2e-{order_id}"));
    harness.publish_event(&OrderEvent::OrderCancelledV1(cancelled)).await;

    eventually(SETTLE, "the CANCELLED reservation record", || async {
        harness.reservation(order_id).await.filter(|r| string(r, "status") == "CANCELLED")
    })
    .await;
    let payment = eventually(SETTLE, "the VOIDED payment record", || async {
        harness.payment(order_id).await.filter(|p| string(p, "status") == "VOIDED")
    })
    .await;
    assert_eq!(number(&payment, "amount"), 1000, "voided for the cancellation's total");
    assert_eq!(string(&payment, "currency"), "EUR");

    harness.publish_event(&OrderEvent::OrderPlacedV1(placed)).await;
    // Both consumers take the late OrderPlaced (the spy sees it) and must do nothing with it.
    spy.collect_until(SETTLE, |spy| spy.events_for(order_id).len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    spy.collect_for(Duration::from_secs(2)).await;
    assert_eq!(string(&harness.reservation(order_id).await.expect("record"), "status"), "CANCELLED", "no reservation");
    assert_eq!(string(&harness.payment(order_id).await.expect("record"), "status"), "VOIDED", "no authorization");
    assert_eq!(harness.stock(&sku).await, (10, 0), "stock unchanged");
    for event_type in
        [STOCK_RESERVED_V1_TYPE, STOCK_REJECTED_V1_TYPE, PAYMENT_AUTHORIZED_V1_TYPE, PAYMENT_DECLINED_V1_TYPE]
    {
        assert!(spy.of_type(order_id, event_type).is_empty(), "no {event_type} for a cancelled order");
    }
    assert!(harness.stored_order(order_id).await.is_none(), "the order service never knew this order");
    spy.detach().await;
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outcome_for_an_unknown_order_changes_no_order() {
    let harness = Harness::connect().await;
    let order = TestOrder::new(vec![("E2E-UNKNOWN-ORDER".into(), 1, 100)]);
    let order_id = Uuid::now_v7();
    let reserved = CloudEvent::new(
        Uuid::now_v7(),
        INVENTORY_SOURCE,
        Utc::now(),
        StockReservedV1::new(order_id, vec![StockLine { sku: "E2E-UNKNOWN-ORDER".into(), quantity: 1 }])
            .expect("valid"),
    );
    let declined = CloudEvent::new(
        Uuid::now_v7(),
        BILLING_SOURCE,
        Utc::now(),
        PaymentDeclinedV1::new(order_id, order.money(100), orderflow_events::DeclineReason::limit_exceeded()),
    );
    let event_ids = [reserved.id().to_string(), declined.id().to_string()];
    harness.publish_event(&OrderEvent::StockReservedV1(reserved)).await;
    harness.publish_event(&OrderEvent::PaymentDeclinedV1(declined)).await;

    // The lifecycle takes both (within seconds; the suites beside this one keep its queue busy,
    // so its depth says nothing) ...
    tokio::time::sleep(Duration::from_secs(15)).await;
    // ... and no order appeared, nothing was settled for it.
    assert!(harness.stored_order(order_id).await.is_none(), "no order row for an unknown order");
    assert_eq!(harness.get_order(order_id).await.status, 404);
    assert!(harness.outbox_entries(order_id).await.is_empty(), "nothing announced for an unknown order");

    // Logged once: one warning per event, on its first receipt (processed, not retried).
    let function = harness.stack.output("OrderLifecycleFunctionName").to_owned();
    eventually(Duration::from_secs(60), "the lifecycle's warnings in its log", || async {
        (warnings(&harness, &function, order_id).await.len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let warnings = warnings(&harness, &function, order_id).await;
    let log_text = format!("{warnings:?}");
    assert_eq!(warnings.len(), 2, "one warning per event: {log_text}");
    for event_id in &event_ids {
        let for_event: Vec<&Value> = warnings.iter().filter(|w| w["span"]["event_id"] == event_id.as_str()).collect();
        assert_eq!(for_event.len(), 1, "event {event_id} logged once: {log_text}");
        assert_eq!(for_event[0]["span"]["receive_count"], 1, "on its first receipt: {log_text}");
    }
    harness.assert_every_dlq_empty().await;
}

/// The WARN lines (JSON logs) of the function that name the order.
async fn warnings(harness: &Harness, function: &str, order_id: Uuid) -> Vec<Value> {
    harness
        .log_messages(function, &order_id.to_string())
        .await
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|line| line["level"] == "WARN")
        .collect()
}

/// Writes an order row as the order API stores a just-placed order, with `placedAt` given.
async fn put_placed_order(harness: &Harness, order: &TestOrder, order_id: Uuid, placed_at: chrono::DateTime<Utc>) {
    let mut row = serde_json::json!({
        "orderId": order_id.to_string(),
        "status": "PLACED",
        "customer": { "id": order.customer_id, "email": order.email, "name": "E2E Test" },
        "items": order.body()["items"],
        "currency": order.currency,
        "total": order.total(),
        "placedAt": placed_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "version": 1,
    });
    if let Some(address) = &order.shipping_address {
        row["shippingAddress"] = address.clone();
    }
    let item: HashMap<String, AttributeValue> = match to_attribute(&row) {
        AttributeValue::M(item) => item,
        _ => unreachable!("an object"),
    };
    harness
        .dynamodb
        .put_item()
        .table_name(harness.stack.output("OrdersTableName"))
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem order");
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(list) => AttributeValue::L(list.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_still_placed_after_the_settle_timeout_is_cancelled() {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 1, 700)]);
    let order_id = Uuid::now_v7();
    // Placed an hour ago: well past any settle timeout. Neither inventory nor billing ever saw it.
    let placed_at = (Utc::now() - TimeDelta::hours(1)).trunc_subsecs(3);
    put_placed_order(&harness, &order, order_id, placed_at).await;
    assert_eq!(harness.get_order(order_id).await.json["status"], "PLACED");

    let placed = order.placed_event(order_id, placed_at);
    harness
        .sqs
        .send_message()
        .queue_url(harness.stack.output("OrderLifecycleTimerQueueUrl"))
        .message_body(placed.to_json())
        .delay_seconds(0)
        .send()
        .await
        .expect("SendMessage to the timer queue");

    harness.assert_settles(&order, order_id, Expect::Cancelled("TIMEOUT"), SETTLE).await;
    spy.collect_until(Duration::from_secs(60), |spy| !spy.of_type(order_id, ORDER_CANCELLED_V1_TYPE).is_empty()).await;
    let cancellations = spy.of_type(order_id, ORDER_CANCELLED_V1_TYPE);
    assert_eq!(cancellations.len(), 1, "one OrderCancelled: {cancellations:?}");
    match cancellations[0] {
        OrderEvent::OrderCancelledV1(event) => {
            assert_eq!(event.data().reason(), CancellationReason::Timeout);
            assert_eq!(event.data().total(), order.money(700));
            assert_eq!(event.data().customer().email, order.email);
        }
        other => panic!("not an OrderCancelled: {other:?}"),
    }
    let reservation = harness.reservation(order_id).await.expect("inventory recorded the cancellation");
    assert_eq!(string(&reservation, "status"), "CANCELLED");
    let payment = harness.payment(order_id).await.expect("billing recorded the cancellation");
    assert_eq!(string(&payment, "status"), "VOIDED");
    assert_eq!(harness.stock(&sku).await, (10, 0), "stock unchanged");
    spy.detach().await;
    harness.assert_every_dlq_empty().await;
}
