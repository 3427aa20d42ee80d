//! DynamoDB adapter of the event history: the `byOrder` index of EventStoreTable (hash
//! `orderId`, range `timeId` = `<time>#<eventId>`), which the event-store consumer writes. The
//! API only reads it.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, s};
use uuid::Uuid;

use crate::ports::{EventHistory, EventHistoryError, EventSummary};

/// The index of an order's events, in time order.
pub const BY_ORDER_INDEX: &str = "byOrder";

#[derive(Debug, Clone)]
pub struct DynamoDbEventHistory {
    client: Client,
    table: String,
}

impl DynamoDbEventHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbEventHistory { client, table: table.into() }
    }
}

fn summary(item: &Item) -> Result<EventSummary, MalformedItem> {
    Ok(EventSummary {
        event_type: item.string("type")?.to_owned(),
        id: item.string("eventId")?.to_owned(),
        source: item.string("source")?.to_owned(),
        time: item.string("time")?.to_owned(),
        correlation_id: item.optional_string("correlationId").map(str::to_owned),
    })
}

#[async_trait]
impl EventHistory for DynamoDbEventHistory {
    /// Every page of the query, ascending `timeId`. Only the listed attributes are read: the
    /// bodies stay in the table.
    async fn events_of(&self, order_id: Uuid) -> Result<Vec<EventSummary>, EventHistoryError> {
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_ORDER_INDEX)
                .key_condition_expression("orderId = :order")
                .expression_attribute_values(":order", s(order_id.to_string()))
                // `type`, `source` and `time` are reserved words.
                .projection_expression("#type, eventId, #source, #time, correlationId")
                .expression_attribute_names("#type", "type")
                .expression_attribute_names("#source", "source")
                .expression_attribute_names("#time", "time")
                .scan_index_forward(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| RequestFailed::new("Query", error))?;
            for item in page.items() {
                events.push(summary(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(events),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_as_its_summary() {
        let mut item = Item::from([
            ("type".to_owned(), s("orders.OrderPlaced.v1")),
            ("eventId".to_owned(), s("e1")),
            ("source".to_owned(), s("order-api")),
            ("time".to_owned(), s("2026-11-23T18:30:00.123Z")),
            ("correlationId".to_owned(), s("req-1")),
        ]);
        let event = summary(&item).unwrap();
        assert_eq!(
            event,
            EventSummary {
                event_type: "orders.OrderPlaced.v1".into(),
                id: "e1".into(),
                source: "order-api".into(),
                time: "2026-11-23T18:30:00.123Z".into(),
                correlation_id: Some("req-1".into()),
            }
        );
        item.remove("correlationId");
        assert_eq!(summary(&item).unwrap().correlation_id, None);
        item.remove("source");
        assert_eq!(summary(&item).unwrap_err().attribute, "source");
    }
}
