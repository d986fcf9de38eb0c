//! The request metrics a shard records on its hot path: requests by endpoint and status,
//! and the token issuance latency histogram.
//!
//! Both are fixed-size tables of counters (`crate::counter`) allocated once per shard, so
//! recording a request is an index computation and one relaxed store on the shard's own
//! cache lines: no
//! allocation, no lock, no map lookup, no label formatting. Only the owning shard writes;
//! `/metrics` reads every shard's tables and formats them.

use std::time::Duration;

use crate::counter::Counter;
use crate::endpoint::route::{Admin, Route};

/// Endpoint label values, indexed by `endpoint_index`. The last one takes everything that
/// was not routed to an endpoint: unknown paths, wrong methods, unparseable requests.
pub const ENDPOINTS: [&str; 18] = [
    "token",
    "introspect",
    "revoke",
    "metadata",
    "jwks",
    "healthz",
    "readyz",
    "metrics",
    "admin_stats",
    "admin_invalidate",
    "admin_revoke_tokens",
    "admin_keys",
    "admin_clients",
    "admin_client",
    "admin_rotate_secret",
    "admin_revocations",
    "admin_openapi",
    "other",
];

/// Index of the "other" endpoint: requests that never reached an endpoint.
pub const ENDPOINT_OTHER: usize = ENDPOINTS.len() - 1;

/// Every status this server sends (see `response::reason_phrase`); anything else is counted
/// under the last slot, labelled `other`, so the table stays fixed-size whatever happens.
pub const STATUSES: [u16; 17] = [
    200, 204, 400, 401, 403, 404, 405, 408, 411, 413, 415, 429, 431, 500, 501, 503, 505,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// The endpoint slot of a route.
pub fn endpoint_index(route: Route) -> usize {
    match route {
        Route::Token => 0,
        Route::Introspect => 1,
        Route::Revoke => 2,
        Route::Metadata => 3,
        Route::Jwks => 4,
        Route::Healthz => 5,
        Route::Readyz => 6,
        Route::Metrics => 7,
        Route::Admin(admin) => match admin {
            Admin::Stats => 8,
            Admin::Invalidate => 9,
            Admin::RevokeTokens => 10,
            Admin::Keys => 11,
            Admin::Clients => 12,
            Admin::Client => 13,
            Admin::RotateSecret => 14,
            Admin::Revocations => 15,
            Admin::OpenApi => 16,
        },
        Route::MethodNotAllowed(_) | Route::NotFound => ENDPOINT_OTHER,
    }
}

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len())
}

/// The status label of a slot.
pub fn status_label(slot: usize) -> Option<u16> {
    STATUSES.get(slot).copied()
}

/// The status of the response that starts at `response` (`HTTP/1.1 NNN ...`), as written by
/// `http::response`. Reading it back from the bytes spares every endpoint from reporting
/// its status separately, and cannot disagree with what the client receives.
pub fn status_of(response: &[u8]) -> u16 {
    match response.get(9..12) {
        Some(&[a, b, c]) if [a, b, c].iter().all(u8::is_ascii_digit) => {
            (a - b'0') as u16 * 100 + (b - b'0') as u16 * 10 + (c - b'0') as u16
        }
        _ => 0,
    }
}

/// Requests answered, by endpoint and status: `ENDPOINTS.len() × (STATUSES.len() + 1)`
/// counters.
#[derive(Debug)]
pub struct RequestCounters {
    counts: [[Counter; STATUS_SLOTS]; ENDPOINTS.len()],
}

impl Default for RequestCounters {
    fn default() -> Self {
        RequestCounters {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| Counter::default())),
        }
    }
}

impl RequestCounters {
    /// Count one answered request; called only by the owning shard.
    #[inline]
    pub fn record(&self, endpoint: usize, status: u16) {
        let endpoint = endpoint.min(ENDPOINT_OTHER);
        self.counts[endpoint][status_index(status)].bump();
    }

    /// The count of one cell; `status_slot` indexes `STATUSES`, one past its end is `other`.
    pub fn read(&self, endpoint: usize, status_slot: usize) -> u64 {
        self.counts[endpoint][status_slot].get()
    }

    pub const STATUS_SLOTS: usize = STATUS_SLOTS;

    /// The sum over the cells whose endpoint and status (`None`: an unlisted status) pass
    /// the filters: the summary families of `/metrics` are read off this one table instead
    /// of being counted a second time on the request path.
    pub fn sum(
        &self,
        endpoint: impl Fn(&str) -> bool,
        status: impl Fn(Option<u16>) -> bool,
    ) -> u64 {
        let mut total = 0;
        for (e, name) in ENDPOINTS.iter().enumerate() {
            if !endpoint(name) {
                continue;
            }
            for slot in 0..STATUS_SLOTS {
                if status(status_label(slot)) {
                    total += self.read(e, slot);
                }
            }
        }
        total
    }
}

/// Upper bounds of the token latency buckets, in nanoseconds, and as Prometheus `le` labels.
/// From 50 µs (a cache hit signing with HS256 or EdDSA) to 1 s (a request stuck behind a
/// database outage or a group commit); beyond that only `+Inf` tells.
pub const LATENCY_BOUNDS_NS: [u64; 14] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];
pub const LATENCY_LE: [&str; 14] = [
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1", "0.25", "0.5", "1.0",
];

/// A latency histogram. Buckets hold non-cumulative counts (one add per observation); the
/// reader accumulates them and derives the count from them, so a scrape's `_count` always
/// equals its `+Inf` bucket even while the shard records.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One per bound, then the overflow bucket (`+Inf` only).
    buckets: [Counter; LATENCY_BOUNDS_NS.len() + 1],
    sum_ns: Counter,
}

impl LatencyHistogram {
    /// Record one observation; called only by the owning shard.
    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = LATENCY_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[slot].bump();
        self.sum_ns.add(ns);
    }

    /// Non-cumulative bucket counts (the last is above every bound) and the sum in
    /// nanoseconds, each read once (relaxed).
    pub fn snapshot(&self) -> ([u64; LATENCY_BOUNDS_NS.len() + 1], u64) {
        let buckets = std::array::from_fn(|i| self.buckets[i].get());
        (buckets, self.sum_ns.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_back_from_the_status_line() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(status_of(b"HTTP/1.1 503 Service Unavailable\r\n"), 503);
        assert_eq!(status_of(b"HTTP/1.1 "), 0);
        assert_eq!(status_of(b""), 0);
    }

    #[test]
    fn unknown_statuses_and_routes_land_in_other() {
        let c = RequestCounters::default();
        c.record(endpoint_index(Route::Token), 200);
        c.record(endpoint_index(Route::Token), 200);
        c.record(endpoint_index(Route::NotFound), 404);
        c.record(0, 299);
        c.record(99, 0);
        assert_eq!(c.read(0, 0), 2);
        assert_eq!(c.read(ENDPOINT_OTHER, status_index(404)), 1);
        assert_eq!(c.read(0, STATUSES.len()), 1);
        assert_eq!(c.read(ENDPOINT_OTHER, STATUSES.len()), 1);
    }

    #[test]
    fn observations_fall_in_the_first_bucket_that_holds_them() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(50)); // le is inclusive
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_secs(2));
        let (buckets, sum) = h.snapshot();
        assert_eq!(buckets[0], 2);
        assert_eq!(buckets[1], 1);
        assert_eq!(buckets[LATENCY_BOUNDS_NS.len()], 1);
        assert_eq!(buckets.iter().sum::<u64>(), 4);
        assert_eq!(sum, 2_000_111_000);
        assert_eq!(LATENCY_LE.len(), LATENCY_BOUNDS_NS.len());
    }
}
