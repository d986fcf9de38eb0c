//! The `tokens` table: the two statements the batch writer (`crate::batch`) writes token
//! rows with, and the pruning of expired rows in `tokens` and `revoked_tokens`.
//!
//! Both inserts take a batch as five binary arrays in the order jti, client_id, scope,
//! issued_at, expires_at. Each is one statement, so one transaction: it lands whole or not.
//!
//! Both `edgeauth prune` and the server's periodic job (`crate::shard`, shard 0) delete in
//! chunks of `PRUNE_CHUNK_ROWS`, each its own short transaction, so no statement holds many
//! row locks or a long snapshot on a big table, and concurrent pruners (several instances,
//! or the command while a server runs) share the work through `SKIP LOCKED` instead of
//! waiting on each other.
//!
//! The chunk statement picks its rows by walking `*_expires_at_idx` from the oldest
//! (`ORDER BY expires_at`) and deletes them by `ctid` (a TID scan). The simpler
//! `DELETE ... WHERE jti IN (SELECT jti ... LIMIT n)` was planned as a hash semi-join over a
//! sequential scan of the whole table (and, once most rows are expired, the subquery as a
//! sequential scan too), so each chunk cost O(table), where this form stays flat as the
//! table grows (docs/MEASUREMENTS.md). Deleting by
//! `ctid` is safe here: the rows are locked by the same statement (`FOR UPDATE`), and token
//! rows are never updated, so their `ctid` cannot move under us.

use crate::pg::{self, Statement, oid};

/// The five arrays of a token batch, in the column order below (`batch::encode`).
const ARRAY_TYPES: &[u32] = &[
    oid::UUID_ARRAY,
    oid::TEXT_ARRAY,
    oid::TEXT_ARRAY,
    oid::TIMESTAMPTZ_ARRAY,
    oid::TIMESTAMPTZ_ARRAY,
];

/// A fresh batch: the fastest statement measured (faster than binary COPY, and ~30% faster
/// than the same insert with `ON CONFLICT`). A jti already in the table fails it whole
/// with 23505, and the writer retries with `INSERT_IDEMPOTENT`.
pub const INSERT_FRESH: Statement = Statement::new(
    "batch_insert_fresh",
    "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])",
    ARRAY_TYPES,
);

/// Anything after a failure (a retry, or a slice of a batch being bisected): idempotent, so
/// a batch whose earlier attempt committed (its acknowledgement lost with the connection)
/// is not written twice, and a jti already present is skipped rather than fatal.
pub const INSERT_IDEMPOTENT: Statement = Statement::new(
    "batch_insert_idempotent",
    "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
     ON CONFLICT (jti) DO NOTHING",
    ARRAY_TYPES,
);

/// Rows deleted per statement while pruning: small enough that no statement holds its locks
/// or its WAL for long on a big table (tens of milliseconds, docs/MEASUREMENTS.md), large
/// enough to keep the round trips few. The server's periodic job sends its chunks over shard 0's pipelined
/// session, so this also bounds how long that shard's other queries wait behind one.
pub const PRUNE_CHUNK_ROWS: u64 = 10_000;

/// The tables that are pruned, in the order they are pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PruneTable {
    Tokens,
    Revocations,
}

impl PruneTable {
    const ALL: [PruneTable; 2] = [PruneTable::Tokens, PruneTable::Revocations];

    fn statement(self) -> &'static Statement {
        match self {
            PruneTable::Tokens => &PRUNE_TOKENS,
            PruneTable::Revocations => &PRUNE_REVOKED,
        }
    }
}

// The LIMIT must equal PRUNE_CHUNK_ROWS: a chunk shorter than that ends the table's pruning.
const PRUNE_TOKENS: Statement = Statement::new(
    "prune_tokens",
    "DELETE FROM tokens WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM tokens WHERE expires_at < now()
         ORDER BY expires_at LIMIT 10000 FOR UPDATE SKIP LOCKED))",
    &[],
);
const PRUNE_REVOKED: Statement = Statement::new(
    "prune_revoked",
    "DELETE FROM revoked_tokens WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM revoked_tokens WHERE expires_at < now()
         ORDER BY expires_at LIMIT 10000 FOR UPDATE SKIP LOCKED))",
    &[],
);

/// What one prune round deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub tokens: u64,
    pub revocations: u64,
}

/// One prune round, the only one: delete expired rows of `tokens`, then of
/// `revoked_tokens`, in chunks of `PRUNE_CHUNK_ROWS`, each sent through `execute`. After
/// every full chunk `between_chunks` runs (the server pauses there, the CLI does not); false
/// ends the round early. Returns what was deleted, and the error that ended the round.
pub async fn prune(
    execute: impl AsyncFn(&'static Statement) -> Result<u64, pg::Error>,
    mut between_chunks: impl AsyncFnMut() -> bool,
) -> (Pruned, Result<(), pg::Error>) {
    let mut pruned = Pruned::default();
    for table in PruneTable::ALL {
        let count = match table {
            PruneTable::Tokens => &mut pruned.tokens,
            PruneTable::Revocations => &mut pruned.revocations,
        };
        loop {
            let n = match execute(table.statement()).await {
                Ok(n) => n,
                Err(e) => return (pruned, Err(e)),
            };
            *count += n;
            if n < PRUNE_CHUNK_ROWS {
                break;
            }
            if !between_chunks().await {
                return (pruned, Ok(()));
            }
        }
    }
    (pruned, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_delete_exactly_one_chunk() {
        for table in PruneTable::ALL {
            let sql = table.statement().sql;
            assert!(
                sql.contains(&format!("LIMIT {PRUNE_CHUNK_ROWS} ")),
                "{sql}: the LIMIT and PRUNE_CHUNK_ROWS must agree"
            );
            assert!(sql.contains("ORDER BY expires_at"), "{sql}: index order");
        }
    }
}
