//! A poison message among good ones: the good messages of the batch are processed, the poison
//! one is parked in that consumer's DLQ by the consumer itself at its first receive, with the
//! reason attached (not after `maxReceiveCount` receives, which would take five visibility
//! timeouts).
//!
//! A test binary of its own, run beside the others (scripts/e2e): it leaves one message in a
//! DLQ, which the others recognise by its prefix and ignore.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use chrono::{SubsecRound, Utc};
use e2e::{Harness, POISON_PREFIX, TestOrder, eventually, string};
use orderflow_events::{CloudEvent, Customer, LineItem, Money, ORDER_SERVICE_SOURCE, OrderPlacedV1};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_message_reaches_the_dlq_and_the_rest_of_its_batch_is_processed() {
    let harness = Harness::connect().await;
    let queue = harness.stack.output("InventoryQueueUrl").to_owned();
    let dlq = harness.stack.output("InventoryDlqUrl").to_owned();

    let sku = harness.create_sku(10).await;
    let good: Vec<_> = (0..3)
        .map(|_| {
            let order = TestOrder::new(vec![(sku.clone(), 1, 100)]);
            let data = OrderPlacedV1::new(
                Uuid::now_v7(),
                Customer { id: order.customer_id, email: order.email, name: None },
                vec![LineItem {
                    sku: sku.clone(),
                    quantity: 1,
                    unit_price: Money::new(100, "EUR".parse().expect("EUR")),
                }],
                Utc::now().trunc_subsecs(3),
            )
            .expect("valid");
            CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data)
        })
        .collect();
    let poison = format!("{POISON_PREFIX} {}", Uuid::new_v4());

    let mut batch =
        vec![SendMessageBatchRequestEntry::builder().id("poison").message_body(&poison).build().expect("entry")];
    for (index, event) in good.iter().enumerate() {
        batch.push(
            SendMessageBatchRequestEntry::builder()
                .id(format!("good{index}"))
                .message_body(event.to_json())
                .build()
                .expect("entry"),
        );
    }
    let sent = harness
        .sqs
        .send_message_batch()
        .queue_url(&queue)
        .set_entries(Some(batch))
        .send()
        .await
        .expect("SendMessageBatch");
    assert!(sent.failed.is_empty(), "{:?}", sent.failed);

    for event in &good {
        let order_id = event.data().order_id();
        let reservation =
            eventually(Duration::from_secs(30), "the good messages' reservations", || harness.reservation(order_id))
                .await;
        assert_eq!(string(&reservation, "status"), "RESERVED");
    }

    // Parked at the first receive: it must be there well within one visibility timeout, where
    // the redrive policy alone would need maxReceiveCount of them.
    let attributes = harness
        .sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    let visibility: u64 =
        attributes.get(&QueueAttributeName::VisibilityTimeout).and_then(|v| v.parse().ok()).unwrap_or(60);
    let redrive: serde_json::Value = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|policy| serde_json::from_str(policy).ok())
        .expect("the queue has a redrive policy");
    let max_receives =
        redrive["maxReceiveCount"].as_u64().or_else(|| redrive["maxReceiveCount"].as_str()?.parse().ok()).unwrap_or(5);
    assert!(max_receives > 1, "the redrive policy stays as the safety net");
    let patience = Duration::from_secs(visibility);

    let parked = eventually(patience, "the poison message in the DLQ", || async {
        harness.peek_messages(&dlq).await.into_iter().find(|m| m.body.as_deref() == Some(poison.as_str()))
    })
    .await;
    let attribute =
        |name: &str| parked.message_attributes.as_ref().and_then(|a| a.get(name)).and_then(|v| v.string_value.clone());
    assert_eq!(attribute("orderflow_failure_consumer").as_deref(), Some("inventory"), "{parked:?}");
    let reason = attribute("orderflow_failure_reason").unwrap_or_default();
    assert!(reason.starts_with("undecodable message"), "the reason travels with it: {reason}");
    assert!(attribute("orderflow_failed_at").is_some(), "{parked:?}");
    assert_eq!(harness.stock(&sku).await, (7, 3), "the good messages reserved once each");
}
