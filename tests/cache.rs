//! The per-shard client cache through the real binary: counters, TTL, LRU, invalidation
//! across shards and instances, and the admin API that shows it.

mod common;

use std::time::{Duration, Instant};

use common::*;

const ADMIN: &str = "test-admin-token-0123456789-abcdef";

fn stats(server: &Server) -> serde_json::Value {
    let r = server.request(
        format!(
            "GET /admin/cache/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn total(server: &Server, field: &str) -> u64 {
    stats(server)["total"][field].as_u64().unwrap()
}

fn token(server: &Server, id: &str, secret: &str) -> u16 {
    server
        .token_basic(id, secret, "grant_type=client_credentials")
        .status
}

/// One shard, without the bound on failed authentications: these tests send unknown
/// clients by the hundred from one address on purpose (`tests/auth_failures.rs` tests it).
fn one_shard(db: &TestDb, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("EDGEAUTH_SHARDS", "1"),
        ("EDGEAUTH_ADMIN_TOKEN", ADMIN),
        ("EDGEAUTH_AUTH_FAILURES_PER_ADDRESS", "0"),
        ("EDGEAUTH_AUTH_FAILURES_PER_CLIENT", "0"),
    ];
    env.extend_from_slice(extra);
    Server::start_with(db, &env)
}

#[test]
fn hits_and_misses_move_as_expected() {
    let db = TestDb::new();
    let secret = db.add_client("counted", "read");
    let server = one_shard(&db, &[]);
    assert_eq!(token(&server, "counted", &secret), 200);
    assert_eq!(total(&server, "misses"), 1);
    assert_eq!(total(&server, "hits"), 0);
    for _ in 0..9 {
        assert_eq!(token(&server, "counted", &secret), 200);
    }
    let s = stats(&server);
    assert_eq!(s["total"]["hits"], 9);
    assert_eq!(s["total"]["misses"], 1);
    assert_eq!(s["total"]["size"], 1);
    assert_eq!(s["total"]["hit_rate"].as_f64().unwrap(), 90.0);
    assert_eq!(s["total"]["client_queries"], 1);
    assert_eq!(s["shards"].as_array().unwrap().len(), 1);
    assert!(s["shards"][0]["pending"].is_u64());
    // A wrong secret for a cached client is still refused, from the cache.
    assert_eq!(token(&server, "counted", "wrong"), 401);
    assert_eq!(total(&server, "misses"), 1);
}

#[test]
fn entries_expire_after_the_ttl() {
    let db = TestDb::new();
    let secret = db.add_client("brief", "read");
    let server = one_shard(&db, &[("EDGEAUTH_CACHE_TTL", "300ms")]);
    assert_eq!(token(&server, "brief", &secret), 200);
    assert_eq!(token(&server, "brief", &secret), 200);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(token(&server, "brief", &secret), 200);
    let s = stats(&server);
    assert_eq!(s["total"]["misses"], 2, "{s}");
    assert_eq!(s["total"]["hits"], 1, "{s}");
    assert!(s["total"]["expirations"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let db = TestDb::new();
    let a = db.add_client("a", "read");
    let b = db.add_client("b", "read");
    let c = db.add_client("c", "read");
    let server = one_shard(&db, &[("EDGEAUTH_CACHE_CAPACITY", "2")]);
    assert_eq!(token(&server, "a", &a), 200); // miss
    assert_eq!(token(&server, "b", &b), 200); // miss
    assert_eq!(token(&server, "a", &a), 200); // hit: a is now the most recent
    assert_eq!(token(&server, "c", &c), 200); // miss: evicts b
    assert_eq!(total(&server, "evictions"), 1);
    assert_eq!(token(&server, "a", &a), 200); // hit
    assert_eq!(total(&server, "hits"), 2);
    assert_eq!(token(&server, "b", &b), 200); // miss: b was the one evicted
    let s = stats(&server);
    assert_eq!(s["total"]["misses"], 4, "{s}");
    assert_eq!(s["total"]["size"], 2, "{s}");
}

/// Requests for a client that does not exist are remembered as absent: a flood of them is
/// not a flood of queries.
#[test]
fn unknown_clients_are_cached_as_absent() {
    let db = TestDb::new();
    let server = one_shard(&db, &[]);
    for _ in 0..50 {
        assert_eq!(token(&server, "ghost", "x"), 401);
    }
    assert_eq!(total(&server, "misses"), 1);
    assert_eq!(total(&server, "client_queries"), 1);
    // Adding it announces it, so it works at once.
    let secret = db.add_client("ghost", "read");
    eventually("a new client is usable", Duration::from_secs(1), || {
        let status = token(&server, "ghost", &secret);
        ok_if(status == 200, status)
    });
}

/// Warm every shard's cache with the client, over many connections.
fn warm(server: &Server, id: &str, secret: &str) {
    for _ in 0..40 {
        assert_eq!(token(server, id, secret), 200);
    }
}

/// 40 requests in a row (over fresh connections, so across shards) all get `status` within
/// a second of `since`.
fn all_shards_answer(server: &Server, id: &str, secret: &str, status: u16, since: Instant) {
    let left = Duration::from_secs(1).saturating_sub(since.elapsed());
    eventually(&format!("every shard answers {status}"), left, || {
        let statuses: Vec<u16> = (0..40).map(|_| token(server, id, secret)).collect();
        ok_if(statuses.iter().all(|s| *s == status), statuses)
    });
}

#[test]
fn rotated_secret_is_refused_on_every_shard_within_a_second() {
    let db = TestDb::new();
    let old = db.add_client("rotating", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    warm(&server, "rotating", &old);
    let out = db.edgeauth(&["client", "rotate-secret", "rotating"]);
    let rotated = Instant::now();
    assert!(out.status.success());
    let new: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all_shards_answer(&server, "rotating", &old, 401, rotated);
    all_shards_answer(
        &server,
        "rotating",
        new["client_secret"].as_str().unwrap(),
        200,
        rotated,
    );
}

#[test]
fn disabled_client_is_refused_on_every_shard_within_a_second() {
    let db = TestDb::new();
    let secret = db.add_client("disabling", "read");
    let server = Server::start(&db);
    warm(&server, "disabling", &secret);
    assert!(
        db.edgeauth(&["client", "disable", "disabling"])
            .status
            .success()
    );
    all_shards_answer(&server, "disabling", &secret, 401, Instant::now());
}

/// An invalidation sent to one instance reaches a second instance sharing the database.
/// The row is changed behind edgeauth's back (no NOTIFY), so only the invalidation can make
/// the second instance see it.
#[test]
fn invalidation_reaches_a_second_instance() {
    let db = TestDb::new();
    let secret = db.add_client("shared", "read");
    // The disabled client's refusals are failed authentications, dozens from one address.
    let env = [
        ("EDGEAUTH_ADMIN_TOKEN", ADMIN),
        ("EDGEAUTH_AUTH_FAILURES_PER_ADDRESS", "0"),
        ("EDGEAUTH_AUTH_FAILURES_PER_CLIENT", "0"),
    ];
    let first = Server::start_with(&db, &env);
    let second = Server::start_with(&db, &env);
    warm(&second, "shared", &secret);
    db.psql("UPDATE clients SET disabled = true WHERE client_id = 'shared'");
    assert_eq!(
        token(&second, "shared", &secret),
        200,
        "still cached: the change was silent"
    );

    let body = "client_id=shared";
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    let r = first.request(&post(
        "/admin/cache/invalidate",
        "application/x-www-form-urlencoded",
        body,
        &auth,
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["invalidated"], "shared");
    all_shards_answer(&second, "shared", &secret, 401, Instant::now());

    // all=true clears everything, as JSON too.
    db.psql("UPDATE clients SET disabled = false WHERE client_id = 'shared'");
    let r = first.request(&post(
        "/admin/cache/invalidate",
        "application/json",
        r#"{"all":true}"#,
        &auth,
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["invalidated"], "*");
    all_shards_answer(&second, "shared", &secret, 200, Instant::now());
}

#[test]
fn admin_api_needs_the_token() {
    let db = TestDb::new();
    let server = one_shard(&db, &[]);
    let r = server.get("/admin/cache/stats");
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
    let r = server.request(b"GET /admin/cache/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong-token-wrong-token\r\n\r\n");
    assert_eq!(r.status, 401);
    let r = server.request(&post(
        "/admin/cache/invalidate",
        "application/x-www-form-urlencoded",
        "all=true",
        "",
    ));
    assert_eq!(r.status, 401);
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    let r = server.request(&post(
        "/admin/cache/invalidate",
        "application/x-www-form-urlencoded",
        "",
        &auth,
    ));
    assert_eq!(r.status, 400);

    // Without a configured admin token the admin API does not exist.
    let plain = Server::start(&db);
    assert_eq!(plain.get("/admin/cache/stats").status, 404);
}

/// cache_capacity = 0 turns the cache off: every request looks its client up.
#[test]
fn cache_can_be_switched_off() {
    let db = TestDb::new();
    let secret = db.add_client("uncached", "read");
    let server = one_shard(&db, &[("EDGEAUTH_CACHE_CAPACITY", "0")]);
    for _ in 0..5 {
        assert_eq!(token(&server, "uncached", &secret), 200);
    }
    assert_eq!(total(&server, "hits"), 0);
    assert_eq!(total(&server, "size"), 0);
}

/// Many connections asking for the same uncached client at once share one query. The table
/// is locked while the requests arrive, so that every one of them misses and waits on the
/// first one's look-up (without the lock, a slow sender could find the answer cached).
#[test]
fn concurrent_misses_share_one_query() {
    let db = TestDb::new();
    let secret = db.add_client("herd", "read");
    let server = one_shard(&db, &[]);
    let locker = {
        let url = db.url.clone();
        std::thread::spawn(move || {
            psql(
                &url,
                "BEGIN; LOCK TABLE clients IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;",
            )
        })
    };
    eventually("the table locked", Duration::from_secs(5), || {
        let locks = db.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'clients'::regclass");
        ok_if(locks == "1", locks)
    });
    let request = token_request_basic("herd", &secret, "grant_type=client_credentials");
    let mut conns: Vec<Conn> = (0..32).map(|_| server.connect()).collect();
    for c in &mut conns {
        c.send(&request).unwrap();
    }
    for c in &mut conns {
        assert_eq!(c.read_response().unwrap().status, 200);
    }
    locker.join().unwrap();
    let s = stats(&server);
    // Every request missed; the first queried, the others joined its look-up.
    assert_eq!(s["total"]["client_queries"], 1, "{s}");
    assert_eq!(s["total"]["misses"], 32, "{s}");
    assert_eq!(s["total"]["hits"], 0, "{s}");
}

/// Notifications sent while a shard's connection is down are lost, so a shard clears its
/// cache when it reconnects: a change made meanwhile is seen at once.
#[test]
fn reconnect_clears_the_cache() {
    let db = TestDb::new();
    let secret = db.add_client("reconnecting", "read");
    let server = one_shard(&db, &[]);
    warm(&server, "reconnecting", &secret);
    // Change the row silently, then cut the server's connection.
    db.psql("UPDATE clients SET disabled = true WHERE client_id = 'reconnecting'");
    assert_eq!(token(&server, "reconnecting", &secret), 200, "still cached");
    db.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'edgeauth' AND datname = current_database()",
    );
    eventually("cache cleared on reconnect", Duration::from_secs(5), || {
        let status = token(&server, "reconnecting", &secret);
        ok_if(status == 401, status)
    });
}

/// A flood of requests for unknown, ever-different client ids (each one a look-up) from many
/// connections: the look-ups at the database are bounded (the rest get 503), and a cached
/// client keeps getting every token meanwhile.
#[test]
fn a_flood_of_unknown_clients_does_not_starve_a_cached_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let db = TestDb::new();
    let secret = db.add_client("steady", "read");
    let server = one_shard(&db, &[]);
    let addr = server.addr;
    let timed_tokens = |n: usize| -> (usize, Duration) {
        let mut conn = Conn::new(addr);
        let request = token_request_basic("steady", &secret, "grant_type=client_credentials");
        let mut latencies: Vec<Duration> = Vec::with_capacity(n);
        let mut ok = 0;
        for _ in 0..n {
            let started = Instant::now();
            ok += usize::from(conn.request(&request).status == 200);
            latencies.push(started.elapsed());
        }
        latencies.sort();
        (ok, latencies[n * 99 / 100])
    };
    let (quiet_ok, quiet_p99) = timed_tokens(500);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..48)
        .map(|t| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::new(addr);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("ghost-{t}-{i}");
                    let r = conn.request(&token_request_basic(
                        &id,
                        "x",
                        "grant_type=client_credentials",
                    ));
                    assert!([401, 503].contains(&r.status), "{}", r.status);
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (flood_ok, flood_p99) = timed_tokens(500);
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    eprintln!(
        "cached client: {quiet_ok}/500 and p99 {quiet_p99:?} alone; {flood_ok}/500 and p99 {flood_p99:?} during {} unknown-client requests",
        sent.load(Ordering::Relaxed)
    );
    assert_eq!(quiet_ok, 500);
    assert_eq!(
        flood_ok, 500,
        "the cached client got every token during the flood"
    );
    assert!(
        server.metric("edgeauth_client_lookups_refused_total") > 0,
        "the bound was reached"
    );
}
