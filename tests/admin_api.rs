//! The admin API on the real binary (issue #14, growing): `GET /admin/keys` names every
//! loaded key and the one that signs, behind the admin token.

mod common;

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
        let out = db.edgeauth(&[
            "keys",
            "generate",
            "--alg",
            alg,
            "--out",
            path.to_str().unwrap(),
        ]);
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

fn call(server: &Server, method: &str, path: &str) -> Response {
    server.request(
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn clients_are_listed_by_page_shown_and_deleted() {
    let db = TestDb::new();
    for i in 0..5 {
        db.add_client(&format!("svc-{i}"), "read");
    }
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);

    // Pages of two, in id order, until `next` is null.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let r = call(
            &server,
            "GET",
            &format!("/admin/clients?limit=2&after={after}"),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        for c in page["clients"].as_array().unwrap() {
            assert!(c.get("secret_hash").is_none() && c.get("client_secret").is_none());
            seen.push(c["client_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["svc-0", "svc-1", "svc-2", "svc-3", "svc-4"]);
    assert_eq!(
        call(&server, "GET", "/admin/clients").json()["clients"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let r = call(&server, "GET", "/admin/clients/svc-3");
    assert_eq!(
        (r.status, r.json()["client_id"].as_str()),
        (200, Some("svc-3"))
    );
    assert_eq!(r.json()["disabled"], false);
    assert_eq!(call(&server, "DELETE", "/admin/clients/svc-3").status, 204);
    let r = call(&server, "GET", "/admin/clients/svc-3");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(call(&server, "DELETE", "/admin/clients/svc-3").status, 404);

    // Bad input: a clear 4xx with a stable code.
    for (path, status) in [
        ("/admin/clients?limit=0", 400),
        ("/admin/clients?limit=5000", 400),
        ("/admin/clients?page=2", 400),
        ("/admin/clients?after=a%20b", 400),
        ("/admin/clients/a%22b", 400),
    ] {
        let r = call(&server, "GET", path);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.json()["error"], "invalid_request", "{path}");
    }
    let r = call(&server, "PATCH", "/admin/keys");
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")));
    let unauthorized = server.request(b"GET /admin/clients HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(unauthorized.status, 401);
}

fn create(server: &Server, body: &str) -> Response {
    server.request(&post(
        "/admin/clients",
        "application/json",
        body,
        &format!("Authorization: Bearer {ADMIN}\r\n"),
    ))
}

#[test]
fn clients_are_created_from_json_as_the_cli_would() {
    let db = TestDb::new();
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let r = create(
        &server,
        r#"{"client_id":"api-made","scopes":"read write","token_ttl":"15m","rate":{"per_second":50,"burst":100},"claims":{"tenant":"acme"}}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    let token = server
        .access_token("api-made", &secret)
        .expect("a token with the new secret");
    let claims = verify(&server, &token, &server.issuer()).claims;
    assert_eq!(
        (
            claims["tenant"].as_str(),
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap()
        ),
        (Some("acme"), 900)
    );
    let shown = call(&server, "GET", "/admin/clients/api-made").json();
    assert_eq!(
        shown["rate"],
        serde_json::json!({"per_second": 50.0, "burst": 100})
    );

    // A client with keys instead of a secret.
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let r = create(
        &server,
        &format!(r#"{{"client_id":"keyed","scopes":"read","jwks":{jwks}}}"#),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json().get("client_secret").is_none());
    assert_eq!(
        call(&server, "GET", "/admin/clients/keyed").json()["auth_method"],
        "private_key_jwt"
    );

    // Bad input: a clear 4xx, nothing written.
    for (body, status, code) in [
        (
            r#"{"client_id":"api-made","scopes":"read"}"#,
            409,
            "already_exists",
        ),
        (
            r#"{"client_id":"x1","scopes":"read","colour":"red"}"#,
            400,
            "invalid_request",
        ),
        (r#"{"client_id":"x2","scopes":7}"#, 400, "invalid_request"),
        (
            r#"{"client_id":"x3","scopes":"re\"ad"}"#,
            400,
            "invalid_request",
        ),
        (
            r#"{"client_id":"x4","auth_method":"tls_client_auth"}"#,
            400,
            "invalid_request",
        ),
        (
            r#"{"client_id":"x5","claims":{"sub":"admin"}}"#,
            400,
            "invalid_request",
        ),
        (
            r#"{"client_id":"x6","rate":{"per_second":0}}"#,
            400,
            "invalid_request",
        ),
        (r#"{"client_id":"bad id"}"#, 400, "invalid_request"),
        ("not json", 400, "invalid_request"),
    ] {
        let r = create(&server, body);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    for id in ["x1", "x2", "x3", "x4", "x5", "x6"] {
        assert_eq!(
            call(&server, "GET", &format!("/admin/clients/{id}")).status,
            404,
            "{id}"
        );
    }
    let form = server.request(&post(
        "/admin/clients",
        "application/x-www-form-urlencoded",
        "client_id=x7",
        &format!("Authorization: Bearer {ADMIN}\r\n"),
    ));
    assert_eq!(form.status, 415);
}
