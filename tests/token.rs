//! The token endpoint end to end: real binary, real PostgreSQL, real sockets.

mod common;

use common::*;

/// Basic auth + form body: a 200 with an RFC 9068 JWT that verifies against the JWKS, and a
/// row in `tokens` for its jti.
#[test]
fn basic_auth_form_body_issues_a_verifiable_recorded_token() {
    let db = TestDb::new();
    let secret = db.add_client("billing", "read write");
    let server = Server::start(&db);

    let r = server.token_basic(
        "billing",
        &secret,
        "grant_type=client_credentials&scope=read",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(r.header("Pragma"), Some("no-cache"));
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read");

    let issuer = format!("http://{}", server.addr);
    let token = verify(&server, body["access_token"].as_str().unwrap(), &issuer);
    let c = &token.claims;
    assert_eq!(c["iss"], issuer);
    assert_eq!(c["sub"], "billing");
    assert_eq!(c["client_id"], "billing");
    assert_eq!(c["aud"], issuer);
    assert_eq!(c["scope"], "read");
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        3600
    );
    let jti = c["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36);
    assert_eq!(token.header.alg, jsonwebtoken::Algorithm::ES256);

    db.wait_token_rows(1);
    let row = db.psql(&format!(
        "SELECT client_id, scope, extract(epoch from expires_at - issued_at)::int FROM tokens WHERE jti = '{jti}'"
    ));
    assert_eq!(row, "billing|read|3600");
}

/// client_secret_post with a form body, and the JSON body `ab -p token-request.json` sends.
#[test]
fn post_credentials_in_form_and_json_bodies() {
    let db = TestDb::new();
    let secret = db.add_client("svc-a", "read");
    let server = Server::start(&db);

    let form = format!("grant_type=client_credentials&client_id=svc-a&client_secret={secret}");
    let r = server.request(&post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &form,
        "",
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["scope"],
        "read",
        "no scope asked: all allowed scopes"
    );

    let json = format!(
        r#"{{"grant_type":"client_credentials","client_id":"svc-a","client_secret":"{secret}"}}"#
    );
    let r = server.request(&post("/oauth/token", "application/json", &json, ""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let issuer = format!("http://{}", server.addr);
    verify(&server, r.json()["access_token"].as_str().unwrap(), &issuer);
    assert_eq!(db.wait_token_rows(2), 2);
}

/// A client's own audience and lifetime override the server's.
#[test]
fn client_audience_and_ttl() {
    let db = TestDb::new();
    let secret = db.add_client_with(
        "svc-b",
        &[
            "--scopes",
            "a b",
            "--audience",
            "https://api.example",
            "--token-ttl",
            "5m",
        ],
    );
    let server = Server::start(&db);
    let r = server.token_basic(
        "svc-b",
        &secret,
        "grant_type=client_credentials&scope=b%20a",
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "b a");
    let token = verify(
        &server,
        body["access_token"].as_str().unwrap(),
        "https://api.example",
    );
    assert_eq!(token.claims["aud"], "https://api.example");
    // A scope with extra spaces and repeated tokens is granted in canonical form, each
    // token once, in the token and in the recorded row alike.
    let r = server.token_basic(
        "svc-b",
        &secret,
        "grant_type=client_credentials&scope=a%20%20b%20a%20b%20b",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["scope"], "a b");
    let claims = verify(
        &server,
        r.json()["access_token"].as_str().unwrap(),
        "https://api.example",
    )
    .claims;
    assert_eq!(claims["scope"], "a b");
}

/// Every token has its own jti, across shards and connections, and each is recorded.
#[test]
fn jti_unique_and_all_recorded_across_shards() {
    let db = TestDb::new();
    let secret = db.add_client("many", "read");
    let server = Server::start(&db);
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..8 {
        let mut conn = server.connect();
        for _ in 0..25 {
            let r = conn.request(&token_request_basic(
                "many",
                &secret,
                "grant_type=client_credentials",
            ));
            assert_eq!(r.status, 200);
            assert!(jtis.insert(jti_of(&r)));
        }
    }
    assert_eq!(db.wait_token_rows(200), 200);
}

/// The metadata document names the endpoints a client library needs.
#[test]
fn metadata_and_jwks() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let issuer = format!("http://{}", server.addr);
    let r = server.get("/.well-known/oauth-authorization-server");
    assert_eq!(r.status, 200);
    let m = r.json();
    assert_eq!(m["issuer"], issuer);
    assert_eq!(m["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(m["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    let jwks = server.jwks();
    assert_eq!(jwks.keys.len(), 1);
    let key = &jwks.keys[0];
    assert!(key.common.key_id.is_some());
    let r = server.get("/healthz");
    assert_eq!(r.status, 200);
    let r = server.get("/readyz");
    assert_eq!(r.status, 200);
}

/// The key generated on first start is reused by the next start (instances sharing a data
/// directory share a key), and is private to its owner.
#[test]
fn generated_key_is_persistent_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new();
    let mut server = Server::start(&db);
    let kid = server.jwks().keys[0].common.key_id.clone();
    let key_path = server.data_dir.join("signing-key.pem");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(server.stop(), Some(0));
    let data_dir = server.data_dir.clone();
    let again = Server::start_with(&db, &[("EDGEAUTH_DATA_DIR", data_dir.to_str().unwrap())]);
    assert_eq!(again.jwks().keys[0].common.key_id, kid);
}

/// `Expect: 100-continue` (curl sends it before large bodies, and waits): the interim 100
/// comes as soon as the head is in, then the body is answered as usual, once.
#[test]
fn a_client_that_expects_100_continue_gets_it_before_sending_the_body() {
    let db = TestDb::new();
    let secret = db.add_client("patient", "read");
    let server = Server::start(&db);
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        basic_auth("patient", &secret),
        body.len()
    );
    let mut conn = server.connect();
    for _ in 0..2 {
        // Twice on one connection: each request gets its own 100.
        conn.send(head.as_bytes()).unwrap();
        let interim = conn
            .read_response()
            .expect("an interim response before the body");
        assert_eq!(interim.status, 100);
        conn.send(body.as_bytes()).unwrap();
        let r = conn.read_response().unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    // Without the header, no interim response: the next thing read is the final answer.
    let r = conn.request(&token_request_basic("patient", &secret, body));
    assert_eq!(r.status, 200);
}

/// RFC 8707: `resource` picks the token's audience among those the client is registered
/// for; several make an `aud` array; anything else is `invalid_target`.
#[test]
fn resource_indicators_choose_the_audience_within_the_clients_resources() {
    let db = TestDb::new();
    let (a, b) = ("https://api-a.example/v1", "urn:example:billing");
    let out = db.add_client_raw(&[
        "multi",
        "--scopes",
        "read",
        "--resource",
        a,
        "--resource",
        b,
    ]);
    let secret = out["client_secret"].as_str().unwrap().to_owned();
    let shown: serde_json::Value =
        serde_json::from_slice(&db.edgeauth(&["client", "show", "multi"]).stdout).unwrap();
    assert_eq!(shown["resources"], serde_json::json!([a, b]));
    let server = Server::start(&db);
    let token = |form: &str| server.token_basic("multi", &secret, form);
    let claims = |r: &Response, aud: &str| {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        verify(&server, r.json()["access_token"].as_str().unwrap(), aud).claims
    };

    let one = token("grant_type=client_credentials&resource=https%3A%2F%2Fapi-a.example%2Fv1");
    assert_eq!(claims(&one, a)["aud"], a);
    let both = token(&format!(
        "grant_type=client_credentials&resource={a}&resource={b}&resource={a}"
    ));
    let both_claims = claims(&both, b);
    assert_eq!(
        both_claims["aud"],
        serde_json::json!([a, b]),
        "each once, in order"
    );
    let none = token("grant_type=client_credentials");
    assert_eq!(claims(&none, &server.issuer())["aud"], server.issuer());

    // Introspection shows the array.
    let introspect = post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &format!("token={}", both.json()["access_token"].as_str().unwrap()),
        &format!("Authorization: Basic {}\r\n", basic_auth("multi", &secret)),
    );
    let info = server.request(&introspect).json();
    assert_eq!(info["active"], true);
    assert_eq!(info["aud"], serde_json::json!([a, b]));

    for form in [
        "grant_type=client_credentials&resource=https%3A%2F%2Fother.example",
        "grant_type=client_credentials&resource=%2Frelative",
        "grant_type=client_credentials&resource=https%3A%2F%2Fapi-a.example%2Fv1%23frag",
    ] {
        let r = token(form);
        assert_eq!(r.status, 400, "{form}");
        assert_eq!(r.json()["error"], "invalid_target", "{form}");
    }
    // Registration refuses what a request could never name.
    let out = db.edgeauth(&["client", "add", "bad", "--resource", "api.example"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute URI"));
}

/// Per-client static claims: in every token and in introspection; registered names refused.
#[test]
fn a_clients_static_claims_ride_in_its_tokens() {
    let db = TestDb::new();
    let dir = std::env::temp_dir().join(unique_name("claims"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("claims.json");
    std::fs::write(
        &file,
        r#"{"tenant": "acme", "tier": 3, "tags": ["eu", "pci"]}"#,
    )
    .unwrap();
    let out = db.add_client_raw(&[
        "tenant-svc",
        "--scopes",
        "read",
        "--claims",
        file.to_str().unwrap(),
    ]);
    let secret = out["client_secret"].as_str().unwrap().to_owned();
    let server = Server::start(&db);
    let r = server.token_basic("tenant-svc", &secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = verify(&server, &token, &server.issuer()).claims;
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["tier"], 3);
    assert_eq!(claims["tags"], serde_json::json!(["eu", "pci"]));
    assert_eq!(claims["client_id"], "tenant-svc");

    let introspect = post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &format!("token={token}"),
        &format!(
            "Authorization: Basic {}\r\n",
            basic_auth("tenant-svc", &secret)
        ),
    );
    let info = server.request(&introspect).json();
    assert_eq!(
        (info["active"].clone(), info["tenant"].clone()),
        (serde_json::json!(true), serde_json::json!("acme"))
    );

    for bad in [
        r#"{"aud": "x"}"#,
        r#"{"active": false}"#,
        r#"["not", "an", "object"]"#,
    ] {
        std::fs::write(&file, bad).unwrap();
        let out = db.edgeauth(&["client", "add", "bad", "--claims", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{bad} was accepted");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
