//! The event store's values and its batch handler: every message, whatever its type, stored once.

use std::io::Write;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use orderflow_consumer::{BatchOutcome, HandlerError};
use orderflow_kit::{Clock, SystemClock};
use orderflow_observability::ErrorChain;
use serde_json::{Map, Value, json};
use tracing::{Instrument, error, field, info, info_span, warn};

use crate::ports::{EventStore, EventStoreError};

/// SQS system attribute counting deliveries of the message, this one included.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";
/// The SNS message attributes every orderflow publisher sets (see the AsyncAPI document).
const EVENT_TYPE_ATTRIBUTE: &str = "event_type";
const EVENT_VERSION_ATTRIBUTE: &str = "event_version";

/// How long a stored event is kept: `expiresAt` (DynamoDB TTL) is `storedAt` plus this many
/// days; 0 keeps events forever (no `expiresAt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub days: u32,
}

impl Retention {
    pub const FOREVER: Retention = Retention { days: 0 };

    /// The TTL of an event stored at `stored_at`, in epoch seconds; `None` to keep it.
    pub fn expires_at(self, stored_at: DateTime<Utc>) -> Option<i64> {
        (self.days > 0).then(|| stored_at.timestamp().saturating_add(i64::from(self.days) * 24 * 60 * 60))
    }
}

/// One EventStoreTable record: the message as delivered plus the envelope fields it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The CloudEvent `id` (the table's key).
    pub event_id: String,
    /// The CloudEvent `type`, e.g. `orders.OrderPlaced.v1`.
    pub cloud_event_type: String,
    /// The `event_type` message attribute (e.g. `OrderPlaced`), else the name inside `type`.
    pub event_type: Option<String>,
    /// The `event_version` message attribute (e.g. `1`), else the version at the end of `type`.
    pub event_version: Option<String>,
    pub source: String,
    /// The CloudEvent `time` exactly as in the body: the sort key is built from it.
    pub time: String,
    /// The CloudEvent `subject`, else `data.orderId`.
    pub order_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The message body exactly as delivered (the published message: queues use raw delivery).
    pub body: String,
    /// The message attributes as delivered, as a JSON object in the SNS/SQS shape
    /// (`{"event_type":{"DataType":"String","StringValue":"OrderPlaced"}}`): a replay sends them back.
    pub attributes: String,
    /// When this consumer stored it, epoch milliseconds.
    pub stored_at_ms: i64,
    /// The TTL, epoch seconds; `None` with unlimited retention.
    pub expires_at: Option<i64>,
}

impl StoredEvent {
    /// The sort key of both indexes: time order, ties broken by id (so it is unique). Producers
    /// stamp milliseconds or nanoseconds, and `…:26.9Z` sorts after `…:26.923Z` as text, so the
    /// key holds the time in UTC at one width (nanoseconds); a time that does not parse is kept
    /// as it came.
    pub fn time_id(&self) -> String {
        let time = DateTime::parse_from_rfc3339(&self.time)
            .map(|time| time.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Nanos, true))
            .unwrap_or_else(|_| self.time.clone());
        format!("{time}#{}", self.event_id)
    }

    /// The record of an SQS message received at `now`. Only the CloudEvents envelope is read,
    /// never the typed payload: an unknown type or version is stored like any other.
    pub fn from_message(message: &SqsMessage, now: DateTime<Utc>, retention: Retention) -> Result<Self, EnvelopeError> {
        let body = message.body.as_deref().ok_or(EnvelopeError::MissingBody)?;
        let envelope: Value = serde_json::from_str(body).map_err(EnvelopeError::NotJson)?;
        let Value::Object(envelope) = envelope else { return Err(EnvelopeError::NotAnObject) };
        let required = |name: &'static str| match envelope.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            _ => Err(EnvelopeError::MissingField(name)),
        };
        let optional = |value: Option<&Value>| match value {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            _ => None,
        };
        let event_id = required("id")?;
        let cloud_event_type = required("type")?;
        let source = required("source")?;
        let time = required("time")?;
        let order_id = optional(envelope.get("subject"))
            .or_else(|| optional(envelope.get("data").and_then(|data| data.get("orderId"))));
        let correlation_id = optional(envelope.get("correlationid"));
        let attribute = |name: &str| message.message_attributes.get(name).and_then(|value| value.string_value.clone());
        let (type_name, type_version) = split_type(&cloud_event_type);
        Ok(StoredEvent {
            event_type: attribute(EVENT_TYPE_ATTRIBUTE).or(type_name),
            event_version: attribute(EVENT_VERSION_ATTRIBUTE).or(type_version),
            event_id,
            cloud_event_type,
            source,
            time,
            order_id,
            correlation_id,
            body: body.to_owned(),
            attributes: attributes_json(message).to_string(),
            stored_at_ms: now.timestamp_millis(),
            expires_at: retention.expires_at(now),
        })
    }
}

/// `orders.OrderPlaced.v1` -> (`OrderPlaced`, `1`), for a message published without attributes.
fn split_type(cloud_event_type: &str) -> (Option<String>, Option<String>) {
    let mut parts = cloud_event_type.rsplitn(3, '.');
    let version = parts.next().and_then(|last| last.strip_prefix('v')).filter(|v| v.parse::<u32>().is_ok());
    match (version, parts.next(), parts.next()) {
        (Some(version), Some(name), Some(_)) if !name.is_empty() => (Some(name.to_owned()), Some(version.to_owned())),
        _ => (None, None),
    }
}

/// The message attributes in the shape SNS publishes and SQS sends: `DataType` plus
/// `StringValue` or `BinaryValue` (base64).
fn attributes_json(message: &SqsMessage) -> Value {
    let attributes: Map<String, Value> =
        message.message_attributes.iter().map(|(name, attribute)| (name.clone(), attribute_json(attribute))).collect();
    Value::Object(attributes)
}

fn attribute_json(attribute: &SqsMessageAttribute) -> Value {
    let mut value = json!({ "DataType": attribute.data_type.as_deref().unwrap_or("String") });
    if let Some(text) = &attribute.string_value {
        value["StringValue"] = json!(text);
    }
    if let Some(binary) = &attribute.binary_value {
        // Base64Data serializes as its base64 text.
        value["BinaryValue"] = serde_json::to_value(binary).unwrap_or(Value::Null);
    }
    value
}

/// Why a message is not a CloudEvent the store can record.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the SQS message has no body")]
    MissingBody,
    #[error("the body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("the body has no CloudEvents `{0}` (a non-empty string)")]
    MissingField(&'static str),
}

/// What [`EventStore::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    /// The id was stored already: a redelivery or a duplicate publish.
    AlreadyStored,
}

/// Everything that can stop a message from being stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    #[error("not a CloudEvent: {0}")]
    NotACloudEvent(#[from] EnvelopeError),
    #[error(transparent)]
    Store(#[from] EventStoreError),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(failure: StoreFailure) -> HandlerError {
    match failure {
        // The table may answer next time, and the conditional put makes the retry safe.
        StoreFailure::Store(EventStoreError::Store(_)) => HandlerError::transient(failure),
        // The same body fails on every delivery: it belongs in the DLQ, where someone looks.
        StoreFailure::NotACloudEvent(
            EnvelopeError::MissingBody
            | EnvelopeError::NotJson(_)
            | EnvelopeError::NotAnObject
            | EnvelopeError::MissingField(_),
        ) => HandlerError::permanent(failure),
    }
}

/// How many messages of a batch are stored at once (one PutItem each).
pub const DEFAULT_CONCURRENCY: usize = 10;

/// The event store's batch handler.
///
/// It does not run on [`orderflow_consumer::BatchProcessor`], on purpose: that core decodes each
/// message into the typed events, which would refuse the unknown types and versions the store
/// must keep, and its idempotency claim would double the writes of the one effect here, a
/// conditional put keyed by the event id, which is idempotent by itself. It keeps the core's
/// contract: partial batch failures, one span per message with the same fields, one EMF
/// document of [`orderflow_consumer::BatchMetrics`] per batch.
pub struct EventStoreProcessor {
    store: Arc<dyn EventStore>,
    service: String,
    retention: Retention,
    concurrency: usize,
    clock: Arc<dyn Clock>,
}

impl EventStoreProcessor {
    pub fn new(store: Arc<dyn EventStore>, service: impl Into<String>, retention: Retention) -> Self {
        EventStoreProcessor {
            store,
            service: service.into(),
            retention,
            concurrency: DEFAULT_CONCURRENCY,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The Lambda handler: runs the batch, prints its EMF document and returns the partial batch
    /// failures. It never fails the whole invocation.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let outcome = self.process(event.payload).await;
        let document = outcome.metrics.to_emf(&self.service, self.clock.now());
        // One write of one line: EMF documents must not interleave with log lines.
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{document}") {
            warn!(%error, "could not write the metrics document");
        }
        Ok(outcome.response)
    }

    /// Stores one batch. Messages are independent (no order matters to a keyed put), so they run
    /// concurrently, at most `concurrency` at once.
    pub async fn process(&self, event: SqsEvent) -> BatchOutcome {
        let records = event.records;
        let mut results: Vec<(usize, Result<PutOutcome, HandlerError>, Option<u64>)> =
            futures::stream::iter(records.iter().enumerate())
                .map(|(index, record)| async move {
                    let (result, age) = self.store_one(record).await;
                    (index, result, age)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        results.sort_by_key(|(index, _, _)| *index);
        let mut outcome = BatchOutcome::default();
        for ((_, result, age), record) in results.into_iter().zip(&records) {
            match result {
                Ok(PutOutcome::Stored) => {
                    outcome.metrics.processed += 1;
                    outcome.metrics.event_age_ms.extend(age);
                }
                Ok(PutOutcome::AlreadyStored) => outcome.metrics.duplicates_skipped += 1,
                Err(_) => {
                    outcome.metrics.failed += 1;
                    // Without a message id there is nothing to name; an empty identifier makes
                    // Lambda retry the whole batch, the safe side.
                    outcome.response.add_failure(record.message_id.clone().unwrap_or_default());
                }
            }
        }
        outcome
    }

    /// Stores one message within its span; the age is that of a newly stored event.
    async fn store_one(&self, record: &SqsMessage) -> (Result<PutOutcome, HandlerError>, Option<u64>) {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let receive_count = record.attributes.get(RECEIVE_COUNT).and_then(|count| count.parse::<u32>().ok());
        let span = info_span!(
            "message",
            message_id,
            receive_count,
            event_id = field::Empty,
            order_id = field::Empty,
            correlation_id = field::Empty,
        );
        let now = self.clock.now();
        let event = match StoredEvent::from_message(record, now, self.retention) {
            Ok(event) => event,
            Err(failure) => {
                let failure = classify(failure.into());
                span.in_scope(|| error!(error = %ErrorChain(&failure), "not a CloudEvent; it will reach the DLQ after its retries"));
                return (Err(failure), None);
            }
        };
        span.record("event_id", event.event_id.as_str());
        if let Some(order_id) = &event.order_id {
            span.record("order_id", order_id.as_str());
        }
        if let Some(correlation_id) = &event.correlation_id {
            span.record("correlation_id", correlation_id.as_str());
        }
        let age_ms = DateTime::parse_from_rfc3339(&event.time)
            .ok()
            .and_then(|time| u64::try_from((now - time.with_timezone(&Utc)).num_milliseconds()).ok());
        async {
            match self.store.put(&event).await {
                Ok(PutOutcome::Stored) => {
                    info!(r#type = event.cloud_event_type.as_str(), "event stored");
                    (Ok(PutOutcome::Stored), age_ms)
                }
                Ok(PutOutcome::AlreadyStored) => {
                    info!("duplicate event skipped: already stored");
                    (Ok(PutOutcome::AlreadyStored), None)
                }
                Err(failure) => {
                    let failure = classify(failure.into());
                    warn!(error = %ErrorChain(&failure), "event not stored; message will be retried");
                    (Err(failure), None)
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_lambda_events::encodings::Base64Data;
    use orderflow_kit::dynamodb::RequestFailed;

    use super::*;

    fn attribute(value: &str) -> SqsMessageAttribute {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(value.to_owned());
        attribute.data_type = Some("String".to_owned());
        attribute
    }

    fn message(body: &str, attributes: &[(&str, &str)]) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some("m1".to_owned());
        message.body = Some(body.to_owned());
        message.message_attributes =
            attributes.iter().map(|(name, value)| ((*name).to_owned(), attribute(value))).collect::<HashMap<_, _>>();
        message
    }

    const PLACED: &str = r#"{"specversion":"1.0","id":"0193-e1","type":"orders.OrderPlaced.v1","source":"orderflow.orders","time":"2026-11-23T18:30:00.123Z","subject":"o-1","correlationid":"req-1","data":{"orderId":"o-1"}}"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_795_458_601_000).unwrap()
    }

    #[test]
    fn the_record_keeps_the_envelope_the_body_and_the_attributes() {
        let message = message(PLACED, &[("event_type", "OrderPlaced"), ("event_version", "1")]);
        let event = StoredEvent::from_message(&message, now(), Retention { days: 1 }).unwrap();
        assert_eq!(event.event_id, "0193-e1");
        assert_eq!(event.cloud_event_type, "orders.OrderPlaced.v1");
        assert_eq!((event.event_type.as_deref(), event.event_version.as_deref()), (Some("OrderPlaced"), Some("1")));
        assert_eq!(event.source, "orderflow.orders");
        assert_eq!(event.time, "2026-11-23T18:30:00.123Z");
        assert_eq!(event.order_id.as_deref(), Some("o-1"));
        assert_eq!(event.correlation_id.as_deref(), Some("req-1"));
        assert_eq!(event.body, PLACED);
        assert_eq!(event.time_id(), "2026-11-23T18:30:00.123000000Z#0193-e1");
        // Milliseconds and nanoseconds from different producers sort by time, not as text.
        let mut later = event.clone();
        later.time = "2026-11-23T18:30:00.9Z".into();
        let mut between = event.clone();
        between.time = "2026-11-23T19:30:00.500000001+01:00".into();
        assert!(event.time_id() < between.time_id() && between.time_id() < later.time_id());
        let attributes: Value = serde_json::from_str(&event.attributes).unwrap();
        assert_eq!(
            attributes,
            json!({
                "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
                "event_version": {"DataType": "String", "StringValue": "1"},
            })
        );
        assert_eq!(event.stored_at_ms, 1_795_458_601_000);
        assert_eq!(event.expires_at, Some(1_795_458_601 + 86_400));
    }

    #[test]
    fn unknown_types_and_missing_attributes_are_stored_too() {
        let body = r#"{"id":"e2","type":"orders.OrderRefunded.v7","source":"orderflow.billing","time":"2026-11-23T18:30:00Z","data":{"orderId":"o-2"}}"#;
        let event = StoredEvent::from_message(&message(body, &[]), now(), Retention::FOREVER).unwrap();
        // No attributes: type and version come from `type`; the order from `data.orderId`.
        assert_eq!((event.event_type.as_deref(), event.event_version.as_deref()), (Some("OrderRefunded"), Some("7")));
        assert_eq!(event.order_id.as_deref(), Some("o-2"));
        assert_eq!((event.correlation_id, event.expires_at), (None, None));
        assert_eq!(event.attributes, "{}");
        let odd = r#"{"id":"e3","type":"custom","source":"s","time":"t","subject":""}"#;
        let event = StoredEvent::from_message(&message(odd, &[]), now(), Retention::FOREVER).unwrap();
        assert_eq!((event.event_type, event.event_version, event.order_id), (None, None, None));
    }

    #[test]
    fn binary_attributes_keep_their_base64() {
        let mut message = message(PLACED, &[]);
        let mut binary = SqsMessageAttribute::default();
        binary.binary_value = Some(serde_json::from_value::<Base64Data>(json!("aGk=")).unwrap());
        binary.data_type = Some("Binary".to_owned());
        message.message_attributes.insert("blob".to_owned(), binary);
        let event = StoredEvent::from_message(&message, now(), Retention::FOREVER).unwrap();
        let attributes: Value = serde_json::from_str(&event.attributes).unwrap();
        assert_eq!(attributes["blob"], json!({"DataType": "Binary", "BinaryValue": "aGk="}));
    }

    #[test]
    fn what_is_not_a_cloud_event_is_refused_with_the_reason() {
        let refused = |body: Option<&str>| {
            let mut message = message("", &[]);
            message.body = body.map(str::to_owned);
            StoredEvent::from_message(&message, now(), Retention::FOREVER).unwrap_err()
        };
        assert!(matches!(refused(None), EnvelopeError::MissingBody));
        assert!(matches!(refused(Some("not json")), EnvelopeError::NotJson(_)));
        assert!(matches!(refused(Some("[1]")), EnvelopeError::NotAnObject));
        assert!(matches!(refused(Some(r#"{"type":"t"}"#)), EnvelopeError::MissingField("id")));
        assert!(matches!(refused(Some(r#"{"id":"","type":"t"}"#)), EnvelopeError::MissingField("id")));
        assert!(matches!(refused(Some(r#"{"id":"e","source":"s","time":"t"}"#)), EnvelopeError::MissingField("type")));
        assert!(matches!(refused(Some(r#"{"id":"e","type":"t","source":"s"}"#)), EnvelopeError::MissingField("time")));
    }

    #[test]
    fn the_type_splits_into_name_and_version() {
        let split = |text: &str| split_type(text);
        assert_eq!(split("orders.OrderPlaced.v1"), (Some("OrderPlaced".into()), Some("1".into())));
        assert_eq!(split("a.b.OrderPlaced.v12"), (Some("OrderPlaced".into()), Some("12".into())));
        assert_eq!(split("OrderPlaced.v1"), (None, None));
        assert_eq!(split("orders.OrderPlaced.vx"), (None, None));
    }

    #[test]
    fn retention_zero_keeps_forever() {
        assert_eq!(Retention::FOREVER.expires_at(now()), None);
        assert_eq!(Retention { days: 400 }.expires_at(now()), Some(1_795_458_601 + 400 * 86_400));
    }

    #[test]
    fn every_failure_has_its_kind() {
        let failed = RequestFailed::new("PutItem", std::io::Error::other("throttled"));
        let cases: Vec<(StoreFailure, bool)> = vec![
            (EventStoreError::Store(failed).into(), false),
            (EnvelopeError::MissingBody.into(), true),
            (EnvelopeError::NotJson(serde_json::from_str::<Value>("x").unwrap_err()).into(), true),
            (EnvelopeError::NotAnObject.into(), true),
            (EnvelopeError::MissingField("id").into(), true),
        ];
        for (failure, permanent) in cases {
            let text = failure.to_string();
            let classified = classify(failure);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }
}
