//! The DynamoDB adapter of the inventory port.
//!
//! InventoryTable: `{sku, available, reserved}`. ReservationsTable: `{orderId, status, items,
//! eventId, createdAt, updatedAt}` plus `reason` and `sku` on a REJECTED (or REJECTING) one and
//! `heldChunks` on an in-progress one; `items` is a list of `{sku, quantity}` maps. The
//! end-to-end tests read these names: keep them. Each [`Step`] is one `TransactWriteItems`: one
//! update per SKU of its lines, the whole record put on the condition the step expects, and the
//! outbox entry through [`DynamoDbOutbox::put`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, n, s, timestamp};
use orderflow_outbox::DynamoDbOutbox;
use tracing::debug;
use uuid::Uuid;

use crate::domain::{
    Applied, Expect, MAX_ACTIONS_PER_TRANSACTION, Rejection, Reservation, ReservationStatus, Step, StockEffect,
    Unavailable,
};
use crate::ports::{InventoryError, InventoryStore};

/// InventoryTable's key.
const SKU: &str = "sku";
/// ReservationsTable's key.
const ORDER_ID: &str = "orderId";
const HELD_CHUNKS: &str = "heldChunks";

#[derive(Debug, Clone)]
pub struct DynamoDbInventoryStore {
    client: Client,
    inventory_table: String,
    reservations_table: String,
    outbox: DynamoDbOutbox,
}

pub(crate) fn reservation_item(record: &Reservation) -> Item {
    let items = record
        .items
        .iter()
        .map(|(sku, quantity)| {
            AttributeValue::M(Item::from([(SKU.to_owned(), s(sku)), ("quantity".to_owned(), n(quantity))]))
        })
        .collect();
    let mut item = Item::from([
        (ORDER_ID.to_owned(), s(record.order_id.to_string())),
        ("status".to_owned(), s(record.status.as_str())),
        ("items".to_owned(), AttributeValue::L(items)),
        ("eventId".to_owned(), s(record.event_id.to_string())),
        ("createdAt".to_owned(), timestamp(record.created_at)),
        ("updatedAt".to_owned(), timestamp(record.updated_at)),
    ]);
    if let Some(rejection) = &record.rejection {
        item.insert("reason".to_owned(), s(rejection.reason.as_str()));
        item.insert(SKU.to_owned(), s(&rejection.sku));
    }
    if record.status.in_progress() {
        item.insert(HELD_CHUNKS.to_owned(), n(record.held_chunks));
    }
    item
}

fn line(value: &AttributeValue) -> Result<(String, u32), MalformedItem> {
    let map = value.as_m().map_err(|_| MalformedItem::new("items", "has a line that is not a map"))?;
    Ok((map.string(SKU)?.to_owned(), map.number("quantity")?))
}

fn rejection(item: &Item) -> Result<Rejection, MalformedItem> {
    let reason = match item.string("reason")? {
        "OUT_OF_STOCK" => orderflow_events::StockRejectionReason::OutOfStock,
        "UNKNOWN_SKU" => orderflow_events::StockRejectionReason::UnknownSku,
        other => return Err(MalformedItem::new("reason", format!("{other:?} is not a rejection reason"))),
    };
    Ok(Rejection { reason, sku: item.string(SKU)?.to_owned() })
}

/// A stored reservation, checked.
pub(crate) fn reservation_of(item: &Item) -> Result<Reservation, MalformedItem> {
    let status: ReservationStatus = item.parsed("status")?;
    let items = match item.get("items") {
        None => Vec::new(),
        Some(AttributeValue::L(lines)) => lines.iter().map(line).collect::<Result<_, _>>()?,
        Some(_) => return Err(MalformedItem::new("items", "is not a list")),
    };
    let created_at = item.time("createdAt")?;
    Ok(Reservation {
        order_id: item.parsed(ORDER_ID)?,
        status,
        items,
        rejection: if status.has_rejection() { Some(rejection(item)?) } else { None },
        held_chunks: if status.in_progress() { item.number(HELD_CHUNKS)? } else { 0 },
        event_id: item.parsed("eventId")?,
        created_at,
        // Records written before the lifecycle have no `updatedAt`.
        updated_at: item.time("updatedAt").unwrap_or(created_at),
    })
}

impl DynamoDbInventoryStore {
    pub fn new(
        client: Client,
        inventory_table: impl Into<String>,
        reservations_table: impl Into<String>,
        outbox_table: impl Into<String>,
    ) -> Self {
        DynamoDbInventoryStore {
            outbox: DynamoDbOutbox::new(client.clone(), outbox_table),
            client,
            inventory_table: inventory_table.into(),
            reservations_table: reservations_table.into(),
        }
    }

    /// The first line the stock cannot hold right now, read strongly consistent.
    async fn first_unavailable(&self, lines: &[(String, u32)]) -> Result<Option<Unavailable>, InventoryError> {
        for (sku, quantity) in lines {
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
                return Ok(Some(Unavailable::OutOfStock { sku: sku.clone(), requested: *quantity, available }));
            }
        }
        Ok(None)
    }

    fn stock_update(&self, effect: StockEffect, sku: &str, quantity: u32) -> Result<TransactWriteItem, InventoryError> {
        // `reserved` may be missing on freshly seeded stock. Attribute names go through
        // placeholders so that no name can ever collide with a DynamoDB reserved word.
        let (update, condition) = match effect {
            StockEffect::Hold => (
                "SET #available = #available - :q, #reserved = if_not_exists(#reserved, :zero) + :q",
                "attribute_exists(#sku) AND #available >= :q",
            ),
            // The units were held by this record: the condition only guards the invariant
            // (never a negative `reserved`, never an item created by an update).
            StockEffect::Commit => ("SET #reserved = #reserved - :q", "attribute_exists(#sku) AND #reserved >= :q"),
            StockEffect::Release => (
                "SET #available = #available + :q, #reserved = #reserved - :q",
                "attribute_exists(#sku) AND #reserved >= :q",
            ),
        };
        let mut builder = Update::builder()
            .table_name(&self.inventory_table)
            .key(SKU, s(sku))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#sku", SKU)
            .expression_attribute_names("#reserved", "reserved")
            .expression_attribute_values(":q", n(quantity));
        // An unused placeholder is a validation error: Commit does not touch `available`, only
        // Hold needs `:zero`.
        if effect != StockEffect::Commit {
            builder = builder.expression_attribute_names("#available", "available");
        }
        if effect == StockEffect::Hold {
            builder = builder.expression_attribute_values(":zero", n(0));
        }
        let update = builder.build().map_err(|error| RequestFailed::new("TransactWriteItems", error))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn record_put(&self, step: &Step) -> Result<TransactWriteItem, InventoryError> {
        let mut put = Put::builder()
            .table_name(&self.reservations_table)
            .set_item(Some(reservation_item(&step.record)))
            .expression_attribute_names("#orderId", ORDER_ID);
        put = match step.expect {
            Expect::Absent => put.condition_expression("attribute_not_exists(#orderId)"),
            Expect::At(status, held) if status.in_progress() => put
                .condition_expression("attribute_exists(#orderId) AND #status = :status AND #held = :held")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#held", HELD_CHUNKS)
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":held", n(held)),
            Expect::At(status, _) => put
                .condition_expression("attribute_exists(#orderId) AND #status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str())),
        };
        let put = put.build().map_err(|error| RequestFailed::new("TransactWriteItems", error))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn transaction(&self, step: &Step) -> Result<Vec<TransactWriteItem>, InventoryError> {
        let mut actions = Vec::new();
        if let Some(change) = &step.stock {
            for (sku, quantity) in &change.lines {
                actions.push(self.stock_update(change.effect, sku, *quantity)?);
            }
        }
        actions.push(self.record_put(step)?);
        if let Some(entry) = &step.outbox {
            actions.push(self.outbox.put(entry).map_err(|error| RequestFailed::new("TransactWriteItems", error))?);
        }
        // The domain cuts its steps to fit; a step that does not is a bug, not a retry.
        if actions.len() > MAX_ACTIONS_PER_TRANSACTION {
            return Err(InventoryError::Contention(format!(
                "a step of {} actions cannot be one transaction",
                actions.len()
            )));
        }
        Ok(actions)
    }
}

#[async_trait]
impl InventoryStore for DynamoDbInventoryStore {
    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, InventoryError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.reservations_table)
            .key(ORDER_ID, s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item().map(reservation_of).transpose()?)
    }

    async fn apply(&self, step: &Step) -> Result<Applied, InventoryError> {
        let items = self.transaction(step)?;
        // Orders for the same SKU collide on its row: DynamoDB cancels one of two overlapping
        // transactions with TransactionConflict, and the SDK does not retry that. Retrying here,
        // after a short jittered pause, settles it in milliseconds; failing the message would
        // bring it back only after the queue's visibility timeout (a minute), late enough to
        // run into the settle timeout.
        let mut attempt = 0;
        let cancelled = loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let cancelled = match result {
                Ok(_) => return Ok(Applied::Done),
                Err(error) => match error.into_service_error() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                    other => return Err(RequestFailed::new("TransactWriteItems", other).into()),
                },
            };
            let conflict = cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"));
            if !conflict {
                break cancelled;
            }
            attempt += 1;
            if attempt > CONFLICT_RETRIES {
                return Err(InventoryError::Contention("transaction conflict".into()));
            }
            debug!(attempt, "reservation transaction conflicted; retrying");
            tokio::time::sleep(conflict_pause(attempt)).await;
        };
        let codes: Vec<&str> = cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
        debug!(?codes, "reservation transaction cancelled");
        // The cancellation reasons say which condition failed, but not every DynamoDB (the local
        // emulator among them) returns them, and they cannot tell an unknown SKU from low stock.
        // Re-reading answers both: the record first (another delivery moved it), then the stock.
        let current = self.reservation(step.record.order_id).await?;
        if !step.expect.matches(current.as_ref()) {
            return Ok(Applied::Conflict(current));
        }
        if let Some(change) = step.stock.as_ref().filter(|change| change.effect == StockEffect::Hold)
            && let Some(unavailable) = self.first_unavailable(&change.lines).await?
        {
            return Ok(Applied::Unavailable(unavailable));
        }
        Err(InventoryError::Contention(format!(
            "transaction cancelled ({}) but neither the record nor the stock explains it",
            codes.join(",")
        )))
    }
}

/// Retries of a transaction DynamoDB cancelled for a conflict with another one, before the
/// message is failed (and comes back after the visibility timeout).
const CONFLICT_RETRIES: u32 = 6;

/// 10 ms doubled per attempt, plus up to as much again of jitter, so that the transactions that
/// collided do not collide again in lockstep.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0),
    ) % base;
    std::time::Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use orderflow_events::StockRejectionReason;

    use super::*;
    use crate::domain::StockChange;

    fn record(status: ReservationStatus) -> Reservation {
        let at = DateTime::from_timestamp_millis(1_795_458_600_123).unwrap();
        Reservation {
            order_id: Uuid::now_v7(),
            status,
            items: vec![("BOOK-0001".into(), 2), ("MUG-0001".into(), 1)],
            rejection: None,
            held_chunks: 0,
            event_id: Uuid::now_v7(),
            created_at: at,
            updated_at: at,
        }
    }

    fn store() -> DynamoDbInventoryStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoDbInventoryStore::new(Client::from_conf(config), "inventory", "reservations", "outbox")
    }

    #[test]
    fn reservation_items_keep_their_attribute_names() {
        let record = record(ReservationStatus::Reserved);
        let item = reservation_item(&record);
        assert_eq!(item[ORDER_ID], s(record.order_id.to_string()));
        assert_eq!(item["status"], s("RESERVED"));
        assert_eq!(item["eventId"], s(record.event_id.to_string()));
        assert_eq!(item["createdAt"], s("2026-11-23T18:30:00.123Z"));
        let first = Item::from([("sku".to_owned(), s("BOOK-0001")), ("quantity".to_owned(), n(2))]);
        assert_eq!(item["items"].as_l().map(|items| items[0].clone()), Ok(AttributeValue::M(first)));
        assert!(!item.contains_key("reason") && !item.contains_key("sku") && !item.contains_key(HELD_CHUNKS));
        assert_eq!(reservation_of(&item), Ok(record.clone()));

        let mut rejected = record.clone();
        rejected.status = ReservationStatus::Rejected;
        rejected.rejection = Some(Rejection { reason: StockRejectionReason::OutOfStock, sku: "MUG-0001".into() });
        let item = reservation_item(&rejected);
        assert_eq!(item["reason"], s("OUT_OF_STOCK"));
        assert_eq!(item["sku"], s("MUG-0001"));
        assert_eq!(reservation_of(&item), Ok(rejected));

        let mut reserving = record;
        reserving.status = ReservationStatus::Reserving;
        reserving.held_chunks = 1;
        let item = reservation_item(&reserving);
        assert_eq!(item[HELD_CHUNKS], n(1));
        assert_eq!(reservation_of(&item), Ok(reserving));
    }

    #[test]
    fn every_status_round_trips_through_the_item() {
        for status in ReservationStatus::ALL {
            let mut record = record(status);
            if status.has_rejection() {
                record.rejection = Some(Rejection { reason: StockRejectionReason::UnknownSku, sku: "X".into() });
            }
            if status.in_progress() {
                record.held_chunks = 2;
            }
            assert_eq!(reservation_of(&reservation_item(&record)), Ok(record), "{status}");
        }
    }

    #[test]
    fn malformed_records_name_the_attribute() {
        let mut item = reservation_item(&record(ReservationStatus::Reserved));
        item.insert("status".to_owned(), s("ON_HOLD"));
        assert_eq!(reservation_of(&item).unwrap_err().attribute, "status");
        item.remove("status");
        assert_eq!(reservation_of(&item), Err(MalformedItem::new("status", "is missing")));
        let mut item = reservation_item(&record(ReservationStatus::Rejected));
        item.insert("reason".to_owned(), s("INSUFFICIENT_STOCK"));
        assert_eq!(reservation_of(&item).unwrap_err().attribute, "reason");
        let item = reservation_item(&record(ReservationStatus::Committing));
        let mut item = item;
        item.remove(HELD_CHUNKS);
        assert_eq!(reservation_of(&item).unwrap_err().attribute, HELD_CHUNKS);
    }

    #[test]
    fn a_step_is_one_transaction_of_at_most_a_hundred_actions() {
        let store = store();
        let mut record = record(ReservationStatus::Reserved);
        record.items = (0..98).map(|index| (format!("SKU-{index:04}"), 1)).collect();
        let entry = orderflow_outbox::OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: record.order_id.to_string(),
            created_at: record.created_at,
            body: "{}".into(),
            event_type: "StockReserved".into(),
            event_version: "1".into(),
            correlation_id: None,
        };
        let step = Step {
            expect: Expect::Absent,
            stock: Some(StockChange { effect: StockEffect::Hold, lines: record.items.clone() }),
            record: record.clone(),
            outbox: Some(entry.clone()),
        };
        assert_eq!(store.transaction(&step).unwrap().len(), 100);
        let mut too_big = step;
        too_big.stock = Some(StockChange { effect: StockEffect::Hold, lines: vec![("A".into(), 1); 99] });
        assert!(matches!(store.transaction(&too_big), Err(InventoryError::Contention(_))));
        for effect in [StockEffect::Commit, StockEffect::Release] {
            let step = Step {
                expect: Expect::At(ReservationStatus::Reserved, 0),
                stock: Some(StockChange { effect, lines: vec![("A".into(), 1)] }),
                record: record.clone(),
                outbox: None,
            };
            assert_eq!(store.transaction(&step).unwrap().len(), 2, "{effect:?}");
        }
    }

    /// DynamoDB refuses an expression with an undefined placeholder and a request with an unused
    /// one; LocalStack is not at hand in unit tests, so check every action of every kind here.
    #[test]
    fn every_placeholder_is_defined_and_used() {
        fn placeholders(text: &str, sigil: char) -> std::collections::BTreeSet<String> {
            let mut found = std::collections::BTreeSet::new();
            let mut chars = text.char_indices().peekable();
            while let Some((start, c)) = chars.next() {
                if c == sigil {
                    let mut end = start + 1;
                    while let Some(&(i, next)) = chars.peek() {
                        if next.is_ascii_alphanumeric() || next == '_' {
                            end = i + next.len_utf8();
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    found.insert(text[start..end].to_owned());
                }
            }
            found
        }
        fn check(
            expressions: &[&str],
            names: Option<&std::collections::HashMap<String, String>>,
            values: Option<&Item>,
        ) {
            let text = expressions.join(" ");
            let defined_names: std::collections::BTreeSet<String> =
                names.map(|names| names.keys().cloned().collect()).unwrap_or_default();
            let defined_values: std::collections::BTreeSet<String> =
                values.map(|values| values.keys().cloned().collect()).unwrap_or_default();
            assert_eq!(placeholders(&text, '#'), defined_names, "{text}");
            assert_eq!(placeholders(&text, ':'), defined_values, "{text}");
        }
        let store = store();
        let expects =
            [Expect::Absent, Expect::At(ReservationStatus::Reserved, 0), Expect::At(ReservationStatus::Reserving, 1)];
        for expect in expects {
            for effect in [StockEffect::Hold, StockEffect::Commit, StockEffect::Release] {
                let step = Step {
                    expect,
                    stock: Some(StockChange { effect, lines: vec![("A".into(), 1)] }),
                    record: record(ReservationStatus::Reserved),
                    outbox: None,
                };
                for action in store.transaction(&step).unwrap() {
                    if let Some(update) = action.update() {
                        check(
                            &[update.update_expression(), update.condition_expression().unwrap_or_default()],
                            update.expression_attribute_names(),
                            update.expression_attribute_values(),
                        );
                    }
                    if let Some(put) = action.put() {
                        check(
                            &[put.condition_expression().unwrap_or_default()],
                            put.expression_attribute_names(),
                            put.expression_attribute_values(),
                        );
                    }
                }
            }
        }
    }
}
