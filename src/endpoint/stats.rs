//! Per-shard counters: only the owning shard writes them, any thread reads them
//! (`crate::counter`), and `/metrics` and `/admin/cache/stats` sum them across shards.

use std::sync::Arc;

use crate::batch::WriterStats;
use crate::cache::{CacheStats, VerifiedStats};
use crate::counter::Counter;
use crate::endpoint::request_metrics::{LatencyHistogram, RequestCounters};

#[derive(Default, Debug)]
pub struct ShardStats {
    /// Connections this shard serves now; bounded by `max_connections`.
    pub connections_open: Counter,
    pub connections_accepted: Counter,
    /// Connections closed at accept because the shard was at `max_connections`.
    pub connections_rejected: Counter,
    pub connections_timed_out: Counter,
    /// TLS handshakes completed in full, and by resuming a session (a ticket).
    pub tls_handshakes_full: Counter,
    pub tls_handshakes_resumed: Counter,
    /// TLS connections refused before or during the handshake: bad records, no shared
    /// version or cipher, a plain HTTP request, a handshake past `header_timeout`.
    pub tls_handshakes_failed: Counter,
    /// The shard's client cache (written by the cache itself).
    pub cache: Arc<CacheStats>,
    /// The shard's cache of verified tokens, for introspection (written by the cache).
    pub verified: Arc<VerifiedStats>,
    /// The shard's token batch writer (written by the writer itself).
    pub writer: Arc<WriterStats>,
    /// Client look-ups sent to Postgres (cache misses, less those that joined a look-up
    /// already in flight).
    pub client_queries: Counter,
    /// Requests for an uncached client answered 503 because `CLIENT_LOOKUPS_IN_FLIGHT_MAX`
    /// look-ups were already at the database.
    pub client_lookups_refused: Counter,
    /// Client-cache invalidations received (NOTIFY) and cache clears on reconnect.
    pub invalidations: Counter,
    /// Requests answered, by endpoint and status (`edgeauth_http_requests_total`).
    pub http: RequestCounters,
    /// From a parsed token request to its 200 response in the write buffer
    /// (`edgeauth_token_duration_seconds`).
    pub token_latency: LatencyHistogram,
    /// A mirror of `Session::reconnects`: the session lives in the shard thread's `Rc`
    /// world, so the shard copies its figure here whenever it reports `Connected`.
    pub pg_reconnects: Counter,
    /// 1 while the shard's database session is up, 0 while it is reconnecting.
    pub pg_connected: Counter,
    /// The same two for the session that writes token rows: the main one's figures when
    /// token rows go to the main database, its own with `tokens_database_url`.
    pub tokens_pg_reconnects: Counter,
    pub tokens_pg_connected: Counter,
}
