//! `ClientCache`: one shard's cache of clients, so that a token for a known client costs no
//! database round trip. Single-threaded and owned by its shard (`&mut self`, no lock).
//!
//! It holds two bounded LRUs that never share a key:
//! * positive entries, the client records, live `ttl` and are bounded by `capacity`;
//! * negative entries, client_ids the database said do not exist, live `negative_ttl` and are
//!   bounded by `negative_capacity`, so that a flood of random client_ids costs at most one
//!   query per id per `negative_ttl`, can neither grow memory nor push out real clients
//!   (each side evicts only from itself).
//!
//! Negative entries are an LRU as well, not a FIFO: a negative hit refreshes the entry, so an
//! id that keeps being asked for (a service deployed with a wrong client_id, say) stays cached
//! while a flood of one-off random ids turns over the rest. It is the same code as the
//! positive side, and the refresh is free when that id is already the most recent.
//!
//! Every operation is O(1) except `purge_expired` (one pass) and `clear`. A lookup hashes the
//! client_id once and probes both tables with that hash; a hit allocates nothing.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::DefaultHashBuilder;

use super::lru::Lru;
use super::stats::CacheStats;

/// The longest TTL honoured. `Instant + Duration` panics on overflow, so an absurd
/// configured TTL is clamped to this instead; a decade is "never" for a cache entry.
const TTL_MAX: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Sizes and lifetimes of one shard's cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a client record is trusted before it is read from the database again
    /// (`cache_ttl`). Invalidations through `edgeauth_invalidate` usually come sooner.
    pub ttl: Duration,
    /// Client records held at most (`cache_capacity`); 0 turns the positive cache off.
    pub capacity: usize,
    /// How long "no such client" is believed. Keep it short: a client created meanwhile is
    /// announced on `edgeauth_invalidate`, but a missed notification would otherwise lock a
    /// new client out for this long.
    pub negative_ttl: Duration,
    /// Negative entries held at most; 0 turns negative caching off.
    pub negative_capacity: usize,
}

/// The answer to a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, V> {
    /// The client, unexpired.
    Hit(&'a V),
    /// Known not to exist (negative entry, unexpired): refuse without asking the database.
    Absent,
    /// Not cached, or expired: ask the database.
    Miss,
}

/// One shard's client cache. See the module documentation.
pub struct ClientCache<V> {
    /// Seeded randomly per cache, so that client_ids chosen by an attacker cannot be made
    /// to collide (foldhash's `RandomState`).
    hasher: DefaultHashBuilder,
    positive: Lru<V>,
    negative: Lru<()>,
    ttl: Duration,
    negative_ttl: Duration,
    /// Written only here; read by the admin endpoints of any shard.
    stats: Arc<CacheStats>,
}

impl<V> ClientCache<V> {
    /// An empty cache with all its memory allocated up front: both slabs at full capacity
    /// and both tables at twice that (see `Lru::new`), so the request path never grows them.
    pub fn new(config: CacheConfig, stats: Arc<CacheStats>) -> Self {
        stats.size.set(0);
        stats.negative_size.set(0);
        ClientCache {
            hasher: DefaultHashBuilder::default(),
            positive: Lru::new(config.capacity),
            negative: Lru::new(config.negative_capacity),
            ttl: config.ttl.min(TTL_MAX),
            negative_ttl: config.negative_ttl.min(TTL_MAX),
            stats,
        }
    }

    /// Look a client up and, on a hit, make it the most recently used. An expired entry is
    /// removed and counted as an expiration, and the answer is `Miss`. No allocation.
    ///
    /// Positive and negative entries never share a key, so at most one of them answers.
    #[inline]
    pub fn get(&mut self, client_id: &str, now: Instant) -> Lookup<'_, V> {
        let hash = self.hasher.hash_one(client_id);
        if let Some(index) = self.positive.find(hash, client_id) {
            if !self.positive.entry(index).is_expired(now) {
                self.positive.touch(index);
                self.stats.hits.bump();
                return Lookup::Hit(&self.positive.entry(index).value);
            }
            self.positive.remove(index);
            self.stats.expirations.bump();
            self.stats.size.set(self.positive.len() as u64);
        } else if let Some(index) = self.negative.find(hash, client_id) {
            if !self.negative.entry(index).is_expired(now) {
                self.negative.touch(index);
                self.stats.negative_hits.bump();
                return Lookup::Absent;
            }
            self.negative.remove(index);
            self.stats.negative_size.set(self.negative.len() as u64);
        }
        self.stats.misses.bump();
        Lookup::Miss
    }

    /// Cache a client for `ttl` from `now`, replacing any entry for it (positive or
    /// negative) and making it the most recently used. At capacity the least recently used
    /// client is evicted (counted). Allocates only the key of a new entry, and not even that
    /// when it overwrites an evicted one.
    pub fn insert(&mut self, client_id: &str, value: V, now: Instant) {
        let hash = self.hasher.hash_one(client_id);
        if let Some(index) = self.negative.find(hash, client_id) {
            self.negative.remove(index);
            self.stats.negative_size.set(self.negative.len() as u64);
        }
        let expires_at = now + self.ttl;
        match self.positive.find(hash, client_id) {
            Some(index) => self.positive.replace(index, value, expires_at),
            None => {
                if self.positive.insert_new(hash, client_id, value, expires_at) {
                    self.stats.evictions.bump();
                }
            }
        }
        self.stats.size.set(self.positive.len() as u64);
        self.debug_check();
    }

    /// Remember for `negative_ttl` that `client_id` does not exist. This is the database's
    /// latest word, so a positive entry for the id is dropped (not counted as an eviction).
    /// Bounded by `negative_capacity` with its own LRU (counted in `negative_evictions`):
    /// it never evicts a positive entry.
    pub fn insert_absent(&mut self, client_id: &str, now: Instant) {
        let hash = self.hasher.hash_one(client_id);
        if let Some(index) = self.positive.find(hash, client_id) {
            self.positive.remove(index);
            self.stats.size.set(self.positive.len() as u64);
        }
        let expires_at = now + self.negative_ttl;
        match self.negative.find(hash, client_id) {
            Some(index) => self.negative.replace(index, (), expires_at),
            None => {
                if self.negative.insert_new(hash, client_id, (), expires_at) {
                    self.stats.negative_evictions.bump();
                }
            }
        }
        self.stats.negative_size.set(self.negative.len() as u64);
        self.debug_check();
    }

    /// Forget `client_id`, positive or negative (an `edgeauth_invalidate` notification).
    /// Returns whether anything was cached for it.
    pub fn invalidate(&mut self, client_id: &str) -> bool {
        let hash = self.hasher.hash_one(client_id);
        let mut found = false;
        if let Some(index) = self.positive.find(hash, client_id) {
            self.positive.remove(index);
            self.stats.size.set(self.positive.len() as u64);
            found = true;
        }
        if let Some(index) = self.negative.find(hash, client_id) {
            self.negative.remove(index);
            self.stats.negative_size.set(self.negative.len() as u64);
            found = true;
        }
        self.debug_check();
        found
    }

    /// Forget everything (`*` on `edgeauth_invalidate`, or a re-established LISTEN
    /// connection that may have missed notifications). Keeps the memory for reuse.
    pub fn clear(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.stats.size.set(0);
        self.stats.negative_size.set(0);
        self.debug_check();
    }

    /// Drop every entry, positive or negative, whose TTL has run out by `now`, and return
    /// how many. The shard runs this every `ttl / 2`, so that stale records do not sit in
    /// memory until they are next looked up. One pass over both slabs; only positive
    /// entries are counted in `expirations`.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let positive = self.positive.remove_expired(now);
        let negative = self.negative.remove_expired(now);
        self.stats.expirations.add(positive as u64);
        self.stats.size.set(self.positive.len() as u64);
        self.stats.negative_size.set(self.negative.len() as u64);
        self.debug_check();
        positive + negative
    }

    /// Clients cached (positive entries only; see `negative_len`).
    pub fn len(&self) -> usize {
        self.positive.len()
    }

    /// No client cached (negative entries are not counted).
    pub fn is_empty(&self) -> bool {
        self.positive.len() == 0
    }

    /// Negative entries cached.
    pub fn negative_len(&self) -> usize {
        self.negative.len()
    }

    /// The configuration in force (TTLs after clamping).
    pub fn config(&self) -> CacheConfig {
        CacheConfig {
            ttl: self.ttl,
            capacity: self.positive.capacity(),
            negative_ttl: self.negative_ttl,
            negative_capacity: self.negative.capacity(),
        }
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    /// The O(1) invariants, after every change (debug builds only); `check_invariants`
    /// walks the lists in tests.
    #[inline]
    fn debug_check(&self) {
        debug_assert!(self.positive.len() <= self.positive.capacity());
        debug_assert!(self.negative.len() <= self.negative.capacity());
        debug_assert_eq!(self.stats.size.get(), self.positive.len() as u64);
        debug_assert_eq!(self.stats.negative_size.get(), self.negative.len() as u64);
    }

    /// Every structural invariant of both LRUs (both list directions, table slots, hashes),
    /// plus the disjointness of positive and negative keys and the size statistics. O(n).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.positive.check_invariants(&self.hasher);
        self.negative.check_invariants(&self.hasher);
        for key in self.negative.keys_by_recency() {
            let hash = self.hasher.hash_one(key);
            assert!(
                self.positive.find(hash, key).is_none(),
                "{key:?} is both positive and negative"
            );
        }
        self.debug_check();
        assert_eq!(self.stats.size.get(), self.positive.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheSnapshot;

    const TTL: Duration = Duration::from_secs(600);
    const NEGATIVE_TTL: Duration = Duration::from_secs(5);

    fn cache(capacity: usize, negative_capacity: usize) -> ClientCache<u32> {
        ClientCache::new(
            CacheConfig {
                ttl: TTL,
                capacity,
                negative_ttl: NEGATIVE_TTL,
                negative_capacity,
            },
            Arc::new(CacheStats::default()),
        )
    }

    fn snap(c: &ClientCache<u32>) -> CacheSnapshot {
        c.stats().snapshot()
    }

    #[test]
    fn hits_misses_and_expirations_are_counted() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        assert_eq!(c.get("a", t0), Lookup::Miss);
        c.insert("a", 1, t0);
        assert_eq!(c.get("a", t0), Lookup::Hit(&1));
        assert_eq!(
            c.get("a", t0 + TTL - Duration::from_nanos(1)),
            Lookup::Hit(&1)
        );
        assert_eq!(c.get("b", t0), Lookup::Miss);
        let s = snap(&c);
        assert_eq!((s.hits, s.misses, s.expirations, s.size), (2, 2, 0, 1));
        assert_eq!(s.hit_rate(), 50.0);
        c.check_invariants();
    }

    #[test]
    fn an_entry_expires_exactly_at_its_ttl_and_is_removed() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        c.insert("a", 1, t0);
        assert_eq!(c.get("a", t0 + TTL), Lookup::Miss);
        assert_eq!(c.len(), 0);
        let s = snap(&c);
        assert_eq!((s.hits, s.misses, s.expirations, s.size), (0, 1, 1, 0));
        // Expired and removed: a second lookup is a plain miss, not a second expiration.
        assert_eq!(c.get("a", t0 + TTL), Lookup::Miss);
        assert_eq!(snap(&c).expirations, 1);
        // A re-insert starts a fresh TTL.
        c.insert("a", 2, t0 + TTL);
        assert_eq!(c.get("a", t0 + TTL + TTL / 2), Lookup::Hit(&2));
        c.check_invariants();
    }

    #[test]
    fn insert_replaces_the_value_and_refreshes_the_ttl() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        c.insert("a", 1, t0);
        c.insert("a", 2, t0 + TTL / 2);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("a", t0 + TTL), Lookup::Hit(&2));
        assert_eq!(snap(&c).evictions, 0);
        c.check_invariants();
    }

    #[test]
    fn lru_evicts_exactly_the_least_recently_used() {
        let t0 = Instant::now();
        let mut c = cache(3, 3);
        c.insert("a", 1, t0);
        c.insert("b", 2, t0);
        c.insert("c", 3, t0);
        // "a" is the oldest insert, but a lookup makes it the most recent: "b" goes.
        assert_eq!(c.get("a", t0), Lookup::Hit(&1));
        c.insert("d", 4, t0);
        assert_eq!(c.positive.keys_by_recency(), ["d", "a", "c"]);
        assert_eq!(c.get("b", t0), Lookup::Miss);
        // A replace refreshes recency too: after it the order is c, d, a, so "a" goes.
        c.insert("c", 30, t0);
        c.insert("e", 5, t0);
        assert_eq!(c.positive.keys_by_recency(), ["e", "c", "d"]);
        let s = snap(&c);
        assert_eq!((s.evictions, s.size), (2, 3));
        assert_eq!(c.get("c", t0), Lookup::Hit(&30));
        c.check_invariants();
    }

    #[test]
    fn capacity_is_never_exceeded() {
        let t0 = Instant::now();
        let mut c = cache(7, 3);
        for i in 0..100u32 {
            c.insert(&format!("client-{i}"), i, t0);
            assert!(c.len() <= 7);
            c.insert_absent(&format!("ghost-{i}"), t0);
            assert!(c.negative_len() <= 3);
            c.check_invariants();
        }
        assert_eq!(c.len(), 7);
        assert_eq!(snap(&c).evictions, 93);
        assert_eq!(snap(&c).negative_evictions, 97);
    }

    /// 100,000 distinct clients cycling through a 5,000-entry cache: the cache stays full,
    /// every insert past the first 5,000 evicts one, and no allocation grows.
    #[test]
    fn a_hundred_thousand_clients_through_five_thousand_slots() {
        const CAPACITY: usize = 5_000;
        const CLIENTS: usize = 100_000;
        let t0 = Instant::now();
        let mut c = cache(CAPACITY, 1_000);
        let table_bytes = c.positive.table_bytes();
        let slab_capacity = c.positive.slab_capacity();
        assert_eq!(slab_capacity, CAPACITY);
        let mut id = String::new();
        for i in 0..CLIENTS {
            id.clear();
            id.push_str("client-");
            id.push_str(itoa::Buffer::new().format(i));
            assert_eq!(c.get(&id, t0), Lookup::Miss);
            c.insert(&id, i as u32, t0);
            assert_eq!(c.len(), CAPACITY.min(i + 1));
            if i % 10_000 == 0 {
                c.check_invariants();
            }
        }
        c.check_invariants();
        assert_eq!(c.len(), CAPACITY);
        assert_eq!(c.positive.table_bytes(), table_bytes, "table grew");
        assert_eq!(c.positive.slab_capacity(), slab_capacity, "slab grew");
        let s = snap(&c);
        assert_eq!(s.evictions, (CLIENTS - CAPACITY) as u64);
        assert_eq!(s.misses, CLIENTS as u64);
        assert_eq!(s.size, CAPACITY as u64);
        // The survivors are exactly the last 5,000.
        assert_eq!(c.get("client-94999", t0), Lookup::Miss);
        assert_eq!(c.get("client-95000", t0), Lookup::Hit(&95_000));
        assert_eq!(c.get("client-99999", t0), Lookup::Hit(&99_999));
    }

    /// Removals (invalidate, expiry) leave tombstones in the hash table; churning through
    /// them must rehash in place, never grow the table.
    #[test]
    fn churn_by_removal_never_grows_the_table() {
        let t0 = Instant::now();
        let mut c = cache(5_000, 10);
        let table_bytes = c.positive.table_bytes();
        for i in 0..5_000u32 {
            c.insert(&format!("base-{i}"), i, t0);
        }
        for i in 0..100_000u32 {
            let id = format!("churn-{i}");
            c.invalidate(&format!("base-{}", i % 5_000));
            c.insert(&id, i, t0);
            if i % 2 == 0 {
                c.invalidate(&id);
            }
            c.insert(&format!("base-{}", i % 5_000), i, t0);
        }
        c.check_invariants();
        assert!(c.len() <= 5_000);
        assert_eq!(c.positive.table_bytes(), table_bytes, "table grew");
    }

    #[test]
    fn negative_entries_answer_absent_and_expire() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        c.insert_absent("ghost", t0);
        assert_eq!(c.get("ghost", t0), Lookup::Absent);
        assert_eq!(c.len(), 0);
        assert_eq!(c.negative_len(), 1);
        assert_eq!(c.get("ghost", t0 + NEGATIVE_TTL), Lookup::Miss);
        assert_eq!(c.negative_len(), 0);
        let s = snap(&c);
        assert_eq!(
            (s.hits, s.negative_hits, s.misses, s.expirations),
            (0, 1, 1, 0)
        );
        assert_eq!(s.negative_size, 0);
        c.check_invariants();
    }

    #[test]
    fn a_flood_of_unknown_ids_never_evicts_a_client() {
        let t0 = Instant::now();
        let mut c = cache(2, 100);
        c.insert("real-1", 1, t0);
        c.insert("real-2", 2, t0);
        for i in 0..10_000 {
            let ghost = format!("ghost-{i}");
            assert_eq!(c.get(&ghost, t0), Lookup::Miss);
            c.insert_absent(&ghost, t0);
        }
        assert_eq!(c.negative_len(), 100);
        assert_eq!(c.get("real-1", t0), Lookup::Hit(&1));
        assert_eq!(c.get("real-2", t0), Lookup::Hit(&2));
        let s = snap(&c);
        assert_eq!((s.evictions, s.negative_evictions), (0, 9_900));
        assert_eq!(c.get("ghost-9999", t0), Lookup::Absent);
        assert_eq!(c.get("ghost-0", t0), Lookup::Miss);
        c.check_invariants();
    }

    #[test]
    fn positive_and_negative_entries_replace_each_other() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        c.insert_absent("x", t0);
        c.insert("x", 1, t0);
        assert_eq!((c.len(), c.negative_len()), (1, 0));
        assert_eq!(c.get("x", t0), Lookup::Hit(&1));
        c.insert_absent("x", t0);
        assert_eq!((c.len(), c.negative_len()), (0, 1));
        assert_eq!(c.get("x", t0), Lookup::Absent);
        assert_eq!(snap(&c).evictions, 0);
        c.check_invariants();
    }

    #[test]
    fn invalidate_and_clear() {
        let t0 = Instant::now();
        let mut c = cache(10, 10);
        c.insert("a", 1, t0);
        c.insert("b", 2, t0);
        c.insert_absent("ghost", t0);
        assert!(c.invalidate("a"));
        assert!(!c.invalidate("a"));
        assert!(c.invalidate("ghost"));
        assert_eq!(c.get("a", t0), Lookup::Miss);
        assert_eq!(c.get("ghost", t0), Lookup::Miss);
        assert_eq!(c.get("b", t0), Lookup::Hit(&2));
        c.check_invariants();
        c.insert_absent("ghost", t0);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.negative_len(), 0);
        assert_eq!(snap(&c).size, 0);
        assert_eq!(c.get("b", t0), Lookup::Miss);
        c.check_invariants();
        // Usable after a clear.
        c.insert("b", 3, t0);
        assert_eq!(c.get("b", t0), Lookup::Hit(&3));
        c.check_invariants();
    }

    #[test]
    fn purge_expired_removes_exactly_the_expired() {
        let t0 = Instant::now();
        let mut c = cache(100, 100);
        for i in 0..50u32 {
            // Even clients are inserted at t0, odd ones a second later.
            let at = t0 + Duration::from_secs(u64::from(i % 2));
            c.insert(&format!("c{i}"), i, at);
        }
        c.insert_absent("ghost-old", t0);
        c.insert_absent("ghost-new", t0 + TTL);
        assert_eq!(c.purge_expired(t0 + TTL - Duration::from_nanos(1)), 1);
        assert_eq!(c.negative_len(), 1);
        assert_eq!(c.purge_expired(t0 + TTL), 25);
        c.check_invariants();
        assert_eq!(c.len(), 25);
        for i in 0..50u32 {
            let expect = if i % 2 == 1 {
                Lookup::Hit(&i)
            } else {
                Lookup::Miss
            };
            assert_eq!(c.get(&format!("c{i}"), t0 + TTL), expect);
        }
        assert_eq!(c.get("ghost-new", t0 + TTL), Lookup::Absent);
        assert_eq!(snap(&c).expirations, 25);
        assert_eq!(c.purge_expired(t0 + TTL), 0);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let t0 = Instant::now();
        let mut c = cache(0, 0);
        c.insert("a", 1, t0);
        c.insert_absent("ghost", t0);
        assert_eq!(c.get("a", t0), Lookup::Miss);
        assert_eq!(c.get("ghost", t0), Lookup::Miss);
        assert!(c.is_empty());
        assert_eq!(snap(&c).evictions, 0);
        c.check_invariants();
    }

    #[test]
    fn an_absurd_ttl_is_clamped_instead_of_overflowing() {
        let t0 = Instant::now();
        let mut c: ClientCache<u32> = ClientCache::new(
            CacheConfig {
                ttl: Duration::MAX,
                capacity: 1,
                negative_ttl: Duration::MAX,
                negative_capacity: 1,
            },
            Arc::new(CacheStats::default()),
        );
        c.insert("a", 1, t0);
        c.insert_absent("b", t0);
        assert_eq!(c.get("a", t0 + TTL_MAX / 2), Lookup::Hit(&1));
        assert_eq!(c.config().ttl, TTL_MAX);
    }

    /// A deliberately naive model: two Vecs, most recent first, scanned linearly.
    struct Model {
        positive: Vec<(String, u32, Instant)>,
        negative: Vec<(String, Instant)>,
        config: CacheConfig,
        stats: CacheSnapshot,
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Answer {
        Hit(u32),
        Absent,
        Miss,
    }

    impl Model {
        fn get(&mut self, key: &str, now: Instant) -> Answer {
            if let Some(i) = self.positive.iter().position(|e| e.0 == key) {
                let e = self.positive.remove(i);
                if now < e.2 {
                    let v = e.1;
                    self.positive.insert(0, e);
                    self.stats.hits += 1;
                    return Answer::Hit(v);
                }
                self.stats.expirations += 1;
            } else if let Some(i) = self.negative.iter().position(|e| e.0 == key) {
                let e = self.negative.remove(i);
                if now < e.1 {
                    self.negative.insert(0, e);
                    self.stats.negative_hits += 1;
                    return Answer::Absent;
                }
            }
            self.stats.misses += 1;
            Answer::Miss
        }

        fn insert(&mut self, key: &str, value: u32, now: Instant) {
            self.negative.retain(|e| e.0 != key);
            let existed = self.positive.len();
            self.positive.retain(|e| e.0 != key);
            let replaced = existed != self.positive.len();
            if self.config.capacity == 0 {
                return;
            }
            if !replaced && self.positive.len() == self.config.capacity {
                self.positive.pop();
                self.stats.evictions += 1;
            }
            self.positive
                .insert(0, (key.to_owned(), value, now + self.config.ttl));
        }

        fn insert_absent(&mut self, key: &str, now: Instant) {
            self.positive.retain(|e| e.0 != key);
            let existed = self.negative.len();
            self.negative.retain(|e| e.0 != key);
            let replaced = existed != self.negative.len();
            if self.config.negative_capacity == 0 {
                return;
            }
            if !replaced && self.negative.len() == self.config.negative_capacity {
                self.negative.pop();
                self.stats.negative_evictions += 1;
            }
            self.negative
                .insert(0, (key.to_owned(), now + self.config.negative_ttl));
        }

        fn invalidate(&mut self, key: &str) -> bool {
            let before = self.positive.len() + self.negative.len();
            self.positive.retain(|e| e.0 != key);
            self.negative.retain(|e| e.0 != key);
            before != self.positive.len() + self.negative.len()
        }

        fn purge_expired(&mut self, now: Instant) -> usize {
            let before = (self.positive.len(), self.negative.len());
            self.positive.retain(|e| now < e.2);
            self.negative.retain(|e| now < e.1);
            let positive = before.0 - self.positive.len();
            self.stats.expirations += positive as u64;
            positive + before.1 - self.negative.len()
        }
    }

    /// SplitMix64: a seeded, dependency-free generator, so a failure replays exactly.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        }
    }

    fn compare(c: &ClientCache<u32>, m: &Model, step: usize) {
        c.check_invariants();
        let keys: Vec<&str> = m.positive.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            c.positive.keys_by_recency(),
            keys,
            "step {step}: positive order"
        );
        let keys: Vec<&str> = m.negative.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            c.negative.keys_by_recency(),
            keys,
            "step {step}: negative order"
        );
        let mut expected = m.stats;
        expected.size = m.positive.len() as u64;
        expected.negative_size = m.negative.len() as u64;
        assert_eq!(c.stats().snapshot(), expected, "step {step}: stats");
    }

    #[test]
    fn random_operations_agree_with_a_reference_model() {
        for (seed, capacity, negative_capacity) in [(1, 5, 3), (2, 1, 1), (3, 8, 0), (4, 0, 4)] {
            let config = CacheConfig {
                ttl: Duration::from_secs(10),
                capacity,
                negative_ttl: Duration::from_secs(3),
                negative_capacity,
            };
            let mut c = ClientCache::new(config, Arc::new(CacheStats::default()));
            let mut m = Model {
                positive: Vec::new(),
                negative: Vec::new(),
                config,
                stats: CacheSnapshot::default(),
            };
            let mut rng = Rng(seed);
            let mut now = Instant::now();
            for step in 0..20_000 {
                let key = format!("k{}", rng.below(12));
                match rng.below(100) {
                    0..40 => {
                        let got = match c.get(&key, now) {
                            Lookup::Hit(v) => Answer::Hit(*v),
                            Lookup::Absent => Answer::Absent,
                            Lookup::Miss => Answer::Miss,
                        };
                        assert_eq!(got, m.get(&key, now), "step {step}: get {key}");
                    }
                    40..65 => {
                        let value = rng.below(1_000) as u32;
                        c.insert(&key, value, now);
                        m.insert(&key, value, now);
                    }
                    65..80 => {
                        c.insert_absent(&key, now);
                        m.insert_absent(&key, now);
                    }
                    80..88 => {
                        let got = c.invalidate(&key);
                        assert_eq!(got, m.invalidate(&key), "step {step}: invalidate");
                    }
                    88..92 => {
                        let got = c.purge_expired(now);
                        assert_eq!(got, m.purge_expired(now), "step {step}: purge");
                    }
                    92..93 => {
                        c.clear();
                        m.positive.clear();
                        m.negative.clear();
                    }
                    _ => now += Duration::from_millis(rng.below(2_000)),
                }
                compare(&c, &m, step);
            }
        }
    }
}
