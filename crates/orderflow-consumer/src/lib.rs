//! The SQS batch-processing core every consumer runs on.
//!
//! SQS delivers at least once, in batches, sometimes out of order and sometimes with poison. This
//! crate answers those once for every consumer:
//!
//! - [`BatchProcessor`] runs an `SqsEvent` and returns partial batch failures
//!   (`ReportBatchItemFailures`), processing messages concurrently within a bound but keeping the
//!   order of a FIFO message group;
//! - messages are decoded with the events crate (raw or SNS-wrapped); an undecodable one is logged
//!   once and parked in the consumer's DLQ with its reason ([`DeadLetters`]), as is an event whose
//!   handler fails permanently: one receive, not `maxReceiveCount`;
//! - a transient failure is retried within the invocation with jittered back-off while the
//!   deadline allows ([`RetryPolicy`]), then left to SQS;
//! - an [`IdempotencyStore`] makes a redelivered or duplicated event have its effect once; a claim
//!   lasts until the invocation's deadline plus [`CLAIM_MARGIN`] and belongs to one receive, so a
//!   crashed worker's message is taken over at its next receive and a late worker cannot complete
//!   or release another's claim;
//! - every log line of a message carries its message id, event id, order id, correlation id and
//!   receive count, and each batch prints one CloudWatch EMF document of [`BatchMetrics`].
//!
//! A consumer implements [`EventHandler`] (its business rules, behind its own ports) and its
//! `main.rs` is a few lines around [`run`].
//!
//! Feature `testing` (tests and benchmarks only, never a release binary) adds the in-memory
//! idempotency store and the [`testing`] builders of SQS records and events.

mod batch;
mod config;
mod dead_letters;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod handler;
mod idempotency;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod metrics;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::{BatchOutcome, BatchProcessor, Invocation};
pub use config::{CLAIM_MARGIN, ConsumerConfig, DEFAULT_COMPLETED_TTL, DEFAULT_CONCURRENCY, RetryPolicy};
#[cfg(any(test, feature = "testing"))]
pub use dead_letters::InMemoryDeadLetters;
#[cfg(feature = "sqs")]
pub use dead_letters::SqsDeadLetters;
pub use dead_letters::{
    DeadLetters, FAILED_AT_ATTRIBUTE, FAILURE_CONSUMER_ATTRIBUTE, FAILURE_REASON_ATTRIBUTE, ParkError, Parking,
};
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbIdempotencyStore;
pub use handler::{EventHandler, HandlerError};
pub use idempotency::{
    BeginOutcome, Claim, CompleteOutcome, IdempotencyError, IdempotencyStore, RecordStatus, StoredRecord,
};
#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryIdempotencyStore;
pub use metrics::{BatchMetrics, METRICS_NAMESPACE};
#[cfg(feature = "testing")]
pub use orderflow_kit::clock::ManualClock;
pub use orderflow_kit::{Clock, SystemClock};

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

/// Runs the Lambda runtime loop with `processor` as the handler. A consumer's `main` builds its
/// processor from the environment and calls this. When the configuration names a
/// `DEAD_LETTER_QUEUE_URL` and the processor has no [`DeadLetters`] yet, messages are parked there
/// through SQS with a client of `aws`.
#[cfg(feature = "sqs")]
pub async fn run(processor: BatchProcessor, aws: &aws_config::SdkConfig) -> Result<(), lambda_runtime::Error> {
    let processor = match processor.config().dead_letter_queue_url.clone() {
        Some(url) if !processor.has_dead_letters() => {
            processor.with_dead_letters(Arc::new(SqsDeadLetters::new(aws_sdk_sqs::Client::new(aws), url)))
        }
        _ => processor,
    };
    if !processor.has_dead_letters() {
        tracing::warn!("no DEAD_LETTER_QUEUE_URL: failing messages reach the DLQ through the redrive policy only");
    }
    let processor = Arc::new(processor);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let processor = Arc::clone(&processor);
        async move { processor.handle(event).await }
    }))
    .await
}
