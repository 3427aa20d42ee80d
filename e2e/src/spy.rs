//! A consumer of the tests' own: an SQS queue subscribed to the order topic for the length of a
//! test, with no filter, so a test can see every event the producer published. It is attached
//! the way any new consumer is (a queue and a subscription), without touching the producer.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use orderflow_events::{OrderEvent, decode_message};
use uuid::Uuid;

use crate::Harness;

pub struct SpyQueue {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    queue_url: String,
    subscription_arn: String,
    /// Every event received so far (messages are deleted once read).
    pub seen: Vec<OrderEvent>,
    /// Bodies that did not decode.
    pub undecodable: Vec<String>,
}

impl SpyQueue {
    pub async fn attach(harness: &Harness) -> SpyQueue {
        let name = format!("e2e-spy-{}", Uuid::new_v4().simple());
        let queue_url = harness
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        let queue_arn = harness
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        let subscription_arn = harness
            .sns
            .subscribe()
            .topic_arn(harness.stack.output("OrderEventsTopicArn"))
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .return_subscription_arn(true)
            .send()
            .await
            .expect("Subscribe")
            .subscription_arn
            .expect("subscription arn");
        SpyQueue {
            sqs: harness.sqs.clone(),
            sns: harness.sns.clone(),
            queue_url,
            subscription_arn,
            seen: Vec::new(),
            undecodable: Vec::new(),
        }
    }

    /// Reads whatever arrives during `window`.
    pub async fn collect_for(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < deadline {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            for message in received.messages.unwrap_or_default() {
                let body = message.body.unwrap_or_default();
                match decode_message(&body) {
                    Ok((event, _)) => self.seen.push(event),
                    Err(_) => self.undecodable.push(body),
                }
                if let Some(handle) = message.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
        }
    }

    /// Reads until `done` holds for what was seen, or `timeout` passes; returns whether it held.
    pub async fn collect_until(&mut self, timeout: Duration, done: impl Fn(&SpyQueue) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if done(self) {
                return true;
            }
            self.collect_for(Duration::from_secs(1)).await;
        }
        done(self)
    }

    /// The events about one order with this CloudEvents type (e.g. `orders.OrderCancelled.v1`).
    pub fn of_type(&self, order_id: Uuid, cloudevents_type: &str) -> Vec<&OrderEvent> {
        self.events_for(order_id).into_iter().filter(|event| event.event_type() == cloudevents_type).collect()
    }

    /// The events seen so far about one order.
    pub fn events_for(&self, order_id: Uuid) -> Vec<&OrderEvent> {
        self.seen.iter().filter(|event| event.order_id() == order_id).collect()
    }

    /// The events seen so far for one customer.
    pub fn events_for_customer(&self, customer_id: &str) -> Vec<&OrderEvent> {
        self.seen
            .iter()
            .filter(|event| match event {
                OrderEvent::OrderPlacedV1(placed) => placed.data().customer().id == customer_id,
                _ => false,
            })
            .collect()
    }

    /// Unsubscribes and deletes the queue.
    pub async fn detach(self) {
        let _ = self.sns.unsubscribe().subscription_arn(&self.subscription_arn).send().await;
        let _ = self.sqs.delete_queue().queue_url(&self.queue_url).send().await;
    }
}
