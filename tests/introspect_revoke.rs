//! Introspection (RFC 7662) and revocation (RFC 7009) through the real binary and a real
//! PostgreSQL: claims of an active token, revocation reaching every shard, a second
//! instance and a restarted server, and the tokens that must never be active.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

/// A signing key file shared by every instance of a test, as a fleet would share it.
struct SharedKey(PathBuf);

impl SharedKey {
    fn generate() -> SharedKey {
        let path = std::env::temp_dir()
            .join(unique_name("edgeauth-key"))
            .with_extension("pem");
        succeeds(
            std::process::Command::new(BIN)
                .args(["keys", "generate", "--alg", "ES256", "--out"])
                .arg(&path),
        );
        SharedKey(path)
    }

    fn env(&self) -> (&'static str, &str) {
        ("EDGEAUTH_SIGNING_KEYS", self.0.to_str().unwrap())
    }
}

impl Drop for SharedKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn access_token(server: &Server, id: &str, secret: &str) -> String {
    server.access_token(id, secret).expect("a token")
}

fn call(path: &str, id: &str, secret: &str, form: &str) -> Vec<u8> {
    let auth = format!("Authorization: Basic {}\r\n", basic_auth(id, secret));
    post(path, "application/x-www-form-urlencoded", form, &auth)
}

/// POST /oauth/introspect with Basic credentials on a fresh connection.
fn introspect(server: &Server, id: &str, secret: &str, token: &str) -> Response {
    server.request(&call(
        "/oauth/introspect",
        id,
        secret,
        &format!("token={token}"),
    ))
}

fn revoke(server: &Server, id: &str, secret: &str, token: &str) -> Response {
    server.request(&call(
        "/oauth/revoke",
        id,
        secret,
        &format!("token={token}"),
    ))
}

fn is_active(server: &Server, id: &str, secret: &str, token: &str) -> bool {
    let r = introspect(server, id, secret, token);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let v = r.json();
    if v["active"] == false {
        assert_eq!(r.body, b"{\"active\":false}", "inactive says nothing more");
    }
    v["active"].as_bool().unwrap()
}

fn assert_inactive(server: &Server, id: &str, secret: &str, token: &str) {
    let r = introspect(server, id, secret, token);
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "{\"active\":false}",
        "token {token:?}"
    );
}

/// A fresh token is active, with the claims it was issued with; the metadata names both
/// endpoints.
#[test]
fn fresh_token_is_active_with_its_claims() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read write");
    let rs = db.add_client("resource-server", "");
    let server = Server::start(&db);
    let token = access_token(&server, "svc", &secret);
    let expected = verify(&server, &token, &format!("http://{}", server.addr)).claims;

    // A resource server (another client) introspects it.
    let r = introspect(&server, "resource-server", &rs, &token);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    for claim in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "jti",
    ] {
        assert_eq!(v[claim], expected[claim], "{claim}");
    }
    assert_eq!(v["client_id"], "svc");
    assert_eq!(v["scope"], "read write");

    // client_secret_post works too, and token_type_hint is accepted and ignored.
    let form =
        format!("client_id=svc&client_secret={secret}&token={token}&token_type_hint=access_token");
    let r = server.request(&post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &form,
        "",
    ));
    assert_eq!(r.json()["active"], true);

    let meta = server.get("/.well-known/oauth-authorization-server").json();
    let issuer = format!("http://{}", server.addr);
    assert_eq!(
        meta["introspection_endpoint"],
        format!("{issuer}/oauth/introspect")
    );
    assert_eq!(
        meta["revocation_endpoint"],
        format!("{issuer}/oauth/revoke")
    );
    for field in [
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert_eq!(
            meta[field],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
    }
}

/// Both endpoints authenticate the caller like the token endpoint, and need `token`.
#[test]
fn callers_must_authenticate_and_name_a_token() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start(&db);
    let token = access_token(&server, "svc", &secret);
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let body = format!("token={token}");
        let r = server.request(&post(path, "application/x-www-form-urlencoded", &body, ""));
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "invalid_client");
        assert!(r.header("WWW-Authenticate").unwrap().starts_with("Basic"));

        let r = server.request(&call(path, "svc", "wrong", &body));
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "invalid_client");

        let r = server.request(&call(path, "svc", &secret, "token_type_hint=access_token"));
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.json()["error"], "invalid_request");
    }
    assert!(
        is_active(&server, "svc", &secret, &token),
        "nothing was revoked"
    );
}

/// After revocation the token is inactive on every shard (many fresh connections, which
/// the kernel spreads across both), on a second instance sharing the database, and on a
/// restarted server.
#[test]
fn revocation_reaches_every_shard_instance_and_restart() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let key = SharedKey::generate();
    let mut a = Server::start_with(&db, &[key.env()]);
    let b = Server::start_with(&db, &[key.env()]);
    let token = access_token(&a, "svc", &secret);
    let other = access_token(&a, "svc", &secret);
    for server in [&a, &b] {
        for _ in 0..10 {
            assert!(is_active(server, "svc", &secret, &token));
        }
    }

    let r = revoke(&a, "svc", &secret, &token);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
    let revoked_at = Instant::now();
    for server in [&a, &b] {
        let what = format!("inactive on every shard of {}", server.addr);
        eventually(&what, Duration::from_secs(1), || {
            ok_if(
                (0..20).all(|_| !is_active(server, "svc", &secret, &token)),
                (),
            )
        });
        // The figure the issue asks for (visible with --no-capture).
        eprintln!(
            "revocation-to-refusal on {} (20 introspections all inactive): {:?}",
            server.addr,
            revoked_at.elapsed()
        );
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(2));
    assert_eq!(
        db.psql("SELECT client_id, expires_at > now() FROM revoked_tokens"),
        "svc|t"
    );
    // Only that token: its sibling stays active; revoking again is still 200.
    assert!(is_active(&b, "svc", &secret, &other));
    assert_eq!(revoke(&b, "svc", &secret, &token).status, 200);
    assert_eq!(db.psql("SELECT count(*) FROM revoked_tokens"), "1");

    assert_eq!(a.stop(), Some(0));
    let restarted = Server::start_with(&db, &[key.env()]);
    for _ in 0..20 {
        assert_inactive(&restarted, "svc", &secret, &token);
    }
    assert!(is_active(&restarted, "svc", &secret, &other));
}

/// RFC 7009 §2.1: a client may revoke only its own tokens. Another client's token is
/// refused (400 unauthorized_client) and stays active.
#[test]
fn a_client_cannot_revoke_another_clients_token() {
    let db = TestDb::new();
    let owner = db.add_client("owner", "read");
    let intruder = db.add_client("intruder", "read");
    let server = Server::start(&db);
    let token = access_token(&server, "owner", &owner);

    let r = revoke(&server, "intruder", &intruder, &token);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "unauthorized_client");
    assert_eq!(db.psql("SELECT count(*) FROM revoked_tokens"), "0");
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..10 {
        assert!(is_active(&server, "intruder", &intruder, &token));
    }
    // The owner can.
    assert_eq!(revoke(&server, "owner", &owner, &token).status, 200);
    eventually("inactive everywhere", Duration::from_secs(1), || {
        ok_if(
            (0..10).all(|_| !is_active(&server, "intruder", &intruder, &token)),
            (),
        )
    });
}

/// Garbage, expired and foreign-signed tokens are exactly `{"active":false}`; revoking
/// them is a 200 that records nothing (RFC 7009 §2.2).
#[test]
fn garbage_expired_and_foreign_tokens_are_inactive() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let brief = db.add_client_with("brief", &["--scopes", "read", "--token-ttl", "3s"]);
    let server = Server::start(&db);
    let token = access_token(&server, "svc", &secret);

    // Foreign: the same claims signed by a key the server does not know, once under a
    // kid of its own and once under the server's kid.
    let foreign = SharedKey::generate();
    let pem = std::fs::read(&foreign.0).unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("ES256 PEM");
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    let server_kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let forge = |kid: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    };
    let mut tampered = token.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for bad in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        forge("not-our-key"),
        forge(&server_kid),
        tampered,
    ] {
        assert_inactive(&server, "svc", &secret, &bad);
        assert_eq!(revoke(&server, "svc", &secret, &bad).status, 200);
    }
    assert_eq!(db.psql("SELECT count(*) FROM revoked_tokens"), "0");

    // Issued just before the check: with whole-second `exp`, a 3 s token is active for at
    // least 2 s, however busy the machine.
    let expiring = access_token(&server, "brief", &brief);
    assert!(is_active(&server, "svc", &secret, &expiring));
    std::thread::sleep(Duration::from_secs(4));
    assert_inactive(&server, "svc", &secret, &expiring);
    // The owner may still revoke an expired token; it stays inactive.
    assert_eq!(revoke(&server, "brief", &brief, &expiring).status, 200);
    assert_inactive(&server, "svc", &secret, &expiring);
    assert!(is_active(&server, "svc", &secret, &token));
}

/// A revocation that cannot be recorded is a 503 with Retry-After, never a silent 200;
/// once the database can record it again, the retry succeeds. (The table is renamed away
/// rather than the cluster stopped: the test cluster is shared.)
#[test]
fn revocation_that_cannot_be_recorded_is_503() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    let token = access_token(&server, "svc", &secret);

    db.psql("ALTER TABLE revoked_tokens RENAME TO revoked_tokens_away");
    let r = revoke(&server, "svc", &secret, &token);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert!(is_active(&server, "svc", &secret, &token));

    db.psql("ALTER TABLE revoked_tokens_away RENAME TO revoked_tokens");
    eventually("revocation recorded again", Duration::from_secs(5), || {
        let status = revoke(&server, "svc", &secret, &token).status;
        ok_if(status == 200, status)
    });
    assert_eq!(db.psql("SELECT count(*) FROM revoked_tokens"), "1");
    assert!(!is_active(&server, "svc", &secret, &token));
}

/// Every shard of both instances, on fresh connections, says `active` for the token.
fn everywhere(servers: &[&Server], rs: &str, rs_secret: &str, token: &str, active: bool) {
    let what = format!("the token is active={active} on every shard of every instance");
    eventually(&what, Duration::from_secs(1), || {
        let seen: Vec<bool> = servers
            .iter()
            .flat_map(|s| (0..10).map(|_| is_active(s, rs, rs_secret, token)))
            .collect();
        ok_if(seen.iter().all(|a| *a == active), seen)
    });
}

/// The kill switch for a compromised client: disabling it makes every token it holds
/// inactive within a second, on every shard of every instance (and enabling it again
/// restores them); `client revoke-tokens` makes the tokens issued so far inactive for good,
/// across a restart, while tokens issued afterwards work; deleting it kills them all.
#[test]
fn a_compromised_client_is_killed_by_disable_revoke_tokens_and_delete() {
    let db = TestDb::new();
    let secret = db.add_client("leaky", "read");
    let rs_secret = db.add_client("resource-server", "");
    let key = SharedKey::generate();
    let mut a = Server::start_with(&db, &[key.env()]);
    let b = Server::start_with(&db, &[key.env()]);
    let rs = "resource-server";
    let stolen = access_token(&a, "leaky", &secret);
    everywhere(&[&a, &b], rs, &rs_secret, &stolen, true);

    assert!(
        db.edgeauth(&["client", "disable", "leaky"])
            .status
            .success()
    );
    everywhere(&[&a, &b], rs, &rs_secret, &stolen, false);
    assert!(db.edgeauth(&["client", "enable", "leaky"]).status.success());
    everywhere(&[&a, &b], rs, &rs_secret, &stolen, true);

    let out = db.edgeauth(&["client", "revoke-tokens", "leaky"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    everywhere(&[&a, &b], rs, &rs_secret, &stolen, false);
    // The client itself keeps working: a token issued now is active.
    let fresh = eventually(
        "a token after revoke-tokens",
        Duration::from_secs(1),
        || a.access_token("leaky", &secret),
    );
    everywhere(&[&a, &b], rs, &rs_secret, &fresh, true);

    // Loaded from the database, not from memory: a restarted instance agrees.
    assert_eq!(a.stop(), Some(0));
    let restarted = Server::start_with(&db, &[key.env()]);
    everywhere(&[&restarted, &b], rs, &rs_secret, &stolen, false);
    everywhere(&[&restarted, &b], rs, &rs_secret, &fresh, true);

    assert!(db.edgeauth(&["client", "delete", "leaky"]).status.success());
    everywhere(&[&restarted, &b], rs, &rs_secret, &fresh, false);
    let missing = db.edgeauth(&["client", "revoke-tokens", "leaky"]);
    assert!(!missing.status.success(), "an unknown client is an error");
}

/// One client revoking more of its own tokens than the shard's revocation cache holds makes
/// no other client's token inactive: for a jti the full cache does not hold, introspection
/// asks the table, and every revoked token stays revoked.
#[test]
fn a_full_revocation_cache_hurts_no_other_client() {
    let db = TestDb::new();
    let noisy = db.add_client("noisy", "read");
    let quiet = db.add_client("quiet", "read");
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_REVOCATION_CACHE_CAPACITY", "3"),
        ],
    );
    let innocent = access_token(&server, "quiet", &quiet);
    let revoked: Vec<String> = (0..8)
        .map(|_| {
            let token = access_token(&server, "noisy", &noisy);
            assert_eq!(revoke(&server, "noisy", &noisy, &token).status, 200);
            token
        })
        .collect();
    assert!(
        server.log().contains("revocation cache is full"),
        "8 revocations overflow a cache of 3: {}",
        server.log()
    );
    assert!(is_active(&server, "quiet", &quiet, &innocent));
    for token in &revoked {
        assert_inactive(&server, "quiet", &quiet, token);
    }
    let fresh = access_token(&server, "noisy", &noisy);
    assert!(is_active(&server, "quiet", &quiet, &fresh));
}

/// The kill switch through the admin API: `POST /admin/clients/{id}/revoke-tokens` does what
/// `edgeauth client revoke-tokens` does.
#[test]
fn revoke_tokens_through_the_admin_api() {
    let db = TestDb::new();
    let secret = db.add_client("leaky", "read");
    let admin = "admin-api-revoke-tokens-0123456789abcdef";
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", admin)]);
    let stolen = access_token(&server, "leaky", &secret);
    let call = |id: &str, bearer: &str| {
        let auth = format!("Authorization: Bearer {bearer}\r\n");
        let path = format!("/admin/clients/{id}/revoke-tokens");
        server.request(&post(&path, "application/json", "", &auth))
    };
    assert_eq!(
        call("leaky", "wrong-token-wrong-token-wrong-token").status,
        401
    );
    let r = call("leaky", admin);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty() && r.header("Content-Length").is_none());
    eventually("the stolen token inactive", Duration::from_secs(1), || {
        ok_if(!is_active(&server, "leaky", &secret, &stolen), ())
    });
    assert_eq!(call("nobody", admin).status, 404);
    assert_eq!(call("bad%22id", admin).status, 400);
}

// The verified-token cache (`cache::VerifiedCache`): a hit skips the signature check and
// nothing else.

const HITS: &str = "edgeauth_introspection_cache_hits_total";
const MISSES: &str = "edgeauth_introspection_cache_misses_total";
const CACHED: &str = "edgeauth_introspection_cache_size";

/// Each shard's figure of `family` (index = shard id), read once every page rendered before
/// the call has aged out (a shard renders `/metrics` at most every 100 ms).
fn per_shard(server: &Server, family: &str) -> Vec<u64> {
    std::thread::sleep(Duration::from_millis(150));
    let page = server.get("/metrics");
    assert_eq!(page.status, 200);
    let mut values = Vec::new();
    for line in String::from_utf8_lossy(&page.body).lines() {
        let Some(rest) = line.strip_prefix(family) else {
            continue;
        };
        if let Some((shard, value)) = rest
            .strip_prefix("{shard=\"")
            .and_then(|r| r.split_once("\"} "))
        {
            let shard: usize = shard.parse().unwrap();
            values.resize(values.len().max(shard + 1), 0);
            values[shard] = value.parse().unwrap();
        }
    }
    assert!(!values.is_empty(), "{family} is not served");
    values
}

/// POST /oauth/introspect on an open keep-alive connection (so on one shard).
fn is_active_on(conn: &mut Conn, id: &str, secret: &str, token: &str) -> Response {
    let form = format!("token={token}");
    let r = conn.request(&call("/oauth/introspect", id, secret, &form));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r
}

/// Introspect `token` on fresh connections, ten at a time, every answer `active`, until
/// every shard has answered it from its cache at least once: each shard holds it then (or,
/// when `active` is false, has refused it from its cache).
fn until_every_shard_hits(server: &Server, id: &str, secret: &str, token: &str, active: bool) {
    let before = per_shard(server, HITS);
    let what = format!("every shard answers active={active} from its cache");
    eventually(&what, Duration::from_secs(10), || {
        for _ in 0..10 {
            assert_eq!(is_active(server, id, secret, token), active);
        }
        let now = per_shard(server, HITS);
        ok_if(now.iter().zip(&before).all(|(n, b)| n > b), now)
    });
}

/// A token introspected twice is active twice, with the same answer, and the second time
/// is a hit: no signature check.
#[test]
fn a_token_introspected_again_is_a_cache_hit() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read write");
    let rs = db.add_client("resource-server", "");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let token = access_token(&server, "svc", &secret);
    let mut conn = server.connect();
    let first = is_active_on(&mut conn, "resource-server", &rs, &token);
    let second = is_active_on(&mut conn, "resource-server", &rs, &token);
    assert_eq!(first.json()["active"], true);
    assert_eq!(first.json()["scope"], "read write");
    assert_eq!(
        second.body, first.body,
        "a hit answers what the verification did"
    );
    assert_eq!(second.header("Cache-Control"), Some("no-store"));
    let sum = |family| per_shard(&server, family).iter().sum::<u64>();
    assert_eq!((sum(HITS), sum(MISSES), sum(CACHED)), (1, 1, 1));
}

/// A cached token is inactive on every shard (two, many connections) after `/oauth/revoke`,
/// after `client revoke-tokens` and after `client disable`, and every shard says so from
/// its cache: a hit checks revocation and the client as a verification does.
#[test]
fn a_cached_token_is_inactive_everywhere_after_revoke_revoke_tokens_or_disable() {
    let db = TestDb::new();
    let rs_secret = db.add_client("resource-server", "");
    let secrets: Vec<String> = ["revoked", "killed", "disabled"]
        .iter()
        .map(|id| db.add_client(id, "read"))
        .collect();
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let rs = "resource-server";
    let tokens: Vec<String> = ["revoked", "killed", "disabled"]
        .iter()
        .zip(&secrets)
        .map(|(id, secret)| access_token(&server, id, secret))
        .collect();
    for token in &tokens {
        until_every_shard_hits(&server, rs, &rs_secret, token, true);
    }

    let r = revoke(&server, "revoked", &secrets[0], &tokens[0]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let out = db.edgeauth(&["client", "revoke-tokens", "killed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        db.edgeauth(&["client", "disable", "disabled"])
            .status
            .success()
    );
    for token in &tokens {
        everywhere(&[&server], rs, &rs_secret, token, false);
        until_every_shard_hits(&server, rs, &rs_secret, token, false);
    }
    // Enabling the client again brings its (still cached) token back.
    assert!(
        db.edgeauth(&["client", "enable", "disabled"])
            .status
            .success()
    );
    everywhere(&[&server], rs, &rs_secret, &tokens[2], true);
}

/// A cached token stops being active at its `exp`, on the connection (shard) that cached
/// it and everywhere else.
#[test]
fn a_cached_token_expires() {
    let db = TestDb::new();
    let brief = db.add_client_with("brief", &["--scopes", "read", "--token-ttl", "3s"]);
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let token = access_token(&server, "brief", &brief);
    let mut conn = server.connect();
    for _ in 0..2 {
        let r = is_active_on(&mut conn, "brief", &brief, &token);
        assert_eq!(r.json()["active"], true);
    }
    assert_eq!(per_shard(&server, HITS).iter().sum::<u64>(), 1);
    // With whole-second `exp`, a 3 s token has expired 4 s after it was issued.
    std::thread::sleep(Duration::from_secs(4));
    let r = is_active_on(&mut conn, "brief", &brief, &token);
    assert_eq!(r.body, b"{\"active\":false}");
    for _ in 0..10 {
        assert_inactive(&server, "brief", &brief, &token);
    }
}

/// A token whose payload differs by one byte from a cached one, under the cached token's
/// signature, is a different token: verified, refused. The cached one stays active.
#[test]
fn a_changed_payload_under_a_cached_signature_is_inactive() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let token = access_token(&server, "svc", &secret);
    let mut conn = server.connect();
    for _ in 0..2 {
        assert_eq!(
            is_active_on(&mut conn, "svc", &secret, &token).json()["active"],
            true
        );
    }
    let payload_start = token.find('.').unwrap() + 1;
    let payload_len = token[payload_start..].find('.').unwrap();
    let mut forged = token.clone().into_bytes();
    let at = payload_start + payload_len / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        forged.rsplit('.').next(),
        token.rsplit('.').next(),
        "same signature"
    );
    let r = is_active_on(&mut conn, "svc", &secret, &forged);
    assert_eq!(r.body, b"{\"active\":false}");
    assert_eq!(
        is_active_on(&mut conn, "svc", &secret, &token).json()["active"],
        true
    );
    let sum = |family| per_shard(&server, family).iter().sum::<u64>();
    assert_eq!((sum(HITS), sum(MISSES), sum(CACHED)), (2, 2, 1));
}

/// `edgeauth keys generate --out PATH`; the key's kid.
fn generate_key(path: &std::path::Path) -> String {
    let out = succeeds(
        std::process::Command::new(BIN)
            .args(["keys", "generate", "--out"])
            .arg(path),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["kid"].as_str().unwrap().to_owned()
}

/// Point the configuration file at `keys`, SIGHUP, and wait until the JWKS lists `kids` on
/// many fresh connections (both shards).
fn reload_keys(
    server: &Server,
    config: &std::path::Path,
    keys: &[&std::path::Path],
    kids: &[&str],
) {
    let list: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}", k.display().to_string()))
        .collect();
    let tmp = config.with_extension("tmp");
    std::fs::write(&tmp, format!("signing_keys = [{}]\n", list.join(", "))).unwrap();
    std::fs::rename(&tmp, config).unwrap();
    server.signal(libc::SIGHUP);
    eventually(
        "the JWKS lists the new keys",
        Duration::from_secs(10),
        || {
            let seen: Vec<Vec<String>> = (0..20)
                .map(|_| {
                    let jwks = server.get("/.well-known/jwks.json").json();
                    let keys = jwks["keys"].as_array().unwrap().iter();
                    keys.map(|k| k["kid"].as_str().unwrap().to_owned())
                        .collect()
                })
                .collect();
            ok_if(seen.iter().all(|s| s == kids), seen)
        },
    );
}

/// A SIGHUP that keeps a cached token's key keeps it active; one that removes the key makes
/// it inactive on every shard, though every shard had it cached.
#[test]
fn a_key_reload_that_removes_its_key_makes_a_cached_token_inactive() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let dir = std::env::temp_dir().join(unique_name("edgeauth-introspect-keys"));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b, config) = (
        dir.join("a.pem"),
        dir.join("b.pem"),
        dir.join("edgeauth.toml"),
    );
    let (kid_a, kid_b) = (generate_key(&a), generate_key(&b));
    std::fs::write(
        &config,
        format!("signing_keys = [{:?}]\n", a.display().to_string()),
    )
    .unwrap();
    let config_env = config.display().to_string();
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_SHARDS", "2"), ("EDGEAUTH_CONFIG", &config_env)],
    );
    let token = access_token(&server, "svc", &secret);
    until_every_shard_hits(&server, "svc", &secret, &token, true);

    reload_keys(&server, &config, &[&b, &a], &[&kid_b, &kid_a]);
    everywhere(&[&server], "svc", &secret, &token, true);
    until_every_shard_hits(&server, "svc", &secret, &token, true);

    reload_keys(&server, &config, &[&b], &[&kid_b]);
    everywhere(&[&server], "svc", &secret, &token, false);
    assert_eq!(
        per_shard(&server, CACHED),
        [0, 0],
        "nothing inactive is cached"
    );
    // Tokens of the new key are cached as before.
    let fresh = access_token(&server, "svc", &secret);
    until_every_shard_hits(&server, "svc", &secret, &fresh, true);
    let _ = std::fs::remove_dir_all(&dir);
}
