//! Signing-key rotation without a restart: docs/OPERATIONS.md's three steps, each applied with
//! SIGHUP, under constant token traffic verified the way a resource server does (a JWKS
//! cache refreshed on an unknown kid). Not one verification may fail.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    BIN, LogOf, Server, TestDb, basic_auth, eventually, ok_if, post, token_request_basic,
    try_request,
};

/// `edgeauth keys generate`; returns the new key's kid.
fn generate(path: &Path) -> String {
    let out = Command::new(BIN)
        .args(["keys", "generate", "--out"])
        .arg(path)
        .output()
        .expect("edgeauth runs");
    assert!(
        out.status.success(),
        "keys generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["kid"].as_str().unwrap().to_owned()
}

fn write_config(file: &Path, keys: &[&Path]) {
    let list: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}", k.display().to_string()))
        .collect();
    replace_file(file, &format!("signing_keys = [{}]\n", list.join(", ")));
}

/// Write to a temporary file and rename it over `file`, as an operator's tooling should: a
/// SIGHUP never sees a half-written file.
fn replace_file(file: &Path, text: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn jwks_kids(addr: SocketAddr) -> Vec<String> {
    let r = try_request(
        addr,
        b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .expect("JWKS request");
    assert_eq!(r.status, 200);
    r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Wait until the JWKS lists exactly `expected`, in order, on many consecutive requests
/// (connections spread over both shards).
fn wait_jwks(server: &Server, expected: &[&str]) {
    let what = format!("the JWKS lists {expected:?} 20 times in a row");
    eventually(&what, Duration::from_secs(10), || {
        for _ in 0..20 {
            let kids = jwks_kids(server.addr);
            if kids != expected {
                return Err(kids);
            }
        }
        Ok(())
    });
}

fn reload(server: &Server, config: &Path, keys: &[&Path], expected_jwks: &[&str]) {
    write_config(config, keys);
    server.signal(libc::SIGHUP);
    wait_jwks(server, expected_jwks);
    // Each shard swaps when it reads its wake-up byte; give the slower one a moment.
    std::thread::sleep(Duration::from_millis(100));
}

/// A resource server: JWKS cached, fetched again only for a kid it does not know.
struct ResourceServer {
    addr: SocketAddr,
    keys: HashMap<String, jsonwebtoken::DecodingKey>,
}

impl ResourceServer {
    fn refresh(&mut self) {
        let r = try_request(
            self.addr,
            b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .expect("JWKS request");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&r.body).expect("JWKS");
        self.keys = set
            .keys
            .iter()
            .map(|jwk| {
                let kid = jwk.common.key_id.clone().expect("kid");
                (kid, jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"))
            })
            .collect();
    }

    /// Ok(kid) when the token verifies.
    fn verify(&mut self, token: &str) -> Result<String, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.clone().ok_or("no kid")?;
        if !self.keys.contains_key(&kid) {
            self.refresh();
        }
        let key = self
            .keys
            .get(&kid)
            .ok_or(format!("kid {kid} not in the JWKS"))?;
        let issuer = format!("http://{}", self.addr);
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[&issuer]);
        validation.set_issuer(&[&issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map_err(|e| format!("kid {kid}: {e}"))?;
        Ok(kid)
    }
}

fn fetch_token(addr: SocketAddr, secret: &str) -> Result<String, String> {
    let r = try_request(
        addr,
        &token_request_basic("rotator", secret, "grant_type=client_credentials"),
    )
    .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!(
            "token: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(r.json()["access_token"].as_str().unwrap().to_owned())
}

fn introspection_active(addr: SocketAddr, secret: &str, token: &str) -> bool {
    let auth = format!("Authorization: Basic {}\r\n", basic_auth("rotator", secret));
    let raw = post(
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &format!("token={token}"),
        &auth,
    );
    try_request(addr, &raw).is_ok_and(|r| r.status == 200 && r.json()["active"] == true)
}

/// The test's phase while a reload is in progress.
const TRANSITION: u8 = u8::MAX;

struct Setup {
    db: TestDb,
    dir: PathBuf,
    config: PathBuf,
    secret: String,
}

fn setup() -> Setup {
    let db = TestDb::new();
    let secret = db.add_client("rotator", "read");
    let dir = std::env::temp_dir().join(common::unique_name("edgeauth-keys"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("edgeauth.toml");
    Setup {
        db,
        dir,
        config,
        secret,
    }
}

#[test]
fn three_step_rotation_under_load_has_no_failed_verification() {
    let s = setup();
    let (a, b) = (s.dir.join("a.pem"), s.dir.join("b.pem"));
    let (kid_a, kid_b) = (generate(&a), generate(&b));
    write_config(&s.config, &[&a]);
    let config_env = s.config.display().to_string();
    let server = Server::start_with(&s.db, &[("EDGEAUTH_CONFIG", &config_env)]);
    assert_eq!(jwks_kids(server.addr), [kid_a.as_str()]);

    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU8::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let verified = Arc::new(AtomicUsize::new(0));
    // (phase when requested, phase when verified, kid)
    let seen = Arc::new(Mutex::new(Vec::<(u8, u8, String)>::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, phase, failures, verified, seen) = (
                stop.clone(),
                phase.clone(),
                failures.clone(),
                verified.clone(),
                seen.clone(),
            );
            let (addr, secret) = (server.addr, s.secret.clone());
            std::thread::spawn(move || {
                let mut rs = ResourceServer {
                    addr,
                    keys: HashMap::new(),
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let before = phase.load(Ordering::SeqCst);
                    let result = fetch_token(addr, &secret).and_then(|token| {
                        let kid = rs.verify(&token)?;
                        n += 1;
                        // Introspection accepts what the JWKS publishes (every 10th token,
                        // to keep the load on issuance and verification).
                        if n.is_multiple_of(10) && !introspection_active(addr, &secret, &token) {
                            return Err(format!("introspection: inactive (kid {kid})"));
                        }
                        Ok(kid)
                    });
                    match result {
                        Ok(kid) => {
                            verified.fetch_add(1, Ordering::Relaxed);
                            let after = phase.load(Ordering::SeqCst);
                            seen.lock().unwrap().push((before, after, kid));
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();

    let run_a_while = || std::thread::sleep(Duration::from_millis(400));
    // Tokens requested while a reload is under way may carry either key: they only count
    // as failures if they do not verify, not for their kid.
    let step = |keys: &[&Path], jwks: &[&str], next: u8| {
        phase.store(TRANSITION, Ordering::SeqCst);
        reload(&server, &s.config, keys, jwks);
        phase.store(next, Ordering::SeqCst);
        run_a_while();
    };
    run_a_while();
    // 1. Publish B; A still signs.
    step(&[&a, &b], &[&kid_a, &kid_b], 1);
    // 2. B signs; A still verifies.
    step(&[&b, &a], &[&kid_b, &kid_a], 2);
    // 3. Retire A (here at once; in production after the longest token lifetime).
    step(&[&b], &[&kid_b], 3);

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed verifications, first: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        server.log()
    );
    let seen = seen.lock().unwrap();
    assert!(
        verified.load(Ordering::Relaxed) > 40,
        "too little traffic: {}",
        seen.len()
    );
    for phase in 0..=3u8 {
        let in_phase: Vec<&String> = seen
            .iter()
            .filter(|(before, after, _)| *before == phase && *after == phase)
            .map(|(_, _, kid)| kid)
            .collect();
        assert!(!in_phase.is_empty(), "no token within phase {phase}");
        let expected = if phase < 2 { &kid_a } else { &kid_b };
        assert!(
            in_phase.iter().all(|kid| *kid == expected),
            "phase {phase}: tokens signed by another key than {expected}"
        );
    }
    let log = server.log();
    assert_eq!(
        log.matches("signing keys reloaded").count(),
        3,
        "one info line per reload: {log}"
    );
    assert!(!jwks_kids(server.addr).contains(&kid_a));
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// SIGHUP, then wait for the `nth` refused reload in the log. One at a time: signals sent
/// together may be delivered as one.
fn sighup_expect_refusal(server: &Server, nth: usize) {
    server.signal(libc::SIGHUP);
    eventually(
        &format!("refusal {nth} logged"),
        Duration::from_secs(10),
        || {
            let refusals = server.log().matches("not reloaded").count();
            ok_if(refusals >= nth, LogOf(&server.log_path))
        },
    );
}

#[test]
fn a_reload_with_a_broken_key_keeps_the_current_keys() {
    let s = setup();
    let (a, b, broken) = (
        s.dir.join("a.pem"),
        s.dir.join("b.pem"),
        s.dir.join("broken.pem"),
    );
    let (kid_a, _kid_b) = (generate(&a), generate(&b));
    std::fs::write(
        &broken,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    write_config(&s.config, &[&a]);
    let config_env = s.config.display().to_string();
    let server = Server::start_with(&s.db, &[("EDGEAUTH_CONFIG", &config_env)]);

    // A valid new signer listed with a broken key: nothing of it may be applied.
    write_config(&s.config, &[&b, &broken]);
    sighup_expect_refusal(&server, 1);
    assert!(
        server.log().contains("broken.pem"),
        "the error names the file: {}",
        server.log()
    );
    // A missing file, an unparsable config and an emptied list are refused the same way.
    write_config(&s.config, &[&s.dir.join("missing.pem")]);
    sighup_expect_refusal(&server, 2);
    replace_file(&s.config, "signing_keys = [\n");
    sighup_expect_refusal(&server, 3);
    replace_file(&s.config, "");
    sighup_expect_refusal(&server, 4);
    assert!(server.log().contains("missing.pem"), "{}", server.log());
    assert!(
        !server.log().contains("generated a signing key"),
        "{}",
        server.log()
    );

    for _ in 0..10 {
        assert_eq!(jwks_kids(server.addr), [kid_a.as_str()]);
        let token = fetch_token(server.addr, &s.secret).expect("still issuing");
        let kid = ResourceServer {
            addr: server.addr,
            keys: HashMap::new(),
        }
        .verify(&token)
        .expect("verifies");
        assert_eq!(kid, kid_a, "still signed by the old key");
        assert!(introspection_active(server.addr, &s.secret, &token));
    }
    assert!(!server.log().contains("signing keys reloaded"));
    let _ = std::fs::remove_dir_all(&s.dir);
}
