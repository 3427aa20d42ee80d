//! A burst of orders: every one reserved, charged and emailed exactly once, no DLQ message.
//! A test binary of its own, so the burst has the stack to itself.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use e2e::{Harness, TestOrder, eventually, sent_emails, string};
use futures::StreamExt;
use uuid::Uuid;

/// Requests in flight at once.
const IN_FLIGHT: usize = 10;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_orders_is_processed_exactly_once_each() {
    const ORDERS: u64 = 200;
    let harness = Harness::connect().await;
    let sku = harness.create_sku(1000).await;
    let orders: Vec<TestOrder> = (0..ORDERS).map(|_| TestOrder::new(vec![(sku.clone(), 1, 250)])).collect();

    // Each request in flight is an execution environment (a process) of the order function, and
    // all of LocalStack is one Python process on a 2-core machine: a bounded number in flight
    // keeps the burst a burst rather than a test of LocalStack's own limits. Clients retry with
    // their idempotency key, as real ones should; a retry can never create a second order.
    let placed: Vec<Uuid> =
        futures::stream::iter(orders.iter().map(|order| harness.place_order_with_retries(order, 4)))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;

    let burst_timeout = Duration::from_secs(180);
    eventually(burst_timeout, "every reservation", || async {
        (harness.stock(&sku).await == (1000 - ORDERS, ORDERS)).then_some(())
    })
    .await;
    for order_id in &placed {
        let payment = eventually(burst_timeout, "every payment", || harness.payment(*order_id)).await;
        assert_eq!(string(&payment, "status"), "CAPTURED");
    }
    let recipients: Vec<&str> = orders.iter().map(|order| order.email.as_str()).collect();
    let per_recipient = eventually(burst_timeout, "every email", || async {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for message in sent_emails(&harness.http).await {
            for to in message["Destination"]["ToAddresses"].as_array().into_iter().flatten() {
                if let Some(to) = to.as_str().filter(|to| recipients.contains(to)) {
                    *counts.entry(to.to_owned()).or_default() += 1;
                }
            }
        }
        (counts.len() == recipients.len()).then_some(counts)
    })
    .await;
    assert!(per_recipient.values().all(|count| *count == 1), "one email per order: {per_recipient:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(harness.stock(&sku).await, (1000 - ORDERS, ORDERS), "no reservation twice");
    harness.assert_every_dlq_empty().await;
}
