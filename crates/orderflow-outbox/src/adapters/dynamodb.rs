//! OutboxTable in DynamoDB: `eventId` key, and a sparse GSI `pending-by-created` that only
//! entries not yet published are on (they carry its partition key `pendingPartition`, one of
//! the shards of [`crate::shard`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, n, s, timestamp};
use orderflow_observability::ErrorChain;
use tracing::warn;
use uuid::Uuid;

use crate::entry::{OutboxEntry, PUBLISHED_OUTBOX_TTL};
use crate::ports::{BeyondLimit, MalformedEntry, OutboxError, OutboxStore, PendingPage};
use crate::shard::PendingPartition;

/// The sparse GSI of OutboxTable: only pending entries carry its partition key, sorted by
/// `createdAt` within each shard.
pub const PENDING_INDEX: &str = "pending-by-created";
/// Items per query page while reading entries.
const QUERY_PAGE: usize = 100;
/// `Select=COUNT` pages (up to 1 MB of items each) spent counting a partition's due entries
/// beyond the read limit: enough for thousands of entries per partition, and bounded so that a
/// huge backlog does not cost the relay its time; past that the count is a floor.
const COUNT_PAGES: usize = 4;

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
        ("pendingPartition".to_owned(), s(PendingPartition::of(entry.event_id).key())),
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
    // Published unchanged, so a body that is not JSON would only be every consumer's poison.
    let body = item.string("body")?;
    if serde_json::from_str::<serde::de::IgnoredAny>(body).is_err() {
        return Err(MalformedItem::new("body", "is not JSON"));
    }
    Ok(OutboxEntry {
        event_id: item.parsed("eventId")?,
        subject: item.string("subject")?.to_owned(),
        created_at: item.time("createdAt")?,
        body: body.to_owned(),
        event_type: item.string("eventType")?.to_owned(),
        event_version: item.string("eventVersion")?.to_owned(),
        correlation_id: item.optional_string("correlationId").map(str::to_owned),
    })
}

impl DynamoDbOutbox {
    /// The query of a partition's due entries, oldest first.
    fn due_query(&self, partition: &str, cutoff: DateTime<Utc>) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pendingPartition = :pending AND createdAt <= :cutoff")
            .expression_attribute_values(":pending", s(partition))
            .expression_attribute_values(":cutoff", timestamp(cutoff))
            .scan_index_forward(true)
    }

    /// Due entries of `partition` after `start` (exclusive), by `Select=COUNT`, at most
    /// [`COUNT_PAGES`] pages. A failure is logged and counts as nothing more: the count is
    /// only a metric, and the entries read must still be published.
    async fn count_due_after(&self, partition: &str, cutoff: DateTime<Utc>, start: Item) -> u64 {
        let mut count = 0;
        let mut start = Some(start);
        for _ in 0..COUNT_PAGES {
            let output = match self
                .due_query(partition, cutoff)
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    let error = RequestFailed::new("Query outbox (count)", error);
                    warn!(partition, error = %ErrorChain(&error), "counting the pending outbox entries failed");
                    return count;
                }
            };
            count += u64::try_from(output.count()).unwrap_or(0);
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return count,
            }
        }
        warn!(partition, count, "more pending outbox entries than counted; the count is a floor");
        count
    }
}

fn malformed(item: &Item, error: &MalformedItem) -> MalformedEntry {
    MalformedEntry {
        key: item.get("eventId").and_then(|key| key.as_s().ok()).cloned().unwrap_or_else(|| "<no eventId>".to_owned()),
        problem: error.to_string(),
    }
}

#[async_trait]
impl OutboxStore for DynamoDbOutbox {
    async fn pending_in(
        &self,
        partition: PendingPartition,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<PendingPage, OutboxError> {
        let partition = partition.key();
        // One item past the limit says whether more are due, and how old the oldest of them is.
        let wanted = limit.saturating_add(1);
        let mut items: Vec<Item> = Vec::new();
        let mut start_key: Option<Item> = None;
        let last_key = loop {
            let page_size = i32::try_from((wanted - items.len()).min(QUERY_PAGE)).unwrap_or(1);
            let output = self
                .due_query(&partition, cutoff)
                .limit(page_size)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| RequestFailed::new("Query outbox", error))?;
            items.extend(output.items().iter().cloned());
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() && items.len() < wanted => start_key = Some(key.clone()),
                last => break last.filter(|key| !key.is_empty()).cloned(),
            }
        };
        let mut page = PendingPage::default();
        if items.len() > limit {
            let first_beyond = items.split_off(limit);
            let more = match last_key {
                Some(key) => self.count_due_after(&partition, cutoff, key).await,
                None => 0,
            };
            page.beyond_limit = Some(BeyondLimit {
                count: 1 + more,
                oldest_created_at: first_beyond.first().and_then(|item| item.time("createdAt").ok()),
            });
        }
        for item in &items {
            match entry(item) {
                Ok(entry) => page.entries.push(entry),
                Err(error) => page.malformed.push(malformed(item, &error)),
            }
        }
        Ok(page)
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
        assert_eq!(item.get("pendingPartition"), Some(&s(PendingPartition::of(entry_in.event_id).key())));
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
