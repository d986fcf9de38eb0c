//! Every RFC 6749 §5.2 error the token endpoint gives, with its status and headers.

mod common;

use std::time::Duration;

use common::*;

fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
}

struct Fixture {
    db: TestDb,
    server: Server,
    secret: String,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    let secret = db.add_client("app", "read write");
    let server = Server::start(&db);
    Fixture { db, server, secret }
}

#[test]
fn invalid_client_for_wrong_secret_unknown_client_and_no_credentials() {
    let f = fixture();
    let r = f
        .server
        .token_basic("app", "wrong-secret", "grant_type=client_credentials");
    assert_error(&r, 401, "invalid_client");
    assert!(
        r.header("WWW-Authenticate").unwrap().starts_with("Basic"),
        "Basic was used"
    );

    let r = f
        .server
        .token_basic("nobody", &f.secret, "grant_type=client_credentials");
    assert_error(&r, 401, "invalid_client");

    let form = "grant_type=client_credentials&client_id=app&client_secret=nope";
    let r = f.server.request(&post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        form,
        "",
    ));
    assert_error(&r, 401, "invalid_client");

    let r = f.server.request(&post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials",
        "",
    ));
    assert_error(&r, 401, "invalid_client");
    assert_eq!(
        f.db.token_rows(),
        0,
        "no token recorded for a refused request"
    );
}

#[test]
fn both_auth_methods_at_once_is_invalid_request() {
    let f = fixture();
    let form = format!(
        "grant_type=client_credentials&client_id=app&client_secret={}",
        f.secret
    );
    let auth = format!("Authorization: Basic {}\r\n", basic_auth("app", &f.secret));
    let r = f.server.request(&post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &form,
        &auth,
    ));
    assert_error(&r, 400, "invalid_request");
}

#[test]
fn missing_grant_type_and_bad_bodies_are_invalid_request() {
    let f = fixture();
    let r = f.server.token_basic("app", &f.secret, "scope=read");
    assert_error(&r, 400, "invalid_request");
    let r = f.server.token_basic(
        "app",
        &f.secret,
        "grant_type=client_credentials&grant_type=client_credentials",
    );
    assert_error(&r, 400, "invalid_request");
    let auth = format!("Authorization: Basic {}\r\n", basic_auth("app", &f.secret));
    let r = f.server.request(&post(
        "/oauth/token",
        "text/plain",
        "grant_type=client_credentials",
        &auth,
    ));
    assert_error(&r, 400, "invalid_request");
    let r = f.server.request(&post(
        "/oauth/token",
        "application/json",
        "{\"grant_type\":",
        &auth,
    ));
    assert_error(&r, 400, "invalid_request");
}

#[test]
fn unsupported_grant_type() {
    let f = fixture();
    let r = f.server.token_basic(
        "app",
        &f.secret,
        "grant_type=password&username=a&password=b",
    );
    assert_error(&r, 400, "unsupported_grant_type");
}

#[test]
fn invalid_scope_beyond_the_clients_scopes() {
    let f = fixture();
    let r = f.server.token_basic(
        "app",
        &f.secret,
        "grant_type=client_credentials&scope=read%20admin",
    );
    assert_error(&r, 400, "invalid_scope");
    let r = f.server.token_basic(
        "app",
        &f.secret,
        "grant_type=client_credentials&scope=write",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn unauthorized_client_without_the_grant() {
    let f = fixture();
    f.db.psql("UPDATE clients SET grant_types = '' WHERE client_id = 'app'");
    let r = f
        .server
        .token_basic("app", &f.secret, "grant_type=client_credentials");
    assert_error(&r, 400, "unauthorized_client");
}

#[test]
fn disabled_client_is_invalid_client_until_enabled() {
    let f = fixture();
    let out = f.db.edgeauth(&["client", "disable", "app"]);
    assert!(out.status.success());
    let r = f
        .server
        .token_basic("app", &f.secret, "grant_type=client_credentials");
    assert_error(&r, 401, "invalid_client");
    let out = f.db.edgeauth(&["client", "enable", "app"]);
    assert!(out.status.success());
    // The shard hears of it by NOTIFY, a moment after the command returns.
    eventually(
        "the enabled client gets tokens",
        Duration::from_secs(5),
        || {
            let r = f
                .server
                .token_basic("app", &f.secret, "grant_type=client_credentials");
            ok_if(r.status == 200, r.status)
        },
    );
}

#[test]
fn rotated_secret_replaces_the_old_one() {
    let f = fixture();
    let out = f.db.edgeauth(&["client", "rotate-secret", "app"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_secret = v["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, f.secret);
    let r = f
        .server
        .token_basic("app", &f.secret, "grant_type=client_credentials");
    assert_error(&r, 401, "invalid_client");
    let r = f
        .server
        .token_basic("app", new_secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200);
}

/// Each way presented credentials can be unusable has one answer, the same on every endpoint
/// that authenticates its caller (`endpoint::client_authn::auth_error`): `invalid_client`
/// (401, with the Basic challenge) for all but two methods at once, and nothing recorded.
#[test]
fn unusable_credentials_have_one_answer_on_every_endpoint() {
    let f = fixture();
    let good_basic = format!("Authorization: Basic {}\r\n", basic_auth("app", &f.secret));
    let cases: [(&str, String, &str); 6] = [
        // A Basic credential that does not decode.
        (
            "malformed Basic",
            "Authorization: Basic !!!notbase64\r\n".to_owned(),
            "",
        ),
        // A scheme other than Basic.
        (
            "Bearer scheme",
            "Authorization: Bearer abc\r\n".to_owned(),
            "",
        ),
        // Basic for one client, the body naming another.
        ("id mismatch", good_basic.clone(), "&client_id=intruder"),
        // An id without a secret anywhere.
        ("id without secret", String::new(), "&client_id=app"),
        // A secret without an id.
        (
            "secret without id",
            String::new(),
            "&client_secret=whatever",
        ),
        // Basic and a body secret: the one invalid_request.
        ("both methods", good_basic, "&client_secret=whatever"),
    ];
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        for (what, headers, extra) in &cases {
            let form = format!("grant_type=client_credentials&token=x.y.z{extra}");
            let r = f.server.request(&post(
                path,
                "application/x-www-form-urlencoded",
                &form,
                headers,
            ));
            let (status, code) = match *what {
                "both methods" => (400, "invalid_request"),
                _ => (401, "invalid_client"),
            };
            assert_eq!(r.status, status, "{path}, {what}");
            assert_eq!(r.json()["error"], code, "{path}, {what}");
            if status == 401 {
                let challenge = r.header("WWW-Authenticate").unwrap_or_default();
                assert!(challenge.starts_with("Basic"), "{path}, {what}");
            }
        }
    }
    assert_eq!(
        f.db.token_rows(),
        0,
        "no token recorded for a refused request"
    );
}
