//! PostgreSQL goes away and comes back while requests keep arriving. This test runs its own
//! cluster (scripts/pg.sh) so that stopping it disturbs no other test.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct OwnCluster {
    dir: PathBuf,
    port: u16,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let dir = std::env::temp_dir().join(unique_name("edgeauth-fault-pg"));
        let cluster = OwnCluster {
            dir,
            port: free_port(),
        };
        cluster.pg(&[
            "start",
            cluster.dir.to_str().unwrap(),
            &cluster.port.to_string(),
        ]);
        cluster
    }

    fn pg(&self, args: &[&str]) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh");
        let out = Command::new(script).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pg.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn stop(&self) {
        self.pg(&["stop", self.dir.to_str().unwrap()]);
    }

    fn restart(&self) {
        self.pg(&["start", self.dir.to_str().unwrap(), &self.port.to_string()]);
    }

    fn db(&self) -> TestDb {
        let admin = self.pg(&["url", self.dir.to_str().unwrap(), &self.port.to_string()]);
        let name = unique_name("edgeauth_f");
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = admin.replace("dbname=postgres", &format!("dbname={name}"));
        let db = TestDb { name, url };
        assert!(db.edgeauth(&["migrate"]).status.success());
        db
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn jti_of(r: &Response) -> String {
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    claims["jti"].as_str().unwrap().to_owned()
}

/// During the outage every token request gets a 200 or a 503 with Retry-After, `/readyz`
/// says not ready, and after the restart the server recovers by itself; every 200 is
/// recorded.
#[test]
fn database_restart_mid_stream() {
    let cluster = OwnCluster::start();
    let db = cluster.db();
    let secret = db.add_client("steady", "read");
    let server = Server::start(&db);
    let request = token_request_basic("steady", &secret, "grant_type=client_credentials");
    let mut issued = HashSet::new();
    let mut conn = server.connect();
    for _ in 0..50 {
        let r = conn.request(&request);
        assert_eq!(r.status, 200);
        issued.insert(jti_of(&r));
    }

    cluster.stop();
    let mut unavailable = 0;
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(2) {
        let r = server.request(&request);
        match r.status {
            200 => {
                issued.insert(jti_of(&r));
            }
            503 => {
                unavailable += 1;
                assert_eq!(r.header("Retry-After"), Some("1"));
                assert_eq!(r.json()["error"], "temporarily_unavailable");
            }
            other => panic!(
                "during the outage: {other} {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(unavailable > 0, "a stopped database means 503s");
    assert_eq!(server.get("/readyz").status, 503);

    cluster.restart();
    let recovery = Instant::now();
    let mut recovered = 0;
    while recovered < 20 {
        assert!(
            recovery.elapsed() < Duration::from_secs(15),
            "no recovery: {}",
            server.log()
        );
        let r = server.request(&request);
        if r.status == 200 {
            issued.insert(jti_of(&r));
            recovered += 1;
        } else {
            assert_eq!(r.status, 503);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(server.get("/readyz").status, 200);
    let recorded: HashSet<String> = db
        .psql("SELECT jti FROM tokens")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(issued.is_subset(&recorded), "every 200 is recorded");
    assert_eq!(recorded.len(), issued.len());
}
