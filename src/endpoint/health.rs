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
    let families: [(&str, &str, &str, Pick); 9] = [
        (
            "edgeauth_requests_total",
            "counter",
            "HTTP requests answered",
            |s| &s.requests,
        ),
        (
            "edgeauth_tokens_issued_total",
            "counter",
            "Access tokens issued and recorded",
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
            "Token requests answered 503 (database unavailable)",
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
    ];
    for (name, kind, help, pick) in families {
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
