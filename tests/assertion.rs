//! Clients without shared secrets, through the real binary: `private_key_jwt` (RFC 7523:
//! an assertion signed by a key the client registered) with each accepted algorithm, every
//! way an assertion can be wrong answered `invalid_client` alike, single use on every
//! shard, key rotation with `client set-jwks`; and workload identity (a platform's token for
//! a registered subject, `trusted_issuers`), reusable until it expires, its keys reloaded
//! on SIGHUP.

mod common;

use std::time::Duration;

use serde_json::json;

use common::jose::{self, Alg, JWT_BEARER, JoseKey, assertion_form, jwks, temp_file};
use common::*;

fn token_url(server: &Server) -> String {
    format!("{}/oauth/token", server.issuer())
}

/// Register `id` with the public keys of `keys`; the CLI's answer.
fn add_jwt_client(db: &TestDb, id: &str, keys: &[&JoseKey], extra: &[&str]) -> serde_json::Value {
    let file = temp_file("jwks", &jwks(keys));
    let mut args = vec![
        id,
        "--scopes",
        "read write",
        "--jwks",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    db.add_client_raw(&args)
}

fn assert_refused(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {:?}", r.json());
    assert_eq!(r.json()["error"], "invalid_client", "{what}");
    assert_eq!(
        r.json()["error_description"],
        "client authentication failed",
        "{what}: the answer does not say which check failed"
    );
}

#[test]
fn private_key_jwt_with_every_accepted_algorithm() {
    let db = TestDb::new();
    let keys: Vec<JoseKey> = [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::PS256]
        .into_iter()
        .map(JoseKey::new)
        .collect();
    for key in &keys {
        let id = format!("pkjwt-{}", key.alg_name().to_lowercase());
        let added = add_jwt_client(&db, &id, &[key], &[]);
        assert_eq!(added["auth_method"], "private_key_jwt");
        assert!(
            added.get("client_secret").is_none(),
            "no secret exists: {added}"
        );
    }
    let server = Server::start(&db);
    for key in &keys {
        let id = format!("pkjwt-{}", key.alg_name().to_lowercase());
        // `aud` may name the token endpoint or the issuer.
        for aud in [token_url(&server), server.issuer()] {
            let assertion = key.assertion(&id, &aud, 60);
            let r = server.request(&token_form(&assertion_form(&assertion, "&scope=read")));
            assert_eq!(r.status, 200, "{id} aud {aud}: {:?}", r.json());
            let claims = verify(
                &server,
                r.json()["access_token"].as_str().unwrap(),
                &server.issuer(),
            )
            .claims;
            assert_eq!(claims["sub"], id.as_str());
            assert_eq!(claims["scope"], "read");
        }
    }
    // `client show` names the method and the registered keys.
    let shown: serde_json::Value =
        serde_json::from_slice(&db.edgeauth(&["client", "show", "pkjwt-es256"]).stdout).unwrap();
    assert_eq!(shown["auth_method"], "private_key_jwt");
    assert_eq!(shown["jwks"]["keys"][0]["kid"], keys[0].kid.as_str());
    assert_eq!(shown["require_dpop"], false);
}

#[test]
fn every_bad_assertion_is_the_same_invalid_client() {
    let db = TestDb::new();
    let key = JoseKey::new(Alg::ES256);
    let rsa = JoseKey::new(Alg::RS256);
    add_jwt_client(&db, "svc", &[&key, &rsa], &[]);
    add_jwt_client(&db, "off", &[&key], &[]);
    assert!(db.edgeauth(&["client", "disable", "off"]).status.success());
    // Two dozen refusals from one address: not this test's bound to hit.
    let server = Server::start_with(&db, &[("EDGEAUTH_AUTH_FAILURES_PER_ADDRESS", "0")]);
    let aud = token_url(&server);
    let now = jose::now() as i64;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": key.kid});
    let claims = |changes: serde_json::Value| {
        let mut c = json!({"iss": "svc", "sub": "svc", "aud": aud, "iat": now, "exp": now + 60, "jti": jose::fresh_id()});
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let stranger = JoseKey::new(Alg::ES256);
    let hs_secret = key.jwk()["x"].as_str().unwrap().to_owned();
    let hs256 = {
        let input = format!(
            "{}.{}",
            base64_url(&json!({"alg": "HS256", "typ": "JWT", "kid": key.kid}).to_string()),
            base64_url(&claims(json!({})).to_string())
        );
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, hs_secret.as_bytes()),
            input.as_bytes(),
        );
        format!("{input}.{}", base64_url_bytes(tag.as_ref()))
    };
    let alg_none = format!(
        "{}.{}.",
        base64_url(&json!({"alg": "none", "typ": "JWT"}).to_string()),
        base64_url(&claims(json!({})).to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            key.sign(&header, &claims(json!({"exp": now - 60}))),
        ),
        (
            "too long-lived",
            key.sign(&header, &claims(json!({"exp": now + 3600}))),
        ),
        (
            "not yet valid",
            key.sign(&header, &claims(json!({"nbf": now + 600}))),
        ),
        (
            "issued in the future",
            key.sign(&header, &claims(json!({"iat": now + 600}))),
        ),
        (
            "another audience",
            key.sign(&header, &claims(json!({"aud": "https://elsewhere"}))),
        ),
        (
            "audience list without us",
            key.sign(&header, &claims(json!({"aud": ["a", "b"]}))),
        ),
        (
            "iss is not the client",
            key.sign(&header, &claims(json!({"iss": "other"}))),
        ),
        (
            "sub is another client",
            key.sign(&header, &claims(json!({"sub": "off"}))),
        ),
        ("no jti", key.sign(&header, &claims(json!({"jti": null})))),
        ("no exp", key.sign(&header, &claims(json!({"exp": null})))),
        (
            "an unregistered key",
            stranger.sign(&header, &claims(json!({}))),
        ),
        (
            "an unregistered kid",
            stranger.sign(
                &json!({"alg": "ES256", "kid": stranger.kid}),
                &claims(json!({})),
            ),
        ),
        ("alg none", alg_none),
        ("HMAC with the public key", hs256),
        (
            "alg of another key type",
            rsa.sign(&json!({"alg": "RS256", "kid": key.kid}), &claims(json!({}))),
        ),
        (
            "PS256 for an RS256 key",
            JoseKey::new(Alg::PS256)
                .sign(&json!({"alg": "PS256", "kid": rsa.kid}), &claims(json!({}))),
        ),
        (
            "unknown crit header",
            key.sign(
                &json!({"alg": "ES256", "kid": key.kid, "crit": ["x"], "x": 1}),
                &claims(json!({})),
            ),
        ),
        ("not a JWT", "a.b.c".to_owned()),
        (
            "a disabled client",
            key.sign(&header, &claims(json!({"iss": "off", "sub": "off"}))),
        ),
        (
            "an unknown client",
            key.sign(&header, &claims(json!({"iss": "ghost", "sub": "ghost"}))),
        ),
    ];
    for (what, assertion) in &cases {
        let r = server.request(&token_form(&assertion_form(assertion, "")));
        assert_refused(&r, what);
    }
    // The same checks hold for an id in the body; a body id that is not the assertion's is
    // refused too.
    let good = key.assertion("svc", &aud, 60);
    let r = server.request(&token_form(&assertion_form(&good, "&client_id=off")));
    assert_refused(&r, "client_id names another client");
    let r = server.request(&token_form(&assertion_form(&good, "&client_id=svc")));
    assert_eq!(r.status, 200, "{:?}", r.json());

    // The type must be the JWT bearer type; the two parameters go together; one method.
    let other_type = format!(
        "grant_type=client_credentials&client_assertion_type=urn:x&client_assertion={}",
        key.assertion("svc", &aud, 60)
    );
    assert_refused(
        &server.request(&token_form(&other_type)),
        "another assertion type",
    );
    let r = server.request(&token_form(&format!(
        "grant_type=client_credentials&client_assertion={}",
        key.assertion("svc", &aud, 60)
    )));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = server.request(&token_form(&format!(
        "grant_type=client_credentials&client_assertion_type={JWT_BEARER}"
    )));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let both = post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &assertion_form(&key.assertion("svc", &aud, 60), ""),
        &format!("Authorization: Basic {}\r\n", basic_auth("svc", "x")),
    );
    let r = server.request(&both);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // An oversized assertion is refused like any other bad one, not with a 500.
    let huge = format!("{}.{}.{}", "a".repeat(9000), "b", "c");
    assert_refused(
        &server.request(&token_form(&assertion_form(&huge, ""))),
        "oversized",
    );
    assert!(!server.log().contains("panicked"));
}

fn base64_url(text: &str) -> String {
    base64_url_bytes(text.as_bytes())
}

fn base64_url_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Each assertion is good once, on whichever shard it arrives: first uses and replays are
/// sent on fresh connections (SO_REUSEPORT spreads them over both shards), and one
/// assertion raced on eight connections at once gets exactly one token.
#[test]
fn an_assertion_is_accepted_once_across_shards() {
    let db = TestDb::new();
    let key = JoseKey::new(Alg::EdDSA);
    add_jwt_client(&db, "once", &[&key], &[]);
    // Replays are failed authentications, sent here by the dozen from one address.
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "2"),
            ("EDGEAUTH_AUTH_FAILURES_PER_ADDRESS", "0"),
        ],
    );
    let aud = token_url(&server);
    for i in 0..24 {
        let body = token_form(&assertion_form(&key.assertion("once", &aud, 120), ""));
        assert_eq!(server.request(&body).status, 200, "first use {i}");
        for replay in 0..2 {
            assert_refused(&server.request(&body), &format!("replay {replay} of {i}"));
        }
    }
    for round in 0..4 {
        let body = token_form(&assertion_form(&key.assertion("once", &aud, 120), ""));
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| server.request(&body).status))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            statuses.iter().filter(|&&s| s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|&s| s == 200 || s == 401),
            "{statuses:?}"
        );
    }
}

#[test]
fn set_jwks_rotates_a_clients_keys() {
    let db = TestDb::new();
    let old = JoseKey::new(Alg::ES256);
    let new = JoseKey::new(Alg::ES256);
    add_jwt_client(&db, "rotating", &[&old], &[]);
    let server = Server::start(&db);
    let aud = token_url(&server);
    let with = |key: &JoseKey| {
        server
            .request(&token_form(&assertion_form(
                &key.assertion("rotating", &aud, 60),
                "",
            )))
            .status
    };
    assert_eq!((with(&old), with(&new)), (200, 401));

    // Rotation: both keys, then only the new one; every shard hears of it at once.
    let both = temp_file("jwks", &jwks(&[&old, &new]));
    assert!(
        db.edgeauth(&["client", "set-jwks", "rotating", both.to_str().unwrap()])
            .status
            .success()
    );
    eventually("both keys accepted", Duration::from_secs(5), || {
        let seen = (with(&old), with(&new));
        ok_if(seen == (200, 200), seen)
    });
    let only_new = temp_file("jwks", &jwks(&[&new]));
    assert!(
        db.edgeauth(&["client", "set-jwks", "rotating", only_new.to_str().unwrap()])
            .status
            .success()
    );
    eventually("only the new key", Duration::from_secs(5), || {
        let seen = (with(&old), with(&new));
        ok_if(seen == (401, 200), seen)
    });
}

#[test]
fn registration_refuses_keys_it_could_not_use() {
    let db = TestDb::new();
    let key = JoseKey::new(Alg::ES256);
    let refused = |args: &[&str], says: &str| {
        let mut all = vec!["client", "add"];
        all.extend_from_slice(args);
        let out = db.edgeauth(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    let mut private = key.jwk();
    private["d"] = "c2VjcmV0".into();
    let private = temp_file("jwks", &json!({"keys": [private]}).to_string());
    refused(&["a", "--jwks", private.to_str().unwrap()], "jwks");
    let hmac = temp_file("jwks", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    refused(&["b", "--jwks", hmac.to_str().unwrap()], "jwks");
    let empty = temp_file("jwks", r#"{"keys":[]}"#);
    refused(&["c", "--jwks", empty.to_str().unwrap()], "jwks");
    let good = temp_file("jwks", &jwks(&[&key]));
    refused(&["d", "--auth", "private_key_jwt"], "--jwks");
    refused(
        &[
            "e",
            "--jwks",
            good.to_str().unwrap(),
            "--tls-subject",
            "CN=x",
        ],
        "and no other credential option",
    );
    refused(
        &["f", "--auth", "client_secret_jwt"],
        "client_secret_basic, private_key_jwt",
    );
    refused(&["g", "--federated", "not-a-url", "sub"], "must be a URL");
    db.add_client("secret-client", "read");
    let out = db.edgeauth(&[
        "client",
        "set-jwks",
        "secret-client",
        good.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("authenticates with client_secret_basic, and keeps its method")
    );
}

/// A platform (`trusted_issuers`) and a workload registered `--federated ISSUER SUBJECT`.
struct Platform {
    key: JoseKey,
    issuer: &'static str,
    jwks_file: std::path::PathBuf,
    config: std::path::PathBuf,
}

const K8S: &str = "https://kubernetes.default.svc.cluster.local";
const WORKLOAD: &str = "system:serviceaccount:payments:api";

impl Platform {
    fn new() -> Platform {
        let key = JoseKey::new(Alg::RS256);
        let jwks_file = temp_file("platform-jwks", &jwks(&[&key]));
        let config = temp_file(
            "edgeauth-toml",
            &format!(
                "[[trusted_issuers]]\nissuer = \"{K8S}\"\njwks_file = \"{}\"\naudience = \"edgeauth\"\nmax_token_age = \"2h\"\n",
                jwks_file.display()
            ),
        );
        Platform {
            key,
            issuer: K8S,
            jwks_file,
            config,
        }
    }

    /// A projected service-account token: no jti, valid an hour.
    fn token(&self, key: &JoseKey, changes: serde_json::Value) -> String {
        let now = jose::now() as i64;
        let mut claims = json!({"iss": self.issuer, "sub": WORKLOAD, "aud": ["edgeauth"], "iat": now, "nbf": now, "exp": now + 3600});
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        key.sign(&json!({"alg": key.alg_name(), "kid": key.kid}), &claims)
    }
}

#[test]
fn workload_identity_tokens_are_reusable_and_their_keys_reload() {
    let db = TestDb::new();
    let platform = Platform::new();
    let out = db.edgeauth(&[
        "client",
        "add",
        "payments",
        "--scopes",
        "read",
        "--federated",
        K8S,
        WORKLOAD,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(added.get("client_secret").is_none(), "{added}");
    let config = platform.config.to_str().unwrap();
    let mut server = Server::start_with(&db, &[("EDGEAUTH_CONFIG", config)]);
    let with = |token: &str, client_id: &str| {
        server.request(&token_form(&assertion_form(
            token,
            &format!("&client_id={client_id}"),
        )))
    };

    // The kubelet's token is presented on every request until it expires.
    let token = platform.token(&platform.key, json!({}));
    for _ in 0..3 {
        let r = with(&token, "payments");
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(
            verify(
                &server,
                r.json()["access_token"].as_str().unwrap(),
                &server.issuer()
            )
            .claims["sub"],
            "payments"
        );
    }
    let now = jose::now() as i64;
    let stranger = JoseKey::new(Alg::RS256);
    for (what, bad) in [
        (
            "another subject",
            platform.token(&platform.key, json!({"sub": "system:serviceaccount:x:y"})),
        ),
        (
            "another audience",
            platform.token(&platform.key, json!({"aud": "kubernetes"})),
        ),
        (
            "expired",
            platform.token(&platform.key, json!({"iat": now - 7200, "exp": now - 60})),
        ),
        (
            "longer-lived than max_token_age",
            platform.token(&platform.key, json!({"exp": now + 3 * 3600})),
        ),
        (
            "no iat, and valid longer than max_token_age from now",
            platform.token(&platform.key, json!({"iat": null, "exp": now + 3 * 3600})),
        ),
        (
            "an untrusted issuer",
            platform.token(&platform.key, json!({"iss": "https://evil.example"})),
        ),
        (
            "a key the platform does not publish",
            platform.token(&stranger, json!({})),
        ),
    ] {
        assert_refused(&with(&bad, "payments"), what);
    }
    // A SPIFFE JWT-SVID may carry neither iss nor iat: the issuer's keys say who signed it.
    let svid = platform.token(&platform.key, json!({"iss": null, "iat": null}));
    assert_eq!(with(&svid, "payments").status, 200);
    // Without client_id the subject names no client.
    assert_refused(
        &server.request(&token_form(&assertion_form(&token, ""))),
        "no client_id",
    );

    // The platform rotates its key: after a SIGHUP the new one is trusted, the old one not.
    std::fs::write(&platform.jwks_file, jwks(&[&stranger])).unwrap();
    server.signal(libc::SIGHUP);
    eventually("the platform's new key", Duration::from_secs(5), || {
        let seen = (
            with(&token, "payments").status,
            with(&platform.token(&stranger, json!({})), "payments").status,
        );
        ok_if(seen == (401, 200), seen)
    });
    // A broken JWKS file is logged and the keys in use stay.
    std::fs::write(&platform.jwks_file, "{not json").unwrap();
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        with(&platform.token(&stranger, json!({})), "payments").status,
        200
    );
    assert!(server.log().contains("trusted issuer"), "{}", server.log());
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn metadata_lists_every_method_and_algorithm() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let meta = server.get("/.well-known/oauth-authorization-server").json();
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")), "{meta}");
    assert!(!methods.contains(&json!("client_secret_jwt")), "{meta}");
    for field in [
        "token_endpoint_auth_signing_alg_values_supported",
        "dpop_signing_alg_values_supported",
    ] {
        assert_eq!(
            meta[field],
            json!(["ES256", "EdDSA", "RS256", "PS256"]),
            "{field}"
        );
    }
}
