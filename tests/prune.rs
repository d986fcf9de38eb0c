//! Pruning through the real binary and a real PostgreSQL: `edgeauth prune` drops exactly the
//! hourly partitions of `tokens` whose every token has expired, and deletes the expired rows
//! of `revoked_tokens` (across chunk boundaries); the server prunes by itself every
//! `prune_interval` without touching live or freshly issued tokens, and with pruning off it
//! deletes nothing.

mod common;

use std::time::Duration;

use common::*;

/// More than one 10,000-row chunk, and not a multiple of it.
const EXPIRED_TOKENS: i64 = 12_345;
const LIVE_TOKENS: i64 = 300;
const EXPIRED_REVOCATIONS: i64 = 50;
const LIVE_REVOCATIONS: i64 = 20;

/// Hours of past partitions made for the expired rows.
const PAST_HOURS: i64 = 48;

/// Rows written with psql, as an operator's database would hold them: expired ones under
/// client `old`, in partitions of the past two days (made here as the keeper made them in
/// their time), up to an hour before the current one; live ones under `live`, some live
/// for only a minute more; and `recent` ones expired a second ago, in the current hour's
/// partition, which stays until the hour is over.
fn insert_mix(db: &TestDb) {
    db.psql(&format!(
        "DO $$ DECLARE h timestamptz; BEGIN
           FOR i IN 1..{PAST_HOURS} LOOP
             h := date_trunc('hour', now(), 'UTC') - i * interval '1 hour';
             PERFORM edgeauth_create_token_partition(h);
           END LOOP;
         END $$;
         INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
           SELECT gen_random_uuid(), 'old', 'read', now() - interval '3 days',
                  date_trunc('hour', now(), 'UTC') - interval '1 hour' - (i % 169200) * interval '1 second'
             FROM generate_series(1, {EXPIRED_TOKENS}) i;
         INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
           SELECT gen_random_uuid(), 'recent', 'read', now() - interval '1 hour', now() - interval '1 second'
             FROM generate_series(1, 10) i;
         INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
           SELECT gen_random_uuid(), 'live', 'read', now(),
                  now() + interval '1 minute' + i * interval '1 second'
             FROM generate_series(1, {LIVE_TOKENS}) i;
         INSERT INTO revoked_tokens (jti, client_id, expires_at)
           SELECT gen_random_uuid(), 'old', now() - i * interval '1 second'
             FROM generate_series(1, {EXPIRED_REVOCATIONS}) i;
         INSERT INTO revoked_tokens (jti, client_id, expires_at)
           SELECT gen_random_uuid(), 'live', now() + interval '1 minute' + i * interval '1 second'
             FROM generate_series(1, {LIVE_REVOCATIONS}) i;"
    ));
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.psql(sql).parse().unwrap()
}

fn prune(db: &TestDb) -> serde_json::Value {
    let out = db.edgeauth(&["prune"]);
    assert!(
        out.status.success(),
        "prune: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("prune prints JSON")
}

#[test]
fn prune_command_removes_exactly_the_expired_rows() {
    let db = TestDb::new();
    insert_mix(&db);
    let live_jti_before = db.psql(
        "SELECT string_agg(jti::text, ',' ORDER BY jti) FROM tokens WHERE client_id = 'live'",
    );

    let partitions_before = count(&db, "SELECT count(*) FROM token_partitions");
    let counts = prune(&db);
    // The partitions that ended more than a minute ago: the past ones but, if this runs in
    // an hour's first minute, the last of them.
    let dropped = counts["partitions_dropped"].as_i64().unwrap();
    assert!(
        dropped == PAST_HOURS || dropped == PAST_HOURS - 1,
        "{counts}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM token_partitions"),
        partitions_before - dropped
    );
    assert_eq!(
        counts["revocations_deleted"], EXPIRED_REVOCATIONS,
        "{counts}"
    );

    assert_eq!(
        count(&db, "SELECT count(*) FROM tokens WHERE client_id = 'old'"),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM tokens WHERE client_id = 'recent'"
        ),
        10,
        "expired rows of a partition that is not over stay until it is"
    );
    assert_eq!(
        db.psql(
            "SELECT string_agg(jti::text, ',' ORDER BY jti) FROM tokens WHERE client_id = 'live'"
        ),
        live_jti_before,
        "the live tokens are exactly the ones that were there"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM revoked_tokens WHERE client_id = 'old'"
        ),
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM revoked_tokens"),
        LIVE_REVOCATIONS
    );

    // Nothing left to do: a second run deletes nothing.
    let again = prune(&db);
    assert_eq!(again["partitions_dropped"], 0, "{again}");
    assert_eq!(again["tokens_deleted"], 0, "{again}");
    assert_eq!(again["revocations_deleted"], 0, "{again}");
}

/// Issue one token and return its jti once its row is in `tokens`.
fn issue(server: &Server, db: &TestDb, secret: &str) -> String {
    let r = server.token_basic("svc", secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let jti = jti_of(&r);
    let query = format!("SELECT count(*) FROM tokens WHERE jti = '{jti}'");
    eventually("the token row written", Duration::from_secs(10), || {
        let rows = count(db, &query);
        ok_if(rows == 1, rows)
    });
    jti
}

#[test]
fn server_prunes_periodically() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_PRUNE_INTERVAL", "200ms")]);
    let before = issue(&server, &db, &secret);
    insert_mix(&db);

    eventually("every expired row pruned", Duration::from_secs(20), || {
        let expired = count(
            &db,
            "SELECT (SELECT count(*) FROM tokens WHERE client_id = 'old')
                  + (SELECT count(*) FROM revoked_tokens WHERE client_id = 'old')",
        );
        ok_if(expired == 0, expired)
    });
    // Issued while the pruner runs (and after): it stays, as do the live rows.
    let after = issue(&server, &db, &secret);
    std::thread::sleep(Duration::from_millis(600));
    for jti in [&before, &after] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT count(*) FROM tokens WHERE jti = '{jti}'")
            ),
            1,
            "fresh token {jti} was pruned"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM tokens WHERE client_id = 'live'"),
        LIVE_TOKENS
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM revoked_tokens"),
        LIVE_REVOCATIONS
    );
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("pruned expired rows")),
        "one info line per round that deleted something: {log}"
    );
}

#[test]
fn server_with_pruning_off_deletes_nothing() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_PRUNE_INTERVAL", "off")]);
    insert_mix(&db);
    issue(&server, &db, &secret);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        count(&db, "SELECT count(*) FROM tokens WHERE client_id = 'old'"),
        EXPIRED_TOKENS
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM revoked_tokens WHERE client_id = 'old'"
        ),
        EXPIRED_REVOCATIONS
    );
    assert!(!server.log().contains("pruned expired rows"));
}
