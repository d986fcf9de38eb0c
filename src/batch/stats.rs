//! The batch writer's counters: only the owning shard's writer writes them, anyone reads
//! them (relaxed atomics), and `/metrics` sums them across shards.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct WriterStats {
    /// Rows accepted by `push` and not yet settled (written, found present, or rejected):
    /// buffered + in flight + awaiting retry. `/admin/cache/stats` shows it per shard.
    pub pending: AtomicU64,
    /// Batches whose every row is settled.
    pub batches_written: AtomicU64,
    /// Rows inserted into `tokens`.
    pub rows_written: AtomicU64,
    /// Rows a retry found already in `tokens` (an earlier attempt committed, or the jti
    /// was there before): settled, not lost, not written twice.
    pub rows_already_present: AtomicU64,
    /// Poison rows: rejected by the server on their own (a data or constraint error other
    /// than a jti conflict), logged with jti and client_id, and not written.
    pub rows_rejected: AtomicU64,
    /// Write statements that failed (connection lost, server error).
    pub failures: AtomicU64,
    /// Write statements sent again for rows an earlier statement failed to settle.
    pub retries: AtomicU64,
    /// Batches written (or being written) right now.
    pub batches_in_flight: AtomicU64,
    /// From sealing a batch to its last row settling, summed over `batches_written`.
    pub flush_latency_us_sum: AtomicU64,
    pub flush_latency_us_max: AtomicU64,
    pub last_flush_latency_us: AtomicU64,
}

impl WriterStats {
    /// Reads a counter (relaxed: figures for humans, not for synchronisation).
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    pub(crate) fn record_flush_latency(&self, us: u64) {
        WriterStats::add(&self.flush_latency_us_sum, us);
        self.flush_latency_us_max.fetch_max(us, Ordering::Relaxed);
        WriterStats::set(&self.last_flush_latency_us, us);
    }
}
