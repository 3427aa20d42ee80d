use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use orderflow_events::{OrderEvent, decode_message};
use tracing::{Instrument, Span, error, field, info, info_span, warn};

use orderflow_kit::{Clock, SystemClock};
use orderflow_observability::ErrorChain;

use crate::config::ConsumerConfig;
use crate::handler::EventHandler;
use crate::idempotency::{BeginOutcome, IdempotencyStore};
use crate::metrics::BatchMetrics;

/// SQS system attribute naming the FIFO message group (absent on standard queues).
const MESSAGE_GROUP_ID: &str = "MessageGroupId";
/// SQS system attribute counting deliveries of the message, this one included.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

/// Runs SQS batches through an [`EventHandler`], guarded by an [`IdempotencyStore`].
///
/// Messages are split into lanes that run concurrently (at most `concurrency` at once) while the
/// messages of one lane run in order:
/// - on a FIFO queue a lane is a message group, so the group's order holds; after a failure the
///   rest of the group is reported failed unprocessed, since processing it would overtake the
///   failed message;
/// - on a standard queue a lane is an event id, so a duplicate within the batch waits for the
///   first copy and then is skipped as a duplicate (or reported failed with it).
pub struct BatchProcessor {
    config: ConsumerConfig,
    handler: Arc<dyn EventHandler>,
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
}

/// The response for Lambda and the metrics of one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub response: SqsBatchResponse,
    pub metrics: BatchMetrics,
}

impl BatchOutcome {
    /// The message ids reported failed, in batch order.
    pub fn failed_message_ids(&self) -> Vec<&str> {
        self.response.batch_item_failures.iter().map(|failure| failure.item_identifier.as_str()).collect()
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Processed,
    Duplicate,
    Failed,
}

/// A message decoded and ready to run, with its span.
struct Prepared {
    index: usize,
    span: Span,
    event: Option<OrderEvent>,
}

impl BatchProcessor {
    pub fn new(config: ConsumerConfig, handler: Arc<dyn EventHandler>, store: Arc<dyn IdempotencyStore>) -> Self {
        BatchProcessor { config, handler, store, clock: Arc::new(SystemClock) }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The Lambda handler (what `service_fn` wraps): runs the batch, prints its EMF document to
    /// stdout and returns the partial batch failures. It never fails the whole invocation: every
    /// problem is a per-message failure.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let outcome = self.process(event.payload).await;
        let document = outcome.metrics.to_emf(&self.config.service, self.clock.now());
        // One write of one line: EMF documents must not interleave with log lines.
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{document}") {
            warn!(%error, "could not write the metrics document");
        }
        Ok(outcome.response)
    }

    /// Runs one batch.
    pub async fn process(&self, event: SqsEvent) -> BatchOutcome {
        let records = event.records;
        let mut lanes: Vec<Vec<Prepared>> = Vec::new();
        let mut lane_of: HashMap<LaneKey<'_>, usize> = HashMap::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let (prepared, lane_key) = prepare(index, record);
            let lane = match lane_key {
                Some(key) => *lane_of.entry(key).or_insert_with(|| {
                    lanes.push(Vec::new());
                    lanes.len() - 1
                }),
                None => {
                    lanes.push(Vec::new());
                    lanes.len() - 1
                }
            };
            lanes[lane].push(prepared);
        }

        let mut outcomes = vec![Outcome::Failed; records.len()];
        let mut metrics = BatchMetrics::default();
        let mut lane_results = futures::stream::iter(lanes)
            .map(|lane| self.run_lane(lane))
            .buffer_unordered(self.config.concurrency.max(1));
        while let Some(results) = lane_results.next().await {
            for (index, outcome, age) in results {
                outcomes[index] = outcome;
                metrics.event_age_ms.extend(age);
            }
        }

        let mut response = SqsBatchResponse::default();
        for (record, outcome) in records.iter().zip(outcomes) {
            match outcome {
                Outcome::Processed => metrics.processed += 1,
                Outcome::Duplicate => metrics.duplicates_skipped += 1,
                Outcome::Failed => {
                    metrics.failed += 1;
                    // SQS always sets a message id. Without one there is nothing to name, and an
                    // empty identifier makes Lambda retry the whole batch, the safe side.
                    response.add_failure(record.message_id.clone().unwrap_or_default());
                }
            }
        }
        BatchOutcome { response, metrics }
    }

    /// Runs a lane's messages in order; after a failure the rest are failed unprocessed.
    async fn run_lane(&self, lane: Vec<Prepared>) -> Vec<(usize, Outcome, Option<u64>)> {
        let mut results = Vec::with_capacity(lane.len());
        let mut blocked = false;
        for message in lane {
            let Prepared { index, span, event } = message;
            if blocked {
                span.in_scope(|| warn!("not processed: an earlier message of its group or event failed in this batch"));
                results.push((index, Outcome::Failed, None));
                continue;
            }
            let (outcome, age) = match event {
                // The decode failure was logged when the message was prepared.
                None => (Outcome::Failed, None),
                Some(event) => self.run_one(&event).instrument(span).await,
            };
            blocked = outcome == Outcome::Failed;
            results.push((index, outcome, age));
        }
        results
    }

    /// Applies one event at most once, within its message span.
    async fn run_one(&self, event: &OrderEvent) -> (Outcome, Option<u64>) {
        let key = format!("{}#{}", self.config.consumer, event.id());
        let now = self.clock.now();
        let now_s = now.timestamp();
        let in_progress_until = now_s.saturating_add(duration_secs(self.config.in_progress_for));
        let expires_at = now_s.saturating_add(duration_secs(self.config.completed_ttl));
        match self.store.begin(&key, now_s, in_progress_until, expires_at).await {
            Err(error) => {
                error!(error = %ErrorChain(&error), "idempotency store unavailable; message will be retried");
                return (Outcome::Failed, None);
            }
            Ok(BeginOutcome::AlreadyCompleted) => {
                info!("duplicate event skipped: already processed");
                return (Outcome::Duplicate, None);
            }
            Ok(BeginOutcome::InProgressElsewhere) => {
                warn!("event is being processed by another invocation; message will be retried");
                return (Outcome::Failed, None);
            }
            Ok(BeginOutcome::Acquired) => {}
        }

        let age_ms = u64::try_from((now - event.time()).num_milliseconds()).unwrap_or(0);
        match self.handler.handle(event).await {
            Ok(()) => {
                let now = self.clock.now();
                let expires_at = now.timestamp().saturating_add(duration_secs(self.config.completed_ttl));
                if let Err(error) = self.store.complete(&key, now.timestamp_millis(), expires_at).await {
                    // The effect has happened, so the message is done: reporting it failed would
                    // only redo the work. The IN_PROGRESS record expires; a later redelivery
                    // would then run the handler again, which every handler tolerates.
                    warn!(error = %ErrorChain(&error), "event processed but its idempotency record could not be completed");
                }
                info!(age_ms, "event processed");
                (Outcome::Processed, Some(age_ms))
            }
            Err(failure) => {
                if failure.is_permanent() {
                    error!(error = %ErrorChain(&failure), "event failed permanently; it will reach the DLQ after its retries");
                } else {
                    warn!(error = %ErrorChain(&failure), "event failed; message will be retried");
                }
                // Free the claim so the redelivery proceeds at once rather than after expiry.
                if let Err(error) = self.store.release(&key).await {
                    warn!(error = %ErrorChain(&error), "could not release the idempotency record; the retry waits for its expiry");
                }
                (Outcome::Failed, Some(age_ms))
            }
        }
    }
}

fn duration_secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// What puts messages in the same lane: their FIFO group, else their event id.
#[derive(Debug, PartialEq, Eq, Hash)]
enum LaneKey<'a> {
    Group(&'a str),
    Event(uuid::Uuid),
}

/// Decodes a record, opens its span and names its lane (`None`: a lane of its own).
fn prepare(index: usize, record: &SqsMessage) -> (Prepared, Option<LaneKey<'_>>) {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let receive_count = record.attributes.get(RECEIVE_COUNT).and_then(|count| count.parse::<u32>().ok());
    let group = record.attributes.get(MESSAGE_GROUP_ID);
    let span = info_span!(
        "message",
        message_id,
        receive_count,
        message_group_id = group.map(String::as_str),
        event_id = field::Empty,
        order_id = field::Empty,
        correlation_id = field::Empty,
    );
    let decoded = match record.body.as_deref() {
        None => Err(("missing_body", "the SQS message has no body".to_owned())),
        Some(body) => decode_message(body).map_err(|error| (error.kind().as_str(), error.to_string())),
    };
    let event = match decoded {
        Ok((event, _delivery)) => {
            span.record("event_id", field::display(event.id()));
            span.record("order_id", field::display(event.order_id()));
            if let Some(correlation_id) = event.correlation_id() {
                span.record("correlation_id", correlation_id);
            }
            Some(event)
        }
        Err((kind, reason)) => {
            // Logged here and only here; the message is reported failed and ends in the DLQ.
            span.in_scope(|| error!(kind, reason, "undecodable message"));
            None
        }
    };
    let lane = match (group, &event) {
        (Some(group), _) => Some(LaneKey::Group(group)),
        (None, Some(event)) => Some(LaneKey::Event(event.id())),
        (None, None) => None,
    };
    (Prepared { index, span, event }, lane)
}
