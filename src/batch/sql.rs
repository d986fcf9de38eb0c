//! The statements the batch writer sends, in one place. Both take the batch as five binary
//! arrays (`encode::ArrayRows`) in `encode::COLUMNS` order: jti, client_id, scope,
//! issued_at, expires_at. Each is one statement, so one transaction: it lands whole or not.

use crate::pg::{Statement, oid};

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
