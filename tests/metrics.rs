//! `/metrics` as Prometheus would read it: after a known mix of requests, the exposition is
//! scraped and parsed by the reference Python parser (`prometheus_client`), and its figures
//! must match what the test sent. The start-up log line must show the effective
//! configuration without secrets.
//! scripts/test.sh prepares the Python environment (`EDGEAUTH_TEST_PYTHON`).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;

use common::*;
use serde_json::Value;

const ADMIN_TOKEN: &str = "metrics-test-admin-token-not-for-logs";

/// The parsed exposition: family name → type, and every sample.
struct Scrape {
    families: HashMap<String, String>,
    samples: Vec<(String, HashMap<String, String>, f64)>,
}

impl Scrape {
    /// Sum of the samples named `name` whose labels include every pair of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, v)| v).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = (&'a HashMap<String, String>, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, l, v)| (l, *v))
    }

    fn family(&self, name: &str) -> &str {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("family {name} missing: {:?}", self.families))
    }
}

fn scrape(server: &Server) -> Scrape {
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/parse_metrics.py"
    );
    let mut child = test_python()
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&r.body)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = parsed["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let samples = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (
                s[0].as_str().unwrap().to_owned(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    Scrape { families, samples }
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_what_was_sent() {
    let db = TestDb::new();
    let secret = db.add_client("metrics", "read write");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN_TOKEN)]);

    const ISSUED: usize = 7;
    const WRONG_SECRET: usize = 3;
    const BAD_SCOPE: usize = 2;
    let mut token = String::new();
    for _ in 0..ISSUED {
        let r = server.token_basic("metrics", &secret, "grant_type=client_credentials");
        assert_eq!(r.status, 200);
        token = r.json()["access_token"].as_str().unwrap().to_owned();
    }
    for _ in 0..WRONG_SECRET {
        let r = server.token_basic("metrics", "wrong", "grant_type=client_credentials");
        assert_eq!(r.status, 401);
    }
    for _ in 0..BAD_SCOPE {
        let form = "grant_type=client_credentials&scope=admin";
        assert_eq!(server.token_basic("metrics", &secret, form).status, 400);
    }
    let auth = format!(
        "Authorization: Basic {}\r\n",
        basic_auth("metrics", &secret)
    );
    let form = "application/x-www-form-urlencoded";
    let body = format!("token={token}");
    let r = server.request(&post("/oauth/introspect", form, &body, &auth));
    assert_eq!(r.status, 200);
    let r = server.request(&post("/oauth/revoke", form, &body, &auth));
    assert_eq!(r.status, 200);
    assert_eq!(server.get("/no/such/path").status, 404);
    assert_eq!(server.request(b"not http at all\r\n\r\n").status, 400);
    assert_eq!(db.wait_token_rows(ISSUED as i64), ISSUED as i64);

    let m = scrape(&server);
    for (family, kind) in [
        ("edgeauth_http_requests", "counter"),
        ("edgeauth_token_duration_seconds", "histogram"),
        ("edgeauth_tokens_issued", "counter"),
        ("edgeauth_connections_open", "gauge"),
        ("edgeauth_pg_reconnects", "counter"),
        ("edgeauth_pg_connected", "gauge"),
        ("edgeauth_tokens_pg_reconnects", "counter"),
        ("edgeauth_tokens_pg_connected", "gauge"),
        ("edgeauth_cache_hits", "counter"),
        ("edgeauth_cache_misses", "counter"),
        ("edgeauth_cache_evictions", "counter"),
        ("edgeauth_introspection_cache_hits", "counter"),
        ("edgeauth_introspection_cache_misses", "counter"),
        ("edgeauth_introspection_cache_evictions", "counter"),
        ("edgeauth_introspection_cache_size", "gauge"),
        ("edgeauth_writer_pending", "gauge"),
        ("edgeauth_writer_rows", "counter"),
        ("edgeauth_writer_batches", "counter"),
        ("edgeauth_writer_failures", "counter"),
    ] {
        assert_eq!(m.family(family), kind, "{family}");
    }

    let requests = |endpoint: &str, status: &str| {
        m.sum(
            "edgeauth_http_requests_total",
            &[("endpoint", endpoint), ("status", status)],
        )
    };
    assert_eq!(requests("token", "200"), ISSUED as f64);
    assert_eq!(requests("token", "401"), WRONG_SECRET as f64);
    assert_eq!(requests("token", "400"), BAD_SCOPE as f64);
    assert_eq!(requests("introspect", "200"), 1.0);
    // One introspection of an active token: verified (a miss), then cached.
    assert_eq!(m.sum("edgeauth_introspection_cache_misses_total", &[]), 1.0);
    assert_eq!(m.sum("edgeauth_introspection_cache_hits_total", &[]), 0.0);
    assert_eq!(m.sum("edgeauth_introspection_cache_size", &[]), 1.0);
    assert_eq!(requests("revoke", "200"), 1.0);
    assert_eq!(requests("other", "404"), 1.0);
    assert_eq!(requests("other", "400"), 1.0);
    // Every shard labels its own samples.
    for (labels, _) in m.matching("edgeauth_http_requests_total", &[]) {
        let shard: usize = labels["shard"].parse().unwrap();
        assert!(shard < 2, "{labels:?}");
    }

    // Only issued tokens are timed, one observation each, and +Inf holds them all.
    let latency = "edgeauth_token_duration_seconds";
    assert_eq!(m.sum(&format!("{latency}_count"), &[]), ISSUED as f64);
    assert_eq!(
        m.sum(&format!("{latency}_bucket"), &[("le", "+Inf")]),
        ISSUED as f64
    );
    let sum = m.sum(&format!("{latency}_sum"), &[]);
    assert!(sum > 0.0 && sum < ISSUED as f64, "{sum}");
    let bucket = format!("{latency}_bucket");
    let les: Vec<&String> = m
        .matching(&bucket, &[("shard", "0")])
        .map(|(l, _)| &l["le"])
        .collect();
    assert_eq!(les.first().map(|s| s.as_str()), Some("5e-05"));
    assert_eq!(les.len(), 15, "{les:?}");

    assert_eq!(m.sum("edgeauth_tokens_issued_total", &[]), ISSUED as f64);
    assert_eq!(m.sum("edgeauth_writer_rows_total", &[]), ISSUED as f64);
    assert_eq!(m.sum("edgeauth_writer_pending", &[]), 0.0);
    assert_eq!(m.sum("edgeauth_pg_reconnects_total", &[]), 0.0);
    assert_eq!(m.matching("edgeauth_pg_connected", &[]).count(), 2);
    assert_eq!(m.sum("edgeauth_pg_connected", &[]), 2.0);
    // Token rows share the main session here: its figures are theirs.
    assert_eq!(m.sum("edgeauth_tokens_pg_connected", &[]), 2.0);
    assert_eq!(m.sum("edgeauth_tokens_pg_reconnects_total", &[]), 0.0);
    // The scrape's own connection is open while the figures are read.
    assert!(m.sum("edgeauth_connections_open", &[]) >= 1.0);
    let lookups =
        m.sum("edgeauth_cache_hits_total", &[]) + m.sum("edgeauth_cache_misses_total", &[]);
    assert!(lookups >= (ISSUED + WRONG_SECRET + BAD_SCOPE) as f64);

    // The scrape itself is counted once it is answered (and a page is at most 100 ms old).
    std::thread::sleep(std::time::Duration::from_millis(150));
    let again = scrape(&server);
    assert!(
        again.sum(
            "edgeauth_http_requests_total",
            &[("endpoint", "metrics"), ("status", "200")]
        ) >= 1.0
    );
}

#[test]
fn startup_log_shows_the_effective_configuration_without_secrets() {
    let db = TestDb::new();
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_ADMIN_TOKEN", ADMIN_TOKEN),
            ("EDGEAUTH_CACHE_CAPACITY", "1234"),
            ("EDGEAUTH_BATCH_SIZE", "321"),
            ("EDGEAUTH_DURABILITY", "commit"),
        ],
    );
    // Shards answer /healthz a moment before the main thread writes the line: wait for it.
    let log = eventually(
        "the start-up line",
        std::time::Duration::from_secs(10),
        || {
            let log = server.log();
            ok_if(log.contains("edgeauth listening"), log)
        },
    );
    let line = log
        .lines()
        .find(|l| l.contains("edgeauth listening"))
        .unwrap_or_else(|| panic!("no start-up line: {log}"));
    let fields: Value = serde_json::from_str(line).unwrap();
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| v.as_str().map_or(v.to_string(), str::to_owned))
            .unwrap_or_else(|| panic!("{k} missing: {line}"))
    };
    assert_eq!(text("shards"), "2");
    assert_eq!(text("io_driver"), "auto", "as configured");
    assert!(
        ["io_uring", "epoll"].contains(&text("io_drivers_running").as_str()),
        "{line}"
    );
    assert_eq!(text("cache_capacity"), "1234");
    assert_eq!(text("batch_size"), "321");
    assert_eq!(text("durability"), "commit");
    assert_eq!(text("flush_interval"), "20ms");
    // Every setting appears under its own name (config::SETTINGS), and what start-up made.
    for key in [
        "listen",
        "issuer",
        "audience",
        "token_ttl",
        "signing_alg",
        "signing_kid",
        "signing_keys",
        "data_dir",
        "database_url",
        "cache_ttl",
        "max_pending",
        "idle_timeout",
        "max_connections",
        "log_level",
        "prune_interval",
    ] {
        text(key);
    }
    assert_eq!(text("admin_token"), "set");
    assert!(!log.contains(ADMIN_TOKEN), "admin token logged: {log}");
    if let Some(password) = db
        .url
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split('@').next())
        .and_then(|userinfo| userinfo.split_once(':'))
        .map(|(_, pw)| pw)
    {
        assert!(!log.contains(password), "database password logged: {log}");
    }
}
