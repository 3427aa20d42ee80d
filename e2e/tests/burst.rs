//! A burst of 200 orders of mixed outcomes, 10 in flight, clients retrying under their
//! idempotency key: every order settles, every guarantee holds per order, and stock is
//! conserved per SKU. A test binary of its own (scripts/e2e runs it beside the others).
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use e2e::lifecycle::{Expect, units_per_sku};
use e2e::{Harness, TestOrder, sent_emails};
use futures::StreamExt;
use uuid::Uuid;

/// Requests in flight at once.
const IN_FLIGHT: usize = 10;
const ORDERS: usize = 200;
const INITIAL: u64 = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_mixed_orders_settles_each_once_and_conserves_stock() {
    let harness = Harness::connect().await;
    let main = harness.create_sku(INITIAL).await;
    let second = harness.create_sku(INITIAL).await;
    let empty = harness.create_sku(0).await;
    let unknown = format!("E2E-NOSUCH-{}", &Uuid::new_v4().simple().to_string()[..8].to_uppercase());

    // Mixed outcomes, each deterministic whatever the interleaving: a decline is above the
    // gateway's limit, out of stock asks for a SKU with none, unknown names a SKU that does not
    // exist; every cancelled order also touches `main`, so its release is checked too.
    let plan: Vec<(TestOrder, Expect)> = (0..ORDERS)
        .map(|i| match i % 10 {
            0 => (TestOrder::new(vec![(main.clone(), 2, 60_000)]), Expect::Cancelled("PAYMENT_DECLINED")),
            1 => (
                TestOrder::new(vec![(main.clone(), 1, 100), (empty.clone(), 1, 100)]),
                Expect::Cancelled("OUT_OF_STOCK"),
            ),
            2 => (
                TestOrder::new(vec![(main.clone(), 1, 100), (unknown.clone(), 1, 100)]),
                Expect::Cancelled("UNKNOWN_SKU"),
            ),
            3 => (
                TestOrder::new(vec![(main.clone(), 2, 250), (second.clone(), 3, 100)]).with_shipping_address(),
                Expect::Confirmed,
            ),
            _ => (TestOrder::new(vec![(main.clone(), 1, 250)]), Expect::Confirmed),
        })
        .collect();

    // Each request in flight is an execution environment of the order function, and all of
    // LocalStack is one process on a 2-core machine: a bounded number in flight keeps the burst
    // a burst rather than a test of LocalStack's own limits. Clients retry with their
    // idempotency key, as real ones should; a retry can never create a second order.
    let started = std::time::Instant::now();
    let placed: Vec<Uuid> =
        futures::stream::iter(plan.iter().map(|(order, _)| harness.place_order_with_retries(order, 4)))
            .buffered(IN_FLIGHT)
            .collect()
            .await;
    eprintln!("burst: {ORDERS} orders placed in {:.1} s", started.elapsed().as_secs_f64());

    let timeout = Duration::from_secs(600);
    let mut outcomes = Vec::new();
    for ((order, _), order_id) in plan.iter().zip(&placed) {
        let settled = harness.wait_settled(*order_id, timeout).await;
        harness.wait_for_effects(order, *order_id, &settled, timeout).await;
        outcomes.push(settled);
    }
    eprintln!("burst: every order settled and acted on {:.1} s after the first POST", started.elapsed().as_secs_f64());

    // What each order must have become. A settle timeout is a legitimate end for any order (the
    // contract's rule; 60 s on local stacks): under the burst, a reservation that lost a
    // transaction conflict on the shared SKU retries after the queue's visibility timeout, which
    // can be later than the deadline. Such an order is held to the cancelled guarantees with
    // TIMEOUT; every other order to its planned outcome.
    let mut timed_out = Vec::new();
    let expected: Vec<Expect> = plan
        .iter()
        .zip(&outcomes)
        .zip(&placed)
        .map(|(((_, planned), settled), order_id)| {
            if settled.status == "CANCELLED" && settled.reason.as_deref() == Some("TIMEOUT") {
                timed_out.push(*order_id);
                Expect::Cancelled("TIMEOUT")
            } else {
                *planned
            }
        })
        .collect();
    if !timed_out.is_empty() {
        eprintln!("burst: {} order(s) cancelled by the settle timeout: {timed_out:?}", timed_out.len());
    }
    // Late duplicates get a moment, then everything is read once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mailbox = sent_emails(&harness.http).await;
    let mut problems = Vec::new();
    for (((order, _), order_id), expect) in plan.iter().zip(&placed).zip(&expected) {
        problems.extend(harness.guarantee_problems(order, *order_id, *expect, &mailbox).await);
    }
    assert!(problems.is_empty(), "{} guarantees broken:\n{}", problems.len(), problems.join("\n"));

    // Conservation: initial = available + units of confirmed orders, nothing left reserved.
    let confirmed = units_per_sku(
        plan.iter().zip(&expected).filter(|(_, e)| **e == Expect::Confirmed).map(|((order, _), _)| order),
    );
    for sku in [&main, &second, &empty] {
        let committed = confirmed.get(sku).copied().unwrap_or(0);
        let initial = if sku == &empty { 0 } else { INITIAL };
        assert_eq!(harness.stock(sku).await, (initial - committed, 0), "stock of {sku} conserved");
    }
    // Every planned outcome still occurs (timeouts do not take the whole burst), and how many
    // timed out is reported: it depends on the load beside the burst, not on correctness.
    for kind in [
        Expect::Confirmed,
        Expect::Cancelled("PAYMENT_DECLINED"),
        Expect::Cancelled("OUT_OF_STOCK"),
        Expect::Cancelled("UNKNOWN_SKU"),
    ] {
        assert!(expected.contains(&kind), "no order ended {kind:?} ({} timed out)", timed_out.len());
    }
    eprintln!("burst: {} of {ORDERS} orders timed out", timed_out.len());
    harness.assert_every_dlq_empty().await;
}
