//! A burst of 200 orders of mixed outcomes, 10 in flight, clients retrying under their
//! idempotency key: every order settles, every guarantee holds per order, and stock is
//! conserved per SKU. A test binary of its own (scripts/e2e runs it beside the others); the
//! chaos suite runs the same storm with faults injected.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2e::{Harness, storm};

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_mixed_orders_settles_each_once_and_conserves_stock() {
    let harness = Harness::connect().await;
    storm::run(&harness, "burst", 200, 10, 1000).await;
}
