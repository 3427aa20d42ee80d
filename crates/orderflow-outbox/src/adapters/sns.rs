//! The SNS adapter: publishes an entry's body with its message attributes.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::entry::OutboxEntry;
use crate::ports::{EventPublisher, PublishError};

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher { client, topic_arn: topic_arn.into() }
    }
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError> {
        let mut attributes = HashMap::new();
        for (name, value) in entry.message_attributes() {
            // Subscription filter policies match String attributes.
            let attribute =
                MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|error| {
                    PublishError::new(entry.event_id, format!("attribute {name}: {error}"), Some(Box::new(error)))
                })?;
            attributes.insert(name.to_owned(), attribute);
        }
        let output = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&entry.body)
            .set_message_attributes(Some(attributes))
            .send()
            .await
            .map_err(|error| {
                PublishError::new(entry.event_id, DisplayErrorContext(&error).to_string(), Some(Box::new(error)))
            })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
