//! The lifecycle, proven on the deployed stack, one test per path: API -> order + outbox -> SNS
//! -> inventory and billing (outcomes) -> order lifecycle (settlement) -> inventory, billing,
//! notification, shipping. Each test owns its customer and its SKUs, so they run in parallel.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use e2e::lifecycle::Expect;
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder, number, string};
use orderflow_events::{
    ORDER_CONFIRMED_V1_TYPE, ORDER_PLACED_V1_TYPE, PAYMENT_AUTHORIZED_V1_TYPE, STOCK_RESERVED_V1_TYPE,
};
use uuid::Uuid;

/// How long an order may take to settle and its settlement to reach every consumer, with the
/// other suites loading the same LocalStack.
const SETTLE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn a_placed_order_is_confirmed_captured_committed_emailed_and_shipped_once() {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 1999)]).with_shipping_address();

    let response = harness.post_order(&order.body(), &[("X-Correlation-Id", "e2e-happy-path")]).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let order_id: Uuid = response.json["orderId"].as_str().expect("orderId").parse().expect("a UUID");
    assert_eq!(response.header("location"), Some(format!("/orders/{order_id}").as_str()));
    assert_eq!(response.header("x-correlation-id"), Some("e2e-happy-path"));
    assert_eq!(response.json["status"], "PLACED", "201 answers PLACED");
    assert_eq!(response.json["total"], 3998);
    assert_eq!(response.json["currency"], "EUR");
    assert_eq!(response.json["customer"]["id"], order.customer_id.as_str());
    assert_eq!(response.json["items"], order.body()["items"]);
    assert_eq!(Some(&response.json["shippingAddress"]), order.shipping_address.as_ref(), "the address is kept");
    assert!(response.json["placedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", response.json);

    let settled = harness.assert_settles(&order, order_id, Expect::Confirmed, SETTLE).await;
    // GET returns the order as created, with its new status.
    let mut expected = response.json.clone();
    expected["status"] = "CONFIRMED".into();
    for (field, value) in expected.as_object().expect("an object") {
        assert_eq!(&settled.body[field], value, "GET {field}: {}", settled.body);
    }
    assert!(settled.body.get("statusReason").is_none_or(|r| r.is_null()), "no reason when confirmed");
    assert_eq!(harness.stock(&sku).await, (8, 0), "available down by 2, nothing left reserved");

    // The chain, each event once, the correlation id carried from the request.
    spy.collect_until(Duration::from_secs(60), |spy| !spy.of_type(order_id, ORDER_CONFIRMED_V1_TYPE).is_empty()).await;
    spy.collect_for(Duration::from_secs(2)).await;
    for event_type in
        [ORDER_PLACED_V1_TYPE, STOCK_RESERVED_V1_TYPE, PAYMENT_AUTHORIZED_V1_TYPE, ORDER_CONFIRMED_V1_TYPE]
    {
        let events = spy.of_type(order_id, event_type);
        assert_eq!(events.len(), 1, "one {event_type}: {events:?}");
        assert_eq!(events[0].correlation_id(), Some("e2e-happy-path"), "{event_type} carries the correlation id");
    }
    let kinds: Vec<&str> = spy.events_for(order_id).iter().map(|e| e.event_type()).collect();
    assert_eq!(kinds.len(), 4, "no other event for a confirmed order: {kinds:?}");
    spy.detach().await;
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_above_the_limit_cancels_the_order_and_releases_the_stock() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    // 2 x 600.00 EUR = 1,200.00 EUR, above the simulated gateway's 1,000.00 limit.
    let order = TestOrder::new(vec![(sku.clone(), 2, 60_000)]).with_shipping_address();
    let order_id = harness.place_order(&order).await;

    harness.assert_settles(&order, order_id, Expect::Cancelled("PAYMENT_DECLINED"), SETTLE).await;
    let payment = harness.payment(order_id).await.expect("a payment record");
    assert_eq!(string(&payment, "status"), "DECLINED", "declined, never captured");
    assert_eq!(number(&payment, "amount"), 120_000);
    assert_eq!(string(&payment, "currency"), "EUR");
    let reservation = harness.reservation(order_id).await.expect("a reservation record");
    assert_eq!(string(&reservation, "status"), "RELEASED", "the reservation was released");
    assert_eq!(harness.stock(&sku).await, (10, 0), "stock exactly as before the order");
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_stock_cancels_the_order_reserves_nothing_and_voids_the_payment() {
    let harness = Harness::connect().await;
    let scarce = harness.create_sku(1).await;
    let plenty = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(plenty.clone(), 1, 100), (scarce.clone(), 2, 100)]);
    let order_id = harness.place_order(&order).await;

    harness.assert_settles(&order, order_id, Expect::Cancelled("OUT_OF_STOCK"), SETTLE).await;
    let reservation = harness.reservation(order_id).await.expect("a reservation record");
    assert_eq!(string(&reservation, "status"), "REJECTED");
    let payment = harness.payment(order_id).await.expect("a payment record");
    assert_eq!(string(&payment, "status"), "VOIDED", "authorized, then voided: no capture");
    assert_eq!(harness.stock(&scarce).await, (1, 0), "nothing reserved of the scarce SKU");
    assert_eq!(harness.stock(&plenty).await, (10, 0), "all or nothing: the other SKU is untouched");
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_sku_cancels_the_order() {
    let harness = Harness::connect().await;
    let plenty = harness.create_sku(10).await;
    let unknown = format!("E2E-NOSUCH-{}", &Uuid::new_v4().simple().to_string()[..8].to_uppercase());
    let order = TestOrder::new(vec![(plenty.clone(), 1, 100), (unknown, 1, 100)]);
    let order_id = harness.place_order(&order).await;

    harness.assert_settles(&order, order_id, Expect::Cancelled("UNKNOWN_SKU"), SETTLE).await;
    let reservation = harness.reservation(order_id).await.expect("a reservation record");
    assert_eq!(string(&reservation, "status"), "REJECTED");
    assert_eq!(harness.stock(&plenty).await, (10, 0), "nothing reserved");
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
    assert_eq!(spy.of_type(order_id, ORDER_PLACED_V1_TYPE).len(), 1, "exactly one OrderPlaced for the order");
    assert_eq!(spy.events_for_customer(&order.customer_id).len(), 1, "no second order for the customer");
    spy.detach().await;
    harness.assert_settles(&order, order_id, Expect::Confirmed, SETTLE).await;
}
