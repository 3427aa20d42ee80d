//! The SES (API v1) adapter of the email port. LocalStack has no SES v2, hence v1.

use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::error::DisplayErrorContext;
use aws_sdk_ses::operation::send_email::SendEmailError;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use crate::domain::render::Email;
use crate::ports::{EmailSender, SendError};

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

/// A failed SES request: the SDK's full explanation, and the SDK error itself as the source.
#[derive(Debug, thiserror::Error)]
#[error("SES {operation} failed: {detail}")]
pub struct SesRequestFailed {
    pub operation: &'static str,
    detail: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SesRequestFailed {
    pub fn new<E: std::error::Error + Send + Sync + 'static>(operation: &'static str, error: E) -> Self {
        SesRequestFailed { operation, detail: DisplayErrorContext(&error).to_string(), source: Box::new(error) }
    }
}

/// Whether SES will refuse this email on every attempt (bad address, unverified sender or
/// domain, missing configuration set) rather than just this once.
fn is_permanent(error: &SendEmailError) -> bool {
    error.is_message_rejected()
        || error.is_mail_from_domain_not_verified_exception()
        || error.is_configuration_set_does_not_exist_exception()
}

fn classify(error: SendEmailError) -> SendError {
    if is_permanent(&error) {
        SendError::Rejected(Box::new(SesRequestFailed::new("SendEmail", error)))
    } else {
        SendError::Unavailable(Box::new(SesRequestFailed::new("SendEmail", error)))
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|error| SendError::Rejected(Box::new(error)))
}

#[async_trait]
impl EmailSender for SesEmailSender {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).html(content(&email.html)?).build())
            .build();
        let output = self
            .client
            .send_email()
            .source(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .message(message)
            .send()
            .await
            .map_err(|error| classify(error.into_service_error()))?;
        Ok(output.message_id().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use aws_sdk_ses::types::error::{AccountSendingPausedException, MessageRejected};

    use super::*;

    #[test]
    fn rejections_are_permanent_and_keep_the_sdk_error() {
        let rejected = SendEmailError::MessageRejected(
            MessageRejected::builder().message("Email address is not verified.").build(),
        );
        let error = classify(rejected);
        assert!(matches!(error, SendError::Rejected(_)), "{error}");
        assert!(error.to_string().contains("Email address is not verified."), "{error}");
        let failed = error.source().and_then(|source| source.downcast_ref::<SesRequestFailed>());
        let sdk = failed.and_then(|failed| failed.source()).and_then(|source| source.downcast_ref::<SendEmailError>());
        assert!(matches!(sdk, Some(SendEmailError::MessageRejected(_))));
    }

    #[test]
    fn other_failures_are_transient() {
        let paused = SendEmailError::AccountSendingPausedException(
            AccountSendingPausedException::builder().message("sending paused").build(),
        );
        assert!(matches!(classify(paused), SendError::Unavailable(_)));
    }
}
