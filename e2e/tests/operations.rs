//! The operator's view, through the `orderflow` command: the journey of a settled order
//! (`order history`), and replays into consumers that already handled the events, which must
//! change nothing.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use e2e::{Harness, TestOrder, eventually, orderflow, string};
use serde_json::Value;
use uuid::Uuid;

/// Places an order that confirms and waits until every reaction to the confirmation happened.
async fn settled_order(harness: &Harness) -> (TestOrder, Uuid, String) {
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 1999)]);
    let order_id = harness.place_order(&order).await;
    // Beside nine other suites a hop may fail transiently and wait out one visibility timeout
    // (60 s) before its redelivery: the patience covers one.
    eventually(Duration::from_secs(150), "the order's shipment and email", || async {
        let shipped = harness.shipment(order_id).await.is_some();
        let emailed = harness.notification(order_id).await.is_some_and(|n| string(&n, "status") == "SENT");
        let committed = harness.reservation(order_id).await.is_some_and(|r| string(&r, "status") == "COMMITTED");
        let captured = harness.payment(order_id).await.is_some_and(|p| string(&p, "status") == "CAPTURED");
        (shipped && emailed && committed && captured).then_some(())
    })
    .await;
    (order, order_id, sku)
}

fn events_of(history: &Value) -> Vec<Value> {
    history["events"].as_array().cloned().unwrap_or_default()
}

/// The consumers that have handled the event (its timeline lists those that may yet, too).
fn handled(event: &Value) -> Vec<Value> {
    event["handledBy"].as_array().into_iter().flatten().filter(|h| !h["handledAt"].is_null()).cloned().collect()
}

fn handlers(event: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        handled(event).iter().filter_map(|h| h["consumer"].as_str().map(str::to_owned)).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn order_history_shows_every_hop_of_a_settled_order() {
    let harness = Harness::connect().await;
    let (_, order_id, _) = settled_order(&harness).await;

    let history = eventually(Duration::from_secs(30), "the history with every handler", || async {
        let history = orderflow(&["order", "history", &order_id.to_string()]).await;
        let events = events_of(&history);
        let confirmed = events.iter().find(|e| e["type"] == "orders.OrderConfirmed.v1")?;
        (handlers(confirmed).len() >= 4).then_some(history)
    })
    .await;
    let events = events_of(&history);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[0], "orders.OrderPlaced.v1", "time order: {history:#}");
    assert_eq!(types.last().copied(), Some("orders.OrderConfirmed.v1"), "time order: {history:#}");
    let mut sorted = types.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "billing.PaymentAuthorized.v1",
            "inventory.StockReserved.v1",
            "orders.OrderConfirmed.v1",
            "orders.OrderPlaced.v1"
        ],
        "{history:#}"
    );
    let times: Vec<&str> = events.iter().filter_map(|e| e["time"].as_str()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "in time order: {history:#}");

    for event in &events {
        let expected: &[&str] = match event["type"].as_str().unwrap_or_default() {
            // The timer queue's copy of OrderPlaced reaches the lifecycle only after the settle
            // timeout, long after this test.
            "orders.OrderPlaced.v1" => &["billing", "inventory"],
            "inventory.StockReserved.v1" | "billing.PaymentAuthorized.v1" => &["order-lifecycle"],
            "orders.OrderConfirmed.v1" => &["billing", "inventory", "notification", "shipping"],
            other => panic!("unexpected event {other}: {history:#}"),
        };
        let by = handlers(event);
        for consumer in expected {
            assert!(by.iter().any(|h| h == consumer), "{consumer} handled {}: {history:#}", event["type"]);
        }
        assert!(event["source"].as_str().is_some_and(|s| !s.is_empty()), "{event:#}");
        assert!(event["eventId"].as_str().is_some_and(|s| !s.is_empty()), "{event:#}");
        for handler in handled(event) {
            let hop = handler["hopMs"].as_i64().unwrap_or_else(|| panic!("hopMs of {handler:#}"));
            assert!((0..120_000).contains(&hop), "a hop within the test's span: {handler:#}");
        }
    }
    let producers: Vec<(&str, &str)> =
        events.iter().filter_map(|e| Some((e["type"].as_str()?, e["source"].as_str()?))).collect();
    assert!(producers.contains(&("inventory.StockReserved.v1", "inventory")), "{producers:?}");
    assert!(producers.contains(&("billing.PaymentAuthorized.v1", "billing")), "{producers:?}");
    assert_eq!(history["settlement"]["outcome"], "OrderConfirmed", "{history:#}");
    assert!(history["settlement"]["settleMs"].as_i64().is_some_and(|ms| ms >= 0), "time to settle: {history:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_into_consumers_that_handled_the_events_changes_nothing() {
    let harness = Harness::connect().await;
    let (order, order_id, sku) = settled_order(&harness).await;
    let id = order_id.to_string();

    let stock = harness.stock(&sku).await;
    let reservation = harness.reservation(order_id).await.expect("reservation");
    let payment = harness.payment(order_id).await.expect("payment");
    let shipment = harness.shipment(order_id).await.expect("shipment");
    let emails = harness.emails_to(&order.email).await.len();
    let stored_events = events_of(&orderflow(&["order", "history", &id]).await).len();

    // A dry run says what would go, and sends nothing.
    let dry = orderflow(&["replay", "--to", "inventory", "--order", &id, "--dry-run"]).await;
    assert_eq!(dry["sent"], 0, "{dry:#}");
    let would: Vec<&str> = dry["events"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(would, ["orders.OrderPlaced.v1", "orders.OrderConfirmed.v1"], "inventory's filter: {dry:#}");

    let mut replayed = Vec::new();
    for consumer in ["inventory", "billing", "notification", "shipping"] {
        let report = orderflow(&["replay", "--to", consumer, "--order", &id]).await;
        let sent = report["sent"].as_u64().unwrap_or(0);
        let expected = if matches!(consumer, "inventory" | "billing") { 2 } else { 1 };
        assert_eq!(sent, expected, "{consumer}: {report:#}");
        for event in report["events"].as_array().into_iter().flatten() {
            replayed.push((consumer, event["eventId"].as_str().unwrap_or_default().to_owned()));
        }
    }

    // Each consumer took every replayed event as the duplicate it is.
    for (consumer, event_id) in &replayed {
        let function = harness.stack.output(&format!("{}FunctionName", pascal(consumer))).to_owned();
        eventually(Duration::from_secs(60), &format!("{consumer} skipping replayed {event_id}"), || async {
            harness
                .log_messages(&function, event_id)
                .await
                .iter()
                .any(|line| line.contains("duplicate event skipped"))
                .then_some(())
        })
        .await;
    }

    assert_eq!(harness.stock(&sku).await, stock, "stock committed once");
    assert_eq!(harness.reservation(order_id).await.expect("reservation"), reservation);
    assert_eq!(harness.payment(order_id).await.expect("payment"), payment);
    assert_eq!(harness.shipment(order_id).await.expect("shipment"), shipment);
    assert_eq!(harness.emails_to(&order.email).await.len(), emails, "no second email");
    assert_eq!(events_of(&orderflow(&["order", "history", &id]).await).len(), stored_events, "nothing announced");
    harness.assert_every_dlq_empty().await;
}

fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}
