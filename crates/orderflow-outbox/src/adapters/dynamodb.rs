//! OutboxTable in DynamoDB: `eventId` key, and a sparse GSI `pending-by-created` that only
//! entries not yet published are on (they carry its partition key `pendingPartition`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, n, s, timestamp};
use uuid::Uuid;

use crate::entry::{OutboxEntry, PUBLISHED_OUTBOX_TTL};
use crate::ports::{OutboxError, OutboxStore};

/// The sparse GSI of OutboxTable: only pending entries carry its partition key.
pub const PENDING_INDEX: &str = "pending-by-created";
/// The one value of `pendingPartition`: every pending entry sits in one index partition, sorted
/// by `createdAt`. Fine at this volume (pending entries are few and short-lived).
pub const PENDING_PARTITION: &str = "PENDING";

/// OutboxTable.
#[derive(Debug, Clone)]
pub struct DynamoDbOutbox {
    client: Client,
    table: String,
}

impl DynamoDbOutbox {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbOutbox { client, table: table.into() }
    }

    /// The transaction item that adds `entry` as pending: the producer puts it into the same
    /// `TransactWriteItems` as its state change.
    pub fn put(&self, entry: &OutboxEntry) -> Result<TransactWriteItem, BuildError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item(entry)))
            .condition_expression("attribute_not_exists(eventId)")
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn item(entry: &OutboxEntry) -> Item {
    let mut item = HashMap::from([
        ("eventId".to_owned(), s(entry.event_id.to_string())),
        ("subject".to_owned(), s(&entry.subject)),
        ("pendingPartition".to_owned(), s(PENDING_PARTITION)),
        ("createdAt".to_owned(), timestamp(entry.created_at)),
        ("status".to_owned(), s("PENDING")),
        ("body".to_owned(), s(&entry.body)),
        ("eventType".to_owned(), s(&entry.event_type)),
        ("eventVersion".to_owned(), s(&entry.event_version)),
    ]);
    if let Some(correlation_id) = &entry.correlation_id {
        item.insert("correlationId".to_owned(), s(correlation_id));
    }
    item
}

fn entry(item: &Item) -> Result<OutboxEntry, MalformedItem> {
    Ok(OutboxEntry {
        event_id: item.parsed("eventId")?,
        subject: item.string("subject")?.to_owned(),
        created_at: item.time("createdAt")?,
        body: item.string("body")?.to_owned(),
        event_type: item.string("eventType")?.to_owned(),
        event_version: item.string("eventVersion")?.to_owned(),
        correlation_id: item.optional_string("correlationId").map(str::to_owned),
    })
}

#[async_trait]
impl OutboxStore for DynamoDbOutbox {
    async fn pending_created_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, OutboxError> {
        let mut entries = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let page_size = i32::try_from(limit.saturating_sub(entries.len()).min(100)).unwrap_or(100);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PENDING_INDEX)
                .key_condition_expression("pendingPartition = :pending AND createdAt <= :cutoff")
                .expression_attribute_values(":pending", s(PENDING_PARTITION))
                .expression_attribute_values(":cutoff", timestamp(cutoff))
                .scan_index_forward(true)
                .limit(page_size)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| RequestFailed::new("Query outbox", error))?;
            for item in output.items() {
                entries.push(entry(item)?);
            }
            match output.last_evaluated_key() {
                Some(key) if entries.len() < limit => start_key = Some(key.clone()),
                _ => return Ok(entries),
            }
        }
    }

    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), OutboxError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(event_id.to_string()))
            // Removing the index key takes the entry off the sparse pending index.
            .update_expression(
                "SET #status = :published, publishedAt = :at, expiresAt = :expires REMOVE pendingPartition",
            )
            .condition_expression("attribute_exists(eventId)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":published", s("PUBLISHED"))
            .expression_attribute_values(":at", timestamp(published_at))
            .expression_attribute_values(":expires", n((published_at + PUBLISHED_OUTBOX_TTL).timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| RequestFailed::new("UpdateItem outbox", error).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_are_pending() {
        let entry_in = OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: Uuid::now_v7().to_string(),
            created_at: DateTime::from_timestamp_millis(1_795_000_000_123).expect("time"),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: Some("req-1".into()),
        };
        let item = item(&entry_in);
        assert_eq!(item.get("pendingPartition"), Some(&s("PENDING")));
        assert_eq!(item.get("createdAt"), Some(&s("2026-11-18T11:06:40.123Z")));
        assert_eq!(entry(&item).expect("parse"), entry_in);
    }

    #[test]
    fn a_malformed_item_names_its_attribute() {
        let mut broken = item(&OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: "s".into(),
            created_at: Utc::now(),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: None,
        });
        broken.insert("eventId".into(), s("not-a-uuid"));
        assert_eq!(entry(&broken).map_err(|error| error.attribute), Err("eventId".to_owned()));
    }
}
