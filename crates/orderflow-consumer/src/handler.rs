use async_trait::async_trait;
use orderflow_events::OrderEvent;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a handler could not apply an event. Either way the message is reported failed and SQS
/// redelivers it; the kinds differ in what the logs and the on-call person should expect.
///
/// A business outcome (stock too low, card declined) is not an error: the handler records it and
/// returns `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying: throttling, a network error, a lost race. Retried within the invocation
    /// while its deadline allows, then by SQS.
    #[error("transient failure: {0}")]
    Transient(#[source] BoxError),
    /// Will fail again on every delivery (a rejected recipient, a broken invariant): it is parked
    /// in the consumer's DLQ at once with its reason, where someone has to look at it.
    #[error("permanent failure: {0}")]
    Permanent(#[source] BoxError),
}

impl HandlerError {
    pub fn transient(error: impl Into<BoxError>) -> Self {
        HandlerError::Transient(error.into())
    }

    pub fn permanent(error: impl Into<BoxError>) -> Self {
        HandlerError::Permanent(error.into())
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, HandlerError::Permanent(_))
    }
}

/// The port a consumer implements: apply one decoded event. Called at most once at a time per
/// event id (the idempotency store sees to that), and with the message's span entered, so every
/// log line the handler writes carries the event's identifiers.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError>;
}
