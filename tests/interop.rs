//! A standard OAuth client library (Python Authlib + PyJWT) against the real server: it
//! discovers the endpoints from the metadata document, gets tokens with both client
//! authentication methods, verifies them with the JWKS, introspects and revokes them, and
//! reads our errors.
//! scripts/test.sh prepares the Python environment (`EDGEAUTH_TEST_PYTHON`).

mod common;

use common::tls::Pki;
use common::*;

/// Run `tests/interop/<script>` with `args` against `server`; its stdout, once it has
/// exited successfully.
fn run_python(server: &Server, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = test_python().arg(path).args(args).output();
    stdout_of(out.expect("python runs"), &server.log())
}

#[test]
fn authlib_discovers_fetches_and_verifies() {
    let db = TestDb::new();
    let secret = db.add_client("interop", "read write");
    let server = Server::start(&db);
    let base = format!("http://{}", server.addr);
    let args = [base.as_str(), "interop", secret.as_str()].map(std::ffi::OsStr::new);
    let stdout = run_python(&server, "oauth_client.py", &args);
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
    let args = [base.as_str(), ca, "py-secret", secret.as_str(), "py-mtls"]
        .map(std::ffi::OsStr::new)
        .into_iter()
        .chain([client.cert.as_os_str(), client.key.as_os_str()])
        .collect::<Vec<_>>();
    let stdout = run_python(&server, "tls_client.py", &args);
    assert!(
        stdout.contains("tls interop: all checks passed"),
        "{stdout}"
    );
}

/// Authlib's `private_key_jwt` and DPoP proofs built with PyJWT: tokens, the binding, and
/// replays refused, against keys the Python side generated.
#[test]
fn authlib_private_key_jwt_and_pyjwt_dpop() {
    let db = TestDb::new();
    let dir = std::env::temp_dir().join(unique_name("assertion-interop"));
    std::fs::create_dir_all(&dir).unwrap();
    let keygen = [std::ffi::OsStr::new("keygen"), dir.as_os_str()];
    let server = Server::start(&db);
    run_python(&server, "assertion_client.py", &keygen);
    let jwks = dir.join("jwks.json");
    db.add_client_raw(&[
        "py-pkjwt",
        "--scopes",
        "read",
        "--jwks",
        jwks.to_str().unwrap(),
    ]);
    let base = format!("http://{}", server.addr);
    let args = [
        std::ffi::OsStr::new("run"),
        base.as_ref(),
        "py-pkjwt".as_ref(),
        dir.as_os_str(),
    ];
    let stdout = run_python(&server, "assertion_client.py", &args);
    for check in [
        "ok private_key_jwt",
        "ok hour-long assertion refused",
        "ok replay refused",
        "ok dpop",
        "ok dpop replay refused",
    ] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
    assert!(
        stdout.contains("assertion interop: all checks passed"),
        "{stdout}"
    );
}
