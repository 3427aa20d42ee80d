//! The DynamoDB adapter of the inventory port.
//!
//! InventoryTable: `{sku, available, reserved}`. ReservationsTable: `{orderId, status, items,
//! eventId, createdAt}` plus `reason` and `sku` on a REJECTED one; `items` is a list of
//! `{sku, quantity}` maps. The end-to-end tests read these names: keep them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use orderflow_kit::dynamodb::{
    Item, ItemExt, MalformedItem, PutIfAbsentError, PutOutcome, RequestFailed, n, put_if_absent, s, timestamp,
};
use tracing::debug;

use crate::domain::{RejectOutcome, ReservationRequest, ReservationStatus, ReserveOutcome, Unavailable};
use crate::ports::{InventoryError, InventoryStore};

/// InventoryTable's key.
const SKU: &str = "sku";
/// ReservationsTable's key.
const ORDER_ID: &str = "orderId";

#[derive(Debug, Clone)]
pub struct DynamoDbInventoryStore {
    client: Client,
    inventory_table: String,
    reservations_table: String,
}

fn reservation_item(
    request: &ReservationRequest,
    status: ReservationStatus,
    unavailable: Option<&Unavailable>,
) -> Item {
    let items = request
        .items
        .iter()
        .map(|(sku, quantity)| {
            AttributeValue::M(Item::from([(SKU.to_owned(), s(sku)), ("quantity".to_owned(), n(quantity))]))
        })
        .collect();
    let mut item = Item::from([
        (ORDER_ID.to_owned(), s(request.order_id.to_string())),
        ("status".to_owned(), s(status.as_str())),
        ("items".to_owned(), AttributeValue::L(items)),
        ("eventId".to_owned(), s(request.event_id.to_string())),
        ("createdAt".to_owned(), timestamp(request.created_at)),
    ]);
    if let Some(unavailable) = unavailable {
        item.insert("reason".to_owned(), s(unavailable.reason()));
        item.insert(SKU.to_owned(), s(unavailable.sku()));
    }
    item
}

/// The `status` of a stored reservation.
fn status_of(item: &Item) -> Result<ReservationStatus, MalformedItem> {
    item.parsed("status")
}

/// The port's view of a failed conditional write. No `_` arm: a new way for the kit's write to
/// fail must be given a meaning here.
fn record_error(error: PutIfAbsentError) -> InventoryError {
    match error {
        PutIfAbsentError::Request(failed) => InventoryError::Store(failed),
        PutIfAbsentError::Vanished { .. } => {
            InventoryError::Contention("reservation vanished after a conditional failure".into())
        }
    }
}

impl DynamoDbInventoryStore {
    pub fn new(client: Client, inventory_table: impl Into<String>, reservations_table: impl Into<String>) -> Self {
        DynamoDbInventoryStore {
            client,
            inventory_table: inventory_table.into(),
            reservations_table: reservations_table.into(),
        }
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
            .key(ORDER_ID, s(request.order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item().map(status_of).transpose()?)
    }

    /// The first item the stock cannot cover right now, read strongly consistent.
    async fn first_unavailable(&self, request: &ReservationRequest) -> Result<Option<Unavailable>, InventoryError> {
        for (sku, quantity) in &request.items {
            let output = self
                .client
                .get_item()
                .table_name(&self.inventory_table)
                .key(SKU, s(sku))
                .consistent_read(true)
                .send()
                .await
                .map_err(|error| RequestFailed::new("GetItem", error))?;
            let Some(item) = output.item() else {
                return Ok(Some(Unavailable::UnknownSku { sku: sku.clone() }));
            };
            // A stock item without a numeric `available` cannot satisfy the transaction's
            // condition either: it counts as no stock.
            let available = item.number::<i64>("available").unwrap_or(0);
            if available < i64::from(*quantity) {
                return Ok(Some(Unavailable::InsufficientStock { sku: sku.clone(), requested: *quantity, available }));
            }
        }
        Ok(None)
    }

    fn transaction(&self, request: &ReservationRequest) -> Result<Vec<TransactWriteItem>, InventoryError> {
        let invalid = |error| RequestFailed::new("TransactWriteItems", error);
        let mut actions = Vec::with_capacity(request.items.len() + 1);
        for (sku, quantity) in &request.items {
            let update = Update::builder()
                .table_name(&self.inventory_table)
                .key(SKU, s(sku))
                // `reserved` may be missing on freshly seeded stock. Attribute names go through
                // placeholders so that no name can ever collide with a DynamoDB reserved word.
                .update_expression("SET #available = #available - :q, #reserved = if_not_exists(#reserved, :zero) + :q")
                .condition_expression("attribute_exists(#sku) AND #available >= :q")
                .expression_attribute_names("#sku", SKU)
                .expression_attribute_names("#available", "available")
                .expression_attribute_names("#reserved", "reserved")
                .expression_attribute_values(":q", n(quantity))
                .expression_attribute_values(":zero", n(0))
                .build()
                .map_err(invalid)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let put = Put::builder()
            .table_name(&self.reservations_table)
            .set_item(Some(reservation_item(request, ReservationStatus::Reserved, None)))
            .condition_expression("attribute_not_exists(#orderId)")
            .expression_attribute_names("#orderId", ORDER_ID)
            .build()
            .map_err(invalid)?;
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
                other => return Err(RequestFailed::new("TransactWriteItems", other).into()),
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
        let item = reservation_item(request, ReservationStatus::Rejected, Some(unavailable));
        match put_if_absent(&self.client, &self.reservations_table, ORDER_ID, item).await {
            Ok(PutOutcome::Written) => Ok(RejectOutcome::Recorded),
            Ok(PutOutcome::Exists(existing)) => Ok(RejectOutcome::AlreadyRecorded(status_of(&existing)?)),
            Err(error) => Err(record_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;

    fn request() -> ReservationRequest {
        ReservationRequest {
            order_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            items: vec![("BOOK-0001".into(), 2), ("MUG-0001".into(), 1)],
            created_at: DateTime::from_timestamp_millis(1_795_458_600_123).unwrap(),
        }
    }

    #[test]
    fn reservation_items_keep_their_attribute_names() {
        let request = request();
        let item = reservation_item(&request, ReservationStatus::Reserved, None);
        assert_eq!(item[ORDER_ID], s(request.order_id.to_string()));
        assert_eq!(item["status"], s("RESERVED"));
        assert_eq!(item["eventId"], s(request.event_id.to_string()));
        assert_eq!(item["createdAt"], s("2026-11-23T18:30:00.123Z"));
        let first = Item::from([("sku".to_owned(), s("BOOK-0001")), ("quantity".to_owned(), n(2))]);
        assert_eq!(item["items"].as_l().map(|items| items[0].clone()), Ok(AttributeValue::M(first)));
        assert!(!item.contains_key("reason") && !item.contains_key("sku"));
        assert_eq!(status_of(&item), Ok(ReservationStatus::Reserved));

        let unavailable = Unavailable::InsufficientStock { sku: "MUG-0001".into(), requested: 1, available: 0 };
        let item = reservation_item(&request, ReservationStatus::Rejected, Some(&unavailable));
        assert_eq!(item["reason"], s("INSUFFICIENT_STOCK"));
        assert_eq!(item["sku"], s("MUG-0001"));
        assert_eq!(status_of(&item), Ok(ReservationStatus::Rejected));
    }

    #[test]
    fn an_unknown_status_is_a_malformed_item() {
        let mut item = reservation_item(&request(), ReservationStatus::Reserved, None);
        item.insert("status".to_owned(), s("CANCELLED"));
        assert_eq!(status_of(&item).unwrap_err().attribute, "status");
        item.remove("status");
        assert_eq!(status_of(&item), Err(MalformedItem::new("status", "is missing")));
    }

    #[test]
    fn a_vanished_winner_is_contention() {
        let vanished = record_error(PutIfAbsentError::Vanished { key: "x".into() });
        assert!(matches!(vanished, InventoryError::Contention(_)));
        let failed = PutIfAbsentError::Request(RequestFailed::new("PutItem", std::io::Error::other("throttled")));
        assert!(matches!(record_error(failed), InventoryError::Store(_)));
    }
}
