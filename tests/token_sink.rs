//! `tokens_database_url` with two real PostgreSQL clusters: every token row lands in the
//! sink and none in the main database; a sink outage gives the usual back-pressure (503 at
//! `max_pending`, `/readyz` not ready) and loses nothing once the sink is back.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A second cluster of the test's own (scripts/pg.sh), for the token rows.
struct SinkCluster {
    dir: PathBuf,
    port: u16,
}

fn pg_sh(args: &[&str]) -> String {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
        .args(args)
        .output()
        .expect("scripts/pg.sh runs");
    assert!(out.status.success(), "pg.sh {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl SinkCluster {
    fn start() -> SinkCluster {
        let dir = std::env::temp_dir().join(unique_name("edgeauth-sink"));
        let cluster = SinkCluster {
            dir,
            port: free_port(),
        };
        cluster.up();
        cluster
    }

    fn up(&self) {
        pg_sh(&["start", self.dir.to_str().unwrap(), &self.port.to_string()]);
    }

    fn down(&self) {
        pg_sh(&["stop", self.dir.to_str().unwrap()]);
    }

    /// A database of this cluster, created and migrated by `edgeauth migrate` as the sink of
    /// `main`.
    fn sink_of(&self, main: &TestDb) -> TestDb {
        let admin = pg_sh(&["url", self.dir.to_str().unwrap(), &self.port.to_string()]);
        psql(&admin, "CREATE DATABASE sink");
        let sink = TestDb {
            name: "sink".to_owned(),
            url: admin.replace("dbname=postgres", "dbname=sink"),
        };
        let out = Command::new(BIN)
            .arg("migrate")
            .env("EDGEAUTH_DATABASE_URL", &main.url)
            .env("EDGEAUTH_TOKENS_DATABASE_URL", &sink.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        sink
    }
}

impl Drop for SinkCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn every_token_lands_in_the_sink_and_none_in_the_main_database() {
    let main = TestDb::new();
    let cluster = SinkCluster::start();
    let sink = cluster.sink_of(&main);
    let secret = main.add_client("svc", "read");
    let mut server = Server::start_with(
        &main,
        &[
            ("EDGEAUTH_TOKENS_DATABASE_URL", &sink.url),
            ("EDGEAUTH_SHARDS", "2"),
        ],
    );
    assert_eq!(server.get("/readyz").status, 200);
    let issued: Vec<String> = (0..200)
        .map(|_| jti_of(&server.token_basic("svc", &secret, "grant_type=client_credentials")))
        .collect();
    assert_eq!(server.stop(), Some(0));
    assert_eq!(sink.token_rows(), 200);
    assert!(sink.unrecorded(&issued).is_empty());
    assert_eq!(main.token_rows(), 0, "nothing in the main database");
    // The sink keeps its own partitions ahead.
    let partitions: i64 = sink
        .psql("SELECT count(*) FROM token_partitions")
        .parse()
        .unwrap();
    assert!(partitions >= 48, "{partitions}");
}

#[test]
fn a_sink_outage_gives_back_pressure_and_loses_nothing() {
    let main = TestDb::new();
    let cluster = SinkCluster::start();
    let sink = cluster.sink_of(&main);
    let secret = main.add_client("svc", "read");
    let mut server = Server::start_with(
        &main,
        &[
            ("EDGEAUTH_TOKENS_DATABASE_URL", &sink.url),
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_MAX_PENDING", "50"),
            ("EDGEAUTH_BATCH_SIZE", "10"),
            ("EDGEAUTH_FLUSH_INTERVAL", "50ms"),
        ],
    );
    let mut issued: Vec<String> = (0..10)
        .map(|_| jti_of(&server.token_basic("svc", &secret, "grant_type=client_credentials")))
        .collect();
    sink.wait_token_rows(10);

    cluster.down();
    let mut refused = None;
    for _ in 0..500 {
        let r = server.token_basic("svc", &secret, "grant_type=client_credentials");
        match r.status {
            200 => issued.push(jti_of(&r)),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    let refused = refused.expect("503 once max_pending rows wait for the sink");
    assert_eq!(refused.header("Retry-After"), Some("1"));
    assert!(issued.len() <= 10 + 50, "{} issued", issued.len());
    assert_eq!(
        server.get("/readyz").status,
        503,
        "not ready without the sink"
    );

    cluster.up();
    eventually(
        "the rows written once the sink is back",
        Duration::from_secs(20),
        || {
            let pending = server.metric("edgeauth_writer_pending");
            ok_if(pending == 0, pending)
        },
    );
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.stop(), Some(0));
    assert!(
        sink.unrecorded(&issued).is_empty(),
        "every issued token in the sink"
    );
    assert_eq!(sink.token_rows(), issued.len() as i64, "and once");
    assert_eq!(main.token_rows(), 0);
}
