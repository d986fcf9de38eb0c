//! `GET /metrics`: every shard's counters in the Prometheus text exposition format
//! (version 0.0.4), one sample per shard with a `shard` label, so that per-shard imbalance
//! shows and `sum without (shard)` gives the process total.
//!
//! Not on the token path: a scrape reads the relaxed per-shard atomics of every shard and
//! formats into a fresh string, which may allocate.

use std::fmt::{Display, Write};

use crate::endpoint::context::Context;
use crate::endpoint::request_metrics::{ENDPOINTS, LATENCY_LE, RequestCounters, status_label};
use crate::endpoint::stats::ShardStats;
use crate::http::response;
use crate::limits;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Pick = fn(&ShardStats) -> u64;

/// The families that are one plain number per shard: (name, type, help, where it lives).
const SIMPLE: &[(&str, &str, &str, Pick)] = &[
    (
        "edgeauth_connections_open",
        "gauge",
        "Open client connections",
        |s| s.connections_open.get(),
    ),
    (
        "edgeauth_connections_accepted_total",
        "counter",
        "Client connections accepted",
        |s| s.connections_accepted.get(),
    ),
    (
        "edgeauth_connections_rejected_total",
        "counter",
        "Connections closed at accept (max_connections)",
        |s| s.connections_rejected.get(),
    ),
    (
        "edgeauth_connections_timed_out_total",
        "counter",
        "Connections closed by the idle timeout",
        |s| s.connections_timed_out.get(),
    ),
    (
        "edgeauth_tls_handshakes_total",
        "counter",
        "TLS handshakes completed in full (resumed ones are counted apart)",
        |s| s.tls_handshakes_full.get(),
    ),
    (
        "edgeauth_tls_resumed_handshakes_total",
        "counter",
        "TLS handshakes that resumed a session with a ticket",
        |s| s.tls_handshakes_resumed.get(),
    ),
    (
        "edgeauth_tls_handshake_failures_total",
        "counter",
        "TLS connections refused before their handshake completed",
        |s| s.tls_handshakes_failed.get(),
    ),
    (
        "edgeauth_pg_connected",
        "gauge",
        "1 while the shard's PostgreSQL session is up",
        |s| s.pg_connected.get(),
    ),
    (
        "edgeauth_pg_reconnects_total",
        "counter",
        "PostgreSQL connections established after the first",
        |s| s.pg_reconnects.get(),
    ),
    (
        "edgeauth_tokens_pg_connected",
        "gauge",
        "1 while the shard's session for token rows is up (edgeauth_pg_connected without tokens_database_url)",
        |s| s.tokens_pg_connected.get(),
    ),
    (
        "edgeauth_tokens_pg_reconnects_total",
        "counter",
        "Connections for token rows established after the first (edgeauth_pg_reconnects_total without tokens_database_url)",
        |s| s.tokens_pg_reconnects.get(),
    ),
    (
        "edgeauth_pg_client_queries_total",
        "counter",
        "Client look-ups sent to PostgreSQL",
        |s| s.client_queries.get(),
    ),
    (
        "edgeauth_client_lookups_refused_total",
        "counter",
        "Requests for uncached clients answered 503: too many look-ups in flight",
        |s| s.client_lookups_refused.get(),
    ),
    (
        "edgeauth_cache_hits_total",
        "counter",
        "Client cache hits",
        |s| s.cache.hits.get(),
    ),
    (
        "edgeauth_cache_negative_hits_total",
        "counter",
        "Client cache hits on a client known not to exist",
        |s| s.cache.negative_hits.get(),
    ),
    (
        "edgeauth_cache_misses_total",
        "counter",
        "Client cache misses (database look-ups)",
        |s| s.cache.misses.get(),
    ),
    (
        "edgeauth_cache_evictions_total",
        "counter",
        "Clients evicted at cache capacity (LRU)",
        |s| s.cache.evictions.get(),
    ),
    (
        "edgeauth_cache_negative_evictions_total",
        "counter",
        "Negative entries evicted at their capacity",
        |s| s.cache.negative_evictions.get(),
    ),
    (
        "edgeauth_cache_expirations_total",
        "counter",
        "Cached clients dropped at their TTL",
        |s| s.cache.expirations.get(),
    ),
    (
        "edgeauth_cache_size",
        "gauge",
        "Clients in the cache",
        |s| s.cache.size.get(),
    ),
    (
        "edgeauth_cache_negative_size",
        "gauge",
        "Negative entries (unknown clients) in the cache",
        |s| s.cache.negative_size.get(),
    ),
    (
        "edgeauth_cache_invalidations_total",
        "counter",
        "Cache invalidations received",
        |s| s.invalidations.get(),
    ),
    (
        "edgeauth_introspection_cache_hits_total",
        "counter",
        "Introspections of a token verified before: no signature check",
        |s| s.verified.hits.get(),
    ),
    (
        "edgeauth_introspection_cache_misses_total",
        "counter",
        "Introspections that checked the token's signature (not cached, expired, or too long to cache)",
        |s| s.verified.misses.get(),
    ),
    (
        "edgeauth_introspection_cache_evictions_total",
        "counter",
        "Verified tokens evicted at capacity (LRU)",
        |s| s.verified.evictions.get(),
    ),
    (
        "edgeauth_introspection_cache_size",
        "gauge",
        "Verified tokens in the introspection cache",
        |s| s.verified.size.get(),
    ),
    (
        "edgeauth_writer_pending",
        "gauge",
        "Tokens issued and not yet recorded",
        |s| s.writer.pending.get(),
    ),
    (
        "edgeauth_writer_batches_in_flight",
        "gauge",
        "Token batches being written now",
        |s| s.writer.batches_in_flight.get(),
    ),
    (
        "edgeauth_writer_batches_total",
        "counter",
        "Token batches written",
        |s| s.writer.batches_written.get(),
    ),
    (
        "edgeauth_writer_rows_total",
        "counter",
        "Token rows inserted",
        |s| s.writer.rows_written.get(),
    ),
    (
        "edgeauth_writer_rows_already_present_total",
        "counter",
        "Rows a retry found already recorded",
        |s| s.writer.rows_already_present.get(),
    ),
    (
        "edgeauth_writer_rows_rejected_total",
        "counter",
        "Rows the database refused on their own (logged)",
        |s| s.writer.rows_rejected.get(),
    ),
    (
        "edgeauth_writer_failures_total",
        "counter",
        "Batch writes that failed",
        |s| s.writer.failures.get(),
    ),
    (
        "edgeauth_writer_retries_total",
        "counter",
        "Batch writes retried",
        |s| s.writer.retries.get(),
    ),
    (
        "edgeauth_writer_flush_latency_us_max",
        "gauge",
        "Longest batch flush, microseconds",
        |s| s.writer.flush_latency_us_max.get(),
    ),
];

type Derive = fn(&RequestCounters) -> u64;

/// Summary families read off the endpoint × status table (`RequestCounters::sum`), so the
/// request path counts each answer once.
const DERIVED: &[(&str, &str, Derive)] = &[
    (
        "edgeauth_requests_total",
        "HTTP requests answered (all endpoints)",
        |t| t.sum(|_| true, |_| true),
    ),
    (
        "edgeauth_tokens_issued_total",
        "Access tokens issued",
        |t| t.sum(|e| e == "token", |s| s == Some(200)),
    ),
    (
        "edgeauth_token_errors_total",
        "Token requests refused with an OAuth error",
        |t| {
            t.sum(
                |e| e == "token",
                |s| s.is_some_and(|s| (400..500).contains(&s)),
            )
        },
    ),
    (
        "edgeauth_token_unavailable_total",
        "Token requests answered 503",
        |t| t.sum(|e| e == "token", |s| s == Some(503)),
    ),
    (
        "edgeauth_bad_requests_total",
        "Malformed, oversized, unroutable or unauthorized requests",
        |t| {
            t.sum(|e| e == "other", |_| true)
                + t.sum(
                    |e| e.starts_with("admin_"),
                    |s| matches!(s, Some(401 | 404)),
                )
        },
    ),
];

/// Answer a scrape with the shard's page, rendered at most once per
/// `METRICS_RENDER_INTERVAL` and shared by every scrape in it: scrapes pipelined by the
/// thousand cost one rendering, not one each.
pub fn handle(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) {
    let page = ctx.metrics_page(limits::METRICS_RENDER_INTERVAL, || render(&ctx.all_stats));
    response::write_head(out, 200, CONTENT_TYPE, page.len(), keep_alive, &[]);
    out.extend_from_slice(&page);
}

/// The whole exposition for these shards (index = shard id).
pub fn render(shards: &[ShardStats]) -> String {
    let mut text = Exposition(String::with_capacity(8192));
    let ids: Vec<String> = (0..shards.len()).map(|id| id.to_string()).collect();

    for &(name, help, derive) in DERIVED {
        text.family(name, "counter", help);
        for (id, stats) in ids.iter().zip(shards) {
            text.sample(name, &[("shard", id)], derive(&stats.http));
        }
    }

    for &(name, kind, help, pick) in SIMPLE {
        text.family(name, kind, help);
        for (id, stats) in ids.iter().zip(shards) {
            text.sample(name, &[("shard", id)], pick(stats));
        }
    }

    // Only cells that have counted something: a labelled counter appears on first use, as
    // in the Prometheus client libraries, instead of 187 zeros per shard.
    let name = "edgeauth_http_requests_total";
    text.family(
        name,
        "counter",
        "HTTP requests answered, by endpoint and status",
    );
    for (id, stats) in ids.iter().zip(shards) {
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for slot in 0..RequestCounters::STATUS_SLOTS {
                let n = stats.http.read(e, slot);
                if n == 0 {
                    continue;
                }
                let status = status_label(slot).map_or("other".to_string(), |s| s.to_string());
                let labels = [
                    ("shard", id.as_str()),
                    ("endpoint", endpoint),
                    ("status", &status),
                ];
                text.sample(name, &labels, n);
            }
        }
    }

    let name = "edgeauth_token_duration_seconds";
    text.family(
        name,
        "histogram",
        "Token issuance, from the parsed request to the 200 response in the write buffer",
    );
    for (id, stats) in ids.iter().zip(shards) {
        let (buckets, sum_ns) = stats.token_latency.snapshot();
        let mut cumulative = 0;
        for (le, n) in LATENCY_LE.iter().chain(["+Inf"].iter()).zip(buckets) {
            cumulative += n;
            text.sample(
                &format!("{name}_bucket"),
                &[("shard", id), ("le", le)],
                cumulative,
            );
        }
        text.sample(
            &format!("{name}_sum"),
            &[("shard", id)],
            sum_ns as f64 / 1e9,
        );
        text.sample(&format!("{name}_count"), &[("shard", id)], cumulative);
    }
    text.0
}

/// A text exposition being written: `# HELP` and `# TYPE` once per family, then its samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.0.push_str("# HELP ");
        self.0.push_str(name);
        self.0.push(' ');
        // HELP text escapes only backslash and newline.
        for c in help.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        let _ = writeln!(self.0, "\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_label_value(value, &mut self.0);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and newline (the text format's rules), so
/// that no value can end its label or its line early.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value("a\"b\\c\nd", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn families_are_declared_once_and_histograms_are_cumulative() {
        let shards: Vec<ShardStats> = (0..2).map(|_| ShardStats::default()).collect();
        shards[0].http.record(0, 200);
        shards[0].http.record(0, 401);
        shards[1].http.record(0, 299);
        shards[1].token_latency.observe(Duration::from_micros(70));
        shards[1].token_latency.observe(Duration::from_millis(3));
        let text = render(&shards);
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert_eq!(text.matches(&format!("{line}\n")).count(), 1, "{line}");
        }
        assert!(text.contains(
            "edgeauth_http_requests_total{shard=\"0\",endpoint=\"token\",status=\"401\"} 1\n"
        ));
        assert!(text.contains(
            "edgeauth_http_requests_total{shard=\"1\",endpoint=\"token\",status=\"other\"} 1\n"
        ));
        let bucket =
            |le: &str| format!("edgeauth_token_duration_seconds_bucket{{shard=\"1\",le=\"{le}\"}}");
        assert!(text.contains(&format!("{} 0\n", bucket("5e-05"))));
        assert!(text.contains(&format!("{} 1\n", bucket("0.0001"))));
        assert!(text.contains(&format!("{} 2\n", bucket("0.005"))));
        assert!(text.contains(&format!("{} 2\n", bucket("+Inf"))));
        assert!(text.contains("edgeauth_token_duration_seconds_count{shard=\"1\"} 2\n"));
        assert!(text.contains("edgeauth_token_duration_seconds_sum{shard=\"1\"} 0.00307\n"));
    }
}
