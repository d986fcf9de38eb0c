//! The per-shard revocation cache: every revoked jti this shard knows of, kept until its
//! token's `exp`, so that introspection decides "revoked?" with one hash lookup and no
//! database round trip.
//!
//! It is filled from `revoked_tokens` when the shard's database session connects (at
//! start-up and after every reconnect, since notifications sent while it was down are
//! lost) and kept current by `NOTIFY edgeauth_revoke` (see `shard::database_events`).
//!
//! # Bound
//!
//! At most `revocation_cache_capacity` entries. Forgetting a revocation to make room would
//! bring a revoked token back to life, so a full cache does not evict: after purging
//! expired entries it becomes *saturated*, and then it can only say [`Verdict::Unknown`]
//! for a jti it does not hold: the caller asks `revoked_tokens` instead (one indexed look-up),
//! so that no client, however many tokens it revokes, can make other clients' tokens
//! inactive. The shard retries a reload that fits on every purge tick.

use hashbrown::HashMap;

use crate::limits;
use crate::log;

/// A token id: the 16 bytes of its UUID.
pub type Jti = [u8; 16];

/// Whether a token is revoked, as far as the cache knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Revoked,
    NotRevoked,
    /// The cache is full and does not hold the jti: ask the table.
    Unknown,
}

pub struct RevocationCache {
    /// jti → the token's `exp`, in Unix seconds; an entry is useless after that.
    revoked: HashMap<Jti, u64>,
    capacity: usize,
    /// A revocation was refused for lack of room: a jti not held is `Unknown` until a
    /// reload that fits clears this.
    saturated: bool,
    /// While a reload's query is in flight: the revocations inserted meanwhile, which the
    /// query's snapshot may predate, re-applied after it so that the reload cannot drop
    /// them. Bounded by what arrives during one query.
    during_reload: Option<Vec<(Jti, u64)>>,
}

impl RevocationCache {
    pub fn new(capacity: usize) -> RevocationCache {
        assert!(capacity > 0);
        RevocationCache {
            revoked: HashMap::new(),
            capacity,
            saturated: false,
            during_reload: None,
        }
    }

    /// What the cache knows of this jti at `now_s`.
    pub fn check(&self, jti: &Jti, now_s: u64) -> Verdict {
        if self.revoked.get(jti).is_some_and(|&exp| exp > now_s) {
            Verdict::Revoked
        } else if self.saturated {
            Verdict::Unknown
        } else {
            Verdict::NotRevoked
        }
    }

    /// Record one revocation. One whose token has already expired is not kept: the token
    /// is inactive anyway.
    pub fn insert(&mut self, jti: Jti, exp_s: u64, now_s: u64) {
        if exp_s <= now_s {
            return;
        }
        // No token of ours lives longer than TOKEN_TTL_MAX: a later `exp` (from a forged
        // or corrupt notification) must not pin an entry for ever.
        let exp_s = exp_s.min(now_s.saturating_add(limits::TOKEN_TTL_MAX.as_secs()));
        if self.revoked.len() >= self.capacity && !self.revoked.contains_key(&jti) {
            self.purge_expired(now_s);
            if self.revoked.len() >= self.capacity {
                if !self.saturated {
                    log::warn(
                        "revocation cache is full: introspection asks revoked_tokens for the jti it does not hold",
                        &[("capacity", &self.capacity)],
                    );
                }
                self.saturated = true;
                return;
            }
        }
        self.revoked.insert(jti, exp_s);
        if let Some(during) = &mut self.during_reload {
            during.push((jti, exp_s));
        }
        debug_assert!(self.revoked.len() <= self.capacity);
    }

    /// Call before sending the reload's query: inserts from now on survive `reload`.
    pub fn begin_reload(&mut self) {
        self.during_reload = Some(Vec::new());
    }

    /// Replace the contents with what the database holds, plus whatever was inserted since
    /// `begin_reload`. `rows` comes from a query limited to `capacity + 1` rows, so one more
    /// than fits means the cache is saturated.
    pub fn reload(&mut self, rows: impl IntoIterator<Item = (Jti, u64)>, now_s: u64) {
        let during = self.during_reload.take().unwrap_or_default();
        self.revoked.clear();
        self.saturated = false;
        for (jti, exp_s) in rows.into_iter().chain(during) {
            self.insert(jti, exp_s, now_s);
        }
    }

    /// The reload's query failed: keep what we have, stop recording.
    pub fn abandon_reload(&mut self) {
        self.during_reload = None;
    }

    /// Drop entries whose tokens have expired; returns how many went.
    pub fn purge_expired(&mut self, now_s: u64) -> usize {
        let before = self.revoked.len();
        self.revoked.retain(|_, &mut exp| exp > now_s);
        before - self.revoked.len()
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    pub fn is_saturated(&self) -> bool {
        self.saturated
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn revoked_until_exp() {
        let mut cache = RevocationCache::new(4);
        cache.insert([1; 16], NOW + 10, NOW);
        assert_eq!(cache.check(&[1; 16], NOW), Verdict::Revoked);
        assert_eq!(cache.check(&[2; 16], NOW), Verdict::NotRevoked);
        assert_eq!(cache.check(&[1; 16], NOW + 10), Verdict::NotRevoked);
        assert_eq!(cache.purge_expired(NOW + 10), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn an_exp_beyond_any_token_lifetime_is_clamped() {
        let mut cache = RevocationCache::new(4);
        cache.insert([9; 16], u64::MAX, NOW);
        let ttl_max = limits::TOKEN_TTL_MAX.as_secs();
        assert_eq!(cache.check(&[9; 16], NOW + ttl_max - 1), Verdict::Revoked);
        assert_eq!(
            cache.purge_expired(NOW + ttl_max + 1),
            1,
            "gone once no token can live"
        );
    }

    #[test]
    fn expired_revocations_are_not_kept() {
        let mut cache = RevocationCache::new(4);
        cache.insert([1; 16], NOW, NOW);
        assert!(cache.is_empty());
    }

    #[test]
    fn full_cache_purges_then_answers_unknown_until_a_reload_fits() {
        let mut cache = RevocationCache::new(2);
        cache.insert([1; 16], NOW + 1, NOW);
        cache.insert([2; 16], NOW + 100, NOW);
        // The first has expired by now: room is made without saturating.
        cache.insert([3; 16], NOW + 100, NOW + 5);
        assert!(!cache.is_saturated());
        assert_eq!(cache.len(), 2);
        // Re-inserting a known jti needs no room.
        cache.insert([3; 16], NOW + 100, NOW + 5);
        assert!(!cache.is_saturated());
        cache.insert([4; 16], NOW + 100, NOW + 5);
        assert!(cache.is_saturated());
        assert_eq!(
            cache.check(&[9; 16], NOW + 5),
            Verdict::Unknown,
            "ask the table"
        );
        assert_eq!(
            cache.check(&[3; 16], NOW + 5),
            Verdict::Revoked,
            "still known"
        );
        cache.reload([([4; 16], NOW + 100)], NOW + 5);
        assert!(!cache.is_saturated());
        assert_eq!(cache.check(&[4; 16], NOW + 5), Verdict::Revoked);
        assert_eq!(cache.check(&[2; 16], NOW + 5), Verdict::NotRevoked);
        cache.reload((0..3u8).map(|i| ([i; 16], NOW + 100)), NOW + 5);
        assert!(cache.is_saturated());
    }

    #[test]
    fn revocations_arriving_during_a_reload_survive_it() {
        let mut cache = RevocationCache::new(8);
        cache.insert([1; 16], NOW + 100, NOW);
        cache.begin_reload();
        cache.insert([2; 16], NOW + 100, NOW); // committed after the query's snapshot
        cache.reload([([1; 16], NOW + 100)], NOW);
        assert_eq!(cache.check(&[1; 16], NOW), Verdict::Revoked);
        assert_eq!(cache.check(&[2; 16], NOW), Verdict::Revoked);
        cache.begin_reload();
        cache.abandon_reload();
        cache.insert([3; 16], NOW + 100, NOW);
        cache.reload([], NOW);
        assert_eq!(
            cache.check(&[3; 16], NOW),
            Verdict::NotRevoked,
            "not recorded once abandoned"
        );
    }
}
