//! A client's whole life through the admin API on the real binary with two shards: create,
//! tokens, a secret rotated with a grace (both secrets, then only the new), PATCH, revoke
//! its tokens, revoke one token by jti, delete; each change seen by connections on every
//! shard within a second. And PATCH's bad input and concurrent changes of one client.

mod common;

use std::time::{Duration, Instant};

use common::*;

const ADMIN: &str = "lifecycle-admin-token-0123456789abcdef";

/// A change must reach every shard within this.
const PROPAGATION: Duration = Duration::from_secs(1);

fn admin(server: &Server, method: &str, path: &str, json: &str) -> Response {
    let body = if json.is_empty() {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 0\r\n\r\n"
        )
    } else {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )
    };
    server.request(body.as_bytes())
}

/// Keep-alive connections that, between them, reach both shards: each has got a token for
/// `id`, and each shard's cache holds the client.
fn connections_on_every_shard(server: &Server, id: &str, secret: &str) -> Vec<Conn> {
    let mut conns = Vec::new();
    for _ in 0..64 {
        let mut conn = server.connect();
        let r = conn.request(&token_request_basic(
            id,
            secret,
            "grant_type=client_credentials",
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        conns.push(conn);
        let stats = admin(server, "GET", "/admin/cache/stats", "").json();
        let shards = stats["shards"].as_array().unwrap();
        if conns.len() >= 4 && shards.iter().all(|s| s["size"].as_u64() > Some(0)) {
            return conns;
        }
    }
    panic!("64 connections did not reach both shards");
}

/// The token endpoint's status for these credentials on each connection.
fn statuses(conns: &mut [Conn], id: &str, secret: &str) -> Vec<u16> {
    conns
        .iter_mut()
        .map(|c| {
            c.request(&token_request_basic(
                id,
                secret,
                "grant_type=client_credentials",
            ))
            .status
        })
        .collect()
}

/// Wait (at most `PROPAGATION`) until every connection answers `want` for these
/// credentials; returns how long it took.
fn everywhere(conns: &mut [Conn], id: &str, secret: &str, want: u16) -> Duration {
    let start = Instant::now();
    let seen = poll_until(PROPAGATION, || {
        let seen = statuses(conns, id, secret);
        ok_if(seen.iter().all(|&s| s == want), seen)
    });
    assert!(seen.is_ok(), "{id}: want {want} everywhere, {seen:?}");
    start.elapsed()
}

fn introspect_on(conn: &mut Conn, id: &str, secret: &str, token: &str) -> serde_json::Value {
    let form = format!("token={token}");
    let r = conn.request(&post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &form,
        &format!("Authorization: Basic {}\r\n", basic_auth(id, secret)),
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Wait until `token` introspects as `active` on every connection.
fn active_everywhere(conns: &mut [Conn], id: &str, secret: &str, token: &str, active: bool) {
    let seen = poll_until(PROPAGATION, || {
        let seen: Vec<bool> = conns
            .iter_mut()
            .map(|c| introspect_on(c, id, secret, token)["active"] == active)
            .collect();
        ok_if(seen.iter().all(|&s| s), seen)
    });
    assert!(seen.is_ok(), "active={active} not everywhere: {seen:?}");
}

#[test]
fn a_client_life_through_the_api_reaches_every_shard_within_a_second() {
    let db = TestDb::new();
    let resource_server = db.add_client("resource-server", "");
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_ADMIN_TOKEN", ADMIN), ("EDGEAUTH_SHARDS", "2")],
    );
    let r = admin(
        &server,
        "POST",
        "/admin/clients",
        r#"{"client_id":"billing","scopes":"read write"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let first = r.json()["client_secret"].as_str().unwrap().to_owned();
    let mut conns = connections_on_every_shard(&server, "billing", &first);
    let mut introspectors =
        connections_on_every_shard(&server, "resource-server", &resource_server);

    // Rotation with a grace: the new secret works at once everywhere, the old one too.
    let r = admin(
        &server,
        "POST",
        "/admin/clients/billing/rotate-secret",
        r#"{"grace":"3s"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rotated_at = Instant::now();
    assert_eq!(r.json()["client_id"], "billing");
    let second = r.json()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    everywhere(&mut conns, "billing", &second, 200);
    assert!(
        statuses(&mut conns, "billing", &first)
            .iter()
            .all(|&s| s == 200)
    );
    // After the grace, only the new one, with nothing but time passing.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(rotated_at.elapsed()));
    everywhere(&mut conns, "billing", &first, 401);
    everywhere(&mut conns, "billing", &second, 200);

    // Without a grace the old secret stops at once.
    let r = admin(&server, "POST", "/admin/clients/billing/rotate-secret", "");
    assert_eq!(r.status, 200);
    let third = r.json()["client_secret"].as_str().unwrap().to_owned();
    everywhere(&mut conns, "billing", &second, 401);
    everywhere(&mut conns, "billing", &third, 200);

    // PATCH: a narrower scope set, seen everywhere.
    let r = admin(
        &server,
        "PATCH",
        "/admin/clients/billing",
        r#"{"scopes":"read"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["scopes"], "read");
    let write = poll_until(PROPAGATION, || {
        let seen: Vec<u16> = conns
            .iter_mut()
            .map(|c| {
                c.request(&token_request_basic(
                    "billing",
                    &third,
                    "grant_type=client_credentials&scope=write",
                ))
                .status
            })
            .collect();
        ok_if(seen.iter().all(|&s| s == 400), seen)
    });
    assert!(write.is_ok(), "scope write still granted: {write:?}");

    // revoke-tokens: every token issued so far is inactive everywhere; new ones work.
    let before = server.access_token("billing", &third).unwrap();
    active_everywhere(
        &mut introspectors,
        "resource-server",
        &resource_server,
        &before,
        true,
    );
    assert_eq!(
        admin(&server, "POST", "/admin/clients/billing/revoke-tokens", "").status,
        204
    );
    active_everywhere(
        &mut introspectors,
        "resource-server",
        &resource_server,
        &before,
        false,
    );
    std::thread::sleep(Duration::from_millis(1100));
    let after = server.access_token("billing", &third).unwrap();
    active_everywhere(
        &mut introspectors,
        "resource-server",
        &resource_server,
        &after,
        true,
    );

    // One token by its jti.
    let jti = verify(&server, &after, &server.issuer()).claims["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let revocation = format!(r#"{{"jti":"{jti}"}}"#);
    assert_eq!(
        admin(&server, "POST", "/admin/revocations", &revocation).status,
        204
    );
    active_everywhere(
        &mut introspectors,
        "resource-server",
        &resource_server,
        &after,
        false,
    );
    assert_eq!(
        admin(&server, "POST", "/admin/revocations", &revocation).status,
        204,
        "revoking twice is no error"
    );

    // Disable, enable, delete.
    let r = admin(
        &server,
        "PATCH",
        "/admin/clients/billing",
        r#"{"disabled":true}"#,
    );
    assert_eq!(
        (r.status, &r.json()["disabled"]),
        (200, &serde_json::json!(true))
    );
    everywhere(&mut conns, "billing", &third, 401);
    admin(
        &server,
        "PATCH",
        "/admin/clients/billing",
        r#"{"disabled":false}"#,
    );
    everywhere(&mut conns, "billing", &third, 200);
    assert_eq!(
        admin(&server, "DELETE", "/admin/clients/billing", "").status,
        204
    );
    everywhere(&mut conns, "billing", &third, 401);
}

#[test]
fn rotation_and_revocation_refuse_bad_input() {
    let db = TestDb::new();
    db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let r = admin(
        &server,
        "POST",
        "/admin/clients",
        &format!(r#"{{"client_id":"keyed","jwks":{jwks}}}"#),
    );
    assert_eq!(r.status, 201);
    // A UUIDv4, and a UUIDv7 minted in the year 10889.
    let not_ours = r#"{"jti":"9b2a3f5e-8c1d-4e6f-a7b8-0c1d2e3f4a5b"}"#;
    let future = r#"{"jti":"ffffffff-ffff-7abc-8def-0123456789ab"}"#;
    for (method, path, body, status, code) in [
        (
            "POST",
            "/admin/clients/nobody/rotate-secret",
            "",
            404,
            "not_found",
        ),
        (
            "POST",
            "/admin/clients/keyed/rotate-secret",
            "",
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/clients/svc/rotate-secret",
            r#"{"grace":"8d"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/clients/svc/rotate-secret",
            r#"{"grace":"soon"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/clients/svc/rotate-secret",
            r#"{"grace":10}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/clients/svc/rotate-secret",
            r#"{"colour":"red"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/revocations",
            not_ours,
            400,
            "invalid_request",
        ),
        ("POST", "/admin/revocations", future, 400, "invalid_request"),
        (
            "POST",
            "/admin/revocations",
            r#"{"jti":"nope"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/revocations",
            r#"{}"#,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/revocations",
            "",
            415,
            "unsupported_media_type",
        ),
    ] {
        let r = admin(&server, method, path, body);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (status, Some(code)),
            "{method} {path} {body}"
        );
    }
    // A body over the server's bound is refused before it is read.
    let r = server.request(
        format!("POST /admin/clients HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 70 * 1024)
            .as_bytes(),
    );
    assert_eq!(r.status, 413);
    // None of that changed the secret client.
    assert!(
        db.psql("SELECT previous_secret_hash IS NULL FROM clients WHERE client_id = 'svc'")
            .contains('t')
    );
}

#[test]
fn patch_changes_what_it_names_in_one_statement_and_refuses_bad_input() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read write");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let r = admin(
        &server,
        "PATCH",
        "/admin/clients/svc",
        r#"{"audience":"https://api.example","token_ttl":"2m","claims":{"tenant":"acme"},"rate":{"per_second":100,"burst":10},"resources":["https://api.example"]}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let client = r.json();
    assert_eq!(client["audience"], "https://api.example");
    assert_eq!(client["token_ttl"], "2m");
    assert_eq!(client["scopes"], "read write", "untouched");
    let claims = poll_until(PROPAGATION, || {
        let token = server.access_token("svc", &secret).unwrap();
        let claims = verify(&server, &token, "https://api.example").claims;
        ok_if(claims["tenant"] == "acme", claims)
    })
    .expect("the patched claims in a token");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );

    // null puts a setting back to the server's default.
    let r = admin(
        &server,
        "PATCH",
        "/admin/clients/svc",
        r#"{"audience":null,"token_ttl":null,"rate":null}"#,
    );
    assert_eq!(r.status, 200);
    let client = r.json();
    assert!(
        client["audience"].is_null() && client["token_ttl"].is_null() && client["rate"].is_null()
    );

    let before =
        db.psql("SELECT allowed_scopes, claims, updated_at FROM clients WHERE client_id = 'svc'");
    for (body, status) in [
        (r#"{"scopes":"a\"b"}"#, 400),
        (r#"{"scopes":"read","colour":"red"}"#, 400),
        (r#"{"disabled":"yes"}"#, 400),
        (r#"{"token_ttl":"2d"}"#, 400),
        (r#"{"claims":{"iss":"me"}}"#, 400),
        (r#"{"rate":{"per_second":-1}}"#, 400),
        (r#"{"client_id":"other"}"#, 400),
        (r#"{}"#, 400),
        (r#"{"auth_method":"private_key_jwt"}"#, 400),
        // A credential of another method: the client keeps its method.
        (r#"{"tls_subject":"CN=svc"}"#, 400),
        ("[1]", 400),
    ] {
        let r = admin(&server, "PATCH", "/admin/clients/svc", body);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (status, Some("invalid_request")),
            "{body}"
        );
    }
    // A valid scope change together with an invalid claim: nothing written.
    let r = admin(
        &server,
        "PATCH",
        "/admin/clients/svc",
        r#"{"scopes":"admin","claims":{"exp":1}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        db.psql("SELECT allowed_scopes, claims, updated_at FROM clients WHERE client_id = 'svc'"),
        before,
        "nothing half-written"
    );
    assert_eq!(
        admin(
            &server,
            "PATCH",
            "/admin/clients/nobody",
            r#"{"disabled":true}"#
        )
        .status,
        404
    );
    assert_eq!(
        admin(
            &server,
            "PATCH",
            "/admin/clients/a%20b",
            r#"{"disabled":true}"#
        )
        .status,
        400
    );
}

#[test]
fn concurrent_patches_of_one_client_lose_nothing() {
    let db = TestDb::new();
    db.add_client("svc", "read");
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_ADMIN_TOKEN", ADMIN), ("EDGEAUTH_SHARDS", "2")],
    );
    let bodies = [
        r#"{"scopes":"read write"}"#,
        r#"{"audience":"https://a.example"}"#,
        r#"{"token_ttl":"90s"}"#,
        r#"{"claims":{"tenant":"acme"}}"#,
        r#"{"rate":{"per_second":5,"burst":5}}"#,
        r#"{"require_dpop":true}"#,
        r#"{"resources":["https://r.example"]}"#,
    ];
    // Each body 10 times, all at once from 7 threads.
    std::thread::scope(|s| {
        for body in bodies {
            let server = &server;
            s.spawn(move || {
                for _ in 0..10 {
                    let r = admin(server, "PATCH", "/admin/clients/svc", body);
                    assert_eq!(
                        r.status,
                        200,
                        "{body}: {}",
                        String::from_utf8_lossy(&r.body)
                    );
                }
            });
        }
    });
    let client = admin(&server, "GET", "/admin/clients/svc", "").json();
    assert_eq!(client["scopes"], "read write");
    assert_eq!(client["audience"], "https://a.example");
    assert_eq!(client["token_ttl"], "90s");
    assert_eq!(client["claims"], serde_json::json!({"tenant": "acme"}));
    assert_eq!(
        client["rate"],
        serde_json::json!({"per_second": 5.0, "burst": 5})
    );
    assert_eq!(client["require_dpop"], true);
    assert_eq!(
        client["resources"],
        serde_json::json!(["https://r.example"])
    );
}

#[test]
fn the_cli_rotates_with_a_grace_through_the_same_statement() {
    let db = TestDb::new();
    let first = db.add_client("svc", "read");
    let server = Server::start(&db);
    let out = db.edgeauth(&["client", "rotate-secret", "svc", "--grace", "1m"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = second["client_secret"].as_str().unwrap().to_owned();
    let both = poll_until(PROPAGATION, || {
        let seen = (
            server.access_token("svc", &first),
            server.access_token("svc", &second),
        );
        ok_if(seen.0.is_ok() && seen.1.is_ok(), seen)
    });
    assert!(both.is_ok(), "{both:?}");
    let shown = db.edgeauth(&["client", "show", "svc"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(
        shown["previous_secret_expires_at"].as_u64().is_some(),
        "{shown}"
    );
    let out = db.edgeauth(&["client", "rotate-secret", "svc", "--grace", "8d"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("grace"));
}

#[test]
fn a_deleted_clients_tokens_stay_inactive_when_its_id_is_registered_again() {
    let db = TestDb::new();
    let resource_server = db.add_client("resource-server", "");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let create = r#"{"client_id":"reused","scopes":"read"}"#;
    let r = admin(&server, "POST", "/admin/clients", create);
    let first = r.json()["client_secret"].as_str().unwrap().to_owned();
    let old = server.access_token("reused", &first).unwrap();
    assert_eq!(
        admin(&server, "DELETE", "/admin/clients/reused", "").status,
        204
    );
    let r = admin(&server, "POST", "/admin/clients", create);
    assert_eq!(r.status, 201);
    let second = r.json()["client_secret"].as_str().unwrap().to_owned();
    // A token of the registration's own millisecond counts as older than it.
    std::thread::sleep(Duration::from_millis(5));
    let new = poll_until(PROPAGATION, || server.access_token("reused", &second))
        .expect("a token for the new registration");
    let mut conn = server.connect();
    assert_eq!(
        introspect_on(&mut conn, "resource-server", &resource_server, &old)["active"],
        false,
        "the old registration's token"
    );
    assert_eq!(
        introspect_on(&mut conn, "resource-server", &resource_server, &new)["active"],
        true
    );
}
