//! An invocation of the relay: a scheduled event, or a direct invoke `{"graceSeconds": N}`.

use chrono::TimeDelta;
use lambda_runtime::LambdaEvent;
use orderflow_outbox::{OutboxError, Relay};
use serde_json::Value;
use tracing::{Instrument, info, info_span};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("graceSeconds must be a non-negative integer, got {0}")]
    InvalidGrace(Value),
    #[error("listing pending outbox entries failed")]
    Store(#[from] OutboxError),
    #[error("the report could not be serialised")]
    Report(#[from] serde_json::Error),
}

pub struct RelayHandler {
    relay: Relay,
    default_grace: TimeDelta,
}

impl RelayHandler {
    pub fn new(relay: Relay, default_grace: TimeDelta) -> Self {
        RelayHandler { relay, default_grace }
    }

    /// Returns `{"published": n, "failed": m}`.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, RelayError> {
        let span = info_span!("relay", request_id = %event.context.request_id);
        async {
            let grace = self.grace_for(&event.payload)?;
            let report = self.relay.run(grace).await?;
            info!(published = report.published, failed = report.failed, "relay run finished");
            Ok(serde_json::to_value(report)?)
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
    use std::sync::Arc;

    use orderflow_kit::clock::ManualClock;
    use orderflow_outbox::OutboxEntry;
    use orderflow_outbox::adapters::memory::{InMemoryOutbox, RecordingPublisher};
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

    fn handler_with_one_pending_entry() -> (RelayHandler, Arc<InMemoryOutbox>, Arc<RecordingPublisher>) {
        let outbox = Arc::new(InMemoryOutbox::new());
        let publisher = Arc::new(RecordingPublisher::new());
        let clock = Arc::new(ManualClock::at_contract_time());
        outbox.insert_pending(&OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: Uuid::now_v7().to_string(),
            created_at: orderflow_kit::Clock::now(clock.as_ref()),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: None,
        });
        let relay = Relay::new(outbox.clone(), publisher.clone(), clock);
        (RelayHandler::new(relay, TimeDelta::seconds(60)), outbox, publisher)
    }

    #[tokio::test]
    async fn a_scheduled_run_keeps_the_grace_period_and_a_direct_invoke_overrides_it() {
        let (handler, _, publisher) = handler_with_one_pending_entry();
        assert_eq!(handler.handle(invoke(scheduled_event())).await.expect("run"), json!({"published": 0, "failed": 0}));
        assert_eq!(handler.handle(invoke(json!({}))).await.expect("run"), json!({"published": 0, "failed": 0}));
        assert_eq!(
            handler.handle(invoke(json!({"graceSeconds": 0}))).await.expect("run"),
            json!({"published": 1, "failed": 0})
        );
        assert_eq!(publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn a_bad_grace_is_refused_and_publishes_nothing() {
        let (handler, _, publisher) = handler_with_one_pending_entry();
        for bad in [json!({"graceSeconds": -1}), json!({"graceSeconds": "60"}), json!({"graceSeconds": 1.5})] {
            assert!(matches!(handler.handle(invoke(bad.clone())).await, Err(RelayError::InvalidGrace(_))), "{bad}");
        }
        assert!(publisher.published().is_empty());
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_invocation() {
        let (handler, outbox, _) = handler_with_one_pending_entry();
        outbox.set_failing(true);
        assert!(matches!(handler.handle(invoke(scheduled_event())).await, Err(RelayError::Store(_))));
    }
}
