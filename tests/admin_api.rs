//! The admin API on the real binary (issue #14, growing): `GET /admin/keys` names every
//! loaded key and the one that signs, behind the admin token.

mod common;

use std::process::Command;

use common::*;

const ADMIN: &str = "admin-api-token-0123456789abcdef0123";

fn get(server: &Server, path: &str, token: &str) -> Response {
    server.request(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn keys_lists_every_key_and_the_one_that_signs() {
    let db = TestDb::new();
    let dir = std::env::temp_dir().join(unique_name("admin-keys"));
    std::fs::create_dir_all(&dir).unwrap();
    let (first, second) = (dir.join("a.pem"), dir.join("b.pem"));
    for (alg, path) in [("EdDSA", &first), ("ES256", &second)] {
        let out = Command::new(env!("CARGO_BIN_EXE_edgeauth"))
            .args(["keys", "generate", "--alg", alg, "--out"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let keys = format!("{},{}", first.display(), second.display());
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SIGNING_KEYS", &keys),
            ("EDGEAUTH_ADMIN_TOKEN", ADMIN),
        ],
    );
    let r = get(&server, "/admin/keys", ADMIN);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let listed = r.json()["keys"].as_array().unwrap().clone();
    let algs: Vec<(&str, bool)> = listed
        .iter()
        .map(|k| (k["alg"].as_str().unwrap(), k["signing"].as_bool().unwrap()))
        .collect();
    assert_eq!(algs, [("EdDSA", true), ("ES256", false)]);
    // The kids are the JWKS's.
    let jwks = server.jwks();
    for key in &listed {
        assert!(jwks.find(key["kid"].as_str().unwrap()).is_some(), "{key}");
    }
    assert_eq!(
        get(
            &server,
            "/admin/keys",
            "wrong-token-wrong-token-wrong-token"
        )
        .status,
        401
    );
}

#[test]
fn without_an_admin_token_there_is_no_admin_api() {
    let db = TestDb::new();
    let server = Server::start(&db);
    assert_eq!(get(&server, "/admin/keys", ADMIN).status, 404);
}
