//! PostgreSQL goes away and comes back while requests keep arriving. This test runs its own
//! cluster (scripts/pg.sh) so that stopping it disturbs no other test.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;

/// PostgreSQL stops in the middle of a stream of token requests and starts again.
///
/// - A cached client keeps getting tokens; they wait in the shard's buffer.
/// - A client not in the cache gets 503 with Retry-After (it cannot be authenticated).
/// - When a shard has `max_pending` tokens unwritten, it answers 503 instead of issuing
///   tokens it cannot record.
/// - `/readyz` says 503 while the database is away.
///
/// After the restart the server recovers by itself, the buffered tokens are written, and
/// every token that got a 200 is in `tokens`, exactly once.
#[test]
fn database_restart_mid_stream() {
    let cluster = OwnCluster::start();
    let db = cluster.db();
    let secret = db.add_client("steady", "read");
    let cold_secret = db.add_client("cold", "read");
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_BATCH_SIZE", "50"),
            ("EDGEAUTH_MAX_PENDING", "300"),
        ],
    );
    let request = token_request_basic("steady", &secret, "grant_type=client_credentials");
    let mut issued = HashSet::new();
    let mut conn = server.connect();
    for _ in 0..50 {
        let r = conn.request(&request);
        assert_eq!(r.status, 200);
        issued.insert(jti_of(&r));
    }
    assert_eq!(db.wait_token_rows(50), 50);

    cluster.stop();
    // Until the buffer is full, the cached client is served; then 503 with Retry-After.
    let mut refused = 0;
    let mut during_outage = 0;
    let outage = Instant::now();
    while refused < 20 {
        assert!(
            outage.elapsed() < Duration::from_secs(20),
            "no back-pressure: {}",
            server.log()
        );
        let r = server.request(&request);
        match r.status {
            200 => {
                issued.insert(jti_of(&r));
                during_outage += 1;
            }
            503 => {
                refused += 1;
                assert_eq!(r.header("Retry-After"), Some("1"));
                assert_eq!(r.json()["error"], "temporarily_unavailable");
            }
            other => panic!(
                "during the outage: {other} {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
    }
    assert!(
        during_outage > 0,
        "a cached client is served while the database is away"
    );
    assert!(
        during_outage <= 300,
        "no more than max_pending tokens wait unrecorded"
    );
    let r = server.token_basic("cold", &cold_secret, "grant_type=client_credentials");
    assert_eq!(r.status, 503, "an uncached client cannot be authenticated");
    assert_eq!(server.get("/readyz").status, 503);

    cluster.restart();
    let mut recovered = 0;
    eventually(
        "20 tokens after the restart",
        Duration::from_secs(20),
        || {
            let r = server.request(&request);
            match r.status {
                200 => {
                    issued.insert(jti_of(&r));
                    recovered += 1;
                }
                status => assert_eq!(status, 503),
            }
            ok_if(recovered >= 20, recovered)
        },
    );
    assert_eq!(server.get("/readyz").status, 200);
    // The shard mirrors the session's reconnect count when it handles `Connected`, an
    // instant after the session is usable.
    eventually("reconnect counted", Duration::from_secs(20), || {
        let reconnects = server.metric("edgeauth_pg_reconnects_total");
        ok_if(reconnects >= 1, reconnects)
    });
    assert_eq!(server.metric("edgeauth_pg_reconnects_total"), 1);
    assert_eq!(server.metric("edgeauth_pg_connected"), 1);
    // The log says why the connection went, and why reconnecting failed meanwhile.
    let log = server.log();
    let cause_of = |message: &str| {
        let line = log
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("no {message:?}: {log}"));
        let fields: serde_json::Value = serde_json::from_str(line).unwrap();
        fields["cause"].as_str().unwrap_or_default().to_owned()
    };
    assert!(!cause_of("database connection lost").is_empty(), "{log}");
    assert!(
        !cause_of("cannot connect to the database").is_empty(),
        "{log}"
    );
    let r = server.token_basic("cold", &cold_secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200);
    issued.insert(jti_of(&r));

    let rows = db.wait_token_rows(issued.len() as i64);
    eventually(
        "every buffered token written",
        Duration::from_secs(30),
        || {
            let pending = server.metric("edgeauth_writer_pending");
            ok_if(pending == 0, pending)
        },
    );
    let recorded = db.recorded_jtis();
    assert!(issued.is_subset(&recorded), "every 200 is recorded");
    assert_eq!(
        recorded.len(),
        issued.len(),
        "nothing recorded twice or unissued"
    );
    assert_eq!(rows, issued.len() as i64);
}

/// Revocations arrive over the database session: without it a shard's revocation cache
/// goes stale. Introspection keeps answering for a while (a restart is no outage), then says
/// 503 rather than call a token active that may have been revoked; with the database back it
/// answers again.
#[test]
fn introspection_answers_503_once_revocations_are_too_stale() {
    let cluster = OwnCluster::start();
    let db = cluster.db();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    let token = server.access_token("svc", &secret).unwrap();
    let auth = format!("Authorization: Basic {}\r\n", basic_auth("svc", &secret));
    let introspect = || {
        let raw = post(
            "/oauth/introspect",
            "application/x-www-form-urlencoded",
            &format!("token={token}"),
            &auth,
        );
        let r = server.request(&raw);
        (r.status, r.json()["active"].clone())
    };
    assert_eq!(introspect(), (200, serde_json::json!(true)));

    cluster.stop();
    let stopped = Instant::now();
    assert_eq!(
        introspect(),
        (200, serde_json::json!(true)),
        "a short outage changes nothing"
    );
    eventually(
        "503 once revocations are stale",
        Duration::from_secs(20),
        || {
            let (status, _) = introspect();
            ok_if(status == 503, status)
        },
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(9),
        "not before the bound: {:?}",
        stopped.elapsed()
    );

    cluster.restart();
    eventually(
        "introspection back with the database",
        Duration::from_secs(20),
        || {
            let answer = introspect();
            ok_if(answer == (200, serde_json::json!(true)), answer)
        },
    );
}

/// The database stays up and connected but refuses the token writes: `tokens` is renamed
/// away, as a read-only standby after a fail-over or a distributed database with a node
/// down would refuse them. `/readyz` says so at the first failed write, while tokens are
/// still issued into the buffer; then the buffer fills and it says that. Once the table is
/// back, the buffered tokens land, each once, and the shard is ready again.
#[test]
fn readyz_follows_token_writes_not_only_the_connection() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_BATCH_SIZE", "10"),
            ("EDGEAUTH_MAX_PENDING", "100"),
            ("EDGEAUTH_FLUSH_INTERVAL", "50ms"),
        ],
    );
    let request = token_request_basic("svc", &secret, "grant_type=client_credentials");
    let mut conn = server.connect();
    let mut issued = HashSet::new();
    let ready = |conn: &mut Conn| {
        let r = conn.request(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
        (
            r.status,
            r.json()["reason"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(ready(&mut conn), (200, String::new()));

    db.psql("ALTER TABLE tokens RENAME TO tokens_away");
    let r = conn.request(&request);
    assert_eq!(r.status, 200);
    issued.insert(jti_of(&r));
    eventually(
        "not ready once a write fails",
        Duration::from_secs(20),
        || {
            let answer = ready(&mut conn);
            ok_if(answer == (503, "token writes failing".to_owned()), answer)
        },
    );
    let connected = server.metric("edgeauth_pg_connected");
    assert_eq!(connected, 1, "the session never dropped");
    loop {
        let r = conn.request(&request);
        if r.status == 503 {
            break;
        }
        assert_eq!(r.status, 200);
        issued.insert(jti_of(&r));
        assert!(issued.len() <= 100, "more than max_pending waiting");
    }
    assert_eq!(ready(&mut conn), (503, "token buffer full".to_owned()));

    db.psql("ALTER TABLE tokens_away RENAME TO tokens");
    eventually(
        "ready once the writes land",
        Duration::from_secs(20),
        || {
            let answer = ready(&mut conn);
            ok_if(answer.0 == 200, answer)
        },
    );
    assert_eq!(db.wait_token_rows(issued.len() as i64), issued.len() as i64);
    assert_eq!(db.recorded_jtis(), issued);
}
