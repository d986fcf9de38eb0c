//! Revoked tokens: the row `/oauth/revoke` writes, announced on `edgeauth_revoke` in the
//! same statement (so the notification goes out exactly when the row commits), and the
//! read each shard makes to fill its revocation cache.

use crate::cache::Jti;
use crate::pg::{self, Client, Statement};

/// Insert the revocation and announce it. A jti already revoked inserts nothing and so
/// announces nothing: its first revocation was announced already, and shards that missed
/// it reload on reconnect.
const REVOKE: Statement = Statement::new(
    "revoke_token",
    "WITH r AS (
        INSERT INTO revoked_tokens (jti, client_id, expires_at)
        VALUES ($1::uuid, $2, to_timestamp($3::bigint))
        ON CONFLICT (jti) DO NOTHING
        RETURNING jti)
     SELECT pg_notify('edgeauth_revoke', jti::text || ' ' || $3::bigint) FROM r",
    &[],
);

/// Revocations whose tokens are still live, at most `$1` of them.
const LIVE: Statement = Statement::new(
    "revocations_live",
    "SELECT jti::text, extract(epoch FROM expires_at)::bigint
       FROM revoked_tokens WHERE expires_at > now() LIMIT $1::bigint",
    &[],
);

/// Record that the token `jti` of `client_id`, valid until `exp_s`, is revoked. Returns
/// once the row has committed (the statement runs in its own implicit transaction).
pub async fn revoke(
    client: &Client,
    jti: &Jti,
    client_id: &str,
    exp_s: u64,
) -> Result<(), pg::Error> {
    let mut jti_text = [0u8; 36];
    let jti_text = uuid::Uuid::from_bytes(*jti)
        .hyphenated()
        .encode_lower(&mut jti_text);
    let mut exp = itoa::Buffer::new();
    let exp = exp.format(exp_s);
    client
        .query(
            &REVOKE,
            &[
                Some(jti_text.as_bytes()),
                Some(client_id.as_bytes()),
                Some(exp.as_bytes()),
            ],
        )
        .await
        .map(drop)
}

/// The statements that announce a revocation (checked in `store::events`).
#[cfg(test)]
pub(crate) const ANNOUNCING_STATEMENTS: [&str; 1] = [REVOKE.sql];

/// Is this token revoked? For a shard whose revocation cache is full.
const IS_REVOKED: Statement = Statement::new(
    "revocation_of",
    "SELECT 1 FROM revoked_tokens WHERE jti = $1::uuid AND expires_at > now()",
    &[],
);

/// Whether `revoked_tokens` holds a live revocation of `jti`: what a shard asks when its
/// revocation cache is full and does not know.
pub async fn is_revoked(client: &Client, jti: &Jti) -> Result<bool, pg::Error> {
    let mut text = [0u8; 36];
    let text = uuid::Uuid::from_bytes(*jti)
        .hyphenated()
        .encode_lower(&mut text);
    let rows = client.query(&IS_REVOKED, &[Some(text.as_bytes())]).await?;
    Ok(!rows.is_empty())
}

/// Every live revocation, at most `limit` (the caller asks for one more than it can hold,
/// to learn that it cannot hold them all).
pub async fn live(client: &Client, limit: usize) -> Result<Vec<(Jti, u64)>, pg::Error> {
    let mut limit_text = itoa::Buffer::new();
    let rows = client
        .query(&LIVE, &[Some(limit_text.format(limit).as_bytes())])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        let jti = row.get_str(0).and_then(|t| uuid::Uuid::try_parse(t).ok());
        let exp = row.get_str(1).and_then(|t| t.parse().ok());
        if let (Some(jti), Some(exp)) = (jti, exp) {
            out.push((*jti.as_bytes(), exp));
        }
    }
    Ok(out)
}
