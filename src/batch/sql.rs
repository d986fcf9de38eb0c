//! The statements the batch writer sends, in one place. Column order everywhere is
//! `encode::COLUMNS` order: jti, client_id, scope, issued_at, expires_at.

use crate::pg::{Statement, oid};

/// A fresh batch: the fastest path (see `scripts/bench-copy.sh` and the module docs of
/// `batch`). All or nothing, like any single statement, but without `ON CONFLICT`: a jti
/// already in the table fails the whole COPY with 23505.
pub const COPY_TOKENS: Statement = Statement::new(
    "batch_copy_tokens",
    "COPY tokens (jti, client_id, scope, issued_at, expires_at) FROM STDIN (FORMAT binary)",
    &[],
);

/// A retry, or a slice of a batch being bisected: idempotent, so a batch whose earlier
/// attempt committed (its acknowledgement lost with the connection) is not written twice,
/// and a jti already present is skipped rather than fatal. One statement, one transaction.
pub const INSERT_UNNEST: Statement = Statement::new(
    "batch_insert_unnest",
    "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
     ON CONFLICT (jti) DO NOTHING",
    &[
        oid::UUID_ARRAY,
        oid::TEXT_ARRAY,
        oid::TEXT_ARRAY,
        oid::TIMESTAMPTZ_ARRAY,
        oid::TIMESTAMPTZ_ARRAY,
    ],
);
