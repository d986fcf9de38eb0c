//! The command line against a real database: migrate, client administration, keys.

mod common;

use std::process::Command;

use common::*;

#[test]
fn migrate_is_idempotent_and_versioned() {
    let db = TestDb::empty();
    let out = db.edgeauth(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["applied"],
        serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    );
    let out = db.edgeauth(&["migrate"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["applied"], serde_json::json!([]));
    // `tokens` is partitioned by the hour, without an index, with its partitions 48 hours
    // ahead (a new database has no partition from before partitioning).
    assert_eq!(
        db.psql("SELECT relkind FROM pg_class WHERE relname = 'tokens'"),
        "p"
    );
    let indexes = db.psql("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'tokens%'");
    assert_eq!(indexes, "0");
    let ahead = db.psql(
        "SELECT count(*) FROM token_partitions
          WHERE from_ts >= date_trunc('hour', now(), 'UTC') AND until <= date_trunc('hour', now(), 'UTC') + interval '48 hours'",
    );
    assert_eq!(ahead, "48");
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'tokens'::regclass"),
        "48"
    );
    // The SPEC's names, writable with the named columns alone.
    db.psql("INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at) VALUES (gen_random_uuid(), 'c', 's', now(), now())");
    db.psql("INSERT INTO revoked_tokens (jti, expires_at) VALUES (gen_random_uuid(), now())");
    db.psql("INSERT INTO clients (client_id, secret_hash, allowed_scopes, disabled) VALUES ('x', 'y', '', false)");
}

#[test]
fn serve_refuses_an_unmigrated_database() {
    let db = TestDb::empty();
    let out = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("EDGEAUTH_DATABASE_URL", &db.url)
        .env(
            "EDGEAUTH_DATA_DIR",
            std::env::temp_dir().join(unique_name("edgeauth-data")),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("edgeauth migrate"));
}

#[test]
fn client_lifecycle() {
    let db = TestDb::new();
    let secret = db.add_client("lifecycle", "read write");
    assert!(secret.len() >= 43, "256 bits in base64url");
    // Stored only as a hash.
    let stored = db.psql("SELECT secret_hash FROM clients WHERE client_id = 'lifecycle'");
    assert_ne!(stored, secret);
    assert!(stored.starts_with("sha256$"), "a tagged scheme: {stored}");
    assert_eq!(stored.len(), "sha256$".len() + 64);
    // A row from before the tag (bare hex) still authenticates.
    db.psql(
        "UPDATE clients SET secret_hash = substr(secret_hash, 8) WHERE client_id = 'lifecycle'",
    );
    let server = Server::start(&db);
    assert_eq!(
        server
            .token_basic("lifecycle", &secret, "grant_type=client_credentials")
            .status,
        200
    );
    drop(server);

    let out = db.edgeauth(&["client", "add", "lifecycle"]);
    assert!(!out.status.success(), "duplicate ids are refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = db.edgeauth(&["client", "show", "lifecycle"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scopes"], "read write");
    assert_eq!(v["disabled"], false);
    assert!(v.get("secret_hash").is_none());

    db.add_client("second", "");
    let out = db.edgeauth(&["client", "list"]);
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["client_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, vec!["lifecycle", "second"]);

    assert!(
        db.edgeauth(&["client", "delete", "second"])
            .status
            .success()
    );
    assert!(
        !db.edgeauth(&["client", "delete", "second"])
            .status
            .success(),
        "already gone"
    );
    assert!(!db.edgeauth(&["client", "add", "bad id"]).status.success());
    assert!(
        !db.edgeauth(&["client", "add", "x", "--scopes", "a\"b"])
            .status
            .success()
    );
}

/// Every client change is announced on edgeauth_invalidate with the client id.
#[test]
fn client_changes_notify() {
    let db = TestDb::new();
    db.add_client("noisy", "read");
    for cmd in ["rotate-secret", "disable", "enable", "delete"] {
        let script = format!(
            "LISTEN edgeauth_invalidate;\n\\! EDGEAUTH_DATABASE_URL='{}' {BIN} client {cmd} noisy >/dev/null\nSELECT 1;\n",
            db.url
        );
        let out = Command::new(psql_bin())
            .args(["-X", "-d", &db.url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(script.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(
                "Asynchronous notification \"edgeauth_invalidate\" with payload \"noisy\""
            ),
            "{cmd}: {text}"
        );
    }
}

#[test]
fn keys_generate_writes_a_private_key_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(unique_name("edgeauth-keys"));
    for alg in ["ES256", "EdDSA", "HS256"] {
        let path = dir.join(format!("{alg}.pem"));
        let out = succeeds(
            Command::new(BIN)
                .args(["keys", "generate", "--alg", alg, "--out"])
                .arg(&path),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["alg"], alg);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = Command::new(BIN)
            .args(["keys", "generate", "--alg", alg, "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!again.status.success(), "never overwrites a key");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Secrets stay out of the process list: the admin token from `EDGEAUTH_ADMIN_TOKEN_FILE`
/// works, a short one is refused at start, and one given as a flag draws a warning.
#[test]
fn the_admin_token_comes_from_a_file_and_a_flag_draws_a_warning() {
    let db = TestDb::new();
    let file = std::env::temp_dir().join(unique_name("edgeauth-admin-token"));
    let token = "admin-token-from-a-file-0123456789abcdef";
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let path = file.display().to_string();
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN_FILE", path.as_str())]);
    let stats = |bearer: &str| {
        server
            .request(format!("GET /admin/cache/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer}\r\n\r\n").as_bytes())
            .status
    };
    assert_eq!(stats(token), 200);
    assert_eq!(stats("wrong-token-wrong-token-wrong-token"), 401);
    assert!(!server.log().contains(token), "the token is never logged");

    std::fs::write(&file, "short\n").unwrap();
    let out = Command::new(BIN)
        .args(["client", "list"])
        .env("EDGEAUTH_DATABASE_URL", &db.url)
        .env("EDGEAUTH_ADMIN_TOKEN_FILE", &file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin_token_file"));

    let out = succeeds(
        Command::new(BIN)
            .args(["--admin-token", token, "client", "list"])
            .env("EDGEAUTH_DATABASE_URL", &db.url),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("visible in the process list") && stderr.contains("admin_token"),
        "{stderr}"
    );
    assert!(!stderr.contains(token), "{stderr}");
    let _ = std::fs::remove_file(&file);
}

/// A database URL without a password takes it from `PGPASSFILE`, as libpq does; a password
/// file others may read is ignored with a warning.
#[test]
fn the_database_password_comes_from_pgpassfile() {
    let db = TestDb::new();
    let port: u16 = std::env::var("EDGEAUTH_TEST_PG_PORT")
        .unwrap()
        .parse()
        .unwrap();
    // pg.sh's pg_hba.conf makes this role use SCRAM over TCP (tests/pg_client.rs sets the
    // same password).
    db.psql(
        "DO $$ BEGIN CREATE ROLE edgeauth_scram LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         SET password_encryption = 'scram-sha-256'; ALTER ROLE edgeauth_scram PASSWORD 's3cret pw'; RESET password_encryption; \
         GRANT SELECT ON clients TO edgeauth_scram",
    );
    let url = format!("postgres://edgeauth_scram@127.0.0.1:{port}/{}", db.name);
    let passfile = std::env::temp_dir().join(unique_name("edgeauth-pgpass"));
    let list = |passfile: &std::path::Path| {
        Command::new(BIN)
            .args(["client", "list"])
            .env("EDGEAUTH_DATABASE_URL", &url)
            .env("PGPASSFILE", passfile)
            .output()
            .unwrap()
    };
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{port}:*:edgeauth_scram:s3cret pw\n"),
    )
    .unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = list(&passfile);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = list(&passfile);
    assert!(
        !out.status.success(),
        "a world-readable password file is not used"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 0600"));
    let _ = std::fs::remove_file(&passfile);
}
