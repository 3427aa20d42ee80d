use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use orderflow_events::{OrderEvent, decode_message};
use tracing::{Instrument, Span, error, field, info, info_span, warn};

use orderflow_kit::{Clock, SystemClock};
use orderflow_observability::ErrorChain;

use crate::config::{CLAIM_MARGIN, ConsumerConfig};
use crate::dead_letters::{DeadLetters, Parking};
use crate::handler::EventHandler;
use crate::idempotency::{BeginOutcome, Claim, CompleteOutcome, IdempotencyStore};
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
    dead_letters: Option<Arc<dyn DeadLetters>>,
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
    /// Will never succeed; sent to the DLQ with its reason and reported handled.
    Parked,
    Failed,
}

/// One message's result: its outcome, the event's age when the handler first ran, the retries
/// made in the invocation.
struct MessageResult {
    index: usize,
    outcome: Outcome,
    age_ms: Option<u64>,
    retries: u32,
}

/// A message decoded and ready to run, with its span.
struct Prepared {
    index: usize,
    span: Span,
    /// The event, or why the body is not one (`kind: reason`).
    event: Result<OrderEvent, String>,
}

/// The invocation a batch runs in: who claims (the request id) and until when it may run.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// Epoch milliseconds at which Lambda stops the invocation; `None` outside Lambda.
    pub deadline_ms: Option<i64>,
}

impl Invocation {
    /// A batch run outside Lambda (tests, benchmarks): a fresh request id and no deadline, so
    /// claims last `in_progress_for` and retries are bounded by their count only.
    pub fn detached() -> Self {
        Invocation { request_id: uuid::Uuid::new_v4().to_string(), deadline_ms: None }
    }

    fn from_context(context: &lambda_runtime::Context) -> Self {
        Invocation {
            request_id: context.request_id.clone(),
            deadline_ms: i64::try_from(context.deadline).ok().filter(|deadline| *deadline > 0),
        }
    }
}

impl BatchProcessor {
    pub fn new(config: ConsumerConfig, handler: Arc<dyn EventHandler>, store: Arc<dyn IdempotencyStore>) -> Self {
        BatchProcessor { config, handler, store, clock: Arc::new(SystemClock), dead_letters: None }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where permanent failures and undecodable messages are parked at once. Without it they are
    /// reported failed and reach the DLQ through the queue's redrive policy.
    pub fn with_dead_letters(mut self, dead_letters: Arc<dyn DeadLetters>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    pub fn has_dead_letters(&self) -> bool {
        self.dead_letters.is_some()
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The Lambda handler (what `service_fn` wraps): runs the batch, prints its EMF document to
    /// stdout and returns the partial batch failures. It never fails the whole invocation: every
    /// problem is a per-message failure.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let invocation = Invocation::from_context(&event.context);
        let outcome = self.process_in(event.payload, &invocation).await;
        let document = outcome.metrics.to_emf(&self.config.service, self.clock.now());
        // One write of one line: EMF documents must not interleave with log lines.
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{document}") {
            warn!(%error, "could not write the metrics document");
        }
        Ok(outcome.response)
    }

    /// Runs one batch outside Lambda ([`Invocation::detached`]).
    pub async fn process(&self, event: SqsEvent) -> BatchOutcome {
        self.process_in(event, &Invocation::detached()).await
    }

    /// Runs one batch within `invocation`.
    pub async fn process_in(&self, event: SqsEvent, invocation: &Invocation) -> BatchOutcome {
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
            .map(|lane| self.run_lane(lane, &records, invocation))
            .buffer_unordered(self.config.concurrency.max(1));
        while let Some(results) = lane_results.next().await {
            for result in results {
                outcomes[result.index] = result.outcome;
                metrics.event_age_ms.extend(result.age_ms);
                metrics.retried += u64::from(result.retries);
            }
        }

        let mut response = SqsBatchResponse::default();
        for (record, outcome) in records.iter().zip(outcomes) {
            match outcome {
                Outcome::Processed => metrics.processed += 1,
                Outcome::Duplicate => metrics.duplicates_skipped += 1,
                Outcome::Parked => metrics.parked += 1,
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
    async fn run_lane(
        &self,
        lane: Vec<Prepared>,
        records: &[SqsMessage],
        invocation: &Invocation,
    ) -> Vec<MessageResult> {
        let mut results = Vec::with_capacity(lane.len());
        let mut blocked = false;
        for message in lane {
            let Prepared { index, span, event } = message;
            let record = &records[index];
            if blocked {
                span.in_scope(|| warn!("not processed: an earlier message of its group or event failed in this batch"));
                results.push(MessageResult { index, outcome: Outcome::Failed, age_ms: None, retries: 0 });
                continue;
            }
            let result = match event {
                // The decode failure was logged when the message was prepared.
                Err(reason) => {
                    let outcome = self.park(record, format!("undecodable message: {reason}")).instrument(span).await;
                    MessageResult { index, outcome, age_ms: None, retries: 0 }
                }
                Ok(event) => {
                    let (outcome, age_ms, retries) = self.run_one(&event, record, invocation).instrument(span).await;
                    MessageResult { index, outcome, age_ms, retries }
                }
            };
            blocked = result.outcome == Outcome::Failed;
            results.push(result);
        }
        results
    }

    /// Applies one event at most once, within its message span.
    async fn run_one(
        &self,
        event: &OrderEvent,
        record: &SqsMessage,
        invocation: &Invocation,
    ) -> (Outcome, Option<u64>, u32) {
        let key = format!("{}#{}", self.config.consumer, event.id());
        // Unique per receive: a worker whose claim ran out and was taken over cannot complete or
        // release the new owner's claim.
        let owner = format!("{}/{}", invocation.request_id, record.message_id.as_deref().unwrap_or_default());
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let until_ms = match invocation.deadline_ms {
            Some(deadline_ms) => deadline_ms.saturating_add(duration_ms(CLAIM_MARGIN)),
            None => now_ms.saturating_add(duration_ms(self.config.in_progress_for)),
        };
        // The TTL of a claim: a while past its end, so an abandoned one is eventually removed.
        let expires_at = (until_ms / 1000).saturating_add(duration_secs(self.config.in_progress_for));
        let claim = Claim { key: &key, owner: &owner, now_ms, until_ms, expires_at };
        match self.store.begin(&claim).await {
            Err(error) => {
                error!(error = %ErrorChain(&error), "idempotency store unavailable; message will be retried");
                return (Outcome::Failed, None, 0);
            }
            Ok(BeginOutcome::AlreadyCompleted) => {
                info!("duplicate event skipped: already processed");
                return (Outcome::Duplicate, None, 0);
            }
            Ok(BeginOutcome::InProgressElsewhere) => {
                warn!("event is being processed by another invocation; message will be retried");
                return (Outcome::Failed, None, 0);
            }
            Ok(BeginOutcome::Acquired) => {}
        }

        let age_ms = u64::try_from((now - event.time()).num_milliseconds()).unwrap_or(0);
        let mut retries = 0;
        let failure = loop {
            match self.handler.handle(event).await {
                Ok(()) => {
                    self.complete(&key, &owner).await;
                    info!(age_ms, retries, "event processed");
                    return (Outcome::Processed, Some(age_ms), retries);
                }
                Err(failure) if failure.is_permanent() => break failure,
                Err(failure) => match self.retry_backoff(retries + 1, invocation) {
                    Some(backoff) => {
                        warn!(
                            error = %ErrorChain(&failure),
                            retry = retries + 1,
                            backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                            "transient failure; retrying in this invocation"
                        );
                        tokio::time::sleep(backoff).await;
                        retries += 1;
                    }
                    None => break failure,
                },
            }
        };
        let outcome = if failure.is_permanent() {
            error!(error = %ErrorChain(&failure), "event failed permanently");
            // Rendered before the await: the chain borrows the error, which must not cross it.
            let reason = ErrorChain(&failure).to_string();
            self.park(record, reason).await
        } else {
            warn!(error = %ErrorChain(&failure), retries, "event failed; message will be retried");
            Outcome::Failed
        };
        // Free the claim so a redelivery or a redrive proceeds at once rather than after expiry.
        if let Err(error) = self.store.release(&key, &owner).await {
            warn!(error = %ErrorChain(&error), "could not release the idempotency record; the retry waits for its expiry");
        }
        (outcome, Some(age_ms), retries)
    }

    /// Marks the event done. The effect has happened, so whatever this finds, the message is
    /// done: reporting it failed would only redo the work.
    async fn complete(&self, key: &str, owner: &str) {
        let now = self.clock.now();
        let expires_at = now.timestamp().saturating_add(duration_secs(self.config.completed_ttl));
        match self.store.complete(key, owner, now.timestamp_millis(), expires_at).await {
            Ok(CompleteOutcome::Completed | CompleteOutcome::AlreadyCompleted) => {}
            Ok(CompleteOutcome::HeldByOther) => {
                warn!("the claim ran out and another invocation took it over; it completes the event itself");
            }
            // The IN_PROGRESS record expires; a later redelivery would then run the handler
            // again, which every handler tolerates.
            Err(error) => {
                warn!(error = %ErrorChain(&error), "event processed but its idempotency record could not be completed");
            }
        }
    }

    /// The back-off before retry number `retry`, or `None` when no retry is left: the attempts
    /// are used up, or the back-off and the reserve no longer fit before the deadline.
    fn retry_backoff(&self, retry: u32, invocation: &Invocation) -> Option<Duration> {
        let policy = &self.config.retry;
        if retry >= policy.attempts {
            return None;
        }
        let backoff = policy.backoff(retry, fastrand::f64());
        if let Some(deadline_ms) = invocation.deadline_ms {
            let left_ms = deadline_ms.saturating_sub(self.clock.now().timestamp_millis());
            if duration_ms(backoff + policy.reserve) >= left_ms {
                return None;
            }
        }
        Some(backoff)
    }

    /// Sends a message that will never succeed to the DLQ with `reason`; `Failed` when there is
    /// no DLQ to park in or parking failed (the queue's redrive policy then moves it).
    async fn park(&self, record: &SqsMessage, reason: String) -> Outcome {
        let Some(dead_letters) = &self.dead_letters else {
            warn!(reason, "no DEAD_LETTER_QUEUE_URL: reported failed, the redrive policy moves it after its receives");
            return Outcome::Failed;
        };
        let parking = Parking { reason, consumer: self.config.consumer.clone(), failed_at: self.clock.now() };
        match dead_letters.park(record, &parking).await {
            Ok(()) => {
                error!(reason = parking.stored_reason(), "message parked in the dead-letter queue");
                Outcome::Parked
            }
            Err(error) => {
                error!(error = %ErrorChain(&error), reason = parking.reason, "could not park the message; it will be retried");
                Outcome::Failed
            }
        }
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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
            Ok(event)
        }
        Err((kind, reason)) => {
            // Logged here and only here; the message is parked in the DLQ.
            span.in_scope(|| error!(kind, reason, "undecodable message"));
            Err(format!("{kind}: {reason}"))
        }
    };
    let lane = match (group, &event) {
        (Some(group), _) => Some(LaneKey::Group(group)),
        (None, Ok(event)) => Some(LaneKey::Event(event.id())),
        (None, Err(_)) => None,
    };
    (Prepared { index, span, event }, lane)
}
