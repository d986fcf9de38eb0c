//! DPoP-bound tokens (RFC 9449) through the real binary: a proof on the token request makes
//! a `DPoP` token bound to the proof's key (`cnf.jkt`), visible at introspection; every bad
//! proof is the same `invalid_dpop_proof`; proofs are single-use on every shard; a client
//! may be required to use DPoP; and server nonces, when configured.

mod common;

use serde_json::{Value, json};

use common::jose::{self, Alg, JoseKey, assertion_form, jwks, temp_file};
use common::*;

/// A token request with Basic credentials and these extra header lines.
fn request(id: &str, secret: &str, headers: &str) -> Vec<u8> {
    post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials",
        &format!(
            "Authorization: Basic {}\r\n{headers}",
            basic_auth(id, secret)
        ),
    )
}

fn with_proof(id: &str, secret: &str, proof: &str) -> Vec<u8> {
    request(id, secret, &format!("DPoP: {proof}\r\n"))
}

fn htu(server: &Server) -> String {
    format!("{}/oauth/token", server.issuer())
}

fn claims_of(r: &Response) -> Value {
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims
}

fn assert_bad_proof(r: &Response, what: &str) {
    assert_eq!(r.status, 400, "{what}: {:?}", r.json());
    assert_eq!(r.json()["error"], "invalid_dpop_proof", "{what}");
    assert_eq!(
        r.json()["error_description"],
        "the DPoP proof is not valid",
        "{what}: the answer does not say which check failed"
    );
}

#[test]
fn a_proof_binds_the_token_to_its_key_with_every_algorithm() {
    let db = TestDb::new();
    let secret = db.add_client("dpop", "read");
    let server = Server::start(&db);
    for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::PS256] {
        let key = JoseKey::new(alg);
        let r = server.request(&with_proof(
            "dpop",
            &secret,
            &key.dpop_proof(&htu(&server), json!({})),
        ));
        assert_eq!(r.status, 200, "{alg:?}: {:?}", r.json());
        assert_eq!(r.json()["token_type"], "DPoP");
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        let claims = verify(&server, &token, &server.issuer()).claims;
        assert_eq!(claims["cnf"], json!({ "jkt": key.thumbprint() }), "{alg:?}");

        // Introspection shows the binding and the type (RFC 9449 §6.2).
        let r = server.request(&post(
            "/oauth/introspect",
            "application/x-www-form-urlencoded",
            &format!("token={token}"),
            &format!("Authorization: Basic {}\r\n", basic_auth("dpop", &secret)),
        ));
        assert_eq!(r.json()["active"], true);
        assert_eq!(r.json()["token_type"], "DPoP");
        assert_eq!(r.json()["cnf"]["jkt"], key.thumbprint().as_str());
    }
    // Without a proof, the same client gets a bearer token.
    let r = server.request(&request("dpop", &secret, ""));
    assert_eq!(r.json()["token_type"], "Bearer");
    assert!(claims_of(&r).get("cnf").is_none());
    // htu is compared without its query and fragment (RFC 9449 §4.3).
    let key = JoseKey::new(Alg::ES256);
    let proof = key.dpop_proof(&format!("{}?x=1#f", htu(&server)), json!({}));
    assert_eq!(
        server.request(&with_proof("dpop", &secret, &proof)).status,
        200
    );
}

#[test]
fn every_bad_proof_is_the_same_invalid_dpop_proof() {
    let db = TestDb::new();
    let secret = db.add_client("dpop", "read");
    let server = Server::start(&db);
    let key = JoseKey::new(Alg::ES256);
    let other = JoseKey::new(Alg::ES256);
    let url = htu(&server);
    let now = jose::now() as i64;
    let claims = json!({"jti": jose::fresh_id(), "htm": "POST", "htu": url, "iat": now});
    let header = |changes: Value| {
        let mut h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.bare_jwk()});
        for (k, v) in changes.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let mut private_jwk = key.bare_jwk();
    private_jwk["d"] = "AAAA".into();
    let cases: Vec<(&str, String)> = vec![
        (
            "another method",
            key.dpop_proof(&url, json!({"htm": "GET"})),
        ),
        (
            "another URL",
            key.dpop_proof("https://elsewhere/oauth/token", json!({})),
        ),
        (
            "another path",
            key.dpop_proof(&format!("{}/oauth/revoke", server.issuer()), json!({})),
        ),
        ("too old", key.dpop_proof(&url, json!({"iat": now - 600}))),
        (
            "from the future",
            key.dpop_proof(&url, json!({"iat": now + 600})),
        ),
        (
            "no jti",
            key.sign(
                &header(json!({})),
                &json!({"htm": "POST", "htu": url, "iat": now}),
            ),
        ),
        ("typ JWT", key.sign(&header(json!({"typ": "JWT"})), &claims)),
        (
            "no jwk",
            key.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "kid": key.kid}),
                &claims,
            ),
        ),
        (
            "a private jwk",
            key.sign(&header(json!({"jwk": private_jwk})), &claims),
        ),
        (
            "signed by another key",
            other.sign(&header(json!({})), &claims),
        ),
        (
            "alg of another key type",
            key.sign(&header(json!({"alg": "EdDSA"})), &claims),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&header(json!({"alg": "none"})).to_string()),
                b64(&claims.to_string())
            ),
        ),
        ("not a JWT", "not-a-proof".to_owned()),
    ];
    for (what, proof) in &cases {
        assert_bad_proof(&server.request(&with_proof("dpop", &secret, proof)), what);
    }
    let one = key.dpop_proof(&url, json!({}));
    let two = key.dpop_proof(&url, json!({}));
    let r = server.request(&request(
        "dpop",
        &secret,
        &format!("DPoP: {one}\r\nDPoP: {two}\r\n"),
    ));
    assert_bad_proof(&r, "two DPoP headers");
    // The client is authenticated first: a bad secret is invalid_client whatever the proof.
    let r = server.request(&with_proof("dpop", "wrong", &one));
    assert_eq!(r.status, 401);
    assert!(!server.log().contains("panicked"));
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn a_proof_is_accepted_once_across_shards() {
    let db = TestDb::new();
    let secret = db.add_client("dpop", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "2")]);
    let key = JoseKey::new(Alg::ES256);
    for i in 0..24 {
        let body = with_proof("dpop", &secret, &key.dpop_proof(&htu(&server), json!({})));
        assert_eq!(server.request(&body).status, 200, "first use {i}");
        assert_bad_proof(&server.request(&body), &format!("replay of {i}"));
    }
}

#[test]
fn a_client_can_be_required_to_use_dpop() {
    let db = TestDb::new();
    let secret = db.add_client_with("bound", &["--scopes", "read", "--require-dpop"]);
    let server = Server::start(&db);
    let r = server.request(&request("bound", &secret, ""));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_dpop_proof");
    let key = JoseKey::new(Alg::EdDSA);
    let r = server.request(&with_proof(
        "bound",
        &secret,
        &key.dpop_proof(&htu(&server), json!({})),
    ));
    assert_eq!(
        (r.status, r.json()["token_type"].as_str()),
        (200, Some("DPoP"))
    );
    let shown: Value =
        serde_json::from_slice(&db.edgeauth(&["client", "show", "bound"]).stdout).unwrap();
    assert_eq!(shown["require_dpop"], true);
}

#[test]
fn private_key_jwt_and_dpop_together() {
    let db = TestDb::new();
    let client_key = JoseKey::new(Alg::ES256);
    let file = temp_file("jwks", &jwks(&[&client_key]));
    db.add_client_raw(&["both", "--scopes", "read", "--jwks", file.to_str().unwrap()]);
    let server = Server::start(&db);
    let dpop_key = JoseKey::new(Alg::ES256);
    let body = assertion_form(&client_key.assertion("both", &htu(&server), 60), "");
    let r = server.request(&post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &body,
        &format!(
            "DPoP: {}\r\n",
            dpop_key.dpop_proof(&htu(&server), json!({}))
        ),
    ));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(claims_of(&r)["cnf"]["jkt"], dpop_key.thumbprint().as_str());
}

#[test]
fn server_nonces_when_configured() {
    let db = TestDb::new();
    let secret = db.add_client("nonce", "read");
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_DPOP_NONCE", "true"), ("EDGEAUTH_SHARDS", "2")],
    );
    let key = JoseKey::new(Alg::ES256);
    let r = server.request(&with_proof(
        "nonce",
        &secret,
        &key.dpop_proof(&htu(&server), json!({})),
    ));
    assert_eq!(r.status, 400, "{:?}", r.json());
    assert_eq!(r.json()["error"], "use_dpop_nonce");
    let nonce = r.header("DPoP-Nonce").expect("a nonce to use").to_owned();
    let wrong = key.dpop_proof(&htu(&server), json!({"nonce": "made-up"}));
    assert_eq!(
        server.request(&with_proof("nonce", &secret, &wrong)).json()["error"],
        "use_dpop_nonce"
    );
    // Every shard accepts a nonce any shard issued (fresh connections reach both).
    for _ in 0..8 {
        let right = key.dpop_proof(&htu(&server), json!({"nonce": nonce}));
        let r = server.request(&with_proof("nonce", &secret, &right));
        assert_eq!(
            (r.status, r.json()["token_type"].as_str()),
            (200, Some("DPoP")),
            "{:?}",
            r.json()
        );
    }
}
