//! The SQS batch-processing core every consumer runs on.
//!
//! SQS delivers at least once, in batches, sometimes out of order and sometimes with poison. This
//! crate answers those once for every consumer:
//!
//! - [`BatchProcessor`] runs an `SqsEvent` and returns partial batch failures
//!   (`ReportBatchItemFailures`), processing messages concurrently within a bound but keeping the
//!   order of a FIFO message group;
//! - messages are decoded with the events crate (raw or SNS-wrapped); an undecodable one is logged
//!   once and reported failed, so it reaches the DLQ after `maxReceiveCount`;
//! - an [`IdempotencyStore`] makes a redelivered or duplicated event have its effect once;
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
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod handler;
mod idempotency;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod metrics;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::{BatchOutcome, BatchProcessor};
pub use config::{ConsumerConfig, DEFAULT_COMPLETED_TTL, DEFAULT_CONCURRENCY};
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbIdempotencyStore;
pub use handler::{EventHandler, HandlerError};
pub use idempotency::{BeginOutcome, IdempotencyError, IdempotencyStore, RecordStatus, StoredRecord};
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
/// processor from the environment and calls this.
pub async fn run(processor: BatchProcessor) -> Result<(), lambda_runtime::Error> {
    let processor = Arc::new(processor);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let processor = Arc::clone(&processor);
        async move { processor.handle(event).await }
    }))
    .await
}
