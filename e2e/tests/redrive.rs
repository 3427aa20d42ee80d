//! A message in a DLQ, the runbook way: read it with `orderflow dlq show` (its event and the
//! reason the consumer logged), fix the cause, `orderflow dlq redrive`, and see it processed
//! exactly once.
//!
//! The cause is a bad record, as a bad deploy would leave: billing's payment row for the order
//! has a status no version of billing writes, so voiding it fails permanently on every receive
//! and the OrderCancelled ends in billing's DLQ after `maxReceiveCount` receives. The fix writes
//! the row as billing would have (AUTHORIZED); after the redrive the payment is VOIDED, once.
//!
//! A test binary of its own, run beside the others (scripts/e2e); the message is sent straight to
//! billing's queue (nobody else sees it) and carries [`EXPECTED_DEAD_LETTER_ATTRIBUTE`], so the
//! suites beside it do not take it for a real dead letter while it waits there.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use chrono::{SecondsFormat, Utc};
use e2e::{EXPECTED_DEAD_LETTER_ATTRIBUTE, Harness, TestOrder, eventually, orderflow, string};
use orderflow_events::{CancellationReason, CloudEvent, ORDER_SERVICE_SOURCE, OrderCancelledV1};
use uuid::Uuid;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_is_shown_with_its_reason_fixed_redriven_and_processed_once() {
    let harness = Harness::connect().await;
    let queue = harness.stack.output("BillingQueueUrl").to_owned();
    let dlq = harness.stack.output("BillingDlqUrl").to_owned();
    let payments = harness.table("PaymentsTableName").to_owned();

    let order = TestOrder::new(vec![("E2E-REDRIVE".into(), 2, 1250)]);
    let order_id = Uuid::now_v7();
    let total = order.money(order.total());
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    // The bad record: a status billing never writes.
    let mut row: HashMap<String, AttributeValue> = HashMap::from([
        ("orderId".into(), s(order_id.to_string())),
        ("status".into(), s("SETTLING")),
        ("amount".into(), AttributeValue::N(order.total().to_string())),
        ("currency".into(), s("EUR")),
        ("eventId".into(), s(Uuid::now_v7().to_string())),
        ("createdAt".into(), s(&now)),
        ("updatedAt".into(), s(&now)),
    ]);
    harness.dynamodb.put_item().table_name(&payments).set_item(Some(row.clone())).send().await.expect("PutItem");

    let cancelled = CloudEvent::new(
        Uuid::now_v7(),
        ORDER_SERVICE_SOURCE,
        Utc::now(),
        OrderCancelledV1::new(order_id, CancellationReason::OutOfStock, order.customer(), total).expect("valid"),
    )
    .with_correlation_id(format!("e2e-redrive-{order_id}"));
    let event_id = cancelled.id().to_string();
    let mut send = harness.sqs.send_message().queue_url(&queue).message_body(cancelled.to_json());
    for (name, value) in cancelled.message_attributes() {
        send = send.message_attributes(
            name,
            MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("attribute"),
        );
    }
    send.message_attributes(
        EXPECTED_DEAD_LETTER_ATTRIBUTE,
        MessageAttributeValue::builder().data_type("String").string_value("redrive").build().expect("attribute"),
    )
    .send()
    .await
    .expect("SendMessage");

    // Billing parks it at its first receive (a permanent failure); the patience allows the
    // redrive policy's maxReceiveCount receives too, so this test is about redrive, not parking.
    let attributes = harness
        .sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    let visibility: u64 =
        attributes.get(&QueueAttributeName::VisibilityTimeout).and_then(|v| v.parse().ok()).unwrap_or(60);
    let patience = Duration::from_secs(6 * visibility + 30);

    // `orderflow dlq show billing`: the message, decoded, with the reason billing logged.
    let shown = eventually(patience, "the OrderCancelled in `orderflow dlq show billing`", || async {
        let shown = orderflow(&["dlq", "show", "billing"]).await;
        let messages = shown["messages"].as_array().cloned().unwrap_or_default();
        messages.into_iter().find(|m| m["event"]["eventId"] == event_id.as_str())
    })
    .await;
    assert_eq!(shown["event"]["eventType"], "orders.OrderCancelled.v1", "{shown:#}");
    assert_eq!(shown["event"]["orderId"], order_id.to_string(), "{shown:#}");
    let reason = shown["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("SETTLING"), "the reason names the bad status: {shown:#}");

    // `orderflow dlq` lists billing's DLQ with at least this message in it.
    let listed = orderflow(&["dlq"]).await;
    let dlqs = if listed.is_array() { listed.clone() } else { listed["dlqs"].clone() };
    let billing = dlqs
        .as_array()
        .and_then(|dlqs| dlqs.iter().find(|d| d["name"] == "billing"))
        .cloned()
        .unwrap_or_else(|| panic!("billing's DLQ is listed: {listed:#}"));
    assert!(billing["depth"].as_u64().unwrap_or(0) >= 1, "{listed:#}");
    assert!(billing["oldestAgeSeconds"].as_i64().is_some(), "{listed:#}");

    // Showing did not consume it.
    assert!(harness.peek_queue(&dlq).await.iter().any(|body| body.contains(&event_id)), "still in the DLQ");

    // The fix: the row as billing writes an authorization.
    row.insert("status".into(), s("AUTHORIZED"));
    row.insert("authorizationId".into(), s(format!("sim_auth_{order_id}")));
    harness.dynamodb.put_item().table_name(&payments).set_item(Some(row)).send().await.expect("PutItem");

    // A move task moves the messages visible when it runs. The peek above hid this one for a
    // second, and the suites beside this one peek every DLQ at their end, so a task can find it
    // in flight and move nothing: then run it again, as the runbook says.
    let mut moved = 0;
    for attempt in 1..=5 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = orderflow(&["dlq", "redrive", "billing"]).await;
        let handle = started["taskHandle"].as_str().unwrap_or_default().to_owned();
        assert!(!handle.is_empty(), "{started:#}");
        // SQS names a task's handle only while it runs; the newest task is this one (nobody
        // else redrives billing's DLQ).
        let task = eventually(Duration::from_secs(30), "the redrive task to finish", || async {
            let status = orderflow(&["dlq", "redrive-status", "billing"]).await;
            status["tasks"].as_array().and_then(|tasks| tasks.first().cloned()).filter(|t| t["status"] != "RUNNING")
        })
        .await;
        assert_eq!(task["status"], "COMPLETED", "redrive attempt {attempt}: {task:#}");
        moved = task["moved"].as_i64().unwrap_or(0);
        if moved >= 1 {
            break;
        }
    }
    assert!(moved >= 1, "a redrive task moved the message");

    let payment = eventually(Duration::from_secs(90), "the payment voided after the redrive", || async {
        harness.payment(order_id).await.filter(|p| string(p, "status") == "VOIDED")
    })
    .await;
    assert_eq!(string(&payment, "authorizationId"), format!("sim_auth_{order_id}"));

    // Processed once: billing's record of the event is COMPLETED, the DLQ no longer holds it,
    // and the payment stays as the one void left it.
    let idempotency = harness.table("IdempotencyTableName").to_owned();
    let record = eventually(Duration::from_secs(30), "billing's idempotency record", || async {
        harness
            .dynamodb
            .get_item()
            .table_name(&idempotency)
            .key("pk", s(format!("billing#{event_id}")))
            .send()
            .await
            .expect("GetItem")
            .item
            .filter(|item| string(item, "status") == "COMPLETED")
    })
    .await;
    assert!(record.contains_key("completedAtMs"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!harness.peek_queue(&dlq).await.iter().any(|body| body.contains(&event_id)), "left the DLQ");
    let again = harness.payment(order_id).await.expect("payment");
    assert_eq!(string(&again, "status"), "VOIDED");
    assert_eq!(string(&again, "updatedAt"), string(&payment, "updatedAt"), "voided once");
}
