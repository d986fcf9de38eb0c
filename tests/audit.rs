//! Audit events through the real binary and CLI: one JSON line per client change (CLI and
//! admin API), revocation, admin call, key reload and failed authentication (with its
//! reason and source address), appended to `audit_log`; a flood of failures is bounded and
//! counted; no secret is ever written.

mod common;

use std::time::Duration;

use common::*;

const ADMIN: &str = "audit-admin-token-0123456789abcdef";

fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn named<'a>(all: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    all.iter().filter(|e| e["event"] == event).collect()
}

/// `edgeauth client ...` against `db`, auditing to `log`.
fn cli(db: &TestDb, log: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let args = [&["client"], args].concat();
    let out = db.edgeauth_with(&args, &[("EDGEAUTH_AUDIT_LOG", log.as_os_str())]);
    serde_json::from_str(&stdout_of(out, "")).unwrap()
}

#[test]
fn every_kind_of_event_is_one_json_line() {
    let db = TestDb::new();
    let log = std::env::temp_dir()
        .join(unique_name("audit"))
        .with_extension("log");
    let added = cli(&db, &log, &["add", "svc", "--scopes", "read"]);
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    cli(&db, &log, &["disable", "svc"]);
    cli(&db, &log, &["enable", "svc"]);
    let log_text = log.to_str().unwrap();
    let mut server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_AUDIT_LOG", log_text),
            ("EDGEAUTH_ADMIN_TOKEN", ADMIN),
            ("EDGEAUTH_SHARDS", "1"),
        ],
    );
    assert_eq!(
        server
            .token_basic("svc", "wrong", "grant_type=client_credentials")
            .status,
        401
    );
    assert_eq!(
        server
            .token_basic("ghost", "x", "grant_type=client_credentials")
            .status,
        401
    );
    let token = eventually("a token once enabled", Duration::from_secs(5), || {
        server.access_token("svc", &secret)
    });
    let revoke = post(
        "/oauth/revoke",
        "application/x-www-form-urlencoded",
        &format!("token={token}"),
        &format!("Authorization: Basic {}\r\n", basic_auth("svc", &secret)),
    );
    assert_eq!(server.request(&revoke).status, 200);
    let admin = |token: &str| {
        post(
            "/admin/clients/svc/revoke-tokens",
            "application/json",
            "",
            &format!("Authorization: Bearer {token}\r\n"),
        )
    };
    assert_eq!(server.request(&admin(ADMIN)).status, 204);
    assert_eq!(
        server
            .request(&admin("not-the-admin-token-0123456789abcdef"))
            .status,
        401
    );
    let json = |method: &str, path: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let patched = server
        .request(json("PATCH", "/admin/clients/svc", r#"{"scopes":"read write"}"#).as_bytes());
    assert_eq!(patched.status, 200);
    let rotated = server.request(
        json(
            "POST",
            "/admin/clients/svc/rotate-secret",
            r#"{"grace":"1m"}"#,
        )
        .as_bytes(),
    );
    assert_eq!(rotated.status, 200);
    let rotated_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    let created =
        server.request(json("POST", "/admin/clients", r#"{"client_id":"svc2"}"#).as_bytes());
    assert_eq!(created.status, 201);
    let created_secret = created.json()["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .request(json("DELETE", "/admin/clients/svc2", "").as_bytes())
            .status,
        204
    );
    server.signal(libc::SIGHUP);
    eventually("the reload event", Duration::from_secs(5), || {
        let n = named(&events(&log), "keys.reloaded").len();
        ok_if(n == 1, n)
    });
    assert_eq!(server.stop(), Some(0));

    let all = events(&log);
    assert!(
        all.iter()
            .all(|e| e["audit"] == true && e["ts"].is_string()),
        "{all:?}"
    );
    for (event, client, via) in [
        ("client.added", "svc", "cli"),
        ("client.disabled", "svc", "cli"),
        ("client.enabled", "svc", "cli"),
        ("client.updated", "svc", "api"),
        ("client.secret_rotated", "svc", "api"),
        ("client.added", "svc2", "api"),
        ("client.deleted", "svc2", "api"),
    ] {
        let found: Vec<_> = named(&all, event)
            .into_iter()
            .filter(|e| e["client_id"] == client)
            .collect();
        assert_eq!(found.len(), 1, "{event} {client}: {all:?}");
        assert_eq!(found[0]["via"].as_str(), Some(via), "{event}");
    }
    assert_eq!(named(&all, "client.updated")[0]["changed"], "scopes");
    assert_eq!(named(&all, "client.secret_rotated")[0]["grace_s"], 60);
    let failed = named(&all, "client.authentication_failed");
    let reasons: Vec<&str> = failed
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["wrong_secret", "unknown_client"], "{failed:?}");
    assert!(failed.iter().all(|e| e["source"] == "127.0.0.1"));
    assert_eq!(named(&all, "token.revoked")[0]["client_id"], "svc");
    let api = named(&all, "client.tokens_revoked");
    assert_eq!((api.len(), api[0]["via"].as_str()), (1, Some("api")));
    let calls: Vec<u64> = named(&all, "admin.call")
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(calls, [204, 401, 200, 200, 201, 204]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        [&secret, ADMIN, &token, &rotated_secret, &created_secret]
            .iter()
            .all(|s| !text.contains(*s)),
        "no secret is written"
    );
}

#[test]
fn a_flood_of_failures_is_bounded_and_counted() {
    let db = TestDb::new();
    let log = std::env::temp_dir()
        .join(unique_name("audit"))
        .with_extension("log");
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_AUDIT_LOG", log.to_str().unwrap()),
            ("EDGEAUTH_SHARDS", "1"),
        ],
    );
    let mut conn = server.connect();
    for _ in 0..400 {
        let r = conn.request(&token_request_basic(
            "nobody",
            "guess",
            "grant_type=client_credentials",
        ));
        assert_eq!(r.status, 401);
    }
    let burst = edgeauth::limits::AUDITED_AUTH_FAILURES_BURST as usize;
    let written = named(&events(&log), "client.authentication_failed").len();
    assert!(
        written >= burst && written < burst + 50,
        "{written} events for 400 failures"
    );
    // Later, the next event says how many were left out.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        conn.request(&token_request_basic(
            "nobody",
            "guess",
            "grant_type=client_credentials"
        ))
        .status,
        401
    );
    let all = events(&log);
    let last = named(&all, "client.authentication_failed")
        .last()
        .copied()
        .unwrap()
        .clone();
    assert!(last["suppressed_before"].as_u64().unwrap() > 0, "{last}");
    assert_eq!(last["reason"], "too_many_failures");
}
