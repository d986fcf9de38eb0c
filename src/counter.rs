//! Counters that one thread writes and any thread reads: the per-shard figures behind
//! `/metrics` and `/admin/cache/stats`, summed across shards when read.
//!
//! Only the owner writes, so an update is a relaxed load and a relaxed store rather than a
//! read-modify-write: no update can be lost, and the hot path spares a locked instruction.
//! Readers see each figure move forward, possibly a few updates behind. Two writers on one
//! counter would overwrite each other: give each shard its own.

use std::sync::atomic::{AtomicU64, Ordering};

/// One figure: a count that only grows, or a gauge (`set`, `add`/`sub`).
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one. Owner only.
    #[inline]
    pub fn bump(&self) {
        self.add(1);
    }

    /// Add `n`. Owner only.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Take `n` from a gauge. Owner only.
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    /// Overwrite a gauge or a mirrored figure. Owner only.
    #[inline]
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// Raise to `value` if it is larger (a running maximum). Owner only.
    #[inline]
    pub fn raise(&self, value: u64) {
        if value > self.get() {
            self.set(value);
        }
    }

    /// The figure now (relaxed: for humans and dashboards, not for synchronisation).
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_gauges() {
        let c = Counter::default();
        c.bump();
        c.add(4);
        assert_eq!(c.get(), 5);
        c.sub(2);
        assert_eq!(c.get(), 3);
        c.raise(2);
        assert_eq!(c.get(), 3);
        c.raise(9);
        assert_eq!(c.get(), 9);
        c.set(1);
        assert_eq!(c.get(), 1);
    }
}
