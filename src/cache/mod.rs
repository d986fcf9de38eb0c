//! The per-shard client cache: a token for a known client costs no database round trip.
//!
//! * `client_cache`: `ClientCache`, the shard's cache of client records plus negative
//!   entries for unknown client_ids, each with a TTL and an LRU size bound.
//! * `lru`: the bounded LRU underneath (hash table of slab indices, index-linked list).
//! * `stats`: `CacheStats`, the shard's counters (single writer, relaxed atomics), and
//!   `CacheSnapshot`, their plain copy, summed across shards.
//! * `revocation`: `RevocationCache`, the shard's set of revoked jti, each kept until its
//!   token's `exp`.
//! * `verified`: `VerifiedCache`, the shard's tokens whose signature introspection has
//!   checked, so that introspecting one again skips the signature (LRU-bounded, keyed by
//!   the whole token).
//!
//! Each shard owns one of each outright (`&mut self`, no lock) and shares only their
//! counters (`Arc<CacheStats>`, `Arc<VerifiedStats>`) with readers.

mod client_cache;
mod lru;
mod revocation;
mod stats;
mod verified;

pub use client_cache::{CacheConfig, ClientCache, Lookup};
pub use revocation::{Jti, RevocationCache, Verdict};
pub use stats::{CacheSnapshot, CacheStats};
pub use verified::{VerifiedCache, VerifiedStats, VerifiedToken};
