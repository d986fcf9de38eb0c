//! The ids one shard owns: each remembered until its credential expires, at most
//! `capacity` at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashMap;

/// A single-use id, reduced to 16 bytes of SHA-256 (see [`super::ReplayKey`]).
pub type Key = [u8; 16];

/// What remembering an id found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not seen before: now remembered until it expires.
    Fresh,
    /// Seen before and not yet expired: refuse the credential.
    Replayed,
    /// `capacity` ids are remembered and none has expired: the credential cannot be
    /// checked, so it is refused (fail closed) until some expire.
    Full,
}

/// Ids and their expiry (Unix seconds), with a min-heap of expiries so that forgetting the
/// expired costs only what has expired.
pub struct SeenSet {
    expires: HashMap<Key, u64>,
    by_expiry: BinaryHeap<Reverse<(u64, Key)>>,
    capacity: usize,
}

impl SeenSet {
    pub fn new(capacity: usize) -> SeenSet {
        SeenSet {
            expires: HashMap::new(),
            by_expiry: BinaryHeap::new(),
            capacity,
        }
    }

    /// Remember `key` until `expires_at` unless it is remembered already. An id whose
    /// credential has expired is forgotten first: the credential itself is refused by then.
    pub fn insert(&mut self, key: Key, expires_at: u64, now: u64) -> Outcome {
        self.forget_expired(now);
        if self.expires.contains_key(&key) {
            return Outcome::Replayed;
        }
        if self.expires.len() >= self.capacity {
            return Outcome::Full;
        }
        self.expires.insert(key, expires_at);
        self.by_expiry.push(Reverse((expires_at, key)));
        Outcome::Fresh
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.expires.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expires.is_empty()
    }

    /// Forget every id that expired before `now`.
    pub fn forget_expired(&mut self, now: u64) {
        while let Some(Reverse((expires_at, key))) = self.by_expiry.peek().copied() {
            if expires_at >= now {
                break;
            }
            self.by_expiry.pop();
            self.expires.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; 16]
    }

    #[test]
    fn an_id_is_fresh_once_until_it_expires() {
        let mut seen = SeenSet::new(10);
        assert_eq!(seen.insert(key(1), 100, 50), Outcome::Fresh);
        assert_eq!(seen.insert(key(1), 100, 60), Outcome::Replayed);
        assert_eq!(
            seen.insert(key(1), 200, 100),
            Outcome::Replayed,
            "valid through exp"
        );
        assert_eq!(seen.insert(key(2), 100, 60), Outcome::Fresh);
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen.insert(key(1), 300, 101),
            Outcome::Fresh,
            "expired: forgotten"
        );
        assert_eq!(seen.len(), 1, "key 2 went with it");
    }

    #[test]
    fn full_refuses_until_some_expire() {
        let mut seen = SeenSet::new(3);
        for n in 0..3 {
            assert_eq!(seen.insert(key(n), 100 + u64::from(n), 0), Outcome::Fresh);
        }
        assert_eq!(seen.insert(key(9), 500, 10), Outcome::Full);
        assert_eq!(
            seen.insert(key(0), 500, 10),
            Outcome::Replayed,
            "still known"
        );
        assert_eq!(seen.insert(key(9), 500, 102), Outcome::Fresh, "two expired");
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn expiries_out_of_order_are_forgotten_in_order() {
        let mut seen = SeenSet::new(10);
        seen.insert(key(1), 300, 0);
        seen.insert(key(2), 100, 0);
        seen.insert(key(3), 200, 0);
        seen.forget_expired(150);
        assert_eq!(seen.len(), 2);
        seen.forget_expired(301);
        assert!(seen.is_empty());
    }
}
