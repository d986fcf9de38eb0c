//! `tokens_database_url` with two real PostgreSQL clusters: every token row lands in the
//! sink and none in the main database; a sink outage gives the usual back-pressure (503 at
//! `max_pending`, `/readyz` not ready) and loses nothing once the sink is back.

mod common;

use std::time::Duration;

use common::*;

/// A database of `cluster`, migrated by `edgeauth migrate` as the token sink of `main`.
fn sink_of(cluster: &OwnCluster, main: &TestDb) -> TestDb {
    let sink = cluster.empty_db();
    let sink_url = std::ffi::OsStr::new(&sink.url);
    stdout_of(
        main.edgeauth_with(&["migrate"], &[("EDGEAUTH_TOKENS_DATABASE_URL", sink_url)]),
        "",
    );
    sink
}

/// A main database, and a sink in a cluster of its own (which lives as long as the value).
fn databases() -> (TestDb, OwnCluster, TestDb) {
    let main = TestDb::new();
    let cluster = OwnCluster::start();
    let sink = sink_of(&cluster, &main);
    (main, cluster, sink)
}

#[test]
fn every_token_lands_in_the_sink_and_none_in_the_main_database() {
    let (main, _cluster, sink) = databases();
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
    let (main, cluster, sink) = databases();
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

    cluster.stop();
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
    // The outage shows as the token session's, not the main one's.
    eventually("the token session down", Duration::from_secs(20), || {
        let up = server.metric("edgeauth_tokens_pg_connected");
        ok_if(up == 0, up)
    });
    assert_eq!(server.metric("edgeauth_pg_connected"), 1);
    let log = server.log();
    let lost = log
        .lines()
        .find(|l| l.contains("database connection lost"))
        .unwrap_or_else(|| panic!("the outage is not logged: {log}"));
    assert!(lost.contains(r#""database":"tokens""#), "{lost}");

    cluster.restart();
    eventually(
        "the rows written once the sink is back",
        Duration::from_secs(20),
        || {
            let pending = server.metric("edgeauth_writer_pending");
            ok_if(pending == 0, pending)
        },
    );
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.metric("edgeauth_tokens_pg_connected"), 1);
    assert_eq!(server.metric("edgeauth_tokens_pg_reconnects_total"), 1);
    assert_eq!(server.stop(), Some(0));
    assert!(
        sink.unrecorded(&issued).is_empty(),
        "every issued token in the sink"
    );
    assert_eq!(sink.token_rows(), issued.len() as i64, "and once");
    assert_eq!(main.token_rows(), 0);
}
