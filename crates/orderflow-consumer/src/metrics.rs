use chrono::{DateTime, Utc};
use serde_json::json;

/// The CloudWatch namespace of every orderflow metric.
pub const METRICS_NAMESPACE: &str = "orderflow";

/// EMF takes at most 100 values per metric in one document; a batch larger than that (possible
/// with a batching window) reports the ages of its first 100 processed events.
const MAX_VALUES_PER_METRIC: usize = 100;

/// What one batch did, printed as one CloudWatch Embedded Metric Format document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchMetrics {
    /// Messages whose event was applied in this batch.
    pub processed: u64,
    /// Messages reported back to SQS as failed (undecodable, handler failure, held elsewhere,
    /// skipped behind a failure in their FIFO group).
    pub failed: u64,
    /// Messages whose event had been applied before (redelivery or duplicate publish).
    pub duplicates_skipped: u64,
    /// Messages that will never succeed (permanent failure, undecodable), sent to the DLQ at once.
    pub parked: u64,
    /// Handler attempts repeated within the invocation after a transient failure.
    pub retried: u64,
    /// For each event the handler ran on: milliseconds from the event's `time` to the start of
    /// its processing (clamped at 0 against clock skew).
    pub event_age_ms: Vec<u64>,
}

impl BatchMetrics {
    /// The EMF document: one JSON object on one line, which the Lambda log agent turns into
    /// metrics in `orderflow` with the dimension `Service`.
    pub fn to_emf(&self, service: &str, timestamp: DateTime<Utc>) -> String {
        let ages = &self.event_age_ms[..self.event_age_ms.len().min(MAX_VALUES_PER_METRIC)];
        let mut metrics = vec![
            json!({"Name": "ProcessedEvents", "Unit": "Count"}),
            json!({"Name": "FailedEvents", "Unit": "Count"}),
            json!({"Name": "DuplicateEventsSkipped", "Unit": "Count"}),
            json!({"Name": "ParkedEvents", "Unit": "Count"}),
            json!({"Name": "RetriedAttempts", "Unit": "Count"}),
        ];
        let mut document = json!({
            "Service": service,
            "ProcessedEvents": self.processed,
            "FailedEvents": self.failed,
            "DuplicateEventsSkipped": self.duplicates_skipped,
            "ParkedEvents": self.parked,
            "RetriedAttempts": self.retried,
        });
        // An empty value array is invalid EMF: leave the metric out when no event was processed.
        if !ages.is_empty() {
            metrics.push(json!({"Name": "EventAgeAtProcessing", "Unit": "Milliseconds"}));
            document["EventAgeAtProcessing"] = json!(ages);
        }
        document["_aws"] = json!({
            "Timestamp": timestamp.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": metrics,
            }],
        });
        document.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_emf_document() {
        let metrics = BatchMetrics {
            processed: 2,
            failed: 1,
            duplicates_skipped: 3,
            parked: 4,
            retried: 6,
            event_age_ms: vec![5, 7],
        };
        let timestamp = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let document: serde_json::Value = serde_json::from_str(&metrics.to_emf("billing", timestamp)).unwrap();
        assert_eq!(document["Service"], "billing");
        assert_eq!(document["ProcessedEvents"], 2);
        assert_eq!(document["FailedEvents"], 1);
        assert_eq!(document["DuplicateEventsSkipped"], 3);
        assert_eq!(document["ParkedEvents"], 4);
        assert_eq!(document["RetriedAttempts"], 6);
        assert_eq!(document["EventAgeAtProcessing"], json!([5, 7]));
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "orderflow");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(directive["Metrics"].as_array().map(Vec::len), Some(6));
    }

    #[test]
    fn leaves_out_an_empty_age_metric() {
        let document: serde_json::Value =
            serde_json::from_str(&BatchMetrics { failed: 1, ..Default::default() }.to_emf("x", Utc::now())).unwrap();
        assert!(document.get("EventAgeAtProcessing").is_none());
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().map(Vec::len), Some(5));
    }
}
