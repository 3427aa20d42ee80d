//! Publishing pending outbox entries: their stored body unchanged (same event id), with their
//! stored attributes, then marking them published. One entry's failure does not stop the rest.

use std::sync::Arc;

use chrono::TimeDelta;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use order_api::ports::{Clock, EventPublisher, Outbox, OutboxEntry, StoreError};
use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};

/// At most this many entries per invocation, so a backlog drains over several runs well within
/// the 30 s timeout instead of timing out half-way.
pub const MAX_ENTRIES_PER_RUN: usize = 1000;
/// Publishes in flight at once: SNS latency, not CPU, bounds the relay.
const CONCURRENT_PUBLISHES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RelayReport {
    pub published: usize,
    /// Entries still pending after this run (publish or completion failed); the next run retries.
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("graceSeconds must be a non-negative integer, got {0}")]
    InvalidGrace(Value),
    #[error("listing pending outbox entries failed: {0}")]
    Store(#[from] StoreError),
}

pub struct Relay {
    outbox: Arc<dyn Outbox>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    default_grace: TimeDelta,
}

impl Relay {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        publisher: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        default_grace: TimeDelta,
    ) -> Self {
        Relay { outbox, publisher, clock, default_grace }
    }

    /// The Lambda handler: an EventBridge scheduled event, or a direct invoke
    /// `{"graceSeconds": N}`. Returns `{"published": n, "failed": m}`.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let span = info_span!("relay", request_id = %event.context.request_id);
        async {
            let grace = self.grace_for(&event.payload)?;
            let report = self.run(grace).await?;
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

    /// Publishes every entry pending since at least `grace` ago, oldest first.
    pub async fn run(&self, grace: TimeDelta) -> Result<RelayReport, RelayError> {
        let cutoff = self.clock.now() - grace;
        let entries = self.outbox.pending_created_before(cutoff, MAX_ENTRIES_PER_RUN).await?;
        if entries.is_empty() {
            return Ok(RelayReport { published: 0, failed: 0 });
        }
        info!(pending = entries.len(), %cutoff, "publishing pending outbox entries");
        let outcomes: Vec<bool> = futures::stream::iter(entries.iter())
            .map(|entry| self.relay_one(entry))
            .buffer_unordered(CONCURRENT_PUBLISHES)
            .collect()
            .await;
        let published = outcomes.iter().filter(|done| **done).count();
        Ok(RelayReport { published, failed: outcomes.len() - published })
    }

    /// `true` when the entry was published and taken off the pending index.
    async fn relay_one(&self, entry: &OutboxEntry) -> bool {
        let span = info_span!(
            "outbox_entry",
            event_id = %entry.event_id,
            order_id = %entry.order_id,
            correlation_id = entry.correlation_id.as_deref().unwrap_or(""),
        );
        async {
            if let Err(error) = self.publisher.publish(entry).await {
                warn!(%error, "publishing an outbox entry failed; the next run retries it");
                return false;
            }
            match self.outbox.mark_published(entry.event_id, self.clock.now()).await {
                Ok(()) => {
                    info!(created_at = %entry.created_at, "outbox entry published");
                    true
                }
                Err(error) => {
                    // Published, so consumers will see it; the next run publishes it again and
                    // they de-duplicate on the event id.
                    warn!(%error, "published but could not complete the outbox entry");
                    false
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use order_api::testing::{Harness, body_json, contract_body, post_orders};
    use serde_json::json;

    use super::*;

    fn relay_for(harness: &Harness) -> Relay {
        Relay::new(harness.store.clone(), harness.publisher.clone(), harness.clock.clone(), TimeDelta::seconds(60))
    }

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

    #[tokio::test]
    async fn publishes_what_the_api_could_not_with_the_same_event_id() {
        let harness = Harness::new();
        harness.publisher.set_failing(true);
        let response = harness.call(post_orders(&contract_body().to_string(), &[("X-Correlation-Id", "corr-1")])).await;
        assert_eq!(response.status(), 201);
        let order_id = body_json(&response)["orderId"].as_str().map(str::to_owned);
        let pending = harness.store.outbox_entries();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].published_at, None);
        harness.publisher.set_failing(false);
        let relay = relay_for(&harness);

        // Within the grace period the API may still be publishing: leave the entry alone.
        harness.clock.advance(TimeDelta::seconds(30));
        assert_eq!(relay.handle(invoke(scheduled_event())).await.expect("run"), json!({"published": 0, "failed": 0}));
        assert!(harness.publisher.published().is_empty());

        harness.clock.advance(TimeDelta::seconds(31));
        assert_eq!(relay.handle(invoke(scheduled_event())).await.expect("run"), json!({"published": 1, "failed": 0}));
        let published = harness.publisher.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].event_id, pending[0].entry.event_id);
        assert_eq!(published[0].body, pending[0].entry.body, "the stored body, byte for byte");
        assert_eq!(
            published[0].attributes,
            [("event_type".to_owned(), "OrderPlaced".to_owned()), ("event_version".to_owned(), "1".to_owned())]
        );
        let (event, _) = orderflow_events::decode_message(&published[0].body).expect("a valid OrderPlaced v1");
        assert_eq!(event.id(), pending[0].entry.event_id);
        assert_eq!(Some(event.order_id().to_string()), order_id);
        assert_eq!(event.correlation_id(), Some("corr-1"));

        let completed = harness.store.outbox_entries();
        assert!(completed[0].published_at.is_some());
        assert_eq!(completed[0].expires_at, completed[0].published_at.map(|at| at + TimeDelta::days(7)));
        // Completed entries are not published again.
        harness.clock.advance(TimeDelta::minutes(5));
        assert_eq!(relay.run(TimeDelta::zero()).await.expect("run"), RelayReport { published: 0, failed: 0 });
        assert_eq!(harness.publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn a_direct_invoke_overrides_the_grace_period() {
        let harness = Harness::new();
        harness.publisher.set_failing(true);
        harness.call(post_orders(&contract_body().to_string(), &[])).await;
        harness.publisher.set_failing(false);
        let relay = relay_for(&harness);
        assert_eq!(relay.handle(invoke(json!({}))).await.expect("run"), json!({"published": 0, "failed": 0}));
        assert_eq!(
            relay.handle(invoke(json!({"graceSeconds": 0}))).await.expect("run"),
            json!({"published": 1, "failed": 0})
        );
        for bad in [json!({"graceSeconds": -1}), json!({"graceSeconds": "60"}), json!({"graceSeconds": 1.5})] {
            assert!(relay.handle(invoke(bad.clone())).await.is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn one_failing_entry_does_not_stop_the_others() {
        let harness = Harness::new();
        harness.publisher.set_failing(true);
        for sku in ["A-1", "A-2", "A-3"] {
            let mut body = contract_body();
            body["items"][0]["sku"] = json!(sku);
            assert_eq!(harness.call(post_orders(&body.to_string(), &[])).await.status(), 201);
            harness.clock.advance(TimeDelta::seconds(1));
        }
        harness.publisher.set_failing(false);
        let entries = harness.store.outbox_entries();
        harness.publisher.fail_event(entries[1].entry.event_id);
        harness.clock.advance(TimeDelta::minutes(2));
        let relay = relay_for(&harness);
        assert_eq!(relay.run(TimeDelta::seconds(60)).await.expect("run"), RelayReport { published: 2, failed: 1 });
        let still_pending: Vec<_> =
            harness.store.outbox_entries().into_iter().filter(|stored| stored.published_at.is_none()).collect();
        assert_eq!(still_pending.len(), 1);
        assert_eq!(still_pending[0].entry.event_id, entries[1].entry.event_id);
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_invocation() {
        let harness = Harness::new();
        harness.store.fail_everything(true);
        assert!(relay_for(&harness).handle(invoke(scheduled_event())).await.is_err());
    }
}
