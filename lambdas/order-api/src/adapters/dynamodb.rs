//! DynamoDB adapter of the order store: OrdersTable and IdempotencyTable (names and keys in
//! `docs/contracts/conventions.md`). One `TransactWriteItems` writes a whole placement: the
//! order, its idempotency record and its outbox entry (the outbox crate builds that item).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, n, s, timestamp};
use orderflow_outbox::DynamoDbOutbox;
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order};
use crate::ports::{CommitOutcome, IdempotencyRecord, OrderStore, Placement, StoreError, StoredResponse};
use crate::record::OrderRecord;

#[derive(Debug, Clone)]
pub struct TableNames {
    pub orders: String,
    pub idempotency: String,
    pub outbox: String,
}

/// OrdersTable + IdempotencyTable, and OutboxTable for the entry of each placement.
#[derive(Clone)]
pub struct DynamoOrderStore {
    client: Client,
    tables: TableNames,
    outbox: DynamoDbOutbox,
}

impl DynamoOrderStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        let outbox = DynamoDbOutbox::new(client.clone(), tables.outbox.clone());
        DynamoOrderStore { client, tables, outbox }
    }
}

/// A transaction that failed for a reason the store does not turn into an outcome.
#[derive(Debug, thiserror::Error)]
#[error("TransactWriteItems cancelled: {0:?}")]
struct Cancelled(Vec<String>);

fn idempotency_item(record: &IdempotencyRecord, now: DateTime<Utc>) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(IdempotencyRecord::partition_key(&record.key))),
        ("requestHash".to_owned(), s(&record.request_hash)),
        ("responseStatus".to_owned(), n(record.response.status)),
        ("responseBody".to_owned(), s(&record.response.body)),
        ("responseLocation".to_owned(), s(&record.response.location)),
        ("createdAt".to_owned(), timestamp(now)),
        ("expiresAt".to_owned(), n(record.expires_at.timestamp())),
    ])
}

fn put(table: &str, item: Item, condition: &str) -> Result<Put, StoreError> {
    Ok(Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition).build()?)
}

#[async_trait]
impl OrderStore for DynamoOrderStore {
    async fn commit_placement(&self, placement: &Placement, now: DateTime<Utc>) -> Result<CommitOutcome, StoreError> {
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(put(
                    &self.tables.orders,
                    OrderRecord::placed(placement.order.clone()).to_item()?,
                    "attribute_not_exists(orderId)",
                )?)
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
                .build()?;
            writes.push(TransactWriteItem::builder().put(record_put).build());
        }
        writes.push(self.outbox.put(&placement.outbox)?);

        let result = self.client.transact_write_items().set_transact_items(Some(writes)).send().await;
        let error = match result {
            Ok(_) => return Ok(CommitOutcome::Committed),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
            return Err(RequestFailed::new("TransactWriteItems", error).into());
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
            let reasons = reasons.into_iter().map(str::to_owned).collect();
            Err(RequestFailed::new("TransactWriteItems", Cancelled(reasons)).into())
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
            .map_err(|error| RequestFailed::new("GetItem orders", error))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        OrderRecord::from_item(item)
            .map(|record| Some(record.order))
            .map_err(|error| MalformedItem::new("(order)", format!("order {order_id}: {error}")).into())
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
            .map_err(|error| RequestFailed::new("GetItem idempotency", error))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        Ok(Some(IdempotencyRecord {
            key: key.clone(),
            request_hash: item.string("requestHash")?.to_owned(),
            response: StoredResponse {
                status: item.number("responseStatus")?,
                body: item.string("responseBody")?.to_owned(),
                location: item.string("responseLocation")?.to_owned(),
            },
            expires_at: DateTime::from_timestamp(item.number("expiresAt")?, 0)
                .ok_or_else(|| MalformedItem::new("expiresAt", "is out of range"))?,
        }))
    }
}
