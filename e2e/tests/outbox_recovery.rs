//! No outcome is lost: every producer (the order API, inventory, billing, the order lifecycle)
//! is pointed at a topic it cannot publish to. An order placed then has each effect recorded
//! but nothing announced; each run of the outbox relay announces what is pending, which moves
//! the chain one step (OrderPlaced -> outcomes -> settlement -> the consumers' reactions), until
//! the order has settled with every guarantee. Each re-announced event keeps the id of its outbox
//! entry.
//!
//! And the relay never stalls silently: while it cannot publish, its invocation fails (its
//! Errors alarm); once the topic is back it recovers entries from several shards of the
//! pending index and skips a malformed item written straight into the table, reporting it.
//!
//! These tests change the deployed functions' configuration, so they are a test binary of
//! their own, which scripts/e2e runs alone, after the other suites, and they take turns (one
//! lock). The configuration is restored at the end, also when an assertion fails.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::types::{Environment, LastUpdateStatus};
use e2e::lifecycle::Expect;
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder, eventually, string};
use orderflow_events::{
    ORDER_CONFIRMED_V1_TYPE, ORDER_PLACED_V1_TYPE, PAYMENT_AUTHORIZED_V1_TYPE, STOCK_RESERVED_V1_TYPE,
};
use uuid::Uuid;

const TOPIC_VARIABLE: &str = "ORDER_EVENTS_TOPIC_ARN";
/// The producers, by their `<Name>FunctionName` stack outputs.
const PRODUCERS: [&str; 4] =
    ["OrderApiFunctionName", "InventoryFunctionName", "BillingFunctionName", "OrderLifecycleFunctionName"];
const STEP: Duration = Duration::from_secs(60);

/// The tests break functions' configuration: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn set_environment(harness: &Harness, function: &str, variables: HashMap<String, String>) {
    harness
        .lambda
        .update_function_configuration()
        .function_name(function)
        .environment(Environment::builder().set_variables(Some(variables)).build())
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    eventually(Duration::from_secs(60), "the configuration update", || async {
        let configuration = harness
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .expect("GetFunctionConfiguration");
        (configuration.last_update_status != Some(LastUpdateStatus::InProgress)).then_some(())
    })
    .await;
}

async fn environment(harness: &Harness, function: &str) -> HashMap<String, String> {
    harness
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .expect("GetFunctionConfiguration")
        .environment
        .and_then(|environment| environment.variables)
        .unwrap_or_default()
}

/// Restores the functions' environments when dropped, so a failing assertion does not leave
/// the stack broken for whatever runs next.
struct RestoreOnDrop {
    originals: Vec<(String, HashMap<String, String>)>,
}

impl RestoreOnDrop {
    async fn restore(harness: &Harness, originals: &[(String, HashMap<String, String>)]) {
        for (function, variables) in originals {
            set_environment(harness, function, variables.clone()).await;
        }
    }
}

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        let originals = std::mem::take(&mut self.originals);
        if originals.is_empty() {
            return;
        }
        // Drop cannot be async: restore on a runtime of its own, on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let harness = Harness::connect().await;
                RestoreOnDrop::restore(&harness, &originals).await;
            });
        })
        .join();
    }
}

/// The outbox entries of the order: event id -> (event type, still pending).
async fn entries(harness: &Harness, order_id: Uuid) -> HashMap<String, (String, bool)> {
    harness
        .outbox_entries(order_id)
        .await
        .into_iter()
        .map(|entry| {
            let body: serde_json::Value = serde_json::from_str(&string(&entry, "body")).expect("a JSON body");
            let event_type = body["type"].as_str().unwrap_or("?").to_owned();
            (string(&entry, "eventId"), (event_type, entry.contains_key("pendingPartition")))
        })
        .collect()
}

/// Waits until the order's outbox holds entries of every one of `types`. (Pending ones, unless
/// the relay's own schedule, which waits a grace period of a minute, came first.)
async fn pending_of(harness: &Harness, order_id: Uuid, types: &[&str]) -> HashMap<String, (String, bool)> {
    eventually(STEP, &format!("pending outbox entries {types:?}"), || async {
        let entries = entries(harness, order_id).await;
        types.iter().all(|t| entries.values().any(|(et, _)| et == t)).then_some(entries)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_outcome_that_could_not_be_published_is_delivered_by_the_relay_with_its_id() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let harness = Harness::connect().await;
    let mut originals = Vec::new();
    for output in PRODUCERS {
        let function = harness.stack.output(output).to_owned();
        let variables = environment(&harness, &function).await;
        assert!(variables.contains_key(TOPIC_VARIABLE), "{function} has {TOPIC_VARIABLE}: {variables:?}");
        originals.push((function, variables));
    }
    let restore = RestoreOnDrop { originals: originals.clone() };
    for (function, variables) in &originals {
        let mut broken = variables.clone();
        broken.insert(TOPIC_VARIABLE.into(), format!("{}-does-not-exist", variables[TOPIC_VARIABLE]));
        set_environment(&harness, function, broken).await;
    }

    let mut spy = SpyQueue::attach(&harness).await;
    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 1, 700)]);
    let order_id = harness.place_order(&order).await;
    assert!(harness.stored_order(order_id).await.is_some(), "the order is stored although publishing failed");

    // Step 1: the OrderPlaced waits in the outbox; nobody acted.
    let placed = pending_of(&harness, order_id, &[ORDER_PLACED_V1_TYPE]).await;
    assert!(placed.values().all(|(_, pending)| *pending), "the entry is still pending: {placed:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(harness.reservation(order_id).await.is_none(), "nothing was delivered while publishing failed");
    assert!(harness.payment(order_id).await.is_none(), "nothing was delivered while publishing failed");

    // Step 2: the relay announces it; inventory and billing record their effects, and their
    // outcomes wait in the outbox.
    let summary = harness.run_relay().await;
    assert!(summary["published"].as_u64().unwrap_or(0) >= 1, "relay summary: {summary}");
    pending_of(&harness, order_id, &[STOCK_RESERVED_V1_TYPE, PAYMENT_AUTHORIZED_V1_TYPE]).await;
    assert_eq!(string(&harness.reservation(order_id).await.expect("reserved"), "status"), "RESERVED");
    assert_eq!(string(&harness.payment(order_id).await.expect("authorized"), "status"), "AUTHORIZED");
    assert_eq!(harness.get_order(order_id).await.json["status"], "PLACED", "no outcome reached the order yet");

    // Step 3: the outcomes reach the lifecycle, which settles; the settlement waits.
    harness.run_relay().await;
    pending_of(&harness, order_id, &[ORDER_CONFIRMED_V1_TYPE]).await;
    assert_eq!(harness.get_order(order_id).await.json["status"], "CONFIRMED");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(harness.shipment(order_id).await.is_none(), "the settlement was not announced yet");
    assert_eq!(string(&harness.payment(order_id).await.expect("payment"), "status"), "AUTHORIZED", "not captured yet");

    // Step 4: the settlement goes out. The configuration is restored first, so that nothing
    // after this depends on the broken topic.
    RestoreOnDrop::restore(&harness, &originals).await;
    drop(restore);
    harness.run_relay().await;
    harness.assert_settles(&order, order_id, Expect::Confirmed, Duration::from_secs(120)).await;
    assert_eq!(harness.stock(&sku).await, (9, 0), "committed once");

    // Every event the spy saw for the order is an outbox entry, published under its id, once.
    spy.collect_until(Duration::from_secs(60), |spy| !spy.of_type(order_id, ORDER_CONFIRMED_V1_TYPE).is_empty()).await;
    spy.collect_for(Duration::from_secs(3)).await;
    let outbox = entries(&harness, order_id).await;
    let seen: Vec<(String, String)> =
        spy.events_for(order_id).iter().map(|e| (e.id().to_string(), e.event_type().to_owned())).collect();
    let seen_ids: HashSet<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "each event published once: {seen:?}");
    assert_eq!(seen.len(), 4, "OrderPlaced, StockReserved, PaymentAuthorized, OrderConfirmed: {seen:?}");
    for (id, event_type) in &seen {
        let entry = outbox.get(id).unwrap_or_else(|| panic!("{event_type} {id} has no outbox entry: {outbox:?}"));
        assert_eq!(&entry.0, event_type, "the entry {id} holds the event published");
        assert!(!entry.1, "the entry of {event_type} is marked published: {outbox:?}");
    }
    assert_eq!(outbox.len(), 4, "one outbox entry per event: {outbox:?}");
    spy.detach().await;
    harness.assert_every_dlq_empty().await;
}

/// Deletes an item of the outbox table when dropped (the malformed one the test wrote), so the
/// relay does not keep reporting it to the suites after this one.
struct DeleteOnDrop {
    table: String,
    event_id: String,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let (table, event_id) = (self.table.clone(), self.event_id.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let harness = Harness::connect().await;
                let deleted = harness
                    .dynamodb
                    .delete_item()
                    .table_name(&table)
                    .key("eventId", AttributeValue::S(event_id.clone()))
                    .send()
                    .await;
                if let Err(error) = deleted {
                    eprintln!("could not delete the malformed outbox item {event_id}: {error}");
                }
            });
        })
        .join();
    }
}

/// The `pendingPartition` of each of the order's outbox entries (`None` once published).
async fn partitions(harness: &Harness, order_id: Uuid) -> Vec<Option<String>> {
    harness
        .outbox_entries(order_id)
        .await
        .iter()
        .map(|entry| entry.get("pendingPartition").and_then(|value| value.as_s().ok()).cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_cannot_publish_fails_then_recovers_every_shard_and_skips_a_malformed_item() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = std::time::Instant::now();
    let harness = Harness::connect().await;
    // The order API cannot publish (its events wait in the outbox) and neither can the relay.
    let mut originals = Vec::new();
    for output in ["OrderApiFunctionName", "OutboxRelayFunctionName"] {
        let function = harness.stack.output(output).to_owned();
        let variables = environment(&harness, &function).await;
        originals.push((function, variables));
    }
    let restore = RestoreOnDrop { originals: originals.clone() };
    for (function, variables) in &originals {
        let mut broken = variables.clone();
        broken.insert(TOPIC_VARIABLE.into(), format!("{}-does-not-exist", variables[TOPIC_VARIABLE]));
        set_environment(&harness, function, broken).await;
    }

    let sku = harness.create_sku(20).await;
    let orders: Vec<TestOrder> = (0..12).map(|_| TestOrder::new(vec![(sku.clone(), 1, 300)])).collect();
    let mut ids = Vec::new();
    for order in &orders {
        ids.push(harness.place_order(order).await);
    }
    let mut shards = HashSet::new();
    for order_id in &ids {
        let pending = partitions(&harness, *order_id).await;
        assert_eq!(pending.len(), 1, "one outbox entry for order {order_id}: {pending:?}");
        let shard = pending[0].clone().unwrap_or_else(|| panic!("the entry of {order_id} is pending"));
        assert!(shard.starts_with("PENDING#"), "a sharded partition key: {shard}");
        shards.insert(shard);
    }
    assert!(shards.len() >= 3, "12 entries over several shards: {shards:?}");

    // An item no relay can publish (no body), written straight into the table, on the index.
    let table = harness.table("OutboxTableName").to_owned();
    let malformed_id = format!("malformed-{}", Uuid::new_v4());
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let item: HashMap<String, AttributeValue> = [
        ("eventId", malformed_id.as_str()),
        ("subject", "no-order"),
        ("pendingPartition", "PENDING#7"),
        ("createdAt", created_at.as_str()),
        ("status", "PENDING"),
        ("eventType", "OrderPlaced"),
        ("eventVersion", "1"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), AttributeValue::S(value.to_owned())))
    .collect();
    harness.dynamodb.put_item().table_name(&table).set_item(Some(item)).send().await.expect("PutItem");
    let _malformed = DeleteOnDrop { table: table.clone(), event_id: malformed_id.clone() };

    // The relay cannot publish: its invocation fails, naming how many entries it could not.
    let invoked = harness
        .lambda
        .invoke()
        .function_name(harness.stack.output("OutboxRelayFunctionName"))
        .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"graceSeconds": 0}"#.to_vec()))
        .send()
        .await
        .expect("Invoke the relay");
    let answer = invoked.payload.as_ref().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    assert!(invoked.function_error.is_some(), "the relay reported success while every publish failed: {answer}");
    assert!(answer.contains("due outbox entries could not be published or completed"), "{answer}");
    for order_id in &ids {
        assert!(partitions(&harness, *order_id).await[0].is_some(), "order {order_id} still pending");
    }
    eprintln!("outbox stall: the relay failed with {answer}");

    // The topic is back: the relay publishes every shard's entries and reports the malformed one.
    RestoreOnDrop::restore(&harness, &originals).await;
    drop(restore);
    let summary = harness.run_relay().await;
    let malformed = summary["malformed"].as_array().cloned().unwrap_or_default();
    assert!(
        malformed
            .iter()
            .any(|m| m["key"] == malformed_id.as_str() && m["problem"].as_str().unwrap_or("").contains("body")),
        "the malformed item is reported: {summary}"
    );
    let settles = orders
        .iter()
        .zip(&ids)
        .map(|(order, order_id)| harness.assert_settles(order, *order_id, Expect::Confirmed, Duration::from_secs(120)));
    futures::future::join_all(settles).await;
    for order_id in &ids {
        let left: Vec<Option<String>> =
            partitions(&harness, *order_id).await.into_iter().filter(Option::is_some).collect();
        assert!(left.is_empty(), "every entry of order {order_id} published: {left:?}");
    }
    let still_there = harness
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("eventId", AttributeValue::S(malformed_id.clone()))
        .send()
        .await
        .expect("GetItem")
        .item
        .is_some_and(|item| item.contains_key("pendingPartition"));
    assert!(still_there, "the malformed item was skipped, not removed");
    eprintln!(
        "outbox recovery: 12 orders over {} shards recovered, malformed item {malformed_id} skipped and reported; {} s",
        shards.len(),
        started.elapsed().as_secs()
    );
    harness.assert_every_dlq_empty().await;
}
