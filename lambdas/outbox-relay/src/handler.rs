//! An invocation of the relay: a scheduled event, or a direct invoke `{"graceSeconds": N}`.

use std::sync::Arc;

use chrono::TimeDelta;
use lambda_runtime::LambdaEvent;
use orderflow_kit::Clock;
use orderflow_outbox::{MetricSink, Relay, RelayFailed};
use serde_json::Value;
use tracing::{Instrument, error, info, info_span};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("graceSeconds must be a non-negative integer, got {0}")]
    InvalidGrace(Value),
    /// Some entry could not be published or completed, or a partition of the index could not
    /// be read: the invocation fails so that the function's Errors alarm fires.
    #[error(transparent)]
    Incomplete(#[from] RelayFailed),
    #[error("the report could not be serialised")]
    Report(#[from] serde_json::Error),
}

pub struct RelayHandler {
    relay: Relay,
    default_grace: TimeDelta,
    metrics: Arc<dyn MetricSink>,
    clock: Arc<dyn Clock>,
}

impl RelayHandler {
    pub fn new(relay: Relay, default_grace: TimeDelta, metrics: Arc<dyn MetricSink>, clock: Arc<dyn Clock>) -> Self {
        RelayHandler { relay, default_grace, metrics, clock }
    }

    /// Runs the relay once and emits the run's metrics (failed runs too). Returns the report
    /// (`{"published": n, "failed": 0, "pending": p, "oldestPendingAgeSeconds": s, "malformed":
    /// [...], "unreadablePartitions": []}`), or fails when the run could not do all it had to.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, RelayError> {
        let span = info_span!("relay", request_id = %event.context.request_id);
        async {
            let grace = self.grace_for(&event.payload)?;
            let outcome = self.relay.run(grace).await;
            let report = match &outcome {
                Ok(report) => report,
                Err(failure) => &failure.report,
            };
            self.metrics.emit(&report.to_emf(self.clock.now()));
            match &outcome {
                Ok(_) => info!(
                    published = report.published,
                    pending = report.pending,
                    oldest_pending_age_seconds = report.oldest_pending_age_seconds,
                    malformed = report.malformed.len(),
                    "relay run finished"
                ),
                Err(failure) => error!(
                    published = report.published,
                    failed = report.failed,
                    pending = report.pending,
                    oldest_pending_age_seconds = report.oldest_pending_age_seconds,
                    malformed = report.malformed.len(),
                    %failure,
                    "relay run incomplete"
                ),
            }
            Ok(serde_json::to_value(outcome?)?)
        }
        .instrument(span)
        .await
    }

    /// `graceSeconds` from a direct invoke, else the configured default (scheduled events carry
    /// no such field).
    pub fn grace_for(&self, payload: &Value) -> Result<TimeDelta, RelayError> {
        match payload.get("graceSeconds") {
            None | Some(Value::Null) => Ok(self.default_grace),
            Some(value) => value
                .as_u64()
                .and_then(|seconds| i64::try_from(seconds).ok())
                .and_then(TimeDelta::try_seconds)
                .ok_or_else(|| RelayError::InvalidGrace(value.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use orderflow_kit::clock::ManualClock;
    use orderflow_outbox::OutboxEntry;
    use orderflow_outbox::adapters::memory::{InMemoryOutbox, RecordingPublisher};
    use orderflow_outbox::metrics::RecordingMetrics;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn invoke(payload: Value) -> LambdaEvent<Value> {
        LambdaEvent::new(payload, lambda_runtime::Context::default())
    }

    fn scheduled_event() -> Value {
        json!({
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-18T11:08:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/orderflow-outbox-relay"],
            "detail": {}
        })
    }

    struct World {
        handler: RelayHandler,
        outbox: Arc<InMemoryOutbox>,
        publisher: Arc<RecordingPublisher>,
        metrics: Arc<RecordingMetrics>,
    }

    fn handler_with_one_pending_entry() -> World {
        let outbox = Arc::new(InMemoryOutbox::new());
        let publisher = Arc::new(RecordingPublisher::new());
        let clock = Arc::new(ManualClock::at_contract_time());
        let metrics = Arc::new(RecordingMetrics::new());
        outbox.insert_pending(&OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: Uuid::now_v7().to_string(),
            created_at: orderflow_kit::Clock::now(clock.as_ref()),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: None,
        });
        let relay = Relay::new(outbox.clone(), publisher.clone(), clock.clone());
        let handler = RelayHandler::new(relay, TimeDelta::seconds(60), metrics.clone(), clock);
        World { handler, outbox, publisher, metrics }
    }

    fn summary(published: u64, pending: u64) -> Value {
        json!({
            "published": published, "failed": 0, "pending": pending, "oldestPendingAgeSeconds": 0,
            "malformed": [], "unreadablePartitions": []
        })
    }

    #[tokio::test]
    async fn a_scheduled_run_keeps_the_grace_period_and_a_direct_invoke_overrides_it() {
        let world = handler_with_one_pending_entry();
        assert_eq!(world.handler.handle(invoke(scheduled_event())).await.expect("run"), summary(0, 0));
        assert_eq!(world.handler.handle(invoke(json!({}))).await.expect("run"), summary(0, 0));
        assert_eq!(world.handler.handle(invoke(json!({"graceSeconds": 0}))).await.expect("run"), summary(1, 0));
        assert_eq!(world.publisher.published().len(), 1);
        let documents = world.metrics.documents();
        assert_eq!(documents.len(), 3, "one metrics document per run");
        assert_eq!(documents[2]["Service"], "outbox-relay");
        assert_eq!(documents[2]["OutboxPublished"], 1);
    }

    #[tokio::test]
    async fn a_bad_grace_is_refused_and_publishes_nothing() {
        let world = handler_with_one_pending_entry();
        for bad in [json!({"graceSeconds": -1}), json!({"graceSeconds": "60"}), json!({"graceSeconds": 1.5})] {
            assert!(
                matches!(world.handler.handle(invoke(bad.clone())).await, Err(RelayError::InvalidGrace(_))),
                "{bad}"
            );
        }
        assert!(world.publisher.published().is_empty());
    }

    #[tokio::test]
    async fn every_publish_failing_fails_the_invocation_and_still_reports_the_backlog() {
        let world = handler_with_one_pending_entry();
        world.publisher.set_failing(true);
        let error = world.handler.handle(invoke(json!({"graceSeconds": 0}))).await.expect_err("must fail");
        assert!(matches!(error, RelayError::Incomplete(_)), "{error:?}");
        assert_eq!(error.to_string(), "1 of 1 due outbox entries could not be published or completed");
        let documents = world.metrics.documents();
        assert_eq!(documents.len(), 1, "metrics of a failed run too");
        assert_eq!((&documents[0]["OutboxFailed"], &documents[0]["OutboxPending"]), (&json!(1), &json!(1)));
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_invocation() {
        let world = handler_with_one_pending_entry();
        world.outbox.set_failing(true);
        let error = world.handler.handle(invoke(scheduled_event())).await.expect_err("must fail");
        assert!(error.to_string().contains("17 pending index partitions could not be read"), "{error}");
    }
}
