//! Publishing pending outbox entries: their stored body unchanged (same event id), with their
//! stored attributes, then marking them published. One entry's failure does not stop the rest,
//! nor does a malformed item or an unreadable partition of the index; the run then reports
//! what it could not do ([`RelayReport::check`]), so the relay's invocation fails and alarms.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use orderflow_kit::Clock;
use orderflow_observability::ErrorChain;
use serde::Serialize;
use tracing::{Instrument, error, info, info_span, warn};

use crate::entry::OutboxEntry;
use crate::ports::{EventPublisher, MalformedEntry, OutboxStore};
use crate::shard::PendingPartition;

/// At most this many entries per run, so a backlog drains over several runs well within the
/// relay function's timeout instead of timing out half-way. Each partition of the index gives
/// at most its share of it.
pub const MAX_ENTRIES_PER_RUN: usize = 1000;
/// Publishes in flight at once: SNS latency, not CPU, bounds the relay.
const CONCURRENT_PUBLISHES: usize = 8;

/// What a run did; also the direct invoke's answer (camelCase JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    /// Published and taken off the pending index.
    pub published: usize,
    /// Tried and still pending: the publish or the completion failed; the next run retries.
    pub failed: usize,
    /// Due entries (older than the grace period) still pending after the run: the failed ones
    /// plus those this run did not read because of its limit. Counted without extra requests
    /// when the run read everything due; otherwise the store counts the rest (see
    /// [`crate::ports::BeyondLimit`]). Malformed items are not in it: they are `malformed`.
    pub pending: u64,
    /// Age in whole seconds, at the end of the run, of the oldest due entry still pending; 0
    /// when none is.
    pub oldest_pending_age_seconds: u64,
    /// Items of the index skipped because they are not valid entries.
    pub malformed: Vec<MalformedEntry>,
    /// Partitions of the index whose read failed (their entries wait for the next run).
    pub unreadable_partitions: Vec<String>,
}

/// A run that could not do all it had to (an entry not published or not completed, a partition
/// not read), with everything it did: the invocation fails, so its Errors alarm fires.
/// Malformed items alone do not fail a run: they have their own metric and alarm, and failing
/// every run for one bad item would hide real failures behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayFailed {
    pub report: RelayReport,
}

impl std::fmt::Display for RelayFailed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let report = &self.report;
        let mut parts = Vec::new();
        if report.failed > 0 {
            parts.push(format!(
                "{} of {} due outbox entries could not be published or completed",
                report.failed,
                report.published + report.failed
            ));
        }
        if !report.unreadable_partitions.is_empty() {
            parts.push(format!(
                "{} pending index partitions could not be read ({})",
                report.unreadable_partitions.len(),
                report.unreadable_partitions.join(", ")
            ));
        }
        formatter.write_str(&parts.join("; "))
    }
}

impl std::error::Error for RelayFailed {}

pub struct Relay {
    outbox: Arc<dyn OutboxStore>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Relay {
    pub fn new(outbox: Arc<dyn OutboxStore>, publisher: Arc<dyn EventPublisher>, clock: Arc<dyn Clock>) -> Self {
        Relay { outbox, publisher, clock }
    }

    /// Publishes every entry pending since at least `grace` ago, oldest first, from every
    /// partition of the index (read concurrently). The grace period leaves the producer time
    /// for its own publish right after its commit. Never stops half-way: every entry is tried
    /// and every partition read before it answers, `Err` (with the report) when the run could
    /// not do all it had to.
    pub async fn run(&self, grace: TimeDelta) -> Result<RelayReport, RelayFailed> {
        let report = self.sweep(grace).await;
        if report.failed == 0 && report.unreadable_partitions.is_empty() {
            Ok(report)
        } else {
            Err(RelayFailed { report })
        }
    }

    async fn sweep(&self, grace: TimeDelta) -> RelayReport {
        let cutoff = self.clock.now() - grace;
        let partitions = PendingPartition::all();
        let share = MAX_ENTRIES_PER_RUN.div_ceil(partitions.len());
        let reads = futures::future::join_all(
            partitions
                .iter()
                .map(|partition| async move { (*partition, self.outbox.pending_in(*partition, cutoff, share).await) }),
        )
        .await;

        let mut report = RelayReport::default();
        let mut entries = Vec::new();
        let mut unread: u64 = 0;
        let mut oldest_unread = None;
        for (partition, read) in reads {
            let page = match read {
                Ok(page) => page,
                Err(failure) => {
                    error!(%partition, error = %ErrorChain(&failure), "reading a partition of the pending outbox index failed");
                    report.unreadable_partitions.push(partition.key());
                    continue;
                }
            };
            for malformed in &page.malformed {
                error!(%partition, key = malformed.key, problem = malformed.problem, "skipping a malformed outbox entry");
            }
            if partition == PendingPartition::Legacy && !page.entries.is_empty() {
                // Written by a producer of the version before sharding; see LEGACY_PENDING_PARTITION.
                info!(legacy = page.entries.len(), "pending outbox entries under the legacy partition");
            }
            if let Some(beyond) = page.beyond_limit {
                unread += beyond.count;
                oldest_unread = earliest(oldest_unread, beyond.oldest_created_at);
            }
            entries.extend(page.entries);
            report.malformed.extend(page.malformed);
        }
        entries.sort_by_key(|entry| (entry.created_at, entry.event_id));
        if entries.len() > MAX_ENTRIES_PER_RUN {
            let rest = entries.split_off(MAX_ENTRIES_PER_RUN);
            unread += rest.len() as u64;
            oldest_unread = earliest(oldest_unread, rest.first().map(|entry| entry.created_at));
        }

        if !entries.is_empty() {
            info!(due = entries.len(), %cutoff, "publishing pending outbox entries");
        }
        let failures: Vec<DateTime<Utc>> = futures::stream::iter(entries.iter())
            .map(|entry| self.relay_one(entry))
            .buffer_unordered(CONCURRENT_PUBLISHES)
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
        report.failed = failures.len();
        report.published = entries.len() - report.failed;
        report.pending = report.failed as u64 + unread;
        let oldest = earliest(failures.iter().min().copied(), oldest_unread);
        report.oldest_pending_age_seconds = oldest
            .map(|created_at| u64::try_from((self.clock.now() - created_at).num_seconds()).unwrap_or(0))
            .unwrap_or(0);
        report
    }

    /// `None` when the entry was published and taken off the pending index, else its
    /// `createdAt` (it stays pending).
    async fn relay_one(&self, entry: &OutboxEntry) -> Option<DateTime<Utc>> {
        let span = info_span!(
            "outbox_entry",
            event_id = %entry.event_id,
            order_id = %entry.subject,
            correlation_id = entry.correlation_id.as_deref().unwrap_or(""),
        );
        async {
            if let Err(error) = self.publisher.publish(entry).await {
                warn!(error = %ErrorChain(&error), "publishing an outbox entry failed; the next run retries it");
                return Some(entry.created_at);
            }
            match self.outbox.mark_published(entry.event_id, self.clock.now()).await {
                Ok(()) => {
                    info!(created_at = %entry.created_at, "outbox entry published");
                    None
                }
                Err(error) => {
                    // Published, so consumers will see it; the next run publishes it again and
                    // they de-duplicate on the event id.
                    warn!(error = %ErrorChain(&error), "published but could not complete the outbox entry");
                    Some(entry.created_at)
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
    use crate::shard::{PENDING_SHARDS, PendingShard};

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

    /// A run's report, whether it failed or not, and its outcome (the failure's message).
    async fn run(world: &World, grace: TimeDelta) -> (RelayReport, Result<(), String>) {
        match world.relay.run(grace).await {
            Ok(report) => (report, Ok(())),
            Err(failure) => (failure.report.clone(), Err(failure.to_string())),
        }
    }

    fn counts(report: &RelayReport) -> (usize, usize, u64, u64, usize) {
        (report.published, report.failed, report.pending, report.oldest_pending_age_seconds, report.malformed.len())
    }

    #[tokio::test]
    async fn publishes_pending_entries_after_the_grace_period_byte_for_byte() {
        let world = world();
        let pending = entry(world.clock.now());
        assert!(world.outbox.insert_pending(&pending));

        world.clock.advance(TimeDelta::seconds(30));
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!((report, report_outcome), (RelayReport::default(), Ok(())), "within the grace period");
        assert!(world.publisher.published().is_empty());

        world.clock.advance(TimeDelta::seconds(31));
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!(counts(&report), (1, 0, 0, 0, 0));
        assert_eq!(report_outcome, Ok(()));
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
        assert_eq!(run(&world, TimeDelta::zero()).await.0, RelayReport::default());
        assert_eq!(world.publisher.published().len(), 1);
    }

    #[tokio::test]
    async fn one_failing_entry_does_not_stop_the_others_but_fails_the_run_with_its_age() {
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
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        // The failed entry was created 1 s after the start; the clock is now at 3 s + 120 s.
        assert_eq!(counts(&report), (2, 1, 1, 122, 0));
        let failure = report_outcome.expect_err("a failed entry fails the run");
        assert_eq!(failure, "1 of 3 due outbox entries could not be published or completed");
        let still_pending: Vec<_> =
            world.outbox.entries().into_iter().filter(|stored| stored.published_at.is_none()).collect();
        assert_eq!(still_pending.len(), 1);
        assert_eq!(still_pending[0].entry.event_id, entries[1].event_id);
    }

    #[tokio::test]
    async fn every_publish_failing_fails_the_run_and_keeps_everything_pending() {
        let world = world();
        for _ in 0..4 {
            world.outbox.insert_pending(&entry(world.clock.now()));
        }
        world.publisher.set_failing(true);
        world.clock.advance(TimeDelta::seconds(400));
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!(counts(&report), (0, 4, 4, 400, 0));
        assert_eq!(report_outcome, Err("4 of 4 due outbox entries could not be published or completed".to_owned()));
        world.publisher.set_failing(false);
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!(counts(&report), (4, 0, 0, 0, 0), "recovered on the next run");
        assert_eq!(report_outcome, Ok(()));
    }

    #[tokio::test]
    async fn a_malformed_item_is_skipped_and_reported_while_the_others_are_published() {
        let world = world();
        let before = entry(world.clock.now());
        world.outbox.insert_pending(&before);
        world.outbox.insert_malformed(
            PendingPartition::of(before.event_id),
            world.clock.now(),
            MalformedEntry { key: "not-a-uuid".into(), problem: "attribute eventId: invalid".into() },
        );
        let after = entry(world.clock.now() + TimeDelta::seconds(1));
        world.outbox.insert_pending(&after);
        world.clock.advance(TimeDelta::minutes(2));

        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!(counts(&report), (2, 0, 0, 0, 1));
        assert_eq!(report.malformed[0].key, "not-a-uuid");
        assert_eq!(report_outcome, Ok(()), "a malformed item has its own metric, not the run's failure");
        let ids: Vec<Uuid> = world.publisher.published().iter().map(|message| message.event_id).collect();
        assert!(ids.contains(&before.event_id) && ids.contains(&after.event_id), "{ids:?}");
        // Still there on the next run, still reported: someone has to repair or delete it.
        assert_eq!(counts(&run(&world, TimeDelta::seconds(60)).await.0), (0, 0, 0, 0, 1));
    }

    #[tokio::test]
    async fn entries_of_every_shard_and_of_the_legacy_key_are_published_oldest_first() {
        let world = world();
        let mut written = Vec::new();
        // Enough entries that every shard holds some.
        while written.len() < 200 {
            let entry = entry(world.clock.now());
            world.clock.advance(TimeDelta::milliseconds(10));
            world.outbox.insert_pending(&entry);
            written.push(entry);
        }
        let legacy = entry(world.clock.now() - TimeDelta::hours(1));
        world.outbox.insert_pending_in(&legacy, PendingPartition::Legacy);
        let shards: std::collections::HashSet<PendingPartition> =
            world.outbox.entries().iter().map(|stored| stored.partition).collect();
        assert_eq!(shards.len(), usize::from(PENDING_SHARDS) + 1, "every shard and the legacy key hold entries");

        world.clock.advance(TimeDelta::minutes(2));
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!((counts(&report), report_outcome), ((201, 0, 0, 0, 0), Ok(())));
        let published: Vec<Uuid> = world.publisher.published().iter().map(|message| message.event_id).collect();
        assert_eq!(published.len(), 201);
        assert_eq!(published.first(), Some(&legacy.event_id), "the oldest, from the legacy key, first");
        // 8 publishes run at once, so completion order is only roughly the creation order: the
        // first ten published are among the oldest twenty.
        let oldest: Vec<Uuid> = written.iter().take(20).map(|entry| entry.event_id).collect();
        assert!(published[1..10].iter().all(|id| oldest.contains(id)), "oldest first");
    }

    #[tokio::test]
    async fn a_backlog_beyond_the_run_limit_is_counted_and_drains_over_runs() {
        let world = world();
        let start = world.clock.now();
        for index in 0..1500 {
            world.outbox.insert_pending(&entry(start + TimeDelta::milliseconds(index)));
        }
        world.clock.advance(TimeDelta::minutes(10));
        let (first, first_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert!(first.published <= MAX_ENTRIES_PER_RUN && first.published > 800, "{first:?}");
        assert_eq!(first.failed, 0);
        assert_eq!(first.pending, 1500 - first.published as u64, "the rest is counted");
        assert!((599..=601).contains(&first.oldest_pending_age_seconds), "the oldest not read: {first:?}");
        assert_eq!(first_outcome, Ok(()), "not reaching everything is not a failure");
        // Each partition gives at most its share per run, so the rest takes one or two more.
        let mut published = first.published;
        let mut last = first;
        for _ in 0..3 {
            if last.pending == 0 {
                break;
            }
            last = run(&world, TimeDelta::seconds(60)).await.0;
            published += last.published;
        }
        assert_eq!(published, 1500);
        assert_eq!((last.pending, last.oldest_pending_age_seconds), (0, 0));
    }

    #[tokio::test]
    async fn an_unreadable_partition_fails_the_run_after_the_others_are_published() {
        let world = world();
        let shard_3 = PendingPartition::Shard(PendingShard::new(3).unwrap_or_else(|| unreachable!()));
        let mut elsewhere = 0;
        for _ in 0..40 {
            let entry = entry(world.clock.now());
            world.outbox.insert_pending(&entry);
            elsewhere += usize::from(PendingPartition::of(entry.event_id) != shard_3);
        }
        world.outbox.fail_partition(shard_3);
        world.clock.advance(TimeDelta::minutes(2));
        let (report, report_outcome) = run(&world, TimeDelta::seconds(60)).await;
        assert_eq!((report.published, report.failed), (elsewhere, 0));
        assert_eq!(report.unreadable_partitions, ["PENDING#3"]);
        assert_eq!(report_outcome, Err("1 pending index partitions could not be read (PENDING#3)".to_owned()));
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_run() {
        let world = world();
        world.outbox.set_failing(true);
        let (report, report_outcome) = run(&world, TimeDelta::zero()).await;
        assert_eq!(report.unreadable_partitions.len(), usize::from(PENDING_SHARDS) + 1);
        assert!(report_outcome.is_err());
    }
}
