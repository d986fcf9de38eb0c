//! A standard OAuth client library (Python Authlib + PyJWT) against the real server: it
//! discovers the endpoints from the metadata document, gets tokens with both client
//! authentication methods, verifies them with the JWKS, introspects and revokes them, and
//! reads our errors.
//! scripts/test.sh prepares the Python environment (`EDGEAUTH_TEST_PYTHON`).

mod common;

use std::process::Command;

use common::*;

#[test]
fn authlib_discovers_fetches_and_verifies() {
    let python = std::env::var("EDGEAUTH_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("EDGEAUTH_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs Authlib and PyJWT")
    });
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
