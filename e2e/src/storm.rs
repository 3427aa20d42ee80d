//! A burst of orders of mixed outcomes on a few shared SKUs, placed by careful clients and held
//! to every guarantee of the lifecycle contract: the burst suite runs it on a healthy stack, the
//! chaos suite with faults injected into DynamoDB, SNS and SES.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use uuid::Uuid;

use crate::lifecycle::{Expect, units_per_sku};
use crate::{Harness, TestOrder, sent_emails};

/// What a storm ended with.
#[derive(Debug, Clone, Default)]
pub struct StormReport {
    pub orders: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    /// Orders the settle timeout cancelled (a legitimate end, held to the cancelled guarantees).
    pub timed_out: usize,
    /// Seconds from the first POST until every order was settled and acted on.
    pub settled_after_s: f64,
}

/// Places `orders` orders, `in_flight` at a time, each retried by its client under one
/// idempotency key, then asserts that each settled once with every guarantee holding, that stock
/// is conserved on every SKU, that each planned outcome occurred, and that every DLQ is empty.
/// `label` prefixes what it prints.
pub async fn run(harness: &Harness, label: &str, orders: usize, in_flight: usize, initial: u64) -> StormReport {
    let main = harness.create_sku(initial).await;
    let second = harness.create_sku(initial).await;
    let empty = harness.create_sku(0).await;
    let unknown = format!("E2E-NOSUCH-{}", &Uuid::new_v4().simple().to_string()[..8].to_uppercase());

    // Mixed outcomes, each deterministic whatever the interleaving: a decline is above the
    // gateway's limit, out of stock asks for a SKU with none, unknown names a SKU that does not
    // exist; every order touches `main` (the hot SKU), so every release is checked too.
    let plan: Vec<(TestOrder, Expect)> = (0..orders)
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
    let started = Instant::now();
    let placed: Vec<Uuid> =
        futures::stream::iter(plan.iter().map(|(order, _)| harness.place_order_with_retries(order, 6)))
            .buffered(in_flight)
            .collect()
            .await;
    eprintln!("{label}: {orders} orders placed in {:.1} s", started.elapsed().as_secs_f64());

    let timeout = Duration::from_secs(600);
    let mut outcomes = Vec::new();
    for ((order, _), order_id) in plan.iter().zip(&placed) {
        let settled = harness.wait_settled(*order_id, timeout).await;
        harness.wait_for_effects(order, *order_id, &settled, timeout).await;
        outcomes.push(settled);
    }
    let settled_after_s = started.elapsed().as_secs_f64();
    eprintln!("{label}: every order settled and acted on {settled_after_s:.1} s after the first POST");

    // A settle timeout is a legitimate end for any order (the contract's rule): such an order is
    // held to the cancelled guarantees with TIMEOUT; every other order to its planned outcome.
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
        eprintln!("{label}: {} order(s) cancelled by the settle timeout: {timed_out:?}", timed_out.len());
    }
    // Late duplicates get a moment, then everything is read once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mailbox = sent_emails(&harness.http).await;
    let mut problems = Vec::new();
    for (((order, _), order_id), expect) in plan.iter().zip(&placed).zip(&expected) {
        problems.extend(harness.guarantee_problems(order, *order_id, *expect, &mailbox).await);
    }
    assert!(problems.is_empty(), "{label}: {} guarantees broken:\n{}", problems.len(), problems.join("\n"));

    // Conservation: initial = available + units of confirmed orders, nothing left reserved.
    let confirmed = units_per_sku(
        plan.iter().zip(&expected).filter(|(_, e)| **e == Expect::Confirmed).map(|((order, _), _)| order),
    );
    for sku in [&main, &second, &empty] {
        let committed = confirmed.get(sku).copied().unwrap_or(0);
        let start = if sku == &empty { 0 } else { initial };
        assert_eq!(harness.stock(sku).await, (start - committed, 0), "{label}: stock of {sku} conserved");
    }
    // Every planned outcome still occurs (timeouts do not take the whole burst).
    for kind in [
        Expect::Confirmed,
        Expect::Cancelled("PAYMENT_DECLINED"),
        Expect::Cancelled("OUT_OF_STOCK"),
        Expect::Cancelled("UNKNOWN_SKU"),
    ] {
        assert!(expected.contains(&kind), "{label}: no order ended {kind:?} ({} timed out)", timed_out.len());
    }
    harness.assert_every_dlq_empty().await;
    let report = StormReport {
        orders,
        confirmed: outcomes.iter().filter(|s| s.confirmed()).count(),
        cancelled: outcomes.iter().filter(|s| !s.confirmed()).count(),
        timed_out: timed_out.len(),
        settled_after_s,
    };
    eprintln!(
        "{label}: {} settled ({} confirmed, {} cancelled, {} by the timeout), 0 guarantees broken, every DLQ empty",
        report.orders, report.confirmed, report.cancelled, report.timed_out
    );
    report
}
