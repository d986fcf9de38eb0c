//! Per-client token rates through the real binary: a client over its rate gets 429 with
//! `Retry-After` and recovers; the server's default applies to clients without a rate of
//! their own; a change (`client set-rate`) reaches every shard; two shards together stay
//! within the rate; failed authentications take nothing from a client's bucket.

mod common;

use std::time::Duration;

use common::*;

fn token(server: &Server, id: &str, secret: &str) -> Response {
    server.token_basic(id, secret, "grant_type=client_credentials")
}

#[test]
fn over_its_rate_a_client_gets_429_then_recovers() {
    let db = TestDb::new();
    let limited = db.add_client_with(
        "limited",
        &["--scopes", "read", "--rate", "2/s", "--burst", "3"],
    );
    let free = db.add_client("free", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    for i in 0..3 {
        assert_eq!(token(&server, "limited", &limited).status, 200, "burst {i}");
    }
    let r = token(&server, "limited", &limited);
    assert_eq!(r.status, 429, "{:?}", r.json());
    assert_eq!(r.json()["error"], "too_many_requests");
    let retry_after: u64 = r
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert_eq!(
        retry_after, 1,
        "a token every 0.5 s: the next within a second"
    );
    // Another client is not affected; wrong secrets take nothing from the bucket.
    for _ in 0..10 {
        assert_eq!(token(&server, "free", &free).status, 200);
        assert_eq!(token(&server, "limited", "wrong").status, 401);
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        token(&server, "limited", &limited).status,
        200,
        "refilled at 2/s"
    );
    let shown: serde_json::Value =
        serde_json::from_slice(&db.edgeauth(&["client", "show", "limited"]).stdout).unwrap();
    assert_eq!(
        shown["rate"],
        serde_json::json!({"per_second": 2.0, "burst": 3})
    );
}

#[test]
fn the_default_rate_and_changes_to_a_clients_rate() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_CLIENT_RATE_DEFAULT", "1/h burst 2"),
        ],
    );
    assert_eq!(token(&server, "svc", &secret).status, 200);
    assert_eq!(token(&server, "svc", &secret).status, 200);
    let r = token(&server, "svc", &secret);
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").unwrap().parse::<u64>().unwrap() > 1000);

    // Its own rate replaces the default on every shard, at once.
    let out = db.edgeauth(&["client", "set-rate", "svc", "--rate", "1000/s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the new rate", Duration::from_secs(5), || {
        let status = token(&server, "svc", &secret).status;
        ok_if(status == 200, status)
    });
    for _ in 0..20 {
        assert_eq!(token(&server, "svc", &secret).status, 200);
    }
    let out = db.edgeauth(&["client", "set-rate", "svc", "--rate", "nonsense"]);
    assert!(!out.status.success());
    let out = db.edgeauth(&["client", "set-rate", "ghost", "--rate", "1/s"]);
    assert!(!out.status.success());
}

/// Each shard enforces half of a two-shard instance's rate, so however connections spread,
/// the instance issues at most the burst at once.
#[test]
fn two_shards_together_stay_within_the_burst() {
    let db = TestDb::new();
    let secret = db.add_client_with(
        "spread",
        &["--scopes", "read", "--rate", "1/h", "--burst", "8"],
    );
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let granted = (0..40)
        .filter(|_| token(&server, "spread", &secret).status == 200)
        .count();
    assert!(granted <= 8, "{granted} tokens from a burst of 8");
    assert!(
        granted >= 4,
        "{granted}: each shard grants its half of the burst"
    );
}
