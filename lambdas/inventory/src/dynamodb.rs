//! The DynamoDB adapter of the inventory port.
//!
//! InventoryTable: `{sku, available, reserved}`. ReservationsTable: `{orderId, status, items,
//! eventId, createdAt}` plus `reason` and `sku` on a REJECTED one; `items` is a list of
//! `{sku, quantity}` maps.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{SecondsFormat, Utc};
use tracing::debug;

use crate::{
    InventoryError, InventoryStore, RejectOutcome, ReservationRequest, ReservationStatus, ReserveOutcome, Unavailable,
};

#[derive(Debug, Clone)]
pub struct DynamoDbInventoryStore {
    client: Client,
    inventory_table: String,
    reservations_table: String,
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> InventoryError {
    InventoryError::Store(Box::new(error))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoDbInventoryStore {
    pub fn new(client: Client, inventory_table: impl Into<String>, reservations_table: impl Into<String>) -> Self {
        DynamoDbInventoryStore {
            client,
            inventory_table: inventory_table.into(),
            reservations_table: reservations_table.into(),
        }
    }

    fn reservation_item(
        request: &ReservationRequest,
        status: ReservationStatus,
        unavailable: Option<&Unavailable>,
    ) -> HashMap<String, AttributeValue> {
        let items = request
            .items
            .iter()
            .map(|(sku, quantity)| {
                AttributeValue::M(HashMap::from([("sku".to_owned(), s(sku)), ("quantity".to_owned(), n(quantity))]))
            })
            .collect();
        let mut item = HashMap::from([
            ("orderId".to_owned(), s(request.order_id.to_string())),
            ("status".to_owned(), s(status.as_str())),
            ("items".to_owned(), AttributeValue::L(items)),
            ("eventId".to_owned(), s(request.event_id.to_string())),
            ("createdAt".to_owned(), s(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true))),
        ]);
        if let Some(unavailable) = unavailable {
            item.insert("reason".to_owned(), s(unavailable.reason()));
            item.insert("sku".to_owned(), s(unavailable.sku()));
        }
        item
    }

    /// The order's reservation status, read strongly consistent.
    async fn reservation_status(
        &self,
        request: &ReservationRequest,
    ) -> Result<Option<ReservationStatus>, InventoryError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.reservations_table)
            .key("orderId", s(request.order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item() else { return Ok(None) };
        let status = item.get("status").and_then(|value| value.as_s().ok()).map(String::as_str).unwrap_or_default();
        ReservationStatus::parse(status)
            .map(Some)
            .ok_or_else(|| InventoryError::Malformed(format!("reservation {} has status {status:?}", request.order_id)))
    }

    /// The first item the stock cannot cover right now, read strongly consistent.
    async fn first_unavailable(&self, request: &ReservationRequest) -> Result<Option<Unavailable>, InventoryError> {
        for (sku, quantity) in &request.items {
            let output = self
                .client
                .get_item()
                .table_name(&self.inventory_table)
                .key("sku", s(sku))
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            let Some(item) = output.item() else {
                return Ok(Some(Unavailable::UnknownSku { sku: sku.clone() }));
            };
            // A stock item without a numeric `available` cannot satisfy the transaction's
            // condition either: it counts as no stock.
            let available = item
                .get("available")
                .and_then(|value| value.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            if available < i64::from(*quantity) {
                return Ok(Some(Unavailable::InsufficientStock { sku: sku.clone(), requested: *quantity, available }));
            }
        }
        Ok(None)
    }

    fn transaction(&self, request: &ReservationRequest) -> Result<Vec<TransactWriteItem>, InventoryError> {
        let mut actions = Vec::with_capacity(request.items.len() + 1);
        for (sku, quantity) in &request.items {
            let update = Update::builder()
                .table_name(&self.inventory_table)
                .key("sku", s(sku))
                // `reserved` may be missing on freshly seeded stock. Attribute names go through
                // placeholders so that no name can ever collide with a DynamoDB reserved word.
                .update_expression("SET #available = #available - :q, #reserved = if_not_exists(#reserved, :zero) + :q")
                .condition_expression("attribute_exists(#sku) AND #available >= :q")
                .expression_attribute_names("#sku", "sku")
                .expression_attribute_names("#available", "available")
                .expression_attribute_names("#reserved", "reserved")
                .expression_attribute_values(":q", n(quantity))
                .expression_attribute_values(":zero", n(0))
                .build()
                .map_err(store_error)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let put = Put::builder()
            .table_name(&self.reservations_table)
            .set_item(Some(Self::reservation_item(request, ReservationStatus::Reserved, None)))
            .condition_expression("attribute_not_exists(orderId)")
            .build()
            .map_err(store_error)?;
        actions.push(TransactWriteItem::builder().put(put).build());
        Ok(actions)
    }
}

#[async_trait]
impl InventoryStore for DynamoDbInventoryStore {
    async fn reserve(&self, request: &ReservationRequest) -> Result<ReserveOutcome, InventoryError> {
        let result =
            self.client.transact_write_items().set_transact_items(Some(self.transaction(request)?)).send().await;
        let cancelled = match result {
            Ok(_) => return Ok(ReserveOutcome::Reserved),
            Err(error) => match error.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                other => return Err(store_error(other)),
            },
        };
        let codes: Vec<&str> = cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
        debug!(?codes, "reservation transaction cancelled");
        if codes.contains(&"TransactionConflict") {
            return Err(InventoryError::Contention("transaction conflict".into()));
        }
        // The cancellation reasons say which condition failed, but not every DynamoDB (the local
        // emulator among them) returns them, and they cannot tell an unknown SKU from low stock.
        // Re-reading answers both: the reservation first (a redelivery), then the stock.
        if let Some(status) = self.reservation_status(request).await? {
            return Ok(ReserveOutcome::AlreadyRecorded(status));
        }
        match self.first_unavailable(request).await? {
            Some(unavailable) => Ok(ReserveOutcome::Unavailable(unavailable)),
            None => Err(InventoryError::Contention(format!(
                "transaction cancelled ({}) but the stock now covers the order",
                codes.join(",")
            ))),
        }
    }

    async fn record_rejection(
        &self,
        request: &ReservationRequest,
        unavailable: &Unavailable,
    ) -> Result<RejectOutcome, InventoryError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.reservations_table)
            .set_item(Some(Self::reservation_item(request, ReservationStatus::Rejected, Some(unavailable))))
            .condition_expression("attribute_not_exists(orderId)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(RejectOutcome::Recorded),
            Err(error) => {
                let error = error.into_service_error();
                if !error.is_conditional_check_failed_exception() {
                    return Err(store_error(error));
                }
                match self.reservation_status(request).await? {
                    Some(status) => Ok(RejectOutcome::AlreadyRecorded(status)),
                    None => Err(InventoryError::Contention("reservation vanished after a conditional failure".into())),
                }
            }
        }
    }
}
