//! The fan-out, proven on the deployed stack: API -> DynamoDB + outbox -> SNS -> three SQS
//! queues -> three consumers. Each test owns its customer and its SKUs, so they run in parallel.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder, eventually, number, string};
use orderflow_events::{CloudEvent, Currency, Customer, LineItem, Money, ORDER_SERVICE_SOURCE, OrderPlacedV1};
use uuid::Uuid;

/// How long the consumers may take to act on one order (the bound).
const FAN_OUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn a_placed_order_is_reserved_charged_and_emailed_once() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 1999)]);

    let response = harness.post_order(&order.body(), &[("X-Correlation-Id", "e2e-happy-path")]).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let order_id: Uuid = response.json["orderId"].as_str().expect("orderId").parse().expect("a UUID");
    assert_eq!(response.header("location"), Some(format!("/orders/{order_id}").as_str()));
    assert_eq!(response.header("x-correlation-id"), Some("e2e-happy-path"));
    assert_eq!(response.json["status"], "PLACED");
    assert_eq!(response.json["total"], 3998);
    assert_eq!(response.json["currency"], "EUR");
    assert_eq!(response.json["customer"]["id"], order.customer_id.as_str());
    assert_eq!(response.json["items"], order.body()["items"]);
    assert!(response.json["placedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", response.json);

    let read_back = harness.send(harness.http.get(harness.url(&format!("/orders/{order_id}")))).await;
    assert_eq!(read_back.status, 200, "{}", read_back.text);
    assert_eq!(read_back.json, response.json, "GET returns the order as created");

    let reservation = eventually(FAN_OUT, "the reservation", || harness.reservation(order_id)).await;
    assert_eq!(string(&reservation, "status"), "RESERVED");
    assert_eq!(harness.stock(&sku).await, (8, 2));

    let payment = eventually(FAN_OUT, "the payment", || harness.payment(order_id)).await;
    assert_eq!(string(&payment, "status"), "CAPTURED");
    assert_eq!(number(&payment, "amount"), 3998);
    assert_eq!(string(&payment, "currency"), "EUR");

    let emails = eventually(FAN_OUT, "the confirmation email", || async {
        Some(harness.emails_to(&order.email).await).filter(|emails| !emails.is_empty())
    })
    .await;
    assert_eq!(emails.len(), 1, "one confirmation email: {emails:?}");
    let email = emails[0].to_string();
    assert!(email.contains(&order_id.to_string()), "the email names the order: {email}");

    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_delivered_twice_has_its_effects_once() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 3, 500)]);
    let eur: Currency = "EUR".parse().expect("EUR");
    let order_id = Uuid::now_v7();
    let data = OrderPlacedV1::new(
        order_id,
        Customer { id: order.customer_id.clone(), email: order.email.clone(), name: None },
        vec![LineItem { sku: sku.clone(), quantity: 3, unit_price: Money::new(500, eur) }],
        Utc::now().trunc_subsecs(3),
    )
    .expect("a valid event");
    let event = CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data)
        .with_correlation_id("e2e-duplicate-delivery");
    let attributes = event.message_attributes();

    harness.publish_raw(&event.to_json(), &attributes).await;
    harness.publish_raw(&event.to_json(), &attributes).await;

    let reservation = eventually(FAN_OUT, "the reservation", || harness.reservation(order_id)).await;
    assert_eq!(string(&reservation, "eventId"), event.id().to_string());
    eventually(FAN_OUT, "the payment", || harness.payment(order_id)).await;
    eventually(FAN_OUT, "the email", || async {
        Some(harness.emails_to(&order.email).await).filter(|emails| !emails.is_empty())
    })
    .await;
    // Give the second delivery time to be processed too, then count the effects.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(harness.stock(&sku).await, (7, 3), "stock reserved once");
    let payment = harness.payment(order_id).await.expect("payment");
    assert_eq!(number(&payment, "amount"), 1500);
    assert_eq!(harness.emails_to(&order.email).await.len(), 1, "one email");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_above_the_limit_is_declined_and_recorded() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    // 2 x 600.00 EUR = 1,200.00 EUR, above the simulated gateway's 1,000.00 limit.
    let order = TestOrder::new(vec![(sku, 2, 60_000)]);
    let order_id = harness.place_order(&order).await;

    let payment = eventually(FAN_OUT, "the payment", || harness.payment(order_id)).await;
    assert_eq!(string(&payment, "status"), "DECLINED");
    assert_eq!(number(&payment, "amount"), 120_000);
    assert_eq!(string(&payment, "currency"), "EUR");
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_stock_is_a_recorded_rejection_that_reserves_nothing() {
    let harness = Harness::connect().await;
    let scarce = harness.create_sku(1).await;
    let plenty = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(plenty.clone(), 1, 100), (scarce.clone(), 2, 100)]);
    let order_id = harness.place_order(&order).await;

    let reservation = eventually(FAN_OUT, "the reservation record", || harness.reservation(order_id)).await;
    assert_eq!(string(&reservation, "status"), "REJECTED");
    assert_eq!(harness.stock(&scarce).await, (1, 0), "nothing reserved of the scarce SKU");
    assert_eq!(harness.stock(&plenty).await, (10, 0), "all or nothing: the other SKU is untouched");
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_replay_gives_one_order_and_one_event() {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku, 1, 1000)]);
    let key = format!("e2e-{}", Uuid::new_v4());

    let first = harness.post_order(&order.body(), &[("Idempotency-Key", &key)]).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let replay = harness.post_order(&order.body(), &[("Idempotency-Key", &key)]).await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.json, first.json, "the replay returns the first response");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("location"), first.header("location"));

    let mut changed = order.body();
    changed["items"][0]["quantity"] = 2.into();
    let mismatch = harness.post_order(&changed, &[("Idempotency-Key", &key)]).await;
    assert_eq!(mismatch.status, 422, "{}", mismatch.text);

    let order_id: Uuid = first.json["orderId"].as_str().expect("orderId").parse().expect("UUID");
    spy.collect_for(Duration::from_secs(8)).await;
    assert_eq!(spy.events_for(order_id).len(), 1, "exactly one OrderPlaced for the order");
    assert_eq!(spy.events_for_customer(&order.customer_id).len(), 1, "no second order for the customer");
    spy.detach().await;
}
