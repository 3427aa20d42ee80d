//! What a producer does right after the transaction that wrote its outbox entry commits.

use std::sync::Arc;

use orderflow_kit::Clock;
use orderflow_observability::ErrorChain;
use tracing::{error, info, warn};

use crate::entry::OutboxEntry;
use crate::metrics::{MetricSink, publish_deferred_emf};
use crate::ports::{EventPublisher, OutboxStore};

/// Publishes committed outbox entries straight away and marks them published, so the usual
/// path costs no relay delay. It never fails: a failed publish (or a failed mark) only leaves
/// the entry pending, and the [`crate::Relay`] publishes it after its grace period with the same
/// event id. Every producer (the order API, the lifecycle, inventory, billing) uses this one.
#[derive(Clone)]
pub struct Announcer {
    outbox: Arc<dyn OutboxStore>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    deferrals: Option<Deferrals>,
}

/// Where a producer that reports its deferred publishes sends the metric.
#[derive(Clone)]
struct Deferrals {
    service: &'static str,
    metrics: Arc<dyn MetricSink>,
}

/// How an announcement went; for logs and tests, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// Published and taken off the pending index.
    Published { message_id: String },
    /// Published, but still pending: the relay will publish it again (consumers de-duplicate).
    PublishedStillPending { message_id: String },
    /// Not published: the relay will.
    LeftForRelay,
}

impl Announcer {
    pub fn new(outbox: Arc<dyn OutboxStore>, publisher: Arc<dyn EventPublisher>, clock: Arc<dyn Clock>) -> Self {
        Announcer { outbox, publisher, clock, deferrals: None }
    }

    /// Reports every publish that fails and leaves its event to the relay: an error log with
    /// the event id and the metric `OutboxPublishDeferred` (dimension `Service` = `service`),
    /// so a stuck topic is seen at the first failure rather than when the relay's backlog has
    /// aged. Without it a failed publish is a warning only.
    pub fn reporting_deferrals(mut self, service: &'static str, metrics: Arc<dyn MetricSink>) -> Self {
        self.deferrals = Some(Deferrals { service, metrics });
        self
    }

    /// Publishes `entry` (already committed) and marks it published.
    pub async fn announce(&self, entry: &OutboxEntry) -> Announced {
        match self.publisher.publish(entry).await {
            Ok(message_id) => {
                info!(event_id = %entry.event_id, event_type = entry.event_type, message_id, "event published");
                match self.outbox.mark_published(entry.event_id, self.clock.now()).await {
                    Ok(()) => Announced::Published { message_id },
                    Err(error) => {
                        warn!(event_id = %entry.event_id, error = %ErrorChain(&error), "event published but the outbox entry stays pending");
                        Announced::PublishedStillPending { message_id }
                    }
                }
            }
            Err(failure) => {
                match &self.deferrals {
                    Some(deferrals) => {
                        error!(event_id = %entry.event_id, event_type = entry.event_type, error = %ErrorChain(&failure), "publish failed after the commit; the event is deferred to the outbox relay");
                        deferrals.metrics.emit(&publish_deferred_emf(
                            deferrals.service,
                            entry.event_id,
                            &entry.event_type,
                            self.clock.now(),
                        ));
                    }
                    None => {
                        warn!(event_id = %entry.event_id, error = %ErrorChain(&failure), "publish failed; the outbox relay will publish the event");
                    }
                }
                Announced::LeftForRelay
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use orderflow_kit::clock::ManualClock;
    use uuid::Uuid;

    use super::*;
    use crate::adapters::memory::{InMemoryOutbox, RecordingPublisher};
    use crate::metrics::RecordingMetrics;

    fn entry(clock: &ManualClock) -> OutboxEntry {
        OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: Uuid::now_v7().to_string(),
            created_at: clock.now(),
            body: "{}".into(),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: None,
        }
    }

    #[tokio::test]
    async fn a_deferred_publish_is_reported_once_and_a_published_one_not_at_all() {
        let outbox = Arc::new(InMemoryOutbox::new());
        let publisher = Arc::new(RecordingPublisher::new());
        let clock = Arc::new(ManualClock::at_contract_time());
        let metrics = Arc::new(RecordingMetrics::new());
        let announcer = Announcer::new(outbox.clone(), publisher.clone(), clock.clone())
            .reporting_deferrals("order-api", metrics.clone());

        let published = entry(&clock);
        outbox.insert_pending(&published);
        assert!(matches!(announcer.announce(&published).await, Announced::Published { .. }));
        assert!(metrics.documents().is_empty(), "nothing to report");

        publisher.set_failing(true);
        clock.advance(TimeDelta::seconds(1));
        let deferred = entry(&clock);
        outbox.insert_pending(&deferred);
        assert_eq!(announcer.announce(&deferred).await, Announced::LeftForRelay);
        let documents = metrics.documents();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0]["Service"], "order-api");
        assert_eq!(documents[0]["OutboxPublishDeferred"], 1);
        assert_eq!(documents[0]["eventId"], deferred.event_id.to_string());
        let pending: Vec<_> = outbox.entries().into_iter().filter(|stored| stored.published_at.is_none()).collect();
        assert_eq!(pending.len(), 1, "left pending for the relay");
        assert_eq!(pending[0].entry.event_id, deferred.event_id);
    }
}
