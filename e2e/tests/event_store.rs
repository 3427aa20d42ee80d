//! The event store, proven on the deployed stack: every event published for a few orders is in
//! EventStoreTable exactly once, with the body and message attributes SNS delivered, and
//! `GET /orders/{orderId}/events` lists them in time order.
//!
//! What was published is observed independently of the store: a queue of the test's own,
//! subscribed to the topic without a filter (raw delivery, like every consumer's queue) before
//! the orders are placed, keeps each message's body and attributes exactly as delivered.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use e2e::lifecycle::Expect;
use e2e::{Harness, TestOrder, eventually, string, string_opt};
use serde_json::{Value, json};
use uuid::Uuid;

/// How long an order may take to settle, with the other suites loading the same LocalStack.
const SETTLE: Duration = Duration::from_secs(180);
/// How long the store may lag behind the topic once every event is published.
const STORED: Duration = Duration::from_secs(90);

/// One message as the topic delivered it to a raw-delivery queue.
#[derive(Debug, Clone)]
struct Delivered {
    body: String,
    /// `{"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}, ...}`: the shape the
    /// store keeps them in.
    attributes: Value,
    envelope: Value,
}

impl Delivered {
    fn id(&self) -> &str {
        self.envelope["id"].as_str().expect("a CloudEvent id")
    }

    fn order_id(&self) -> Option<&str> {
        self.envelope["subject"].as_str().or_else(|| self.envelope["data"]["orderId"].as_str())
    }
}

/// A queue subscribed to the topic with no filter, keeping the raw messages.
struct RawSpy {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    queue_url: String,
    subscription_arn: String,
    seen: Vec<Delivered>,
}

impl RawSpy {
    async fn attach(harness: &Harness) -> RawSpy {
        let name = format!("e2e-store-spy-{}", Uuid::new_v4().simple());
        let queue_url =
            harness.sqs.create_queue().queue_name(&name).send().await.expect("CreateQueue").queue_url.expect("url");
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
        RawSpy { sqs: harness.sqs.clone(), sns: harness.sns.clone(), queue_url, subscription_arn, seen: Vec::new() }
    }

    async fn collect_for(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < deadline {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage");
            for message in received.messages.unwrap_or_default() {
                let body = message.body.clone().unwrap_or_default();
                let attributes: serde_json::Map<String, Value> = message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| {
                        let mut attribute = json!({ "DataType": value.data_type });
                        if let Some(text) = value.string_value {
                            attribute["StringValue"] = json!(text);
                        }
                        (name, attribute)
                    })
                    .collect();
                // Not every message need be a CloudEvent (another suite's poison): keep the ones
                // that are, which is what the store keeps.
                if let Ok(envelope) = serde_json::from_str::<Value>(&body)
                    && envelope["id"].is_string()
                {
                    self.seen.push(Delivered { body, attributes: Value::Object(attributes), envelope });
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

    /// The distinct events delivered about `order_id`, by event id (a duplicate delivery of one
    /// event must carry the same body).
    fn events_for(&self, order_id: Uuid) -> BTreeMap<String, Delivered> {
        let order = order_id.to_string();
        let mut events = BTreeMap::new();
        for delivered in self.seen.iter().filter(|d| d.order_id() == Some(order.as_str())) {
            if let Some(first) = events.insert(delivered.id().to_owned(), delivered.clone()) {
                assert_eq!(first.body, delivered.body, "two bodies for event {}", delivered.id());
            }
        }
        events
    }

    fn has_type(&self, order_id: Uuid, cloudevents_type: &str) -> bool {
        self.events_for(order_id).values().any(|d| d.envelope["type"] == cloudevents_type)
    }

    async fn detach(self) {
        let _ = self.sns.unsubscribe().subscription_arn(&self.subscription_arn).send().await;
        let _ = self.sqs.delete_queue().queue_url(&self.queue_url).send().await;
    }
}

/// The time part of the indexes' sort key: the CloudEvent time in UTC at nanosecond width, so
/// that producers stamping milliseconds and nanoseconds sort by time.
fn sort_time(delivered: &Delivered) -> String {
    let time = delivered.envelope["time"].as_str().expect("a CloudEvent time");
    chrono::DateTime::parse_from_rfc3339(time)
        .expect("an RFC 3339 time")
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Every item of the order in the store's `byOrder` index, every page, in index order.
async fn stored_events(harness: &Harness, order_id: Uuid) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = harness
            .dynamodb
            .query()
            .table_name(harness.table("EventStoreTableName"))
            .index_name("byOrder")
            .key_condition_expression("orderId = :order")
            .expression_attribute_values(":order", AttributeValue::S(order_id.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Query byOrder");
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_published_event_is_stored_once_as_delivered_and_listed_in_time_order() {
    let harness = Harness::connect().await;
    let mut spy = RawSpy::attach(&harness).await;
    let plenty = harness.create_sku(20).await;
    let scarce = harness.create_sku(1).await;
    let orders = [
        (TestOrder::new(vec![(plenty.clone(), 1, 1999)]).with_shipping_address(), Expect::Confirmed),
        (TestOrder::new(vec![(plenty.clone(), 2, 500)]), Expect::Confirmed),
        (TestOrder::new(vec![(scarce.clone(), 2, 100)]), Expect::Cancelled("OUT_OF_STOCK")),
    ];
    let mut placed = Vec::new();
    for (order, expect) in &orders {
        placed.push((harness.place_order(order).await, order, *expect));
    }
    for (order_id, order, expect) in &placed {
        harness.assert_settles(order, *order_id, *expect, SETTLE).await;
    }

    // Every event up to the settlement, then a little more for stragglers.
    let settled = |spy: &RawSpy| {
        placed.iter().all(|(id, _, expect)| match expect {
            Expect::Confirmed => spy.has_type(*id, "orders.OrderConfirmed.v1"),
            Expect::Cancelled(_) => spy.has_type(*id, "orders.OrderCancelled.v1"),
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !settled(&spy) && tokio::time::Instant::now() < deadline {
        spy.collect_for(Duration::from_secs(1)).await;
    }
    assert!(settled(&spy), "the spy saw every settlement");
    spy.collect_for(Duration::from_secs(3)).await;

    for (order_id, _, _) in &placed {
        let published = spy.events_for(*order_id);
        assert!(published.len() >= 4, "placed, two outcomes, settlement: {:?}", published.keys());

        // The store catches up: the same ids, none missing and none extra.
        let items = eventually(STORED, &format!("the store to have the events of order {order_id}"), || async {
            let items = stored_events(&harness, *order_id).await;
            let ids: Vec<String> = items.iter().map(|item| string(item, "eventId")).collect();
            (ids.len() >= published.len()).then_some(items)
        })
        .await;
        let mut stored_ids: Vec<String> = items.iter().map(|item| string(item, "eventId")).collect();
        stored_ids.sort_unstable();
        let published_ids: Vec<String> = published.keys().cloned().collect();
        assert_eq!(stored_ids, published_ids, "order {order_id}: the store has exactly the published events");
        assert_eq!(items.len(), published.len(), "order {order_id}: each event once");

        for item in &items {
            let id = string(item, "eventId");
            let delivered = &published[&id];
            // The same JSON document. Not compared byte for byte: LocalStack's event source mapping
            // hands the function the body re-serialized (`", "` separators), where AWS passes the
            // message as published; the store keeps what the function received.
            let body: Value = serde_json::from_str(&string(item, "body")).expect("the stored body is JSON");
            assert_eq!(body, delivered.envelope, "{id}: the body as delivered");
            let attributes: Value = serde_json::from_str(&string(item, "attributes")).expect("attributes JSON");
            assert_eq!(attributes, delivered.attributes, "{id}: the message attributes as delivered");
            let envelope = &delivered.envelope;
            assert_eq!(string(item, "type"), envelope["type"].as_str().unwrap(), "{id}");
            assert_eq!(string(item, "source"), envelope["source"].as_str().unwrap(), "{id}");
            assert_eq!(string(item, "time"), envelope["time"].as_str().unwrap(), "{id}");
            assert_eq!(string(item, "timeId"), format!("{}#{id}", sort_time(delivered)), "{id}");
            assert_eq!(string(item, "orderId"), order_id.to_string(), "{id}");
            assert_eq!(string_opt(item, "correlationId").as_deref(), envelope["correlationid"].as_str(), "{id}");
            assert_eq!(
                Some(string(item, "eventType")),
                delivered.attributes["event_type"]["StringValue"].as_str().map(str::to_owned),
                "{id}: eventType is the SNS attribute"
            );
            assert_eq!(
                Some(string(item, "eventVersion")),
                delivered.attributes["event_version"]["StringValue"].as_str().map(str::to_owned),
                "{id}"
            );
            assert!(matches!(item.get("storedAt"), Some(AttributeValue::N(_))), "{id}: storedAt");
            assert!(matches!(item.get("expiresAt"), Some(AttributeValue::N(_))), "{id}: expiresAt (TTL)");
        }

        // The API lists them in time order (ties by id), with the CloudEvent's fields.
        let response = harness.send(harness.http.get(harness.url(&format!("/orders/{order_id}/events")))).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.json["orderId"], order_id.to_string());
        let listed = response.json["events"].as_array().expect("events").clone();
        let mut expected: Vec<&Delivered> = published.values().collect();
        expected.sort_by(|a, b| (sort_time(a), a.id()).cmp(&(sort_time(b), b.id())));
        let expected: Vec<Value> = expected
            .iter()
            .map(|d| {
                json!({
                    "type": d.envelope["type"], "id": d.id(), "source": d.envelope["source"],
                    "time": d.envelope["time"], "correlationId": d.envelope["correlationid"],
                })
            })
            .collect();
        assert_eq!(listed, expected, "GET /orders/{order_id}/events");
        assert_eq!(listed[0]["type"], "orders.OrderPlaced.v1", "the order starts with OrderPlaced");
    }

    let unknown = harness.send(harness.http.get(harness.url(&format!("/orders/{}/events", Uuid::now_v7())))).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
    spy.detach().await;
}
