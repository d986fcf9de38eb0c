//! Pruning of expired rows in `tokens` and `revoked_tokens`. (Tokens are written by the
//! batch writer, `crate::batch`.)

use crate::pg::{self, Client, Statement};

/// Rows deleted per statement while pruning: small enough that no statement holds its locks
/// or its WAL for long on a big table, large enough to keep the round trips few.
pub const PRUNE_CHUNK_ROWS: usize = 10_000;

const PRUNE_TOKENS: Statement = Statement::new(
    "prune_tokens",
    "DELETE FROM tokens WHERE jti IN (
        SELECT jti FROM tokens WHERE expires_at < now() LIMIT 10000 FOR UPDATE SKIP LOCKED)",
    &[],
);
const PRUNE_REVOKED: Statement = Statement::new(
    "prune_revoked",
    "DELETE FROM revoked_tokens WHERE jti IN (
        SELECT jti FROM revoked_tokens WHERE expires_at < now() LIMIT 10000 FOR UPDATE SKIP LOCKED)",
    &[],
);

/// Delete expired tokens and revocations in chunks; returns (tokens, revocations) deleted.
pub async fn prune(client: &Client) -> Result<(u64, u64), pg::Error> {
    let tokens = prune_table(client, &PRUNE_TOKENS).await?;
    let revoked = prune_table(client, &PRUNE_REVOKED).await?;
    Ok((tokens, revoked))
}

async fn prune_table(client: &Client, stmt: &Statement) -> Result<u64, pg::Error> {
    let mut total = 0;
    loop {
        let n = client.execute(stmt, &[]).await?;
        total += n;
        if (n as usize) < PRUNE_CHUNK_ROWS {
            return Ok(total);
        }
    }
}
