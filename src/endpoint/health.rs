//! `/healthz` (the process answers), `/readyz` (it can issue tokens: the shard's database
//! session is up) and a first `/metrics` in the Prometheus text format.

use std::fmt::Write;

use crate::http::response;
use crate::shard::Shard;
use crate::shard::stats::ShardStats;

pub fn healthz(out: &mut Vec<u8>, keep_alive: bool) {
    response::write_json(out, 200, b"{\"status\":\"ok\"}", keep_alive, &[]);
}

pub fn readyz(shard: &Shard, out: &mut Vec<u8>, keep_alive: bool) {
    if shard.pg.is_connected() {
        response::write_json(out, 200, b"{\"status\":\"ready\"}", keep_alive, &[]);
    } else {
        let body = b"{\"status\":\"unavailable\",\"reason\":\"database not connected\"}";
        response::write_json(out, 503, body, keep_alive, &[("Retry-After", "1")]);
    }
}

/// Counters summed over shards and per shard. Not on the token path: formatting here may
/// allocate.
pub fn metrics(shard: &Shard, out: &mut Vec<u8>, keep_alive: bool) {
    let mut text = String::with_capacity(2048);
    type Pick = fn(&ShardStats) -> &std::sync::atomic::AtomicU64;
    let families: &[(&str, &str, &str, Pick)] = &[
        (
            "edgeauth_requests_total",
            "counter",
            "HTTP requests answered",
            |s| &s.requests,
        ),
        (
            "edgeauth_tokens_issued_total",
            "counter",
            "Access tokens issued",
            |s| &s.tokens_issued,
        ),
        (
            "edgeauth_token_errors_total",
            "counter",
            "Token requests refused with an OAuth error",
            |s| &s.token_errors,
        ),
        (
            "edgeauth_token_unavailable_total",
            "counter",
            "Token requests answered 503",
            |s| &s.token_unavailable,
        ),
        (
            "edgeauth_bad_requests_total",
            "counter",
            "Malformed, oversized or unroutable requests",
            |s| &s.bad_requests,
        ),
        (
            "edgeauth_connections_open",
            "gauge",
            "Open client connections",
            |s| &s.connections_open,
        ),
        (
            "edgeauth_connections_accepted_total",
            "counter",
            "Client connections accepted",
            |s| &s.connections_accepted,
        ),
        (
            "edgeauth_connections_rejected_total",
            "counter",
            "Connections closed at accept (max_connections)",
            |s| &s.connections_rejected,
        ),
        (
            "edgeauth_connections_timed_out_total",
            "counter",
            "Connections closed by the idle timeout",
            |s| &s.connections_timed_out,
        ),
        (
            "edgeauth_cache_hits_total",
            "counter",
            "Client cache hits",
            |s| &s.cache.hits,
        ),
        (
            "edgeauth_cache_negative_hits_total",
            "counter",
            "Client cache hits on a client known not to exist",
            |s| &s.cache.negative_hits,
        ),
        (
            "edgeauth_cache_misses_total",
            "counter",
            "Client cache misses (database look-ups)",
            |s| &s.cache.misses,
        ),
        (
            "edgeauth_cache_evictions_total",
            "counter",
            "Clients evicted at cache capacity (LRU)",
            |s| &s.cache.evictions,
        ),
        (
            "edgeauth_cache_expirations_total",
            "counter",
            "Cached clients dropped at their TTL",
            |s| &s.cache.expirations,
        ),
        (
            "edgeauth_cache_size",
            "gauge",
            "Clients in the cache",
            |s| &s.cache.size,
        ),
        (
            "edgeauth_cache_invalidations_total",
            "counter",
            "Cache invalidations received",
            |s| &s.invalidations,
        ),
        (
            "edgeauth_writer_pending",
            "gauge",
            "Tokens issued and not yet recorded",
            |s| &s.writer.pending,
        ),
        (
            "edgeauth_writer_batches_total",
            "counter",
            "Token batches written",
            |s| &s.writer.batches_written,
        ),
        (
            "edgeauth_writer_rows_total",
            "counter",
            "Token rows inserted",
            |s| &s.writer.rows_written,
        ),
        (
            "edgeauth_writer_rows_already_present_total",
            "counter",
            "Rows a retry found already recorded",
            |s| &s.writer.rows_already_present,
        ),
        (
            "edgeauth_writer_rows_rejected_total",
            "counter",
            "Rows the database refused on their own (logged)",
            |s| &s.writer.rows_rejected,
        ),
        (
            "edgeauth_writer_failures_total",
            "counter",
            "Batch writes that failed",
            |s| &s.writer.failures,
        ),
        (
            "edgeauth_writer_retries_total",
            "counter",
            "Batch writes retried",
            |s| &s.writer.retries,
        ),
        (
            "edgeauth_writer_flush_latency_us_max",
            "gauge",
            "Longest batch flush, microseconds",
            |s| &s.writer.flush_latency_us_max,
        ),
    ];
    for &(name, kind, help, pick) in families {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, stats) in shard.all_stats.iter().enumerate() {
            let _ = writeln!(
                text,
                "{name}{{shard=\"{id}\"}} {}",
                ShardStats::read(pick(stats))
            );
        }
    }
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    response::write_head(out, 200, content_type, text.len(), keep_alive, &[]);
    out.extend_from_slice(text.as_bytes());
}
