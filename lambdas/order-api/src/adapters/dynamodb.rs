//! DynamoDB adapters: OrdersTable, IdempotencyTable and OutboxTable (names and keys from
//! CONVENTIONS.md). One `TransactWriteItems` writes a whole placement.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order, format_timestamp};
use crate::ports::{
    CommitOutcome, IdempotencyRecord, OrderStore, Outbox, OutboxEntry, Placement, StoreError, StoredResponse,
};
use crate::service::PUBLISHED_OUTBOX_TTL;

/// The sparse GSI of OutboxTable: only pending entries carry its partition key.
pub const PENDING_INDEX: &str = "pending-by-created";
/// The one value of `pendingPartition`: every pending entry sits in one index partition, sorted
/// by `createdAt`. Fine at this volume (pending entries are few and short-lived).
pub const PENDING_PARTITION: &str = "PENDING";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct TableNames {
    pub orders: String,
    pub idempotency: String,
    pub outbox: String,
}

/// OrdersTable + IdempotencyTable + OutboxTable, for the order API.
#[derive(Clone)]
pub struct DynamoOrderStore {
    client: Client,
    tables: TableNames,
}

impl DynamoOrderStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoOrderStore { client, tables }
    }
}

/// OutboxTable alone, for the relay and for completing entries after a publish.
#[derive(Clone)]
pub struct DynamoOutbox {
    client: Client,
    table: String,
}

impl DynamoOutbox {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoOutbox { client, table: table.into() }
    }
}

fn backend<E: std::error::Error>(operation: &str, error: E) -> StoreError {
    StoreError::Backend(format!("{operation}: {}", DisplayErrorContext(error)))
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("building the request: {error}"))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn order_item(order: &Order) -> Result<Item, StoreError> {
    match serde_json::to_value(order).map(|value| to_attribute(&value)) {
        Ok(AttributeValue::M(item)) => Ok(item),
        _ => Err(StoreError::Malformed("an order did not serialise to a map".into())),
    }
}

fn idempotency_item(record: &IdempotencyRecord, now: DateTime<Utc>) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(IdempotencyRecord::partition_key(&record.key))),
        ("requestHash".to_owned(), s(&record.request_hash)),
        ("responseStatus".to_owned(), n(record.response.status)),
        ("responseBody".to_owned(), s(&record.response.body)),
        ("responseLocation".to_owned(), s(&record.response.location)),
        ("createdAt".to_owned(), s(format_timestamp(now))),
        ("expiresAt".to_owned(), n(record.expires_at.timestamp())),
    ])
}

fn outbox_item(entry: &OutboxEntry) -> Item {
    let mut item = HashMap::from([
        ("eventId".to_owned(), s(entry.event_id.to_string())),
        ("orderId".to_owned(), s(entry.order_id.to_string())),
        ("pendingPartition".to_owned(), s(PENDING_PARTITION)),
        ("createdAt".to_owned(), s(format_timestamp(entry.created_at))),
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

fn put(table: &str, item: Item, condition: &str) -> Result<Put, StoreError> {
    Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition).build().map_err(build_error)
}

#[async_trait]
impl OrderStore for DynamoOrderStore {
    async fn commit_placement(&self, placement: &Placement, now: DateTime<Utc>) -> Result<CommitOutcome, StoreError> {
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(put(&self.tables.orders, order_item(&placement.order)?, "attribute_not_exists(orderId)")?)
                .build(),
        ];
        let idempotency_index = placement.idempotency.as_ref().map(|_| writes.len());
        if let Some(record) = &placement.idempotency {
            // An expired record that TTL has not deleted yet (that can take days) may be replaced.
            let record_put = Put::builder()
                .table_name(&self.tables.idempotency)
                .set_item(Some(idempotency_item(record, now)))
                .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
                .expression_attribute_values(":now", n(now.timestamp()))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(record_put).build());
        }
        writes.push(
            TransactWriteItem::builder()
                .put(put(&self.tables.outbox, outbox_item(&placement.outbox), "attribute_not_exists(eventId)")?)
                .build(),
        );

        let result = self.client.transact_write_items().set_transact_items(Some(writes)).send().await;
        let error = match result {
            Ok(_) => return Ok(CommitOutcome::Committed),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
            return Err(backend("TransactWriteItems", error));
        };
        // Reasons come in the order of the writes; "None" for the ones that were fine.
        let reasons: Vec<&str> =
            cancelled.cancellation_reasons().iter().map(|reason| reason.code().unwrap_or("None")).collect();
        let key_taken = idempotency_index
            .and_then(|index| reasons.get(index))
            .is_some_and(|code| *code == "ConditionalCheckFailed");
        if key_taken {
            Ok(CommitOutcome::IdempotencyKeyTaken)
        } else if reasons.iter().all(|code| matches!(*code, "None" | "ConditionalCheckFailed" | "TransactionConflict"))
        {
            // A concurrent transaction on the same key, or an id collision: retry.
            Ok(CommitOutcome::Contended)
        } else {
            Err(StoreError::Backend(format!("TransactWriteItems cancelled: {reasons:?}")))
        }
    }

    async fn find_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.orders)
            .key("orderId", s(order_id.to_string()))
            // A client reading its order right after creating it must find it.
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| backend("GetItem orders", error))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let value = from_item(item)?;
        serde_json::from_value(value)
            .map(Some)
            .map_err(|error| StoreError::Malformed(format!("order {order_id}: {error}")))
    }

    async fn find_idempotency_record(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(IdempotencyRecord::partition_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| backend("GetItem idempotency", error))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let status = number_attribute(item, "responseStatus")?;
        Ok(Some(IdempotencyRecord {
            key: key.clone(),
            request_hash: string_attribute(item, "requestHash")?,
            response: StoredResponse {
                status: u16::try_from(status).map_err(|_| StoreError::Malformed("responseStatus".into()))?,
                body: string_attribute(item, "responseBody")?,
                location: string_attribute(item, "responseLocation")?,
            },
            expires_at: DateTime::from_timestamp(number_attribute(item, "expiresAt")?, 0)
                .ok_or_else(|| StoreError::Malformed("expiresAt".into()))?,
        }))
    }
}

#[async_trait]
impl Outbox for DynamoOrderStore {
    async fn pending_created_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        DynamoOutbox::new(self.client.clone(), &self.tables.outbox).pending_created_before(cutoff, limit).await
    }

    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), StoreError> {
        DynamoOutbox::new(self.client.clone(), &self.tables.outbox).mark_published(event_id, published_at).await
    }
}

#[async_trait]
impl Outbox for DynamoOutbox {
    async fn pending_created_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
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
                .expression_attribute_values(":cutoff", s(format_timestamp(cutoff)))
                .scan_index_forward(true)
                .limit(page_size)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|error| backend("Query outbox", error))?;
            for item in output.items() {
                entries.push(outbox_entry(item)?);
            }
            match output.last_evaluated_key() {
                Some(key) if entries.len() < limit => start_key = Some(key.clone()),
                _ => return Ok(entries),
            }
        }
    }

    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), StoreError> {
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
            .expression_attribute_values(":at", s(format_timestamp(published_at)))
            .expression_attribute_values(":expires", n((published_at + PUBLISHED_OUTBOX_TTL).timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| backend("UpdateItem outbox", error))
    }
}

fn outbox_entry(item: &Item) -> Result<OutboxEntry, StoreError> {
    let uuid = |name: &str| {
        Uuid::parse_str(&string_attribute(item, name)?).map_err(|_| StoreError::Malformed(format!("outbox {name}")))
    };
    let created_at = DateTime::parse_from_rfc3339(&string_attribute(item, "createdAt")?)
        .map_err(|_| StoreError::Malformed("outbox createdAt".into()))?
        .with_timezone(&Utc);
    Ok(OutboxEntry {
        event_id: uuid("eventId")?,
        order_id: uuid("orderId")?,
        created_at,
        body: string_attribute(item, "body")?,
        event_type: string_attribute(item, "eventType")?,
        event_version: string_attribute(item, "eventVersion")?,
        correlation_id: string_attribute(item, "correlationId").ok(),
    })
}

fn string_attribute(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Malformed(format!("missing string attribute {name}"))),
    }
}

fn number_attribute(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => {
            value.parse().map_err(|_| StoreError::Malformed(format!("attribute {name} is not an integer")))
        }
        _ => Err(StoreError::Malformed(format!("missing number attribute {name}"))),
    }
}

/// JSON to DynamoDB: numbers stay exact (N is a decimal string), objects become maps.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(*flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.iter().map(|(key, value)| (key.clone(), to_attribute(value))).collect())
        }
    }
}

/// DynamoDB to JSON, for the attribute types [`to_attribute`] writes.
pub fn from_attribute(attribute: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match attribute {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(number) => {
            let parsed = number
                .parse::<u64>()
                .map(Number::from)
                .or_else(|_| number.parse::<i64>().map(Number::from))
                .ok()
                .or_else(|| number.parse::<f64>().ok().and_then(Number::from_f64));
            Value::Number(parsed.ok_or_else(|| StoreError::Malformed(format!("number {number:?}")))?)
        }
        AttributeValue::L(values) => Value::Array(values.iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(map) => from_item(map)?,
        other => return Err(StoreError::Malformed(format!("unexpected attribute type {other:?}"))),
    })
}

fn from_item(item: &Item) -> Result<Value, StoreError> {
    let mut map = Map::with_capacity(item.len());
    for (key, value) in item {
        map.insert(key.clone(), from_attribute(value)?);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({
            "orderId": "x", "total": 3998, "neg": -1, "ratio": 0.5, "flag": true, "none": null,
            "customer": { "id": "c" }, "items": [ { "sku": "A", "quantity": 2 } ]
        });
        assert_eq!(from_attribute(&to_attribute(&value)).expect("round trip"), value);
    }

    #[test]
    fn outbox_items_round_trip() {
        let entry = OutboxEntry {
            event_id: Uuid::now_v7(),
            order_id: Uuid::now_v7(),
            created_at: DateTime::from_timestamp_millis(1_795_000_000_123).expect("time"),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: Some("req-1".into()),
        };
        let item = outbox_item(&entry);
        assert_eq!(item.get("pendingPartition"), Some(&s("PENDING")));
        assert_eq!(item.get("createdAt"), Some(&s("2026-11-18T11:06:40.123Z")));
        assert_eq!(outbox_entry(&item).expect("parse"), entry);
    }
}
