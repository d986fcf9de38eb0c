//! A standard OAuth client library (Python Authlib + PyJWT) against the real server: it
//! discovers the endpoints from the metadata document, gets tokens with both client
//! authentication methods, verifies them with the JWKS, introspects and revokes them, and
//! reads our errors.
//! scripts/test.sh prepares the Python environment (`EDGEAUTH_TEST_PYTHON`).

mod common;

use std::process::Command;

use common::tls::Pki;
use common::*;

fn python() -> String {
    std::env::var("EDGEAUTH_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("EDGEAUTH_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs Authlib and PyJWT")
    })
}

#[test]
fn authlib_discovers_fetches_and_verifies() {
    let python = python();
    let db = TestDb::new();
    let secret = db.add_client("interop", "read write");
    let server = Server::start(&db);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/oauth_client.py");
    let out = Command::new(python)
        .args([
            script,
            &format!("http://{}", server.addr),
            "interop",
            &secret,
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("ok client_secret_basic"), "{stdout}");
    assert!(stdout.contains("ok client_secret_post"), "{stdout}");
    assert!(stdout.contains("ok introspect"), "{stdout}");
    assert!(stdout.contains("ok revoke"), "{stdout}");
    assert!(stdout.contains("interop: all checks passed"), "{stdout}");
}

/// Python's `ssl` and `requests`, clients no one on the team wrote, over native TLS: a secret
/// client, a mutual-TLS client and its bound token, and session resumption.
#[test]
fn python_requests_and_ssl_speak_tls_and_mutual_tls() {
    let db = TestDb::new();
    let secret = db.add_client("py-secret", "read");
    db.add_client_raw(&[
        "py-mtls",
        "--scopes",
        "read",
        "--auth",
        "tls_client_auth",
        "--tls-subject",
        "CN=py-mtls,O=Example",
    ]);
    let pki = Pki::new();
    let ca = pki.ca.to_str().unwrap();
    let server = Server::start_tls(
        &db,
        &pki.server("server"),
        &[("EDGEAUTH_TLS_CLIENT_CA", ca)],
    );
    let client = pki.client_cert("py-mtls", &[], false);
    let base = server.issuer();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/tls_client.py");
    let out = Command::new(python())
        .args([script, &base, ca, "py-secret", &secret, "py-mtls"])
        .args([&client.cert, &client.key])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        stdout.contains("tls interop: all checks passed"),
        "{stdout}"
    );
}
