//! Per-shard counters: only the owning shard writes them, any thread reads them (relaxed
//! atomics, no lock), and readers sum them across shards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::WriterStats;
use crate::cache::CacheStats;
use crate::shard::metrics::{LatencyHistogram, RequestCounters};

#[derive(Default, Debug)]
pub struct ShardStats {
    pub connections_open: AtomicU64,
    pub connections_accepted: AtomicU64,
    /// Connections closed at accept because the shard was at `max_connections`.
    pub connections_rejected: AtomicU64,
    pub connections_timed_out: AtomicU64,
    /// The shard's client cache (written by the cache itself).
    pub cache: Arc<CacheStats>,
    /// The shard's token batch writer (written by the writer itself).
    pub writer: Arc<WriterStats>,
    /// Client look-ups sent to Postgres (cache misses, less those that joined a look-up
    /// already in flight).
    pub client_queries: AtomicU64,
    /// Client-cache invalidations received (NOTIFY) and cache clears on reconnect.
    pub invalidations: AtomicU64,
    /// Requests answered, by endpoint and status (`edgeauth_http_requests_total`).
    pub http: RequestCounters,
    /// From a parsed token request to its 200 response in the write buffer
    /// (`edgeauth_token_duration_seconds`).
    pub token_latency: LatencyHistogram,
    /// A mirror of `Session::reconnects`: the session lives in the shard thread's `Rc`
    /// world, so the shard copies its figure here whenever it reports `Connected`.
    pub pg_reconnects: AtomicU64,
    /// 1 while the shard's database session is up, 0 while it is reconnecting.
    pub pg_connected: AtomicU64,
}

impl ShardStats {
    /// Add one; called only by the owning shard.
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn drop_one(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Overwrite a gauge or a mirrored figure; called only by the owning shard.
    #[inline]
    pub fn set(counter: &AtomicU64, value: u64) {
        counter.store(value, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
