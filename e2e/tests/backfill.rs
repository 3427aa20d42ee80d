//! A consumer deployed after the orders were placed is brought up to date with `orderflow
//! replay`, and replaying into it again changes nothing (issue 13, "backfill a new consumer").
//!
//! The consumer is loyalty (lambdas/loyalty), deployed from its own stack
//! (infra/stacks/loyalty.yaml, `<stack>-loyalty`) beside the orders stack, as another team would:
//! the orders stack is not touched. Its points are a DynamoDB `ADD`, which is not idempotent by
//! itself: only the consumer core's claim `loyalty#<eventId>` keeps the second replay from
//! counting the orders twice.
//!
//! To be sure the consumer really missed the orders, the loyalty stack is deleted first when an
//! earlier run left it, and deployed only once every OrderConfirmed of the test is in the event
//! store (so it has been published: a subscription made later cannot receive it).
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{Harness, TestOrder, endpoint, eventually, number, stack_name, string};
use serde_json::Value;
use uuid::Uuid;

/// Above the local settle timeout (180 s), with room for a loaded stack.
const SETTLE: Duration = Duration::from_secs(240);
const CONSUMER: &str = "loyalty";

fn loyalty_stack() -> String {
    format!("{}-{CONSUMER}", stack_name())
}

async fn cloudformation() -> CloudFormation {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "e2e"))
        .load()
        .await;
    CloudFormation::new(&config)
}

/// The stack's outputs, or None when it does not exist.
async fn outputs(cloudformation: &CloudFormation, stack: &str) -> Option<HashMap<String, String>> {
    let described = cloudformation.describe_stacks().stack_name(stack).send().await.ok()?;
    let stack = described.stacks?.into_iter().next()?;
    let status = stack.stack_status.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
    (status != "DELETE_COMPLETE").then(|| {
        stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|output| Some((output.output_key?, output.output_value?)))
            .collect()
    })
}

/// Deletes the loyalty stack an earlier run left, so that this run's consumer is new.
async fn delete_loyalty_stack(cloudformation: &CloudFormation) {
    let stack = loyalty_stack();
    if outputs(cloudformation, &stack).await.is_none() {
        return;
    }
    cloudformation.delete_stack().stack_name(&stack).send().await.expect("DeleteStack");
    eventually(Duration::from_secs(120), &format!("stack {stack} to be deleted"), || async {
        outputs(cloudformation, &stack).await.is_none().then_some(())
    })
    .await;
}

/// `infra/scripts/local-deploy-loyalty`, as an operator deploys the consumer (it inherits
/// LOCALSTACK_PORT / LOCALSTACK_ENDPOINT / STACK_NAME from the test's environment).
async fn deploy_loyalty_stack() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/scripts/local-deploy-loyalty");
    let output = tokio::task::spawn_blocking(move || std::process::Command::new(&script).output())
        .await
        .expect("the deploy thread")
        .expect("run infra/scripts/local-deploy-loyalty");
    assert!(
        output.status.success(),
        "infra/scripts/local-deploy-loyalty failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `orderflow` command, in process, as an operator runs it; its `--json` report.
async fn orderflow(args: &[&str]) -> Value {
    let mut argv: Vec<String> = ["orderflow", "--local", "--stack"].map(str::to_owned).to_vec();
    argv.push(stack_name());
    argv.extend(args.iter().map(|arg| (*arg).to_owned()));
    argv.push("--json".to_owned());
    let mut out = Vec::new();
    if let Err(error) = orderflow_cli::run(argv.clone(), &mut out).await {
        panic!("{argv:?} failed: {error}\n{error:?}");
    }
    serde_json::from_slice(&out)
        .unwrap_or_else(|error| panic!("{argv:?} printed no JSON ({error}): {}", String::from_utf8_lossy(&out)))
}

/// `orderflow replay --to loyalty --type OrderConfirmed --order ID` for each order.
async fn replay(order_ids: &[Uuid]) {
    for order_id in order_ids {
        let id = order_id.to_string();
        let report = orderflow(&["replay", "--to", CONSUMER, "--type", "OrderConfirmed", "--order", &id]).await;
        assert_eq!(report["sent"], 1, "one OrderConfirmed replayed for order {id}: {report}");
        assert_eq!(report["consumer"], CONSUMER, "{report}");
        assert_eq!(report["queueName"], format!("{}-{CONSUMER}", stack_name()), "{report}");
    }
}

/// The id of the order's OrderConfirmed in the event store, once it is there.
async fn confirmed_event_id(harness: &Harness, order_id: Uuid) -> Option<String> {
    let found = harness
        .dynamodb
        .query()
        .table_name(harness.stack.output("EventStoreTableName"))
        .index_name("byOrder")
        .key_condition_expression("orderId = :order")
        .expression_attribute_values(":order", AttributeValue::S(order_id.to_string()))
        .send()
        .await
        .expect("Query byOrder");
    let confirmed: Vec<String> = found
        .items()
        .iter()
        .filter(|item| string(item, "eventType") == "OrderConfirmed")
        .map(|item| string(item, "eventId"))
        .collect();
    assert!(confirmed.len() <= 1, "order {order_id} has one OrderConfirmed in the store: {confirmed:?}");
    confirmed.into_iter().next()
}

/// (points, orders) of the customer's account, None before their first points.
async fn account(harness: &Harness, table: &str, customer_id: &str) -> Option<(u64, u64)> {
    let item = harness
        .dynamodb
        .get_item()
        .table_name(table)
        .key("customerId", AttributeValue::S(customer_id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem LoyaltyPoints")
        .item?;
    Some((number(&item, "points"), number(&item, "orders")))
}

async fn idempotency_status(harness: &Harness, event_id: &str) -> Option<String> {
    let item = harness
        .dynamodb
        .get_item()
        .table_name(harness.stack.output("IdempotencyTableName"))
        .key("pk", AttributeValue::S(format!("{CONSUMER}#{event_id}")))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem idempotency")
        .item?;
    Some(string(&item, "status"))
}

/// Messages visible or in flight in the queue.
async fn queue_load(harness: &Harness, queue_url: &str) -> u64 {
    let attributes = harness
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    attributes.values().filter_map(|count| count.parse::<u64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_deployed_later_is_backfilled_by_replay_and_a_second_replay_changes_nothing() {
    let harness = Harness::connect().await;
    let cloudformation = cloudformation().await;
    delete_loyalty_stack(&cloudformation).await;

    // Three orders of one new customer, confirmed before the consumer exists.
    let sku = harness.create_sku(20).await;
    let first = TestOrder::new(vec![(sku.clone(), 1, 1999)]);
    let orders = [
        first.clone(),
        TestOrder { items: vec![(sku.clone(), 2, 1250)], ..first.clone() },
        TestOrder { items: vec![(sku.clone(), 3, 333)], ..first.clone() },
    ];
    // One point per whole euro of each order's total: 19 + 25 + 9 (EUR 9.99 earns 9).
    let expected_points: u64 = orders.iter().map(|order| order.total() / 100).sum();
    assert_eq!(expected_points, 53);
    let mut order_ids = Vec::new();
    for order in &orders {
        order_ids.push(harness.place_order_with_retries(order, 3).await);
    }
    let mut event_ids = Vec::new();
    for &order_id in &order_ids {
        let settled = harness.wait_settled(order_id, SETTLE).await;
        assert_eq!(settled.status, "CONFIRMED", "order {order_id}: {}", settled.body);
        // In the store means published: a subscription made from now on cannot receive it.
        let event_id = eventually(
            Duration::from_secs(60),
            &format!("order {order_id}'s OrderConfirmed in the event store"),
            || confirmed_event_id(&harness, order_id),
        )
        .await;
        event_ids.push(event_id);
    }

    // The new consumer, from its own stack.
    deploy_loyalty_stack().await;
    let loyalty = outputs(&cloudformation, &loyalty_stack()).await.expect("the loyalty stack after its deploy");
    let (table, queue_url) = (&loyalty["LoyaltyTableName"], &loyalty["LoyaltyQueueUrl"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(account(&harness, table, &first.customer_id).await, None, "the consumer missed the orders");

    // Backfill: each order's OrderConfirmed, from the store to the loyalty queue only.
    replay(&order_ids).await;
    let backfilled = eventually(Duration::from_secs(90), "the replayed orders' points", || async {
        account(&harness, table, &first.customer_id).await.filter(|&(_, count)| count == 3)
    })
    .await;
    assert_eq!(backfilled, (expected_points, 3), "(points, orders) after the backfill");
    for event_id in &event_ids {
        assert_eq!(idempotency_status(&harness, event_id).await.as_deref(), Some("COMPLETED"), "{event_id}");
    }

    // A second replay: delivered and handled (each event skipped as a duplicate), and nothing added.
    replay(&order_ids).await;
    let function = &loyalty["LoyaltyFunctionName"];
    eventually(Duration::from_secs(90), "the second replay's events skipped as duplicates", || async {
        let skipped = harness.log_messages(function, "duplicate event skipped").await;
        event_ids.iter().all(|id| skipped.iter().any(|line| line.contains(id.as_str()))).then_some(())
    })
    .await;
    eventually(Duration::from_secs(60), "the loyalty queue to drain", || async {
        (queue_load(&harness, queue_url).await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        account(&harness, table, &first.customer_id).await,
        Some((expected_points, 3)),
        "a replay into a consumer that has the events changes nothing"
    );
    let dlq_url = &loyalty["LoyaltyDlqUrl"];
    assert_eq!(queue_load(&harness, dlq_url).await, 0, "nothing in the loyalty DLQ");
}
