//! Any duplicate of any event gives the same end state: each order is taken through its path,
//! then every event the spy saw for it (OrderPlaced, StockReserved/Rejected,
//! PaymentAuthorized/Declined, OrderConfirmed/Cancelled) is published again, twice, with its
//! own event id, as a redelivery or a relay re-publish would. Nothing changes: one capture, one
//! email, one shipment, the same stock, and no new event announced.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use e2e::lifecycle::Expect;
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder};
use orderflow_events::{ORDER_CANCELLED_V1_TYPE, ORDER_CONFIRMED_V1_TYPE, OrderEvent};
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(120);

/// Places the order, lets it settle as `expect`, re-publishes every one of its events twice and
/// checks that nothing changed. `event_types` are the events its path produces.
async fn duplicates_change_nothing(order: TestOrder, skus: &[String], expect: Expect, event_types: &[&str]) {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let order_id = harness.place_order(&order).await;
    harness.assert_settles(&order, order_id, expect, SETTLE).await;
    let settlement = match expect {
        Expect::Confirmed => ORDER_CONFIRMED_V1_TYPE,
        Expect::Cancelled(_) => ORDER_CANCELLED_V1_TYPE,
    };
    let all_seen = |spy: &SpyQueue| event_types.iter().all(|t| !spy.of_type(order_id, t).is_empty());
    assert!(spy.collect_until(Duration::from_secs(60), all_seen).await, "the spy saw {:?}", spy.events_for(order_id));
    assert!(!spy.of_type(order_id, settlement).is_empty());
    spy.collect_for(Duration::from_secs(2)).await;
    let originals: Vec<OrderEvent> = spy.events_for(order_id).into_iter().cloned().collect();
    let ids: HashSet<Uuid> = originals.iter().map(OrderEvent::id).collect();
    assert_eq!(ids.len(), originals.len(), "each event once: {originals:?}");
    let mut stock_before = Vec::new();
    for sku in skus {
        stock_before.push(harness.stock(sku).await);
    }

    for _ in 0..2 {
        for event in &originals {
            harness.publish_event(event).await;
        }
    }
    // Every copy reaches every subscriber (the spy sees them), then the consumers get time.
    spy.collect_until(SETTLE, |spy| spy.events_for(order_id).len() >= originals.len() * 3).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    spy.collect_for(Duration::from_secs(2)).await;

    harness.assert_settles(&order, order_id, expect, SETTLE).await;
    for (sku, before) in skus.iter().zip(stock_before) {
        assert_eq!(harness.stock(sku).await, before, "stock of {sku} unchanged by duplicates");
    }
    let new: Vec<&OrderEvent> = spy.events_for(order_id).into_iter().filter(|e| !ids.contains(&e.id())).collect();
    assert!(new.is_empty(), "a duplicate was announced as a new event: {new:?}");
    spy.detach().await;
    harness.assert_every_dlq_empty().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_of_a_confirmed_orders_events_change_nothing() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 3, 500)]).with_shipping_address();
    use orderflow_events::{
        ORDER_CONFIRMED_V1_TYPE as C, ORDER_PLACED_V1_TYPE as P, PAYMENT_AUTHORIZED_V1_TYPE as A,
        STOCK_RESERVED_V1_TYPE as R,
    };
    duplicates_change_nothing(order, &[sku], Expect::Confirmed, &[P, R, A, C]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_of_a_declined_orders_events_change_nothing() {
    let harness = Harness::connect().await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 60_000)]);
    // StockReserved is not waited for: inventory may see the OrderCancelled first (then it
    // reserves nothing). Whatever was published is re-published.
    use orderflow_events::{ORDER_CANCELLED_V1_TYPE as X, ORDER_PLACED_V1_TYPE as P, PAYMENT_DECLINED_V1_TYPE as D};
    duplicates_change_nothing(order, &[sku], Expect::Cancelled("PAYMENT_DECLINED"), &[P, D, X]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_of_an_out_of_stock_orders_events_change_nothing() {
    let harness = Harness::connect().await;
    let scarce = harness.create_sku(1).await;
    let plenty = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(plenty.clone(), 1, 100), (scarce.clone(), 2, 100)]);
    // PaymentAuthorized is not waited for, for the same reason (billing may see the
    // cancellation first); it is re-published when it was published.
    use orderflow_events::{ORDER_CANCELLED_V1_TYPE as X, ORDER_PLACED_V1_TYPE as P, STOCK_REJECTED_V1_TYPE as J};
    duplicates_change_nothing(order, &[scarce, plenty], Expect::Cancelled("OUT_OF_STOCK"), &[P, J, X]).await;
}
