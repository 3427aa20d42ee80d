//! The DynamoDB outbox against a local DynamoDB (LocalStack's), with the pending index the
//! template defines: entries written by producers' transactions land in several shards, the
//! relay reads every shard and the legacy key, skips a malformed item, and a partition read
//! past its limit counts what it left.
//! `localstack/start && cargo test -p orderflow-outbox --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use orderflow_kit::clock::ManualClock;
use orderflow_outbox::adapters::dynamodb::PENDING_INDEX;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use orderflow_outbox::{DynamoDbOutbox, OutboxEntry, OutboxStore, PendingPartition, Relay};
use uuid::Uuid;

fn local_client() -> Client {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("LOCALSTACK_ENDPOINT")).unwrap_or_else(|_| {
            let port = std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".to_owned());
            format!("http://127.0.0.1:{port}")
        });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "orderflow-tests"))
        .build();
    Client::from_conf(config)
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().unwrap()
}

/// OutboxTable as `infra/template.yaml` defines it: `eventId`, and the sparse index
/// `pending-by-created` (`pendingPartition`, `createdAt`), all attributes projected.
async fn create_outbox_table(client: &Client) -> String {
    let name = format!("outbox-{}", Uuid::new_v4().simple());
    let index = GlobalSecondaryIndex::builder()
        .index_name(PENDING_INDEX)
        .key_schema(key("pendingPartition", KeyType::Hash))
        .key_schema(key("createdAt", KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute("eventId"))
        .attribute_definitions(attribute("pendingPartition"))
        .attribute_definitions(attribute("createdAt"))
        .key_schema(key("eventId", KeyType::Hash))
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|error| panic!("create table {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(error)));
    name
}

fn entry(created_at: DateTime<Utc>) -> OutboxEntry {
    let order_id = Uuid::now_v7();
    OutboxEntry {
        event_id: Uuid::now_v7(),
        subject: order_id.to_string(),
        created_at,
        body: format!(r#"{{"subject":"{order_id}"}}"#),
        event_type: "OrderPlaced".into(),
        event_version: "1".into(),
        correlation_id: None,
    }
}

/// Writes the entry the way a producer does: its put in a transaction.
async fn write(client: &Client, outbox: &DynamoDbOutbox, entry: &OutboxEntry) {
    client.transact_write_items().transact_items(outbox.put(entry).unwrap()).send().await.unwrap();
}

/// The partitions of the items still on the pending index.
async fn pending_partitions(client: &Client, table: &str) -> Vec<(String, String)> {
    let items = client.scan().table_name(table).index_name(PENDING_INDEX).send().await.unwrap();
    items
        .items()
        .iter()
        .map(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            (text("eventId"), text("pendingPartition"))
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn the_relay_reads_every_shard_and_the_legacy_key_and_skips_a_malformed_item() {
    let client = local_client();
    let table = create_outbox_table(&client).await;
    let outbox = DynamoDbOutbox::new(client.clone(), &table);
    let clock = Arc::new(ManualClock::at_contract_time());
    let start = orderflow_kit::Clock::now(clock.as_ref());

    let mut written = Vec::new();
    for index in 0..40 {
        let entry = entry(start + TimeDelta::milliseconds(index));
        write(&client, &outbox, &entry).await;
        written.push(entry);
    }
    let shards: HashSet<String> = pending_partitions(&client, &table).await.into_iter().map(|(_, p)| p).collect();
    assert!(shards.len() > 8, "40 entries spread over many shards: {shards:?}");
    assert!(shards.iter().all(|shard| shard.starts_with("PENDING#")), "{shards:?}");

    // The shard read past its limit below: the fullest one.
    let (shard, in_shard) = written
        .iter()
        .map(|entry| PendingPartition::of(entry.event_id))
        .map(|partition| (partition, written.iter().filter(|e| PendingPartition::of(e.event_id) == partition).count()))
        .max_by_key(|(_, count)| *count)
        .unwrap();
    // The malformed item goes to another shard: in that one, as its oldest item, it would be the
    // page of one read below (and skipped), which made this test fail when the shard was hers.
    let broken_partition = if shard.to_string() == "PENDING#5" { "PENDING#6" } else { "PENDING#5" };

    // An entry of a producer from before the sharding, and an item no relay can publish.
    let legacy = entry(start - TimeDelta::minutes(10));
    let mut item: std::collections::HashMap<String, AttributeValue> = [
        ("eventId", legacy.event_id.to_string()),
        ("subject", legacy.subject.clone()),
        ("pendingPartition", "PENDING".to_owned()),
        ("createdAt", legacy.created_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ("status", "PENDING".to_owned()),
        ("body", legacy.body.clone()),
        ("eventType", "OrderPlaced".to_owned()),
        ("eventVersion", "1".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), AttributeValue::S(value)))
    .collect();
    client.put_item().table_name(&table).set_item(Some(item.clone())).send().await.unwrap();
    let broken_key = format!("broken-{}", Uuid::new_v4());
    item.insert("eventId".into(), AttributeValue::S(broken_key.clone()));
    item.insert("pendingPartition".into(), AttributeValue::S(broken_partition.into()));
    item.remove("body");
    client.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();

    // A read of one shard past its limit says how many it left and how old the oldest is.
    assert!(in_shard >= 3, "some shard holds 3 of 40 entries");
    let page = outbox.pending_in(shard, start + TimeDelta::minutes(1), 1).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    let beyond = page.beyond_limit.expect("more are due");
    assert_eq!(beyond.count, in_shard as u64 - 1);
    let of_shard: Vec<&OutboxEntry> = written.iter().filter(|e| PendingPartition::of(e.event_id) == shard).collect();
    assert_eq!(page.entries[0].event_id, of_shard[0].event_id, "the oldest first");
    assert_eq!(beyond.oldest_created_at, Some(of_shard[1].created_at));

    let publisher = Arc::new(RecordingPublisher::new());
    clock.advance(TimeDelta::minutes(2));
    let relay = Relay::new(Arc::new(outbox.clone()), publisher.clone(), clock.clone());
    let report = relay.run(TimeDelta::seconds(60)).await.expect("a malformed item does not fail the run");
    assert_eq!((report.published, report.failed, report.pending), (41, 0, 0), "{report:?}");
    assert_eq!(report.malformed.len(), 1, "{report:?}");
    assert_eq!(report.malformed[0].key, broken_key);
    assert!(report.malformed[0].problem.contains("body"), "{:?}", report.malformed[0]);
    let published: Vec<Uuid> = publisher.published().iter().map(|message| message.event_id).collect();
    assert_eq!(published.first(), Some(&legacy.event_id), "the oldest, under the legacy key, first");
    assert!(written.iter().all(|entry| published.contains(&entry.event_id)));

    // Only the malformed item is left on the index.
    assert_eq!(pending_partitions(&client, &table).await, [(broken_key, broken_partition.to_owned())]);
    let _ = client.delete_table().table_name(&table).send().await;
}
