//! The DynamoDB adapter of the lifecycle port.
//!
//! OrdersTable rows are read and encoded by `order_api::record` (the one codec of the order
//! service). A write sets the lifecycle attributes (`status`, `version`, and whichever of
//! `statusReason`, `stockOutcome`, `paymentOutcome`, `settledAt` apply) on condition that the
//! row is still `PLACED` at the version the decision was made on. A settling write is one
//! `TransactWriteItems` of that update and the outbox entry's put.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use order_api::domain::OrderStatus;
use order_api::ports::StoreError;
use order_api::record::{ORDER_ID, OrderRecord, STATUS, VERSION};
use orderflow_kit::dynamodb::{RequestFailed, n, s};
use orderflow_outbox::DynamoDbOutbox;
use tracing::debug;
use uuid::Uuid;

use crate::ports::{LifecycleError, OrderLifecycleStore, SaveOutcome, Transition};

#[derive(Debug, Clone)]
pub struct DynamoDbLifecycleStore {
    client: Client,
    orders_table: String,
    outbox: DynamoDbOutbox,
}

/// The pieces of the conditional update, apart from the SDK builder so they can be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleUpdate {
    pub update_expression: String,
    pub condition_expression: String,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, aws_sdk_dynamodb::types::AttributeValue)>,
}

impl LifecycleUpdate {
    pub fn for_transition(transition: &Transition) -> Self {
        let attributes = transition.next.lifecycle_attributes();
        let mut names = Vec::with_capacity(attributes.len());
        let mut values = Vec::with_capacity(attributes.len() + 2);
        let mut sets = Vec::with_capacity(attributes.len());
        for (name, value) in attributes {
            // The attribute names are camelCase words, valid as placeholders; placeholders keep
            // clear of DynamoDB's reserved words (`status` is one).
            sets.push(format!("#{name} = :{name}"));
            names.push((format!("#{name}"), name.to_owned()));
            values.push((format!(":{name}"), value));
        }
        values.push((":placed".to_owned(), s(OrderStatus::Placed.as_str())));
        // A row from before the lifecycle has no version: it reads as 0.
        let version_condition = if transition.expected_version == 0 {
            format!("attribute_not_exists(#{VERSION})")
        } else {
            values.push((":expected".to_owned(), n(transition.expected_version)));
            format!("#{VERSION} = :expected")
        };
        LifecycleUpdate {
            update_expression: format!("SET {}", sets.join(", ")),
            // A missing row has no status, so this also fails for an order deleted meanwhile.
            condition_expression: format!("#{STATUS} = :placed AND {version_condition}"),
            names,
            values,
        }
    }
}

impl DynamoDbLifecycleStore {
    pub fn new(client: Client, orders_table: impl Into<String>, outbox_table: impl Into<String>) -> Self {
        let outbox = DynamoDbOutbox::new(client.clone(), outbox_table);
        DynamoDbLifecycleStore { client, orders_table: orders_table.into(), outbox }
    }

    /// The transaction's form of the same conditional update.
    fn update(&self, transition: &Transition) -> Result<Update, BuildError> {
        let parts = LifecycleUpdate::for_transition(transition);
        let mut update = Update::builder()
            .table_name(&self.orders_table)
            .key(ORDER_ID, s(transition.order_id().to_string()))
            .update_expression(parts.update_expression)
            .condition_expression(parts.condition_expression);
        for (placeholder, name) in parts.names {
            update = update.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in parts.values {
            update = update.expression_attribute_values(placeholder, value);
        }
        update.build()
    }

    /// A write that only records an outcome: one conditional UpdateItem.
    async fn record(&self, transition: &Transition) -> Result<SaveOutcome, LifecycleError> {
        let parts = LifecycleUpdate::for_transition(transition);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.orders_table)
            .key(ORDER_ID, s(transition.order_id().to_string()))
            .update_expression(parts.update_expression)
            .condition_expression(parts.condition_expression);
        for (placeholder, name) in parts.names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in parts.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        let result = request.send().await;
        match result {
            Ok(_) => Ok(SaveOutcome::Saved),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(SaveOutcome::Conflict),
                other => Err(StoreError::from(RequestFailed::new("UpdateItem orders", other)).into()),
            },
        }
    }

    /// A settling write: the row update and the outbox entry in one transaction.
    async fn settle(
        &self,
        transition: &Transition,
        entry: &orderflow_outbox::OutboxEntry,
    ) -> Result<SaveOutcome, LifecycleError> {
        let update = self.update(transition).map_err(StoreError::from)?;
        let put = self.outbox.put(entry).map_err(StoreError::from)?;
        let actions = vec![TransactWriteItem::builder().update(update).build(), put];
        let result = self.client.transact_write_items().set_transact_items(Some(actions)).send().await;
        let cancelled = match result {
            Ok(_) => return Ok(SaveOutcome::Saved),
            Err(error) => match error.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                other => return Err(StoreError::from(RequestFailed::new("TransactWriteItems", other)).into()),
            },
        };
        let codes: Vec<String> =
            cancelled.cancellation_reasons().iter().map(|reason| reason.code().unwrap_or("None").to_owned()).collect();
        debug!(?codes, "settlement transaction cancelled");
        // The row's condition failed (it moved on), a concurrent transaction touched it, or (an
        // emulator) no reasons at all: reload and decide again. Anything else is a failure.
        if codes.iter().all(|code| matches!(code.as_str(), "None" | "ConditionalCheckFailed" | "TransactionConflict")) {
            Ok(SaveOutcome::Conflict)
        } else {
            Err(LifecycleError::Cancelled(codes))
        }
    }
}

#[async_trait]
impl OrderLifecycleStore for DynamoDbLifecycleStore {
    async fn load(&self, order_id: Uuid) -> Result<Option<OrderRecord>, LifecycleError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .key(ORDER_ID, s(order_id.to_string()))
            // The decision must see the write of the outcome that came just before.
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| StoreError::from(RequestFailed::new("GetItem orders", error)))?;
        match output.item() {
            None => Ok(None),
            Some(item) => Ok(Some(OrderRecord::from_item(item).map_err(StoreError::from)?)),
        }
    }

    async fn save(&self, transition: &Transition) -> Result<SaveOutcome, LifecycleError> {
        match &transition.announcement {
            None => self.record(transition).await,
            Some(entry) => self.settle(transition, entry).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use order_api::lifecycle::LifecycleState;
    use order_api::record::{PaymentOutcome, StockOutcome};
    use orderflow_events::CancellationReason;
    use orderflow_kit::dynamodb::timestamp;

    use super::*;

    fn placed() -> OrderRecord {
        let body = serde_json::json!({
            "orderId": "0193a5d2-7c1d-7000-8000-0123456789ab", "status": "PLACED",
            "customer": { "id": "cus_1001", "email": "ada@example.com" },
            "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ],
            "currency": "EUR", "total": 3998, "placedAt": "2026-11-23T18:30:00.120Z", "version": 1
        });
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn recording_an_outcome_sets_it_and_the_next_version_on_the_read_version() {
        let record = placed();
        let state = LifecycleState { stock: Some(StockOutcome::Reserved), ..record.state() };
        let now = DateTime::from_timestamp_millis(1_795_458_700_000).unwrap();
        let transition = Transition { expected_version: 1, next: record.with_state(state, now), announcement: None };
        let update = LifecycleUpdate::for_transition(&transition);
        assert_eq!(
            update.update_expression,
            "SET #status = :status, #version = :version, #stockOutcome = :stockOutcome"
        );
        assert_eq!(update.condition_expression, "#status = :placed AND #version = :expected");
        let value = |name: &str| update.values.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        assert_eq!(value(":status"), Some(s("PLACED")));
        assert_eq!(value(":version"), Some(n(2)));
        assert_eq!(value(":expected"), Some(n(1)));
        assert_eq!(value(":stockOutcome"), Some(s("RESERVED")));
        assert!(update.names.contains(&("#status".to_owned(), "status".to_owned())));
    }

    #[test]
    fn settling_sets_status_reason_and_settled_at_and_an_old_row_has_no_version() {
        let mut record = placed();
        record.bookkeeping.version = 0;
        let state = LifecycleState {
            status: OrderStatus::Cancelled,
            reason: Some(CancellationReason::PaymentDeclined),
            stock: None,
            payment: Some(PaymentOutcome::Declined),
        };
        let now = DateTime::from_timestamp_millis(1_795_458_700_000).unwrap();
        let transition = Transition { expected_version: 0, next: record.with_state(state, now), announcement: None };
        let update = LifecycleUpdate::for_transition(&transition);
        assert_eq!(
            update.update_expression,
            "SET #status = :status, #version = :version, #statusReason = :statusReason, \
             #paymentOutcome = :paymentOutcome, #settledAt = :settledAt"
        );
        assert_eq!(update.condition_expression, "#status = :placed AND attribute_not_exists(#version)");
        let value = |name: &str| update.values.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        assert_eq!(value(":status"), Some(s("CANCELLED")));
        assert_eq!(value(":statusReason"), Some(s("PAYMENT_DECLINED")));
        assert_eq!(value(":settledAt"), Some(timestamp(now)));
        assert_eq!(value(":expected"), None);
    }
}
