//! Where a pending entry sits on the pending index: one of [`PENDING_SHARDS`] partitions.
//!
//! Every producer's transaction writes its outbox entry onto the sparse pending index, and
//! publishing takes it off again: two index writes per event, all of them under the index's
//! partition key. Under one key (`PENDING`, as entries were first written) every order of the
//! system shares one index partition, whose write capacity (about 1000 write units a second)
//! caps the order rate and, once the index throttles, fails the producers' transactions with
//! it. Spreading the entries over shards by their event id multiplies that ceiling; the relay
//! queries every shard and merges them oldest first.

use uuid::Uuid;

/// How many index partitions pending entries are spread over. 16 lifts the ceiling to about
/// 16 000 index writes a second (a few thousand orders a second, each announcing about four
/// events), while the relay's sweep stays 16 small queries a minute. It is a constant, not a
/// setting, because every producer writes with it and the relay reads with it: only ever raise
/// it (a relay built with the new value queries every older shard too); lowering it would strand
/// the entries of the shards no longer queried.
pub const PENDING_SHARDS: u8 = 16;

/// The key every pending entry carried before the index was sharded. Entries written by a
/// producer of an older version (a deploy in progress, a warm instance) still arrive with it, so
/// the relay keeps querying it: remove it one release after the sharded one is deployed
/// everywhere, once the relay's runs log no `legacy` entries.
pub const LEGACY_PENDING_PARTITION: &str = "PENDING";

/// A partition of the pending index: a shard, or the legacy single key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PendingPartition {
    /// `PENDING#<n>`, `n` below [`PENDING_SHARDS`].
    Shard(PendingShard),
    /// `PENDING`: entries written before sharding.
    Legacy,
}

/// A shard number, always below [`PENDING_SHARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingShard(u8);

impl PendingShard {
    /// The shard of an event: its id's low bits, which are random in v4 and v7 UUIDs (a v7's high
    /// bits are its time, which would put every entry of one moment into one shard).
    pub fn of(event_id: Uuid) -> Self {
        PendingShard((event_id.as_u128() % u128::from(PENDING_SHARDS)) as u8)
    }

    /// `None` when `index` is not below [`PENDING_SHARDS`].
    pub fn new(index: u8) -> Option<Self> {
        (index < PENDING_SHARDS).then_some(PendingShard(index))
    }

    pub fn index(self) -> u8 {
        self.0
    }

    /// Every shard, in order.
    pub fn all() -> impl Iterator<Item = PendingShard> {
        (0..PENDING_SHARDS).map(PendingShard)
    }
}

impl PendingPartition {
    /// Where a new entry of `event_id` goes.
    pub fn of(event_id: Uuid) -> Self {
        PendingPartition::Shard(PendingShard::of(event_id))
    }

    /// Every partition the relay reads: the shards, then the legacy key.
    pub fn all() -> Vec<PendingPartition> {
        PendingShard::all().map(PendingPartition::Shard).chain([PendingPartition::Legacy]).collect()
    }

    /// The value of `pendingPartition` on the index: `PENDING#3`, or `PENDING`.
    pub fn key(self) -> String {
        match self {
            PendingPartition::Shard(shard) => format!("{LEGACY_PENDING_PARTITION}#{}", shard.0),
            PendingPartition::Legacy => LEGACY_PENDING_PARTITION.to_owned(),
        }
    }
}

impl std::fmt::Display for PendingPartition {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn keys_name_the_shard_and_the_legacy_partition_comes_last() {
        let all = PendingPartition::all();
        assert_eq!(all.len(), usize::from(PENDING_SHARDS) + 1);
        assert_eq!(all[0].key(), "PENDING#0");
        assert_eq!(all[15].key(), "PENDING#15");
        assert_eq!(all[16], PendingPartition::Legacy);
        assert_eq!(all[16].key(), "PENDING");
        assert_eq!(PendingShard::new(PENDING_SHARDS), None);
        assert_eq!(PendingShard::new(3).map(PendingShard::index), Some(3));
    }

    #[test]
    fn ids_of_one_moment_spread_over_every_shard() {
        // v7 ids minted in one burst share their time bits: the shard must not depend on them.
        let mut per_shard: HashMap<PendingShard, usize> = HashMap::new();
        for _ in 0..1600 {
            *per_shard.entry(PendingShard::of(Uuid::now_v7())).or_default() += 1;
        }
        assert_eq!(per_shard.len(), usize::from(PENDING_SHARDS), "every shard used: {per_shard:?}");
        assert!(per_shard.values().all(|count| (40..=160).contains(count)), "roughly even: {per_shard:?}");
        let id = Uuid::now_v7();
        assert_eq!(PendingPartition::of(id), PendingPartition::of(id), "stable for one id");
    }
}
