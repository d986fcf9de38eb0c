//! Client-cache statistics: one `CacheStats` per shard, written only by the shard that owns
//! the cache, read by anyone (`/admin/cache/stats`, `/metrics`) and summed across shards.

use crate::counter::Counter;
use std::ops::AddAssign;

/// Counters of one shard's client cache; only the owning `ClientCache` writes them
/// (`crate::counter`). Do not give one `CacheStats` to two caches.
#[derive(Default, Debug)]
pub struct CacheStats {
    /// Lookups that found an unexpired client.
    pub hits: Counter,
    /// Lookups that found nothing usable (including expired entries): each one costs the
    /// shard a database query.
    pub misses: Counter,
    /// Lookups answered by an unexpired negative entry: known not to exist, no query.
    pub negative_hits: Counter,
    /// Clients pushed out by the capacity bound (least recently used first).
    pub evictions: Counter,
    /// Clients dropped because their TTL ran out, by a lookup or by `purge_expired`.
    pub expirations: Counter,
    /// Clients cached now. Negative entries are not counted here but in `negative_size`.
    pub size: Counter,
    /// Negative entries cached now (bounded by `negative_capacity`).
    pub negative_size: Counter,
    /// Negative entries pushed out by `negative_capacity`: a steady climb means a flood of
    /// unknown client_ids, kept away from the real clients.
    pub negative_evictions: Counter,
}

impl CacheStats {
    /// The counters as plain numbers, each read once (relaxed): a consistent-enough view for
    /// monitoring, not a transaction.
    pub fn snapshot(&self) -> CacheSnapshot {
        let read = Counter::get;
        CacheSnapshot {
            hits: read(&self.hits),
            misses: read(&self.misses),
            negative_hits: read(&self.negative_hits),
            evictions: read(&self.evictions),
            expirations: read(&self.expirations),
            size: read(&self.size),
            negative_size: read(&self.negative_size),
            negative_evictions: read(&self.negative_evictions),
        }
    }
}

/// A copy of `CacheStats` in plain numbers; `+=` sums shards into a total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub negative_hits: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub size: u64,
    pub negative_size: u64,
    pub negative_evictions: u64,
}

impl CacheSnapshot {
    /// Every lookup, whatever its answer.
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses + self.negative_hits
    }

    /// Percentage (0 to 100) of lookups answered without the database: hits plus negative
    /// hits over all lookups. That is the figure the cache exists to raise; it is 0 before
    /// the first lookup. A flood of unknown ids shows as misses and then negative hits, so
    /// compare `negative_hits` with `hits` to tell a healthy rate from a flood absorbed.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.lookups();
        if lookups == 0 {
            return 0.0;
        }
        (self.hits + self.negative_hits) as f64 * 100.0 / lookups as f64
    }
}

impl AddAssign for CacheSnapshot {
    fn add_assign(&mut self, other: CacheSnapshot) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.negative_hits += other.negative_hits;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.size += other.size;
        self.negative_size += other.negative_size;
        self.negative_evictions += other.negative_evictions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_is_zero_without_lookups_and_a_percentage_after() {
        let mut s = CacheSnapshot::default();
        assert_eq!(s.hit_rate(), 0.0);
        s.hits = 997;
        s.negative_hits = 2;
        s.misses = 1;
        assert_eq!(s.lookups(), 1000);
        assert!((s.hit_rate() - 99.9).abs() < 1e-9);
        s.hits = 0;
        s.negative_hits = 0;
        assert_eq!(s.hit_rate(), 0.0);
    }

    #[test]
    fn snapshots_sum_across_shards() {
        let a = CacheStats::default();
        let b = CacheStats::default();
        a.hits.bump();
        b.hits.add(2);
        b.misses.bump();
        a.size.set(3);
        b.size.set(4);
        b.negative_evictions.bump();
        let mut total = a.snapshot();
        total += b.snapshot();
        assert_eq!(
            total,
            CacheSnapshot {
                hits: 3,
                misses: 1,
                size: 7,
                negative_evictions: 1,
                ..CacheSnapshot::default()
            }
        );
        assert!((total.hit_rate() - 75.0).abs() < 1e-9);
    }
}
