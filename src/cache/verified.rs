//! `VerifiedCache`: one shard's memory of the tokens whose signature it has checked, so that
//! a resource server introspecting the same token again and again pays for the signature
//! check and the claims' parse once. Single-threaded and owned by its shard (`&mut self`, no
//! lock), like `ClientCache`, over the same bounded LRU (`lru::Lru`).
//!
//! What a hit proves, and what it leaves to the caller:
//! * The key is the whole token, and a hit compares every byte of it with the cached one
//!   (`Lru::find` compares the full hash, then the key). Keying by the signature alone would
//!   not do: a known signature could be paired with another payload and be taken for
//!   verified. The hash (foldhash, seeded at random per cache, as `ClientCache`'s) only picks
//!   the bucket: a collision costs a byte comparison, never a wrong answer, and the random
//!   seed keeps anyone from choosing tokens that pile into one bucket.
//! * Why not SHA-256 of the token as the key, which would spare storing the token: for a
//!   500-byte token it costs about ten times a whole hit (`benches/introspect_cache.rs`
//!   measures both, with SHA extensions), and every introspection, hit or miss, would pay
//!   it first. Storing the token costs its length per entry, about twice the answer stored
//!   beside it; the comparison on a hit is one `memcmp`.
//! * A hit skips the signature, the parse and (the caller keeps its answer) the
//!   serialization, nothing else. `exp` is checked here against the caller's clock on
//!   every lookup (an expired entry is dropped and the lookup misses); revocations and the
//!   token's client are the caller's to check on every hit, as for a token verified now.
//! * Only the caller decides what enters: introspection caches tokens that verified and
//!   were active, so garbage and inactive tokens cannot fill the cache.
//! * Key reloads: verification depends on the key set, so [`VerifiedCache::forget_keys`]
//!   empties the cache and starts a new generation. A caller that verified under an older
//!   generation (a reload landed while it awaited the database) finds its insert refused.
//!
//! A token longer than `token_bytes_max` is neither looked up nor cached (counted as a
//! miss): the bound keeps an entry's size, and so the cache's memory, bounded.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::DefaultHashBuilder;

use super::lru::Lru;
use super::revocation::Jti;
use crate::counter::Counter;
use crate::limits;

/// What introspection keeps of a token it verified and found active: what a hit needs to
/// check it again (its expiry, jti and client) and to answer (`answer`), without the token's
/// signature or JSON.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `exp`, in Unix seconds.
    pub exp_s: u64,
    /// The jti, for the revocation cache (and, through its timestamp, `revoke-tokens`).
    pub jti: Jti,
    /// `client_id`, for the client cache (disabled, deleted, tokens revoked).
    pub client_id: Box<str>,
    /// The answer while the token is active (RFC 7662 JSON), serialized once.
    pub answer: Box<[u8]>,
}

/// Counters of one shard's verified-token cache; only the owning cache writes them
/// (`crate::counter`).
#[derive(Default, Debug)]
pub struct VerifiedStats {
    /// Lookups that found the token: no signature check, no parse.
    pub hits: Counter,
    /// Lookups that did not (not cached, expired, from before a key reload, or too long to
    /// cache): each one costs a signature check.
    pub misses: Counter,
    /// Tokens pushed out by the capacity bound (least recently introspected first).
    pub evictions: Counter,
    /// Tokens cached now.
    pub size: Counter,
}

/// One cached token: its expiry (checked on every hit) and the caller's value.
struct Slot<V> {
    exp_s: u64,
    value: V,
}

/// One shard's verified-token cache. See the module documentation.
pub struct VerifiedCache<V> {
    /// Seeded randomly per cache (foldhash's `RandomState`).
    hasher: DefaultHashBuilder,
    lru: Lru<Slot<V>>,
    /// Bumped by every [`VerifiedCache::forget_keys`]; an insert must name the current one.
    generation: u64,
    token_bytes_max: usize,
    /// Written only here; read by `/metrics` on any shard.
    stats: Arc<VerifiedStats>,
}

impl<V> VerifiedCache<V> {
    /// An empty cache of at most `capacity` tokens of at most `token_bytes_max` bytes, its
    /// slab and table allocated now (`Lru::new`).
    pub fn new(capacity: usize, token_bytes_max: usize, stats: Arc<VerifiedStats>) -> Self {
        stats.size.set(0);
        VerifiedCache {
            hasher: DefaultHashBuilder::default(),
            lru: Lru::new(capacity),
            generation: 0,
            token_bytes_max,
            stats,
        }
    }

    /// The value cached for exactly `token`, unexpired at `now_s` (Unix seconds), made the
    /// most recently used. An expired entry is removed. No allocation.
    #[inline]
    pub fn get(&mut self, token: &str, now_s: u64) -> Option<&V> {
        if token.len() > self.token_bytes_max {
            self.stats.misses.bump();
            return None;
        }
        let hash = self.hasher.hash_one(token);
        self.get_hashed(hash, token, now_s)
    }

    fn get_hashed(&mut self, hash: u64, token: &str, now_s: u64) -> Option<&V> {
        let Some(index) = self.lru.find(hash, token) else {
            self.stats.misses.bump();
            return None;
        };
        if self.lru.entry(index).value.exp_s <= now_s {
            self.lru.remove(index);
            self.stats.size.set(self.lru.len() as u64);
            self.stats.misses.bump();
            return None;
        }
        self.lru.touch(index);
        self.stats.hits.bump();
        Some(&self.lru.entry(index).value.value)
    }

    /// The key generation to pass to [`VerifiedCache::insert`]: read it when the token is
    /// verified, with the keys that verify it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Cache `value` for `token`, which verified under key generation `generation` and
    /// expires at `exp_s`. Refused (false) when the keys have been reloaded since, when the
    /// token is too long or already expired at `now_s`, or when the capacity is 0. At
    /// capacity the least recently used token is evicted (counted).
    pub fn insert(
        &mut self,
        token: &str,
        generation: u64,
        exp_s: u64,
        value: V,
        now_s: u64,
    ) -> bool {
        if generation != self.generation || token.len() > self.token_bytes_max || exp_s <= now_s {
            return false;
        }
        let hash = self.hasher.hash_one(token);
        self.insert_hashed(hash, token, exp_s, value, now_s)
    }

    fn insert_hashed(&mut self, hash: u64, token: &str, exp_s: u64, value: V, now_s: u64) -> bool {
        if self.lru.capacity() == 0 {
            return false;
        }
        // The LRU's own expiry instant serves `purge_expired` only; lookups go by `exp_s`.
        // Tokens live at most TOKEN_TTL_MAX, so this never overflows; purging a little
        // early would only cost a miss.
        let ttl_s = (exp_s - now_s).min(limits::TOKEN_TTL_MAX.as_secs());
        let expires_at = Instant::now() + Duration::from_secs(ttl_s);
        let slot = Slot { exp_s, value };
        // Two connections may verify the same token at once: the second replaces.
        match self.lru.find(hash, token) {
            Some(index) => self.lru.replace(index, slot, expires_at),
            None => {
                if self.lru.insert_new(hash, token, slot, expires_at) {
                    self.stats.evictions.bump();
                }
            }
        }
        self.stats.size.set(self.lru.len() as u64);
        debug_assert!(self.lru.len() <= self.lru.capacity());
        true
    }

    /// Forget every token and start a new key generation: the signing keys were reloaded,
    /// and a token verified by a key no longer configured must not stay active. Keeps the
    /// memory for reuse.
    pub fn forget_keys(&mut self) {
        self.lru.clear();
        self.generation += 1;
        self.stats.size.set(0);
    }

    /// Drop the tokens whose `exp` has passed by `now`, so that they do not hold memory
    /// until LRU pressure pushes them out; returns how many. One pass over the slab.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let purged = self.lru.remove_expired(now);
        self.stats.size.set(self.lru.len() as u64);
        purged
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    pub fn stats(&self) -> &Arc<VerifiedStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_S: u64 = 1_764_000_000;
    const EXP_S: u64 = NOW_S + 3600;

    fn cache(capacity: usize) -> VerifiedCache<u32> {
        VerifiedCache::new(capacity, 64, Arc::new(VerifiedStats::default()))
    }

    /// (hits, misses, evictions, size)
    fn counts(c: &VerifiedCache<u32>) -> (u64, u64, u64, u64) {
        let s = c.stats();
        (
            s.hits.get(),
            s.misses.get(),
            s.evictions.get(),
            s.size.get(),
        )
    }

    #[test]
    fn a_cached_token_hits_and_others_miss() {
        let mut c = cache(4);
        assert_eq!(c.get("a.b.c", NOW_S), None);
        assert!(c.insert("a.b.c", c.generation(), EXP_S, 1, NOW_S));
        assert_eq!(c.get("a.b.c", NOW_S), Some(&1));
        assert_eq!(c.get("a.b.c", EXP_S - 1), Some(&1));
        assert_eq!(c.get("a.b.d", NOW_S), None);
        assert_eq!(counts(&c), (2, 2, 0, 1));
        c.lru.check_invariants(&c.hasher);
    }

    /// Two tokens whose hashes are equal are still two tokens: the bytes decide. Here the
    /// second carries the first's signature under another payload.
    #[test]
    fn the_same_hash_with_other_bytes_is_a_miss() {
        let mut c = cache(4);
        let hash = 42;
        assert!(c.insert_hashed(hash, "hdr.payload.sig", EXP_S, 1, NOW_S));
        assert_eq!(c.get_hashed(hash, "hdr.payload.sig", NOW_S), Some(&1));
        assert_eq!(c.get_hashed(hash, "hdr.pAyload.sig", NOW_S), None);
        assert_eq!(c.get_hashed(hash, "hdr.payload.si", NOW_S), None);
        assert_eq!(c.get_hashed(hash, "hdr.payload.sig.", NOW_S), None);
        // Both may live side by side under one hash.
        assert!(c.insert_hashed(hash, "hdr.pAyload.sig", EXP_S, 2, NOW_S));
        assert_eq!(c.get_hashed(hash, "hdr.payload.sig", NOW_S), Some(&1));
        assert_eq!(c.get_hashed(hash, "hdr.pAyload.sig", NOW_S), Some(&2));
        assert_eq!(counts(&c), (3, 3, 0, 2));
    }

    #[test]
    fn an_entry_expires_at_its_exp_and_is_removed() {
        let mut c = cache(4);
        assert!(c.insert("t", c.generation(), EXP_S, 1, NOW_S));
        assert_eq!(c.get("t", EXP_S - 1), Some(&1));
        assert_eq!(c.get("t", EXP_S), None);
        assert!(c.is_empty());
        // Removed: later lookups miss without it, even at an earlier clock.
        assert_eq!(c.get("t", NOW_S), None);
        assert_eq!(counts(&c), (1, 2, 0, 0));
        // An expired token is not cached at all.
        assert!(!c.insert("t", c.generation(), NOW_S, 1, NOW_S));
        assert!(c.is_empty());
    }

    #[test]
    fn the_capacity_bounds_it_least_recently_used_out_first() {
        let mut c = cache(3);
        for (i, t) in ["t0", "t1", "t2"].into_iter().enumerate() {
            assert!(c.insert(t, 0, EXP_S, i as u32, NOW_S));
        }
        assert_eq!(c.get("t0", NOW_S), Some(&0)); // t1 is now the least recent
        for i in 3..100u32 {
            assert!(c.insert(&format!("t{i}"), 0, EXP_S, i, NOW_S));
            assert!(c.len() <= 3);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.lru.keys_by_recency(), ["t99", "t98", "t97"]);
        assert_eq!(counts(&c).2, 97);
        assert_eq!(c.stats().size.get(), 3);
        c.lru.check_invariants(&c.hasher);
    }

    #[test]
    fn inserting_a_token_twice_keeps_one_entry() {
        let mut c = cache(3);
        assert!(c.insert("t", 0, EXP_S, 1, NOW_S));
        assert!(c.insert("t", 0, EXP_S, 2, NOW_S));
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("t", NOW_S), Some(&2));
        c.lru.check_invariants(&c.hasher);
    }

    #[test]
    fn a_key_reload_empties_it_and_refuses_what_older_keys_verified() {
        let mut c = cache(3);
        let before = c.generation();
        assert!(c.insert("t", before, EXP_S, 1, NOW_S));
        c.forget_keys();
        assert_eq!(c.get("t", NOW_S), None);
        assert_eq!(c.stats().size.get(), 0);
        // Verified before the reload, inserted after it: refused.
        assert!(!c.insert("t", before, EXP_S, 1, NOW_S));
        assert!(c.is_empty());
        assert!(c.insert("t", c.generation(), EXP_S, 1, NOW_S));
        assert_eq!(c.get("t", NOW_S), Some(&1));
    }

    #[test]
    fn long_tokens_and_a_zero_capacity_cache_nothing() {
        let mut c = cache(3);
        let long = "x".repeat(65);
        assert!(!c.insert(&long, 0, EXP_S, 1, NOW_S));
        assert_eq!(c.get(&long, NOW_S), None);
        assert!(c.insert(&long[..64], 0, EXP_S, 1, NOW_S));
        let mut off = cache(0);
        assert!(!off.insert("t", 0, EXP_S, 1, NOW_S));
        assert_eq!(off.get("t", NOW_S), None);
        assert_eq!(counts(&off), (0, 1, 0, 0));
    }

    #[test]
    fn purge_drops_only_expired_tokens() {
        let mut c = cache(3);
        assert!(c.insert("soon", 0, NOW_S + 10, 1, NOW_S));
        assert!(c.insert("later", 0, NOW_S + 3600, 2, NOW_S));
        let now = Instant::now();
        assert_eq!(c.purge_expired(now), 0);
        assert_eq!(c.purge_expired(now + Duration::from_secs(60)), 1);
        assert_eq!(c.get("later", NOW_S), Some(&2));
        assert_eq!(c.stats().size.get(), 1);
    }
}
