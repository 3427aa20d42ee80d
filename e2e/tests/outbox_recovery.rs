//! The dual write, failed on purpose: the order function is pointed at a topic it cannot publish
//! to. The order must still be stored and answered per the contract; once the fault is removed,
//! the outbox relay delivers the same event and each consumer acts once.
//!
//! This test changes the deployed order function's configuration, so it is a test binary of its
//! own, which scripts/e2e runs only after the suites that place orders through the API (beside
//! the poison suite, which sends straight to a queue).
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::types::{Environment, LastUpdateStatus};
use e2e::{Harness, TestOrder, eventually, number, string};
use serde_json::Value;

const TOPIC_VARIABLE: &str = "ORDER_EVENTS_TOPIC_ARN";

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

/// Restores the order function's environment when dropped, so a failing assertion does not
/// leave the stack broken for the tests that follow.
struct RestoreOnDrop {
    function: String,
    original: HashMap<String, String>,
}

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        let function = self.function.clone();
        let original = self.original.clone();
        // Drop cannot be async: restore on a runtime of its own, on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let harness = Harness::connect().await;
                set_environment(&harness, &function, original).await;
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_could_not_be_published_is_delivered_by_the_relay() {
    let harness = Harness::connect().await;
    let order_function = harness.stack.resource("OrderApiFunction").to_owned();
    let relay_function = harness.stack.resource("OutboxRelayFunction").to_owned();
    let original = environment(&harness, &order_function).await;
    let topic = original.get(TOPIC_VARIABLE).expect("the order function has the topic variable").clone();

    let mut broken = original.clone();
    let missing_topic = format!("{}-does-not-exist", topic);
    broken.insert(TOPIC_VARIABLE.into(), missing_topic);
    let restore = RestoreOnDrop { function: order_function.clone(), original: original.clone() };
    set_environment(&harness, &order_function, broken).await;

    let sku = harness.create_sku(10).await;
    let order = TestOrder::new(vec![(sku.clone(), 1, 700)]);
    let order_id = harness.place_order(&order).await;
    assert!(harness.stored_order(order_id).await.is_some(), "the order is stored although publishing failed");

    let pending = harness
        .dynamodb
        .scan()
        .table_name(harness.stack.resource("OutboxTable"))
        .filter_expression("contains(#body, :order)")
        .expression_attribute_names("#body", "body")
        .expression_attribute_values(":order", AttributeValue::S(order_id.to_string()))
        .send()
        .await
        .expect("Scan outbox")
        .items
        .unwrap_or_default();
    assert_eq!(pending.len(), 1, "one outbox entry for the order: {pending:?}");
    assert!(pending[0].contains_key("pendingPartition"), "the entry is still pending: {:?}", pending[0]);
    let event_id = string(&pending[0], "eventId");

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(harness.reservation(order_id).await.is_none(), "nothing was delivered while publishing failed");

    // Remove the fault, then run the relay on demand with no grace period.
    drop(restore);
    assert_eq!(environment(&harness, &order_function).await.get(TOPIC_VARIABLE), Some(&topic));
    let invoked = harness
        .lambda
        .invoke()
        .function_name(&relay_function)
        .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"graceSeconds": 0}"#.to_vec()))
        .send()
        .await
        .expect("Invoke the relay");
    assert!(invoked.function_error.is_none(), "relay failed: {:?}", invoked.payload);
    let summary: Value =
        serde_json::from_slice(invoked.payload.as_ref().map(|p| p.as_ref()).unwrap_or(b"{}")).expect("JSON summary");
    assert!(summary["published"].as_u64().unwrap_or(0) >= 1, "relay summary: {summary}");

    let reservation = eventually(Duration::from_secs(30), "the reservation", || harness.reservation(order_id)).await;
    assert_eq!(string(&reservation, "eventId"), event_id, "the relay published the original event id");
    let payment = eventually(Duration::from_secs(30), "the payment", || harness.payment(order_id)).await;
    assert_eq!(number(&payment, "amount"), 700);
    eventually(Duration::from_secs(30), "the email", || async {
        Some(harness.emails_to(&order.email).await).filter(|emails| !emails.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(harness.stock(&sku).await, (9, 1), "reserved once");
    assert_eq!(harness.emails_to(&order.email).await.len(), 1, "emailed once");
}
