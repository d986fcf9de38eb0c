//! A bounded LRU of string keys: a hashbrown `HashTable` of slab indices, and a slab (`Vec`)
//! of entries that form an intrusive doubly linked list by index, most recently used at the
//! head.
//!
//! Why this shape:
//! * The table holds only `u32` slab indices, so each key is stored once (in its entry), the
//!   table stays small (5 bytes a bucket) and lookups by `&str` allocate nothing.
//! * Links are `u32` indices rather than pointers: no `unsafe`, and the slab can be moved.
//! * The slab stays dense. A removal swaps the last entry into the hole and repoints its
//!   two neighbours and its table slot; an eviction at capacity overwrites the tail entry in
//!   place and reuses its key's buffer. So `slab.len() == len() <= capacity` always, there is
//!   no free list to keep, and a full cache allocates nothing when it turns over (client ids
//!   are at most 128 bytes, so a reused key buffer almost always fits).
//! * Each entry keeps its full 64-bit hash: comparing it first spares a key comparison on a
//!   7-bit tag collision, and it lets a moved entry find its own table slot without hashing
//!   the key again.
//!
//! The caller computes the hash once (`ClientCache` looks in two of these with one hash), so
//! every method here takes it. This type knows nothing of time or statistics beyond storing
//! each entry's expiry instant.

use std::time::Instant;

use hashbrown::HashTable;

/// The "no entry" link, at either end of the list.
const NIL: u32 = u32::MAX;

/// One cached key and its value, linked into the recency list.
#[derive(Debug)]
pub(crate) struct Entry<V> {
    pub(crate) key: String,
    pub(crate) value: V,
    /// `inserted_at + ttl`: the first instant at which the entry is stale.
    pub(crate) expires_at: Instant,
    hash: u64,
    /// Towards the head (more recently used); `NIL` at the head.
    prev: u32,
    /// Towards the tail (less recently used); `NIL` at the tail.
    next: u32,
}

impl<V> Entry<V> {
    #[inline]
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

#[derive(Debug)]
pub(crate) struct Lru<V> {
    /// Slab index of every entry, keyed (by the caller's hash) on the entry's key.
    table: HashTable<u32>,
    /// Entries; dense, `len() <= capacity`, never reallocated after `new`.
    slab: Vec<Entry<V>>,
    /// Most recently used entry, or `NIL` when empty.
    head: u32,
    /// Least recently used entry (the next to evict), or `NIL` when empty.
    tail: u32,
    capacity: usize,
}

impl<V> Lru<V> {
    /// An empty LRU holding at most `capacity` entries, with all its memory allocated now.
    ///
    /// The table is sized for twice the capacity. hashbrown may leave tombstones where keys
    /// were removed, and when they use up its spare room it rehashes: in place (no
    /// allocation) only while the table is at most half full, otherwise into a bigger
    /// allocation. At half load it is always in place, so the table never reallocates, and
    /// the sparser table also shortens probes. The cost is 10 bytes per cached client.
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(
            capacity < NIL as usize,
            "LRU capacity {capacity} does not fit u32 slab indices"
        );
        Lru {
            table: HashTable::with_capacity(capacity.saturating_mul(2)),
            slab: Vec::with_capacity(capacity),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slab index of `key`, if present. Touches nothing.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &str) -> Option<usize> {
        let slab = &self.slab;
        self.table
            .find(hash, |&i| {
                let e = &slab[i as usize];
                e.hash == hash && e.key == key
            })
            .map(|&i| i as usize)
    }

    #[inline]
    pub(crate) fn entry(&self, index: usize) -> &Entry<V> {
        &self.slab[index]
    }

    /// Make `index` the most recently used entry. Free when it already is, which is the
    /// common case when a few clients dominate the traffic.
    #[inline]
    pub(crate) fn touch(&mut self, index: usize) {
        if self.head as usize == index {
            return;
        }
        self.unlink(index);
        self.link_front(index);
    }

    /// Replace the value and expiry of the entry at `index` and make it most recent.
    pub(crate) fn replace(&mut self, index: usize, value: V, expires_at: Instant) {
        let e = &mut self.slab[index];
        e.value = value;
        e.expires_at = expires_at;
        self.touch(index);
    }

    /// Insert a key known to be absent. At capacity the least recently used entry is
    /// overwritten in place, and `true` says that one was evicted. A zero-capacity LRU
    /// stores nothing and returns `false`.
    pub(crate) fn insert_new(
        &mut self,
        hash: u64,
        key: &str,
        value: V,
        expires_at: Instant,
    ) -> bool {
        debug_assert!(
            self.find(hash, key).is_none(),
            "insert_new of a present key"
        );
        if self.capacity == 0 {
            return false;
        }
        let evicted = self.slab.len() == self.capacity;
        let index = if evicted {
            let victim = self.tail as usize;
            self.unlink(victim);
            self.table_remove(victim);
            let e = &mut self.slab[victim];
            // Reuse the victim's key buffer: no allocation when the new key fits.
            e.key.clear();
            e.key.push_str(key);
            e.value = value;
            e.expires_at = expires_at;
            e.hash = hash;
            victim
        } else {
            self.slab.push(Entry {
                key: key.to_owned(),
                value,
                expires_at,
                hash,
                prev: NIL,
                next: NIL,
            });
            self.slab.len() - 1
        };
        let slab = &self.slab;
        self.table
            .insert_unique(hash, index as u32, |&i| slab[i as usize].hash);
        self.link_front(index);
        debug_assert!(self.slab.len() <= self.capacity);
        debug_assert_eq!(self.table.len(), self.slab.len());
        evicted
    }

    /// Remove the entry at `index` and return it. The last slab entry moves into its place,
    /// so indices obtained before this call are stale afterwards.
    pub(crate) fn remove(&mut self, index: usize) -> Entry<V> {
        self.unlink(index);
        self.table_remove(index);
        let last = self.slab.len() - 1;
        let removed = self.slab.swap_remove(index);
        if index != last {
            // The entry that was at `last` now lives at `index`: repoint whoever refers to it.
            let (hash, prev, next) = {
                let moved = &self.slab[index];
                (moved.hash, moved.prev, moved.next)
            };
            match prev {
                NIL => self.head = index as u32,
                p => self.slab[p as usize].next = index as u32,
            }
            match next {
                NIL => self.tail = index as u32,
                n => self.slab[n as usize].prev = index as u32,
            }
            match self.table.find_mut(hash, |&i| i as usize == last) {
                Some(slot) => *slot = index as u32,
                None => unreachable!("slab entry {last} is missing from the table"),
            }
        }
        debug_assert_eq!(self.table.len(), self.slab.len());
        removed
    }

    /// Remove every entry whose expiry is at or before `now`; returns how many. One pass
    /// over the slab, from its end so that each swap brings in an entry already checked.
    pub(crate) fn remove_expired(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        for index in (0..self.slab.len()).rev() {
            if self.slab[index].is_expired(now) {
                self.remove(index);
                removed += 1;
            }
        }
        removed
    }

    /// Drop every entry, keeping the allocations for reuse.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.slab.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    fn table_remove(&mut self, index: usize) {
        let hash = self.slab[index].hash;
        match self.table.find_entry(hash, |&i| i as usize == index) {
            Ok(slot) => {
                slot.remove();
            }
            Err(_) => unreachable!("slab entry {index} is missing from the table"),
        }
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = {
            let e = &self.slab[index];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slab[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slab[n as usize].prev = prev,
        }
    }

    fn link_front(&mut self, index: usize) {
        let old_head = self.head;
        {
            let e = &mut self.slab[index];
            e.prev = NIL;
            e.next = old_head;
        }
        match old_head {
            NIL => self.tail = index as u32,
            h => self.slab[h as usize].prev = index as u32,
        }
        self.head = index as u32;
    }

    /// Keys from most to least recently used.
    #[cfg(test)]
    pub(crate) fn keys_by_recency(&self) -> Vec<&str> {
        let mut keys = Vec::with_capacity(self.slab.len());
        let mut at = self.head;
        while at != NIL {
            let e = &self.slab[at as usize];
            keys.push(e.key.as_str());
            at = e.next;
        }
        keys
    }

    /// The table's allocation in bytes: tests check that it never grows. (Its `capacity()`
    /// shrinks and recovers as tombstones come and go, so it would not show growth.)
    #[cfg(test)]
    pub(crate) fn table_bytes(&self) -> usize {
        self.table.allocation_size()
    }

    #[cfg(test)]
    pub(crate) fn slab_capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// Walk the list head to tail and tail to head; check that both walks see every slab
    /// entry exactly once, in mirror order, that the links agree, and that the table maps
    /// every key to its own slot.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self, hasher: &impl std::hash::BuildHasher) {
        let n = self.slab.len();
        assert!(n <= self.capacity, "len {n} > capacity {}", self.capacity);
        assert_eq!(self.table.len(), n, "table and slab disagree on length");
        let mut forward = Vec::with_capacity(n);
        let mut prev = NIL;
        let mut at = self.head;
        while at != NIL {
            assert!(
                forward.len() < n,
                "forward walk is longer than the slab: a cycle"
            );
            let e = &self.slab[at as usize];
            assert_eq!(e.prev, prev, "entry {at}: prev link");
            forward.push(at);
            prev = at;
            at = e.next;
        }
        assert_eq!(prev, self.tail, "the forward walk does not end at the tail");
        let mut backward = Vec::with_capacity(n);
        let mut next = NIL;
        let mut at = self.tail;
        while at != NIL {
            assert!(
                backward.len() < n,
                "backward walk is longer than the slab: a cycle"
            );
            let e = &self.slab[at as usize];
            assert_eq!(e.next, next, "entry {at}: next link");
            backward.push(at);
            next = at;
            at = e.prev;
        }
        assert_eq!(
            next, self.head,
            "the backward walk does not end at the head"
        );
        backward.reverse();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), n, "the list does not reach every slab entry");
        let mut seen = vec![false; n];
        for &i in &forward {
            assert!(
                !std::mem::replace(&mut seen[i as usize], true),
                "entry {i} twice"
            );
        }
        for (i, e) in self.slab.iter().enumerate() {
            assert_eq!(
                e.hash,
                hasher.hash_one(e.key.as_str()),
                "entry {i}: stale hash"
            );
            assert_eq!(self.find(e.hash, &e.key), Some(i), "entry {i}: table slot");
        }
    }
}
