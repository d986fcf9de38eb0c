//! The move to a partitioned `tokens` (schema 10-12) on a populated schema-2 database, while
//! an old server's kind of insert keeps writing: every existing row is kept, the writer is
//! never refused, and the new binary then serves and records tokens.

mod common;

use std::time::{Duration, Instant};

use common::*;
use edgeauth::pg::{Client, PgConfig};
use edgeauth::store::schema;

/// Rows of the populated database: more than a toy table, small enough for CI.
const EXISTING_ROWS: i64 = 200_000;

/// A writer inserting as a server of schema 2-9 does (the five columns, 100 rows a
/// statement, each its own transaction) for `seconds`, recording the longest wait for one
/// statement.
const OLD_WRITER: &str = "CREATE PROCEDURE old_writer(seconds float8) LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  before timestamptz;
  longest float8 := 0;
BEGIN
  WHILE clock_timestamp() < started + seconds * interval '1 second' LOOP
    before := clock_timestamp();
    INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
      SELECT gen_random_uuid(), 'writer', 'read', now(), now() + interval '1 hour' + i * interval '1 second'
        FROM generate_series(1, 100) i;
    COMMIT;
    longest := greatest(longest, extract(epoch FROM clock_timestamp() - before));
    PERFORM pg_sleep(0.005);
  END LOOP;
  INSERT INTO writer_stall VALUES (longest);
  COMMIT;
END $$";

#[test]
fn a_populated_schema_2_database_is_partitioned_online_and_keeps_every_row() {
    let db = TestDb::empty();
    assert_eq!(migrate_to(&db, 2), [1, 2]);
    db.psql(&format!(
        "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
           SELECT gen_random_uuid(), 'existing', 'read', now() - interval '1 hour',
                  now() - interval '30 minutes' + (i % 86400) * interval '1 second'
             FROM generate_series(1, {EXISTING_ROWS}) i;
         CREATE TABLE writer_stall (longest float8);
         {OLD_WRITER};"
    ));
    let checksum = "SELECT md5(string_agg(jti::text || expires_at::text, ',' ORDER BY jti)) FROM tokens WHERE client_id = 'existing'";
    let before = db.psql(checksum);

    // The old writer runs through the whole migration.
    let url = db.url.clone();
    let writer = std::thread::spawn(move || psql(&url, "CALL old_writer(4)"));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let out = db.edgeauth(&["migrate"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(applied["applied"][0], 3);
    writer.join().expect("the old writer was never refused");
    let stall: f64 = db.psql("SELECT longest FROM writer_stall").parse().unwrap();
    println!("migrate took {took:?}; the old writer's longest statement: {stall:.3} s");
    assert!(stall < 2.0, "inserts waited {stall} s");

    // Every existing row, unchanged, now a partition of the partitioned `tokens`.
    assert_eq!(db.psql(checksum), before);
    assert_eq!(
        db.psql("SELECT count(*) FROM tokens WHERE client_id = 'existing'"),
        EXISTING_ROWS.to_string()
    );
    assert_eq!(
        db.psql(
            "SELECT count(*) FROM ONLY tokens_before_partitioning WHERE client_id = 'existing'"
        ),
        EXISTING_ROWS.to_string()
    );
    assert_eq!(
        db.psql("SELECT relkind FROM pg_class WHERE relname = 'tokens'"),
        "p"
    );
    let writer_rows: i64 = db
        .psql("SELECT count(*) FROM tokens WHERE client_id = 'writer'")
        .parse()
        .unwrap();
    assert!(writer_rows > 0);

    serves_and_records(&db, 20);
    assert_eq!(
        db.psql("SELECT count(*) FROM tokens"),
        (EXISTING_ROWS + writer_rows + 20).to_string()
    );
}

/// Migrates `db` up to schema `version` (and no further); the versions applied.
fn migrate_to(db: &TestDb, version: i32) -> Vec<i32> {
    let config = PgConfig::parse(&db.url).unwrap();
    block_on(async {
        let client = Client::connect(&config).await.unwrap();
        let applied = schema::migrate_to(&client, version).await.unwrap();
        client.close().await;
        applied
    })
}

/// The new binary serves on the migrated database, and the `count` tokens it issues are
/// recorded.
fn serves_and_records(db: &TestDb, count: usize) {
    let secret = db.add_client("svc", "read");
    let mut server = Server::start(db);
    let issued: Vec<String> = (0..count)
        .map(|_| jti_of(&server.token_basic("svc", &secret, "grant_type=client_credentials")))
        .collect();
    assert_eq!(server.stop(), Some(0));
    assert!(db.unrecorded(&issued).is_empty());
}

/// A row expiring past the cut-over (a clock that ran ahead, rows another tool wrote)
/// moves the cut-over past it rather than fail migration 11: every row is kept, the old
/// table holds everything expiring before the hour after that row, and the new binary
/// serves and records tokens. A database that passed the first version of migration 10,
/// whose cut-over is 26 hours ahead whatever the rows, gets through 11 as well.
#[test]
fn a_row_expiring_after_the_cut_over_moves_it_later() {
    for passed_first_10 in [false, true] {
        let db = TestDb::empty();
        migrate_to(&db, 2);
        db.psql(
            "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
               SELECT gen_random_uuid(), 'existing', 'read', now(), now() + i * interval '1 minute'
                 FROM generate_series(1, 1000) i;
             INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
               VALUES (gen_random_uuid(), 'ahead', 'read', now(), now() + interval '7 days')",
        );
        if passed_first_10 {
            migrate_to(&db, 10);
            db.psql(
                "ALTER TABLE tokens DROP CONSTRAINT tokens_before_cutover;
                 UPDATE edgeauth_token_cutover SET until = date_trunc('hour', now(), 'UTC') + interval '26 hours';
                 DO $$ BEGIN
                   EXECUTE format('ALTER TABLE tokens ADD CONSTRAINT tokens_before_cutover CHECK (expires_at < %L) NOT VALID',
                                  (SELECT until FROM edgeauth_token_cutover));
                 END $$",
            );
        }
        let out = db.edgeauth(&["migrate"]);
        assert!(
            out.status.success(),
            "after the first 10: {passed_first_10}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(db.psql("SELECT count(*) FROM tokens"), "1001");
        assert_eq!(
            db.psql(
                "SELECT until = date_trunc('hour', (SELECT expires_at FROM tokens WHERE client_id = 'ahead'), 'UTC')
                                + interval '1 hour'
                   FROM token_partitions WHERE name = 'tokens_before_partitioning'"
            ),
            "t"
        );
        serves_and_records(&db, 5);
    }
}
