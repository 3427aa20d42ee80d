//! Publishing pending outbox entries: their stored body unchanged (same event id), with their
//! stored attributes, then marking them published. One entry's failure does not stop the rest.

use std::sync::Arc;

use chrono::TimeDelta;
use futures::StreamExt;
use orderflow_kit::Clock;
use orderflow_observability::ErrorChain;
use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use crate::entry::OutboxEntry;
use crate::ports::{EventPublisher, OutboxError, OutboxStore};

/// At most this many entries per run, so a backlog drains over several runs well within the
/// relay function's timeout instead of timing out half-way.
pub const MAX_ENTRIES_PER_RUN: usize = 1000;
/// Publishes in flight at once: SNS latency, not CPU, bounds the relay.
const CONCURRENT_PUBLISHES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RelayReport {
    pub published: usize,
    /// Entries still pending after this run (publish or completion failed); the next run retries.
    pub failed: usize,
}

pub struct Relay {
    outbox: Arc<dyn OutboxStore>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl Relay {
    pub fn new(outbox: Arc<dyn OutboxStore>, publisher: Arc<dyn EventPublisher>, clock: Arc<dyn Clock>) -> Self {
        Relay { outbox, publisher, clock }
    }

    /// Publishes every entry pending since at least `grace` ago, oldest first. The grace period
    /// leaves the producer time for its own publish right after its commit.
    pub async fn run(&self, grace: TimeDelta) -> Result<RelayReport, OutboxError> {
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
            order_id = %entry.subject,
            correlation_id = entry.correlation_id.as_deref().unwrap_or(""),
        );
        async {
            if let Err(error) = self.publisher.publish(entry).await {
                warn!(error = %ErrorChain(&error), "publishing an outbox entry failed; the next run retries it");
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
                    warn!(error = %ErrorChain(&error), "published but could not complete the outbox entry");
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
    use chrono::{DateTime, Utc};
    use orderflow_kit::clock::ManualClock;
    use uuid::Uuid;

    use super::*;
    use crate::adapters::memory::{InMemoryOutbox, RecordingPublisher};

    struct World {
        outbox: Arc<InMemoryOutbox>,
        publisher: Arc<RecordingPublisher>,
        clock: Arc<ManualClock>,
        relay: Relay,
    }

    fn world() -> World {
        let outbox = Arc::new(InMemoryOutbox::new());
        let publisher = Arc::new(RecordingPublisher::new());
        let clock = Arc::new(ManualClock::at_contract_time());
        let relay = Relay::new(outbox.clone(), publisher.clone(), clock.clone());
        World { outbox, publisher, clock, relay }
    }

    fn entry(created_at: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            event_id: Uuid::now_v7(),
            subject: Uuid::now_v7().to_string(),
            created_at,
            body: format!(r#"{{"id":"{}"}}"#, Uuid::now_v7()),
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            correlation_id: Some("corr-1".into()),
        }
    }

    #[tokio::test]
    async fn publishes_pending_entries_after_the_grace_period_byte_for_byte() {
        let world = world();
        let pending = entry(world.clock.now());
        assert!(world.outbox.insert_pending(&pending));

        world.clock.advance(TimeDelta::seconds(30));
        let report = world.relay.run(TimeDelta::seconds(60)).await.expect("run");
        assert_eq!(report, RelayReport { published: 0, failed: 0 }, "within the grace period");
        assert!(world.publisher.published().is_empty());

        world.clock.advance(TimeDelta::seconds(31));
        let report = world.relay.run(TimeDelta::seconds(60)).await.expect("run");
        assert_eq!(report, RelayReport { published: 1, failed: 0 });
        let published = world.publisher.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].event_id, pending.event_id);
        assert_eq!(published[0].body, pending.body, "the stored body, byte for byte");
        assert_eq!(
            published[0].attributes,
            [("event_type".to_owned(), "OrderPlaced".to_owned()), ("event_version".to_owned(), "1".to_owned())]
        );
        let stored = world.outbox.entries();
        assert_eq!(stored[0].published_at, Some(world.clock.now()));
        assert_eq!(stored[0].expires_at, Some(world.clock.now() + TimeDelta::days(7)));

        // Completed entries are not published again.
        world.clock.advance(TimeDelta::minutes(5));
        assert_eq!(world.relay.run(TimeDelta::zero()).await.expect("run"), RelayReport { published: 0, failed: 0 });
        assert_eq!(world.publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn one_failing_entry_does_not_stop_the_others() {
        let world = world();
        let entries: Vec<OutboxEntry> = (0..3)
            .map(|_| {
                let entry = entry(world.clock.now());
                world.outbox.insert_pending(&entry);
                world.clock.advance(TimeDelta::seconds(1));
                entry
            })
            .collect();
        world.publisher.fail_event(entries[1].event_id);
        world.clock.advance(TimeDelta::minutes(2));
        assert_eq!(
            world.relay.run(TimeDelta::seconds(60)).await.expect("run"),
            RelayReport { published: 2, failed: 1 }
        );
        let still_pending: Vec<_> =
            world.outbox.entries().into_iter().filter(|stored| stored.published_at.is_none()).collect();
        assert_eq!(still_pending.len(), 1);
        assert_eq!(still_pending[0].entry.event_id, entries[1].event_id);
    }

    #[tokio::test]
    async fn a_store_outage_is_an_error() {
        let world = world();
        world.outbox.set_failing(true);
        assert!(matches!(world.relay.run(TimeDelta::zero()).await, Err(OutboxError::Unavailable(_))));
    }
}
