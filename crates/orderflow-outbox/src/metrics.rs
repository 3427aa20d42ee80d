//! The outbox's CloudWatch metrics, as Embedded Metric Format documents (one JSON object on one
//! line of stdout, which the Lambda log agent turns into metrics), in the namespace and style
//! of `orderflow-consumer`'s: namespace `orderflow`, one dimension `Service`.
//!
//! - the relay, once per run ([`RelayReport::to_emf`]): `OutboxPublished`, `OutboxFailed`,
//!   `OutboxPending`, `OutboxOldestPendingAgeSeconds`, `OutboxMalformed`, with `Service` =
//!   [`RELAY_SERVICE`];
//! - a producer whose own publish after its commit failed ([`publish_deferred_emf`]):
//!   `OutboxPublishDeferred` = 1, with its own `Service` (the order API: `order-api`).

use std::io::Write;
#[cfg(feature = "testing")]
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::warn;
use uuid::Uuid;

use crate::relay::RelayReport;

/// The CloudWatch namespace of every orderflow metric (the consumers' too).
pub const METRICS_NAMESPACE: &str = "orderflow";
/// The `Service` dimension of the relay's metrics; alarms name it, so it is fixed here rather
/// than read from the environment.
pub const RELAY_SERVICE: &str = "outbox-relay";
/// The metric a producer emits when its publish after the commit failed.
pub const PUBLISH_DEFERRED_METRIC: &str = "OutboxPublishDeferred";

/// Where EMF documents go: stdout on Lambda, a recorder in tests.
pub trait MetricSink: Send + Sync {
    fn emit(&self, document: &str);
}

/// Writes each document as one line of stdout.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutMetrics;

impl MetricSink for StdoutMetrics {
    fn emit(&self, document: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{document}") {
            // Losing a metric must not fail the work it measures.
            warn!(%error, "could not write the metrics document");
        }
    }
}

/// Keeps every document, parsed, for tests (feature `testing`).
#[cfg(feature = "testing")]
#[derive(Debug, Default)]
pub struct RecordingMetrics {
    documents: Mutex<Vec<Value>>,
}

#[cfg(feature = "testing")]
impl RecordingMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every document emitted so far (a document that is not JSON is kept as a string).
    pub fn documents(&self) -> Vec<Value> {
        self.documents.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[cfg(feature = "testing")]
impl MetricSink for RecordingMetrics {
    fn emit(&self, document: &str) {
        let value = serde_json::from_str(document).unwrap_or_else(|_| Value::String(document.to_owned()));
        self.documents.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(value);
    }
}

/// An EMF document of `Count` and `Seconds` metrics with the dimension `Service`, and extra
/// properties (searchable in the logs, not metrics).
fn document(
    service: &str,
    timestamp: DateTime<Utc>,
    metrics: &[(&str, &str, u64)],
    properties: &[(&str, Value)],
) -> String {
    let mut document = json!({ "Service": service });
    for (name, _, value) in metrics {
        document[*name] = json!(value);
    }
    for (name, value) in properties {
        document[*name] = value.clone();
    }
    let definitions: Vec<Value> = metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect();
    document["_aws"] = json!({
        "Timestamp": timestamp.timestamp_millis(),
        "CloudWatchMetrics": [{
            "Namespace": METRICS_NAMESPACE,
            "Dimensions": [["Service"]],
            "Metrics": definitions,
        }],
    });
    document.to_string()
}

impl RelayReport {
    /// The run's one EMF document.
    pub fn to_emf(&self, timestamp: DateTime<Utc>) -> String {
        let count = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
        document(
            RELAY_SERVICE,
            timestamp,
            &[
                ("OutboxPublished", "Count", count(self.published)),
                ("OutboxFailed", "Count", count(self.failed)),
                ("OutboxPending", "Count", self.pending),
                ("OutboxOldestPendingAgeSeconds", "Seconds", self.oldest_pending_age_seconds),
                ("OutboxMalformed", "Count", count(self.malformed.len())),
            ],
            &[],
        )
    }
}

/// The document a producer emits when its publish right after the commit failed and the event
/// waits for the relay: a stuck topic shows here at once, minutes before the relay's age alarm.
pub fn publish_deferred_emf(service: &str, event_id: Uuid, event_type: &str, timestamp: DateTime<Utc>) -> String {
    document(
        service,
        timestamp,
        &[(PUBLISH_DEFERRED_METRIC, "Count", 1)],
        &[("eventId", json!(event_id.to_string())), ("eventType", json!(event_type))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MalformedEntry;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn a_relay_run_is_one_document_of_five_metrics() {
        let report = RelayReport {
            published: 4,
            failed: 2,
            pending: 7,
            oldest_pending_age_seconds: 321,
            malformed: vec![MalformedEntry { key: "k".into(), problem: "body is missing".into() }],
            ..RelayReport::default()
        };
        let document: Value = serde_json::from_str(&report.to_emf(at())).expect("JSON");
        assert_eq!(document["Service"], "outbox-relay");
        assert_eq!(
            [
                &document["OutboxPublished"],
                &document["OutboxFailed"],
                &document["OutboxPending"],
                &document["OutboxOldestPendingAgeSeconds"],
                &document["OutboxMalformed"]
            ],
            [&json!(4), &json!(2), &json!(7), &json!(321), &json!(1)]
        );
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "orderflow");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|metric| metric["Name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            ["OutboxPublished", "OutboxFailed", "OutboxPending", "OutboxOldestPendingAgeSeconds", "OutboxMalformed"]
        );
        assert_eq!(directive["Metrics"][3]["Unit"], "Seconds");
    }

    #[test]
    fn a_deferred_publish_names_the_service_and_the_event() {
        let event_id = Uuid::now_v7();
        let document: Value =
            serde_json::from_str(&publish_deferred_emf("order-api", event_id, "OrderPlaced", at())).expect("JSON");
        assert_eq!(document["Service"], "order-api");
        assert_eq!(document["OutboxPublishDeferred"], 1);
        assert_eq!(document["eventId"], event_id.to_string());
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "OutboxPublishDeferred", "Unit": "Count"}])
        );
    }
}
