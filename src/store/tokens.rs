//! The `tokens` table: the statement the batch writer (`crate::batch`) writes token rows
//! with, the hourly partitions it writes into, and pruning.
//!
//! `tokens` is partitioned by `expires_at`, one partition per hour (`tokens_YYYYMMDDHH`,
//! UTC), listed in `token_partitions`. `ensure_partitions` creates them up to
//! `PARTITIONS_AHEAD` ahead (`edgeauth migrate`, and shard 0 at start and every
//! `PARTITION_CHECK_INTERVAL`), so an insert never waits for one. Pruning drops the
//! partitions whose every token has expired: its cost does not grow with the table, and it
//! leaves no dead rows to vacuum. Partitions carry no index: nothing reads tokens by a key
//! on the write path, and an index cost more PostgreSQL time and WAL per row than the
//! insert itself (docs/MEASUREMENTS.md).
//!
//! Without a unique index, a retried batch cannot rely on `ON CONFLICT`. Instead every
//! write records its first row's jti in `token_writes` in the same statement, and inserts
//! its rows only if that record is new: a write whose first attempt committed (its answer
//! lost with the connection) inserts nothing the second time.
//!
//! `revoked_tokens` is small and not partitioned: it is pruned in chunks of
//! `PRUNE_CHUNK_ROWS`, each its own short transaction picked through its `expires_at` index
//! and deleted by `ctid` (a TID scan; flat as the table grows, docs/MEASUREMENTS.md), with
//! `SKIP LOCKED` so that concurrent pruners share the work. `token_writes` is pruned the
//! same way once its records are a day old, past any retry.

use crate::pg::{self, Client, Statement, oid};

/// The parameters of `INSERT`: a token batch as five arrays, in the column order below
/// (`batch::encode`), and the jti of its first row.
const PARAM_TYPES: &[u32] = &[
    oid::UUID_ARRAY,
    oid::TEXT_ARRAY,
    oid::TEXT_ARRAY,
    oid::TIMESTAMPTZ_ARRAY,
    oid::TIMESTAMPTZ_ARRAY,
    oid::UUID,
];

/// Every write of token rows, first or retried: inserts the rows unless a write starting
/// with the same row has committed before. A range starting at a given row is written until
/// it settles, and a range is split only after a refusal that committed nothing
/// (`batch::retry`), so the first jti names the write.
pub const INSERT: Statement = Statement::new(
    "batch_insert",
    "WITH w AS (INSERT INTO token_writes (first_jti) VALUES ($6) ON CONFLICT DO NOTHING RETURNING 1)
     INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
      WHERE EXISTS (SELECT 1 FROM w)",
    PARAM_TYPES,
);

/// Create the hourly partitions (`edgeauth_create_token_partition`, schema 13) from the
/// last one (or the current hour) to 48 hours ahead: past the longest token lifetime by a
/// day, so that a day without maintenance (database trouble, no server running) never
/// makes an insert fail. Any number of instances may run it at once: one does the work (the
/// advisory lock), and `lock_timeout` keeps it from queueing inserts behind a long reader
/// of `tokens` (it tries again next time).
const ENSURE_PARTITIONS: &str = "DO $$
DECLARE
  hour timestamptz := date_trunc('hour', now(), 'UTC');
  start timestamptz;
BEGIN
  IF NOT pg_try_advisory_xact_lock(7308613581037169523) THEN RETURN; END IF;
  SET LOCAL lock_timeout = '1s';
  start := greatest(hour, (SELECT max(until) FROM token_partitions));
  WHILE start < hour + interval '48 hours' LOOP
    PERFORM edgeauth_create_token_partition(start);
    start := date_trunc('hour', start, 'UTC') + interval '1 hour';
  END LOOP;
END $$";

/// The partitions whose every token expired (a minute of slack for clocks), with the rows
/// the statistics count in them (exact counting would read them; the statistics lag
/// inserts by a second at most).
const EXPIRED_PARTITIONS: Statement = Statement::new(
    "token_partitions_expired",
    "SELECT p.name, coalesce(s.n_live_tup, 0)
       FROM token_partitions p LEFT JOIN pg_stat_user_tables s ON s.relid = to_regclass(p.name)
      WHERE p.until < now() - interval '1 minute' ORDER BY p.until",
    &[],
);

/// Rows deleted per statement while pruning `revoked_tokens` and `token_writes`: small
/// enough that no statement holds its locks or its WAL for long (tens of milliseconds,
/// docs/MEASUREMENTS.md), large enough to keep the round trips few. The server's job sends
/// its chunks over shard 0's pipelined session, so this also bounds how long that shard's
/// other queries wait behind one.
pub const PRUNE_CHUNK_ROWS: u64 = 10_000;

// The LIMIT must equal PRUNE_CHUNK_ROWS: a chunk shorter than that ends the table's pruning.
const PRUNE_REVOKED: Statement = Statement::new(
    "prune_revoked",
    "DELETE FROM revoked_tokens WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM revoked_tokens WHERE expires_at < now()
         ORDER BY expires_at LIMIT 10000 FOR UPDATE SKIP LOCKED))",
    &[],
);
/// Write records a day old: the jti is a UUIDv7, whose first 48 bits are its millisecond.
const PRUNE_WRITES: Statement = Statement::new(
    "prune_token_writes",
    "DELETE FROM token_writes WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM token_writes
         WHERE first_jti < (lpad(to_hex((extract(epoch FROM now() - interval '1 day') * 1000)::bigint), 12, '0')
                            || '00000000000000000000')::uuid
         ORDER BY first_jti LIMIT 10000 FOR UPDATE SKIP LOCKED))",
    &[],
);

/// What one prune round removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Partitions of `tokens` dropped, and the rows they held (as the statistics count).
    pub partitions: u64,
    pub tokens: u64,
    pub revocations: u64,
    pub writes: u64,
}

/// Create the partitions the next 48 hours need (see `ENSURE_PARTITIONS`).
pub async fn ensure_partitions(client: &Client) -> Result<(), pg::Error> {
    client.batch_execute(ENSURE_PARTITIONS).await
}

/// One prune round: drop the expired partitions of `tokens` and delete old records of
/// `token_writes` in the tokens' database, then expired rows of `revoked_tokens` in the main
/// one (the same client when they are one database). After every full chunk
/// `between_chunks` runs (the server pauses there, the CLI does not); false ends the round
/// early. Returns what was removed, and the error that ended the round.
pub async fn prune(
    tokens: &Client,
    main: &Client,
    mut between_chunks: impl AsyncFnMut() -> bool,
) -> (Pruned, Result<(), pg::Error>) {
    let mut pruned = Pruned::default();
    if let Err(e) = drop_expired_partitions(tokens, &mut pruned).await {
        return (pruned, Err(e));
    }
    let (writes, result) = delete_in_chunks(tokens, &PRUNE_WRITES, &mut between_chunks).await;
    pruned.writes = writes;
    if !matches!(result, Ok(true)) {
        return (pruned, result.map(drop));
    }
    let (revocations, result) = delete_in_chunks(main, &PRUNE_REVOKED, &mut between_chunks).await;
    pruned.revocations = revocations;
    (pruned, result.map(drop))
}

/// Run a chunk statement until a chunk comes back short: the rows deleted, and whether the
/// round may go on (`between_chunks` said stop: false).
async fn delete_in_chunks(
    client: &Client,
    statement: &Statement,
    between_chunks: &mut impl AsyncFnMut() -> bool,
) -> (u64, Result<bool, pg::Error>) {
    let mut deleted = 0;
    loop {
        let n = match client.execute(statement, &[]).await {
            Ok(n) => n,
            Err(e) => return (deleted, Err(e)),
        };
        deleted += n;
        if n < PRUNE_CHUNK_ROWS {
            return (deleted, Ok(true));
        }
        if !between_chunks().await {
            return (deleted, Ok(false));
        }
    }
}

/// Drop each expired partition in a transaction of its own, waiting at most a second for
/// the lock that dropping takes on `tokens` (inserts queue behind it while it waits).
async fn drop_expired_partitions(client: &Client, pruned: &mut Pruned) -> Result<(), pg::Error> {
    let expired = client.query(&EXPIRED_PARTITIONS, &[]).await?;
    for row in expired.iter() {
        let (Some(name), Some(rows)) = (row.get_str(0), row.get_str(1)) else {
            continue;
        };
        // Our own names only: they are spliced into the statement.
        if !is_partition_name(name) {
            continue;
        }
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL lock_timeout = '1s'; DROP TABLE IF EXISTS {name};
                 DELETE FROM token_partitions WHERE name = '{name}'; COMMIT"
            ))
            .await?;
        pruned.partitions += 1;
        pruned.tokens += rows.parse::<u64>().unwrap_or(0);
    }
    Ok(())
}

/// `tokens_YYYYMMDDHH`, or the table from before partitioning.
fn is_partition_name(name: &str) -> bool {
    name == "tokens_before_partitioning"
        || name
            .strip_prefix("tokens_")
            .is_some_and(|hour| hour.len() == 10 && hour.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_statements_delete_exactly_one_chunk() {
        for sql in [PRUNE_REVOKED.sql, PRUNE_WRITES.sql] {
            assert!(
                sql.contains(&format!("LIMIT {PRUNE_CHUNK_ROWS} ")),
                "{sql}: the LIMIT and PRUNE_CHUNK_ROWS must agree"
            );
        }
    }

    #[test]
    fn only_partition_names_are_dropped() {
        assert!(is_partition_name("tokens_2026112904"));
        assert!(is_partition_name("tokens_before_partitioning"));
        for other in [
            "tokens",
            "clients",
            "tokens_1; DROP TABLE clients",
            "tokens_20261129",
        ] {
            assert!(!is_partition_name(other), "{other}");
        }
    }
}
