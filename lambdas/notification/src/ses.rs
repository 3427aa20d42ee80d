//! The SES (API v1) adapter of the email port. LocalStack has no SES v2, hence v1.

use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use crate::{Email, EmailSender, SendError};

#[derive(Debug, Clone)]
pub struct SesEmailSender {
    client: Client,
    sender: String,
}

impl SesEmailSender {
    pub fn new(client: Client, sender: impl Into<String>) -> Self {
        SesEmailSender { client, sender: sender.into() }
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|error| SendError::Rejected(error.to_string()))
}

#[async_trait]
impl EmailSender for SesEmailSender {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).html(content(&email.html)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .source(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .message(message)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.message_id().to_owned()),
            Err(error) => {
                let error = error.into_service_error();
                let message = aws_sdk_ses::error::DisplayErrorContext(&error).to_string();
                if error.is_message_rejected()
                    || error.is_mail_from_domain_not_verified_exception()
                    || error.is_configuration_set_does_not_exist_exception()
                {
                    Err(SendError::Rejected(message))
                } else {
                    Err(SendError::Unavailable(message))
                }
            }
        }
    }
}
