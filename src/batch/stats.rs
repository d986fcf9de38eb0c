//! The batch writer's counters: only the owning shard's writer writes them, anyone reads
//! them (`crate::counter`), and `/metrics` sums them across shards.

use crate::counter::Counter;

#[derive(Default, Debug)]
pub struct WriterStats {
    /// Rows accepted by `push` and not yet settled (written, found present, or rejected):
    /// buffered + in flight + awaiting retry. `/admin/cache/stats` shows it per shard.
    pub pending: Counter,
    /// Batches whose every row is settled.
    pub batches_written: Counter,
    /// Rows inserted into `tokens`.
    pub rows_written: Counter,
    /// Rows a retry found already in `tokens` (an earlier attempt committed, or the jti
    /// was there before): settled, not lost, not written twice.
    pub rows_already_present: Counter,
    /// Poison rows: rejected by the server on their own (a data or constraint error other
    /// than a jti conflict), logged with jti and client_id, and not written.
    pub rows_rejected: Counter,
    /// Write statements that failed (connection lost, server error).
    pub failures: Counter,
    /// Write statements sent again for rows an earlier statement failed to settle.
    pub retries: Counter,
    /// Batches written (or being written) right now.
    pub batches_in_flight: Counter,
    /// From sealing a batch to its last row settling, summed over `batches_written`.
    pub flush_latency_us_sum: Counter,
    pub flush_latency_us_max: Counter,
    pub last_flush_latency_us: Counter,
}

impl WriterStats {
    pub(crate) fn record_flush_latency(&self, us: u64) {
        self.flush_latency_us_sum.add(us);
        self.flush_latency_us_max.raise(us);
        self.last_flush_latency_us.set(us);
    }
}
