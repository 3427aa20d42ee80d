//! The DynamoDB adapter of the notifications port. NotificationsTable items: `{orderId, status
//! (SENT), kind (CONFIRMATION | CANCELLATION), messageId, recipient, eventId, sentAt}`. The
//! end-to-end tests read these names: keep them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use orderflow_kit::dynamodb::{
    Item, ItemExt, MalformedItem, PutIfAbsentError, PutOutcome, RequestFailed, put_if_absent, s, timestamp,
};
use tracing::warn;
use uuid::Uuid;

use crate::domain::{NotificationKind, NotificationRecord, SENT};
use crate::ports::{NotificationsError, NotificationsStore};

/// The table's key.
const ORDER_ID: &str = "orderId";

#[derive(Debug, Clone)]
pub struct DynamoDbNotificationsStore {
    client: Client,
    table: String,
}

impl DynamoDbNotificationsStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbNotificationsStore { client, table: table.into() }
    }
}

fn to_item(record: &NotificationRecord) -> Item {
    Item::from([
        (ORDER_ID.to_owned(), s(record.order_id.to_string())),
        ("status".to_owned(), s(SENT)),
        ("kind".to_owned(), s(record.kind.as_str())),
        ("messageId".to_owned(), s(&record.message_id)),
        ("recipient".to_owned(), s(&record.recipient)),
        ("eventId".to_owned(), s(record.event_id.to_string())),
        ("sentAt".to_owned(), timestamp(record.sent_at)),
    ])
}

fn from_item(item: &Item) -> Result<NotificationRecord, MalformedItem> {
    let status = item.string("status")?;
    if status != SENT {
        return Err(MalformedItem::new("status", format!("{status:?} is not {SENT:?}")));
    }
    // Records written before `kind` existed were all confirmations (OrderPlaced's email).
    let kind = match item.optional_string("kind") {
        None => NotificationKind::Confirmation,
        Some(kind) => {
            NotificationKind::parse(kind).ok_or_else(|| MalformedItem::new("kind", format!("{kind:?} is unknown")))?
        }
    };
    Ok(NotificationRecord {
        order_id: item.parsed(ORDER_ID)?,
        kind,
        message_id: item.string("messageId")?.to_owned(),
        recipient: item.string("recipient")?.to_owned(),
        event_id: item.parsed("eventId")?,
        sent_at: item.time("sentAt")?,
    })
}

/// The port's view of a failed conditional write. No `_` arm: a new way for the kit's write to
/// fail must be given a meaning here.
fn record_error(error: PutIfAbsentError, order_id: Uuid) -> NotificationsError {
    match error {
        PutIfAbsentError::Request(failed) => NotificationsError::Store(failed),
        PutIfAbsentError::Vanished { .. } => NotificationsError::Vanished { order_id },
    }
}

#[async_trait]
impl NotificationsStore for DynamoDbNotificationsStore {
    /// Any item under the order's key means its email went out: the email is not sent
    /// again, whatever the item looks like. One that is not a well-formed notification record is
    /// logged, not failed: failing would only move the message to the DLQ, and sending would
    /// risk a second email.
    async fn exists(&self, order_id: Uuid) -> Result<bool, NotificationsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_ID, s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        let Some(item) = output.item() else {
            return Ok(false);
        };
        if let Err(problem) = from_item(item) {
            warn!(error = %problem, "the order's notification record is malformed; treating the email as sent");
        }
        Ok(true)
    }

    async fn record_sent(&self, record: &NotificationRecord) -> Result<bool, NotificationsError> {
        match put_if_absent(&self.client, &self.table, ORDER_ID, to_item(record)).await {
            Ok(PutOutcome::Written) => Ok(true),
            Ok(PutOutcome::Exists(_)) => Ok(false),
            Err(error) => Err(record_error(error, record.order_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn record() -> NotificationRecord {
        NotificationRecord {
            order_id: Uuid::now_v7(),
            kind: NotificationKind::Cancellation,
            message_id: "m-1".into(),
            recipient: "ada@example.com".into(),
            event_id: Uuid::now_v7(),
            sent_at: DateTime::from_timestamp_millis(1_795_458_600_123).unwrap(),
        }
    }

    #[test]
    fn items_round_trip_with_their_attribute_names() {
        let record = record();
        let item = to_item(&record);
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["eventId", "kind", "messageId", "orderId", "recipient", "sentAt", "status"]);
        assert_eq!(item["status"], s("SENT"));
        assert_eq!(item["kind"], s("CANCELLATION"));
        assert_eq!(item["orderId"], s(record.order_id.to_string()));
        assert_eq!(item["sentAt"], s("2026-11-23T18:30:00.123Z"));
        assert_eq!(from_item(&item).unwrap(), record);
    }

    #[test]
    fn a_malformed_item_names_its_attribute() {
        let mut item = to_item(&record());
        item.insert("status".to_owned(), s("BOUNCED"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "status");
        item.insert("status".to_owned(), s("SENT"));
        item.remove("sentAt");
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("sentAt", "is missing"));
        let mut item = to_item(&record());
        item.insert("kind".to_owned(), s("RECEIPT"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "kind");
    }

    #[test]
    fn a_record_from_before_kinds_is_a_confirmation() {
        let mut item = to_item(&record());
        item.remove("kind");
        assert_eq!(from_item(&item).unwrap().kind, NotificationKind::Confirmation);
    }

    #[test]
    fn a_vanished_winner_is_the_ports_vanished_notification() {
        let order_id = Uuid::now_v7();
        let vanished = record_error(PutIfAbsentError::Vanished { key: order_id.to_string() }, order_id);
        assert!(matches!(vanished, NotificationsError::Vanished { order_id: id } if id == order_id));
        let failed = PutIfAbsentError::Request(RequestFailed::new("PutItem", std::io::Error::other("throttled")));
        assert!(matches!(record_error(failed, order_id), NotificationsError::Store(_)));
    }
}
