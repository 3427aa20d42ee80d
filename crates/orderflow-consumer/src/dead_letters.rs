//! Parking a message that will never succeed in the consumer's dead-letter queue, at once.
//!
//! Without this a permanent failure (a rejected recipient, a broken invariant) or an undecodable
//! body is reported failed and received again `maxReceiveCount` times (5 receives, 5 visibility
//! timeouts: five minutes) before SQS moves it, each retry failing the same way and delaying the
//! messages behind it. The consumer knows better: it sends the message to its DLQ itself, with
//! why it failed, and reports it handled. `orderflow dlq show` prints that reason.
//!
//! The queue's redrive policy stays as the safety net: if parking itself fails, the message is
//! reported failed and takes the slow path.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Message attribute: why the consumer gave up (the error chain, or what made the body
/// undecodable).
pub const FAILURE_REASON_ATTRIBUTE: &str = "orderflow_failure_reason";
/// Message attribute: which consumer gave up (`inventory`, `billing`, ...).
pub const FAILURE_CONSUMER_ATTRIBUTE: &str = "orderflow_failure_consumer";
/// Message attribute: when, RFC 3339 UTC with milliseconds.
pub const FAILED_AT_ATTRIBUTE: &str = "orderflow_failed_at";
/// SQS allows 10 message attributes; the three above leave room for 7 of the original's.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// SQS caps a string attribute value at the message size; a reason is kept short and readable.
const MAX_REASON_CHARS: usize = 1000;

/// Why a message is parked and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parking {
    pub reason: String,
    pub consumer: String,
    pub failed_at: chrono::DateTime<chrono::Utc>,
}

impl Parking {
    /// The reason as stored: at most [`MAX_REASON_CHARS`] characters, on one line.
    pub fn stored_reason(&self) -> String {
        let one_line: String = self.reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        match one_line.char_indices().nth(MAX_REASON_CHARS) {
            Some((cut, _)) => format!("{}...", &one_line[..cut]),
            None => one_line,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not park message {message_id} in the dead-letter queue")]
pub struct ParkError {
    pub message_id: String,
    #[source]
    pub source: BoxError,
}

/// The port: put a copy of `message` (body and attributes as received) in the dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn park(&self, message: &SqsMessage, parking: &Parking) -> Result<(), ParkError>;
}

/// The original's message attributes that fit beside ours, in name order (deterministic).
fn kept_attributes(message: &SqsMessage) -> Vec<(&String, &aws_lambda_events::event::sqs::SqsMessageAttribute)> {
    let mut names: Vec<_> = message
        .message_attributes
        .iter()
        .filter(|(name, _)| !name.starts_with("orderflow_failure") && name.as_str() != FAILED_AT_ATTRIBUTE)
        .collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    names.truncate(MAX_MESSAGE_ATTRIBUTES - 3);
    names
}

#[cfg(feature = "sqs")]
mod sqs {
    use async_trait::async_trait;
    use aws_lambda_events::event::sqs::SqsMessage;
    use aws_sdk_sqs::primitives::Blob;
    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::{
        DeadLetters, FAILED_AT_ATTRIBUTE, FAILURE_CONSUMER_ATTRIBUTE, FAILURE_REASON_ATTRIBUTE, ParkError, Parking,
        kept_attributes,
    };

    /// SQS SendMessage to the consumer's own DLQ (`DEAD_LETTER_QUEUE_URL`).
    #[derive(Debug, Clone)]
    pub struct SqsDeadLetters {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    }

    impl SqsDeadLetters {
        pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
            SqsDeadLetters { client, queue_url: queue_url.into() }
        }
    }

    fn string(value: impl Into<String>) -> Result<MessageAttributeValue, aws_sdk_sqs::error::BuildError> {
        MessageAttributeValue::builder().data_type("String").string_value(value).build()
    }

    #[async_trait]
    impl DeadLetters for SqsDeadLetters {
        async fn park(&self, message: &SqsMessage, parking: &Parking) -> Result<(), ParkError> {
            let message_id = message.message_id.clone().unwrap_or_default();
            let failed =
                |source: Box<dyn std::error::Error + Send + Sync>| ParkError { message_id: message_id.clone(), source };
            let mut request = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(message.body.clone().unwrap_or_default());
            for (name, attribute) in kept_attributes(message) {
                let data_type = attribute.data_type.as_deref().unwrap_or("String");
                let mut value = MessageAttributeValue::builder().data_type(data_type);
                if let Some(text) = &attribute.string_value {
                    value = value.string_value(text);
                }
                if let Some(bytes) = &attribute.binary_value {
                    value = value.binary_value(Blob::new(bytes.to_vec()));
                }
                request = request.message_attributes(name, value.build().map_err(|e| failed(e.into()))?);
            }
            let ours = [
                (FAILURE_REASON_ATTRIBUTE, parking.stored_reason()),
                (FAILURE_CONSUMER_ATTRIBUTE, parking.consumer.clone()),
                (FAILED_AT_ATTRIBUTE, parking.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            ];
            for (name, value) in ours {
                request = request.message_attributes(name, string(value).map_err(|e| failed(e.into()))?);
            }
            // A FIFO DLQ needs a group and a deduplication id: the original's group keeps the
            // group's messages together for the redrive; the message id makes a second park of
            // the same receive (a retried SendMessage) one message.
            if self.queue_url.ends_with(".fifo") {
                let group = message.attributes.get("MessageGroupId").cloned().unwrap_or_else(|| "parked".to_owned());
                request = request.message_group_id(group).message_deduplication_id(&message_id);
            }
            request.send().await.map_err(|error| failed(error.into_service_error().into()))?;
            Ok(())
        }
    }
}

#[cfg(feature = "sqs")]
pub use sqs::SqsDeadLetters;

/// The dead-letter queue in memory, for tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct InMemoryDeadLetters {
    parked: std::sync::Mutex<Vec<(SqsMessage, Parking)>>,
    failing: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "testing"))]
impl InMemoryDeadLetters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every parked message with its parking, in order.
    pub fn parked(&self) -> Vec<(SqsMessage, Parking)> {
        self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Makes every later park fail (the DLQ unreachable) or succeed again.
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
#[async_trait]
impl DeadLetters for InMemoryDeadLetters {
    async fn park(&self, message: &SqsMessage, parking: &Parking) -> Result<(), ParkError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ParkError {
                message_id: message.message_id.clone().unwrap_or_default(),
                source: "the dead-letter queue is unreachable".into(),
            });
        }
        self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((message.clone(), parking.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_stored_on_one_line_and_cut_at_a_thousand_characters() {
        let parking = Parking { reason: "a\nb".into(), consumer: "c".into(), failed_at: chrono::Utc::now() };
        assert_eq!(parking.stored_reason(), "a b");
        let long = Parking { reason: "é".repeat(1500), ..parking };
        let stored = long.stored_reason();
        assert_eq!(stored.chars().count(), MAX_REASON_CHARS + 3);
        assert!(stored.ends_with("..."));
    }

    #[test]
    fn seven_original_attributes_fit_beside_ours() {
        let mut message = SqsMessage::default();
        for i in 0..12 {
            message.message_attributes.insert(format!("a{i:02}"), Default::default());
        }
        message.message_attributes.insert(FAILURE_REASON_ATTRIBUTE.into(), Default::default());
        let kept: Vec<_> = kept_attributes(&message).into_iter().map(|(name, _)| name.clone()).collect();
        assert_eq!(kept, ["a00", "a01", "a02", "a03", "a04", "a05", "a06"]);
    }
}
