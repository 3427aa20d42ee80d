//! The DynamoDB adapter of the store port. EventStoreTable items (the schema `orderflow` and the
//! order API read; keep the names): `{eventId, type, eventType?, eventVersion?, source, time,
//! orderId?, correlationId?, timeId, body, attributes, storedAt (epoch ms), expiresAt? (epoch s,
//! TTL)}`. Indexes: `byOrder` (orderId, timeId) and `byType` (eventType, timeId); an event
//! without an order id or type attribute is simply absent from that index.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use orderflow_kit::dynamodb::{Item, PutIfAbsentError, PutOutcome as KitPutOutcome, n, put_if_absent, s};

use crate::domain::{PutOutcome, StoredEvent};
use crate::ports::{EventStore, EventStoreError};

/// The table's key.
const EVENT_ID: &str = "eventId";

#[derive(Debug, Clone)]
pub struct DynamoDbEventStore {
    client: Client,
    table: String,
}

impl DynamoDbEventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbEventStore { client, table: table.into() }
    }
}

pub(crate) fn to_item(event: &StoredEvent) -> Item {
    let mut item = Item::from([
        (EVENT_ID.to_owned(), s(&event.event_id)),
        ("type".to_owned(), s(&event.cloud_event_type)),
        ("source".to_owned(), s(&event.source)),
        ("time".to_owned(), s(&event.time)),
        ("timeId".to_owned(), s(event.time_id())),
        ("body".to_owned(), s(&event.body)),
        ("attributes".to_owned(), s(&event.attributes)),
        ("storedAt".to_owned(), n(event.stored_at_ms)),
    ]);
    // Absent rather than empty: an index key attribute may not be an empty string.
    let optional = [
        ("eventType", &event.event_type),
        ("eventVersion", &event.event_version),
        ("orderId", &event.order_id),
        ("correlationId", &event.correlation_id),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    if let Some(expires_at) = event.expires_at {
        item.insert("expiresAt".to_owned(), n(expires_at));
    }
    item
}

#[async_trait]
impl EventStore for DynamoDbEventStore {
    /// Any item under the id is the event: it is not read or compared, since the id names one
    /// event and the first copy stored is as good as any.
    async fn put(&self, event: &StoredEvent) -> Result<PutOutcome, EventStoreError> {
        match put_if_absent(&self.client, &self.table, EVENT_ID, to_item(event)).await {
            Ok(KitPutOutcome::Written) => Ok(PutOutcome::Stored),
            Ok(KitPutOutcome::Exists(_)) => Ok(PutOutcome::AlreadyStored),
            Err(PutIfAbsentError::Request(failed)) => Err(failed.into()),
            // Events are only deleted by their TTL, long after any redelivery: the winner
            // expiring between the put and the read means the event was stored, and is gone as
            // intended.
            Err(PutIfAbsentError::Vanished { .. }) => Ok(PutOutcome::AlreadyStored),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn event() -> StoredEvent {
        StoredEvent {
            event_id: "e1".into(),
            cloud_event_type: "orders.OrderPlaced.v1".into(),
            event_type: Some("OrderPlaced".into()),
            event_version: Some("1".into()),
            source: "orderflow.orders".into(),
            time: "2026-11-23T18:30:00.123Z".into(),
            order_id: Some("o1".into()),
            correlation_id: Some("req-1".into()),
            body: "{}".into(),
            attributes: "{}".into(),
            stored_at_ms: 1_795_458_600_500,
            expires_at: Some(1_830_000_000),
        }
    }

    #[test]
    fn items_have_the_agreed_attribute_names() {
        let item = to_item(&event());
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "attributes",
                "body",
                "correlationId",
                "eventId",
                "eventType",
                "eventVersion",
                "expiresAt",
                "orderId",
                "source",
                "storedAt",
                "time",
                "timeId",
                "type"
            ]
        );
        assert_eq!(item["timeId"], s("2026-11-23T18:30:00.123000000Z#e1"));
        assert_eq!(item["storedAt"], AttributeValue::N("1795458600500".into()));
    }

    #[test]
    fn optional_attributes_are_absent_not_empty() {
        let bare = StoredEvent {
            event_type: None,
            event_version: None,
            order_id: None,
            correlation_id: None,
            expires_at: None,
            ..event()
        };
        let item = to_item(&bare);
        for name in ["eventType", "eventVersion", "orderId", "correlationId", "expiresAt"] {
            assert!(!item.contains_key(name), "{name}");
        }
    }
}
