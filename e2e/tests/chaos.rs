//! Chaos: the stack fails the way AWS fails, on purpose, and the lifecycle's guarantees hold.
//!
//! The local stack's fault injector (`localstack/README.md`, "Faults on purpose") makes chosen
//! AWS calls of the stack's functions fail, and can kill a function mid-invocation. One test,
//! in phases, because rules are global to LocalStack (scripts/e2e runs this suite alone):
//! 1. a storm: 200 orders of mixed outcomes on hot SKUs while DynamoDB, SNS and SES each fail at
//!    least a fifth of the functions' calls, with throttling, 5xx and transaction conflicts;
//! 2. a crash: inventory, billing and notification each killed after their effect and before
//!    their completion record, once;
//! 3. a stall: every publish to the topic fails for a while, then recovers;
//! 4. a v2 of OrderPlaced published beside v1, which no v1 consumer may take.
//!
//! Each phase prints what it injected and what it counted. The test's own calls (the harness's
//! credentials) are never faulted: rules name the stack's functions as callers.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::faults::{Faults, Rule};
use e2e::lifecycle::Expect;
use e2e::{Harness, TestOrder, eventually, storm};
use serde_json::Value;

/// Every Lambda function of the stack, by physical name (the callers the rules name).
fn functions(harness: &Harness) -> BTreeMap<String, String> {
    harness
        .stack
        .resources
        .iter()
        .filter(|(logical, physical)| logical.ends_with("Function") && physical.starts_with(&harness.stack.name))
        .map(|(logical, physical)| (logical.clone(), physical.clone()))
        .collect()
}

fn function(harness: &Harness, logical: &str) -> String {
    harness.stack.resource(logical).to_owned()
}

/// Prints the rules' counts and returns the injections per service.
async fn report(faults: &Faults, phase: &str) -> BTreeMap<String, u64> {
    let mut per_service = BTreeMap::new();
    for rule in faults.rules().await {
        *per_service.entry(rule.rule.service.clone()).or_insert(0) += rule.injected;
        eprintln!(
            "chaos {phase}: {} {:?} {:?} on {:?}: matched {}, injected {}",
            rule.rule.service,
            rule.rule.operations.as_deref().unwrap_or_default(),
            rule.rule.error.as_deref().unwrap_or(if rule.rule.kill == Some(true) { "kill" } else { "latency" }),
            rule.rule.caller.as_deref().unwrap_or("anyone"),
            rule.matched,
            rule.injected
        );
    }
    per_service
}

/// Requests the stack's functions made per service since the last reset.
async fn function_requests(faults: &Faults, callers: &[String]) -> BTreeMap<String, u64> {
    let mut per_service = BTreeMap::new();
    for count in faults.requests().await {
        if count.caller.as_ref().is_some_and(|caller| callers.contains(caller)) {
            *per_service.entry(count.service).or_insert(0) += count.count;
        }
    }
    per_service
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_holds_under_injected_faults_crashes_stalls_and_a_new_version() {
    let harness = Harness::connect().await;
    let faults = Faults::new(harness.http.clone());
    let _cleared_at_the_end = faults.guard();
    faults.clear().await;
    let callers: Vec<String> = functions(&harness).into_values().collect();
    assert!(callers.len() >= 7, "the stack's functions: {callers:?}");

    storm_phase(&harness, &faults, &callers).await;
    crash_phase(&harness, &faults).await;
    stall_phase(&harness, &faults).await;
    new_version_phase(&harness).await;
    harness.assert_every_dlq_empty().await;
}

/// 200 orders on hot SKUs with DynamoDB, SNS and SES failing at least a fifth of the time.
async fn storm_phase(harness: &Harness, faults: &Faults, callers: &[String]) {
    faults.clear().await;
    let before = function_requests(faults, callers).await;
    let mut rules = Vec::new();
    for caller in callers {
        // DynamoDB: throttling and 5xx on any call, and conflicts on transactions (the emulation
        // adds real ones on the hot SKU's row on top).
        rules.push(Rule::error("dynamodb", "ProvisionedThroughputExceededException", caller, 0.15));
        rules.push(Rule::error("dynamodb", "InternalServerError", caller, 0.1));
        rules.push(Rule::error("dynamodb", "TransactionConflict", caller, 0.1).operations(&["TransactWriteItems"]));
        rules.push(Rule::error("sns", "Throttling", caller, 0.2).operations(&["Publish"]));
        rules.push(Rule::error("sns", "InternalError", caller, 0.1).operations(&["Publish"]));
        rules.push(Rule::error("ses", "Throttling", caller, 0.3));
    }
    faults.add(&rules).await;

    let outcome = storm::run(harness, "chaos storm", 200, 10, 1000).await;

    let injected = report(faults, "storm").await;
    faults.clear().await;
    let after = function_requests(faults, callers).await;
    for service in ["dynamodb", "sns", "ses"] {
        let calls = after.get(service).copied().unwrap_or(0) - before.get(service).copied().unwrap_or(0);
        let hit = injected.get(service).copied().unwrap_or(0);
        let share = hit as f64 / calls.max(1) as f64;
        eprintln!(
            "chaos storm: {service}: {hit} faults injected in {calls} calls of the functions ({:.0}%)",
            share * 100.0
        );
        assert!(hit > 0 && share >= 0.2, "{service}: {hit} faults in {calls} calls, less than a fifth");
    }
    eprintln!(
        "chaos storm: {} orders settled ({} confirmed, {} cancelled), effects lost 0, doubled 0, DLQ messages 0",
        outcome.orders, outcome.confirmed, outcome.cancelled
    );
}

/// Inventory, billing and notification each killed once between their effect and their
/// completion record: the redelivery takes the expired claim over and the effect stays single.
async fn crash_phase(harness: &Harness, faults: &Faults) {
    faults.clear().await;
    let idempotency = harness.stack.resource("IdempotencyTable").to_owned();
    let victims = ["InventoryFunction", "BillingFunction", "NotificationFunction"];
    let rules: Vec<Rule> = victims
        .iter()
        .map(|logical| {
            Rule::kill("dynamodb", &function(harness, logical))
                .resource(&idempotency)
                .body_contains("COMPLETED")
                .count(1)
        })
        .collect();
    faults.add(&rules).await;

    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 2, 300)]).with_shipping_address();
    let order_id = harness.place_order(&order).await;
    // The killed messages come back after the queues' visibility timeout.
    harness.assert_settles(&order, order_id, Expect::Confirmed, Duration::from_secs(300)).await;
    let killed = report(faults, "crash").await;
    for rule in faults.rules().await {
        assert_eq!(rule.injected, 1, "{:?} killed its function once", rule.rule.caller);
    }
    assert_eq!(harness.stock(&sku).await, (8, 0), "stock taken once");
    eprintln!(
        "chaos crash: {} functions killed between effect and completion; order {order_id} confirmed, one payment \
         captured, one email, stock taken once",
        killed.get("dynamodb").copied().unwrap_or(0)
    );
    faults.clear().await;
}

/// Every publish fails: orders are still accepted and wait in the outbox; the relay says it
/// failed; once publishing works again the relay drains them and they settle.
async fn stall_phase(harness: &Harness, faults: &Faults) {
    faults.clear().await;
    let publishers =
        ["OrderApiFunction", "OutboxRelayFunction", "InventoryFunction", "BillingFunction", "OrderLifecycleFunction"];
    let rules: Vec<Rule> = publishers
        .iter()
        .map(|logical| Rule::error("sns", "InternalError", &function(harness, logical), 1.0).operations(&["Publish"]))
        .collect();
    faults.add(&rules).await;

    let sku = harness.create_sku(10).await;
    let orders: Vec<TestOrder> = (0..3).map(|_| TestOrder::new(vec![(sku.clone(), 1, 200)])).collect();
    let mut ids = Vec::new();
    for order in &orders {
        ids.push(harness.place_order(order).await);
    }
    // Nothing reached the topic, so nothing moved: each order is PLACED with a pending entry.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for order_id in &ids {
        let response = harness.get_order(*order_id).await;
        assert_eq!(response.json["status"], "PLACED", "order {order_id} waits for its event");
        let entries = harness.outbox_entries(*order_id).await;
        assert_eq!(entries.len(), 1, "one outbox entry for order {order_id}");
        assert!(entries[0].values().any(is_pending), "the entry of order {order_id} is pending: {:?}", entries[0]);
    }
    // The relay fails loudly while the topic refuses (its Errors alarm fires).
    let invoked = harness
        .lambda
        .invoke()
        .function_name(function(harness, "OutboxRelayFunction"))
        .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"graceSeconds": 0}"#.to_vec()))
        .send()
        .await
        .expect("Invoke the relay");
    let answer = invoked.payload.as_ref().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
    assert!(invoked.function_error.is_some(), "the relay reported success while every publish failed: {answer:?}");
    let stalled = report(faults, "stall").await;
    faults.clear().await;

    let summary: Value = harness.run_relay().await;
    assert!(summary["published"].as_u64().unwrap_or(0) >= 3, "the relay published the backlog: {summary}");
    for (order, order_id) in orders.iter().zip(&ids) {
        harness.assert_settles(order, *order_id, Expect::Confirmed, Duration::from_secs(180)).await;
    }
    eprintln!(
        "chaos stall: {} publishes refused; 3 orders waited in the outbox, the relay failed loudly, then drained \
         them: {summary}",
        stalled.get("sns").copied().unwrap_or(0)
    );
}

fn is_pending(value: &AttributeValue) -> bool {
    value.as_s().is_ok_and(|s| s.starts_with("PENDING"))
}

/// An OrderPlaced v2 published beside v1 (the contract's rule for a breaking change): the event
/// store keeps it, and no v1 consumer takes it, so none of their DLQs gets it.
async fn new_version_phase(harness: &Harness) {
    let sku = harness.create_sku(5).await;
    let order = TestOrder::new(vec![(sku.clone(), 1, 100)]);
    let order_id = uuid::Uuid::new_v4();
    let v1 = order.placed_event(order_id, chrono::Utc::now());
    let mut body: Value = serde_json::from_str(&v1.to_json()).expect("JSON");
    let event_id = uuid::Uuid::now_v7().to_string();
    body["id"] = Value::String(event_id.clone());
    body["type"] = Value::String("orders.OrderPlaced.v2".into());
    body["data"]["loyaltyTier"] = Value::String("gold".into());
    harness.publish_raw(&body.to_string(), &[("event_type", "OrderPlaced"), ("event_version", "2")]).await;

    let store = harness.table("EventStoreTableName").to_owned();
    eventually(Duration::from_secs(60), "the event store to keep the v2 event", || async {
        let item = harness
            .dynamodb
            .get_item()
            .table_name(&store)
            .key("eventId", AttributeValue::S(event_id.clone()))
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item?;
        Some(item)
    })
    .await;
    // The v1 consumers would have claimed it by now had their filters let it through.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idempotency = harness.stack.resource("IdempotencyTable").to_owned();
    let claims = harness.scan_containing(&idempotency, "pk", &event_id).await;
    assert!(claims.is_empty(), "a v1 consumer took the v2 event: {claims:?}");
    assert_eq!(harness.stock(&sku).await, (5, 0), "nothing reserved for the v2 event");
    eprintln!("chaos v2: OrderPlaced v2 {event_id} kept by the event store, taken by no v1 consumer");
}
