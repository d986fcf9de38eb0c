//! Mutual-TLS client authentication (RFC 8705) through the real binary: `tls_client_auth`
//! (a certificate from `tls_client_ca` carrying the registered subject DN or alternative
//! name) and `self_signed_tls_client_auth` (the registered certificate), tokens bound to
//! the certificate (`cnf`), introspection showing the binding, and every refusal as
//! `invalid_client` while secret clients keep working on the same port.

mod common;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use common::tls::{CertFiles, Pki, TlsConn, client_config, self_signed_client};
use common::*;

fn token_for(client_id: &str) -> Vec<u8> {
    token_form(&format!(
        "grant_type=client_credentials&client_id={client_id}"
    ))
}

/// A token request over TLS presenting `identity`; the response.
fn request_with(server: &Server, pki: &Pki, identity: Option<&CertFiles>, raw: &[u8]) -> Response {
    let mut conn = TlsConn::connect(server.tls_addr.unwrap(), client_config(&pki.ca, identity))
        .expect("the handshake succeeds: certificates are judged by the token endpoint");
    conn.request(raw)
}

/// A TLS server whose `tls_client_ca` is `pki`'s CA.
fn start_with_client_ca(db: &TestDb, pki: &Pki) -> Server {
    let ca = pki.ca.to_str().unwrap();
    Server::start_tls(db, &pki.server("server"), &[("EDGEAUTH_TLS_CLIENT_CA", ca)])
}

fn x5t_s256(cert: &CertFiles) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, &cert.der))
}

fn assert_invalid_client(r: &Response) {
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "invalid_client");
}

#[test]
fn tls_client_auth_tokens_are_bound_to_the_certificate_and_introspect_with_it() {
    let db = TestDb::new();
    let pki = Pki::new();
    db.add_client_raw(&[
        "billing",
        "--scopes",
        "read",
        "--auth",
        "tls_client_auth",
        "--tls-subject",
        "CN=billing, O=Example",
    ]);
    db.add_client_raw(&[
        "ledger",
        "--scopes",
        "read",
        "--auth",
        "tls_client_auth",
        "--tls-subject",
        "uri:spiffe://example/ledger",
    ]);
    let secret = db.add_client("with-secret", "read");
    let server = start_with_client_ca(&db, &pki);

    let billing = pki.client_cert("billing", &[], false);
    let r = request_with(&server, &pki, Some(&billing), &token_for("billing"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = verify(&server, &token, &server.issuer()).claims;
    assert_eq!(claims["client_id"], "billing");
    assert_eq!(claims["cnf"]["x5t#S256"], x5t_s256(&billing));

    // Introspection, by the same client over its certificate, shows the binding.
    let introspect = post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &format!("token={token}&client_id=billing"),
        "",
    );
    let r = request_with(&server, &pki, Some(&billing), &introspect);
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["cnf"]["x5t#S256"], x5t_s256(&billing));

    // By an alternative name.
    let ledger = pki.client_cert("ledger-1", &["spiffe://example/ledger"], false);
    let r = request_with(&server, &pki, Some(&ledger), &token_for("ledger"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // A secret client on the same port, with and without a certificate of its own.
    let basic = token_request_basic("with-secret", &secret, "grant_type=client_credentials");
    for identity in [None, Some(&billing)] {
        let r = request_with(&server, &pki, identity, &basic);
        assert_eq!(r.status, 200);
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        assert!(
            verify(&server, &token, &server.issuer())
                .claims
                .get("cnf")
                .is_none()
        );
    }
}

#[test]
fn certificates_that_do_not_prove_the_client_are_invalid_client() {
    let db = TestDb::new();
    let pki = Pki::new();
    db.add_client_raw(&[
        "billing",
        "--auth",
        "tls_client_auth",
        "--tls-subject",
        "CN=billing,O=Example",
    ]);
    let secret = db.add_client("with-secret", "read");
    let server = start_with_client_ca(&db, &pki);
    let other_ca = Pki::new();

    let refused = [
        (
            "another subject",
            Some(pki.client_cert("payroll", &[], false)),
        ),
        ("expired", Some(pki.client_cert("billing", &[], true))),
        (
            "another CA",
            Some(other_ca.client_cert("billing", &[], false)),
        ),
        (
            "self-signed",
            Some(self_signed_client(&pki.dir, "billing", false)),
        ),
        ("no certificate", None),
    ];
    for (why, identity) in &refused {
        let r = request_with(&server, &pki, identity.as_ref(), &token_for("billing"));
        assert_eq!(r.status, 401, "{why}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"], "invalid_client", "{why}");
    }
    // A certificate does not stand in for a secret client's secret.
    let good = pki.client_cert("billing", &[], false);
    assert_invalid_client(&request_with(
        &server,
        &pki,
        Some(&good),
        &token_for("with-secret"),
    ));
    // Nor does a secret for a certificate client, nor a client_id on the plain listener.
    let basic = token_request_basic("billing", &secret, "grant_type=client_credentials");
    assert_invalid_client(&request_with(&server, &pki, Some(&good), &basic));
    assert_invalid_client(&server.request(&token_for("billing")));
    // And the good one still works after all that.
    let r = request_with(&server, &pki, Some(&good), &token_for("billing"));
    assert_eq!(r.status, 200);
}

#[test]
fn self_signed_clients_are_known_by_their_certificate() {
    let db = TestDb::new();
    let pki = Pki::new();
    let registered = self_signed_client(&pki.dir, "device-7", false);
    let expired = self_signed_client(&pki.dir, "device-8", true);
    for (id, cert) in [("device-7", &registered), ("device-8", &expired)] {
        let path = cert.cert.to_str().unwrap();
        let out = db.add_client_raw(&[
            id,
            "--auth",
            "self_signed_tls_client_auth",
            "--tls-cert",
            path,
        ]);
        assert_eq!(out["auth_method"], "self_signed_tls_client_auth");
        assert!(out.get("client_secret").is_none());
    }
    let shown: serde_json::Value =
        serde_json::from_slice(&db.edgeauth(&["client", "show", "device-7"]).stdout).unwrap();
    assert_eq!(shown["tls_cert_sha256"], x5t_s256(&registered));
    let server = Server::start_tls(&db, &pki.server("server"), &[]);

    let r = request_with(&server, &pki, Some(&registered), &token_for("device-7"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = verify(&server, &token, &server.issuer()).claims;
    assert_eq!(claims["cnf"]["x5t#S256"], x5t_s256(&registered));

    // A client registered with unbound tokens authenticates the same way; its tokens are
    // bearer tokens.
    let unbound = self_signed_client(&pki.dir, "device-9", false);
    let path = unbound.cert.to_str().unwrap();
    db.add_client_raw(&[
        "device-9",
        "--auth",
        "self_signed_tls_client_auth",
        "--tls-cert",
        path,
        "--certificate-bound-tokens",
        "false",
    ]);
    let r = request_with(&server, &pki, Some(&unbound), &token_for("device-9"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert!(
        verify(&server, &token, &server.issuer())
            .claims
            .get("cnf")
            .is_none()
    );

    let impostor = self_signed_client(&pki.dir, "device-7-copy", false);
    assert_invalid_client(&request_with(
        &server,
        &pki,
        Some(&impostor),
        &token_for("device-7"),
    ));
    assert_invalid_client(&request_with(
        &server,
        &pki,
        Some(&expired),
        &token_for("device-8"),
    ));
}

#[test]
fn metadata_names_the_mtls_methods_and_bound_tokens() {
    let db = TestDb::new();
    let pki = Pki::new();
    let server = Server::start_tls(&db, &pki.server("server"), &[]);
    let metadata = server.get("/.well-known/oauth-authorization-server").json();
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for m in [
        "client_secret_basic",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ] {
        assert!(methods.iter().any(|v| v == m), "{m} in {methods:?}");
    }
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
}

#[test]
fn the_cli_takes_exactly_the_option_each_method_needs() {
    let db = TestDb::new();
    let fails = |args: &[&str], expected: &str| {
        let out = db.edgeauth(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    };
    fails(
        &["client", "add", "a", "--auth", "tls_client_auth"],
        "takes --tls-subject",
    );
    fails(
        &[
            "client",
            "add",
            "a",
            "--auth",
            "self_signed_tls_client_auth",
        ],
        "takes --tls-cert",
    );
    fails(
        &["client", "add", "a", "--tls-subject", "CN=a"],
        "are for --auth",
    );
    fails(
        &["client", "add", "a", "--auth", "magic"],
        "client_secret_basic",
    );
    fails(
        &[
            "client",
            "add",
            "a",
            "--auth",
            "tls_client_auth",
            "--tls-subject",
            "CN",
        ],
        "type=value",
    );
    db.add_client_raw(&[
        "m",
        "--auth",
        "tls_client_auth",
        "--tls-subject",
        "dns:m.example",
    ]);
    fails(&["client", "rotate-secret", "m"], "it has no secret");
}
