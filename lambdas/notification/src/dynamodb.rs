//! The DynamoDB adapter of the notifications port. NotificationsTable items: `{orderId, status
//! (SENT), messageId, recipient, eventId, sentAt}`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::SecondsFormat;
use uuid::Uuid;

use crate::{NotificationRecord, NotificationsError, NotificationsStore};

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

fn store_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> NotificationsError {
    NotificationsError::Store(Box::new(error))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

#[async_trait]
impl NotificationsStore for DynamoDbNotificationsStore {
    async fn exists(&self, order_id: Uuid) -> Result<bool, NotificationsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("orderId", s(order_id.to_string()))
            .consistent_read(true)
            .projection_expression("orderId")
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item().is_some())
    }

    async fn record_sent(&self, record: &NotificationRecord) -> Result<bool, NotificationsError> {
        let item = HashMap::from([
            ("orderId".to_owned(), s(record.order_id.to_string())),
            ("status".to_owned(), s("SENT")),
            ("messageId".to_owned(), s(&record.message_id)),
            ("recipient".to_owned(), s(&record.recipient)),
            ("eventId".to_owned(), s(record.event_id.to_string())),
            ("sentAt".to_owned(), s(record.sent_at.to_rfc3339_opts(SecondsFormat::Millis, true))),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(orderId)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() { Ok(false) } else { Err(store_error(error)) }
            }
        }
    }
}
