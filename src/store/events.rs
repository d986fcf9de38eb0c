//! The notifications edgeauth sends through PostgreSQL (`LISTEN/NOTIFY`), so that every
//! shard of every instance sharing the database hears of a change: their channels, and
//! their payloads, produced and parsed here and nowhere else.
//!
//! The statements that change a row announce it in the same statement (`store::clients`,
//! `store::revocations`), so a change and its notification commit together; the unit tests
//! below keep their literal channel names equal to these constants.

use crate::cache::Jti;
use crate::pg::{self, Client, Statement};

/// Every client change (payload: a client_id, or [`ALL_CLIENTS`]).
pub const INVALIDATE_CHANNEL: &str = "edgeauth_invalidate";

/// Every revocation (payload: `<jti> <exp-unix-seconds>`, see [`parse_revocation`]).
pub const REVOKE_CHANNEL: &str = "edgeauth_revoke";

/// The invalidation payload that means every client.
pub const ALL_CLIENTS: &str = "*";

/// What an `edgeauth_invalidate` payload asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation<'a> {
    Client(&'a str),
    All,
}

impl<'a> Invalidation<'a> {
    pub fn parse(payload: &'a str) -> Invalidation<'a> {
        match payload {
            ALL_CLIENTS => Invalidation::All,
            id => Invalidation::Client(id),
        }
    }

    /// The payload that announces it (also what `/admin/cache/invalidate` echoes).
    pub fn payload(&self) -> &'a str {
        match self {
            Invalidation::All => ALL_CLIENTS,
            Invalidation::Client(id) => id,
        }
    }
}

const NOTIFY: Statement = Statement::new("notify", "SELECT pg_notify($1, $2)", &[]);

/// Announce an invalidation to every shard of every instance (`/admin/cache/invalidate`;
/// the CLI's changes announce themselves in their own statements).
pub async fn announce(client: &Client, what: Invalidation<'_>) -> Result<(), pg::Error> {
    let params = [
        Some(INVALIDATE_CHANNEL.as_bytes()),
        Some(what.payload().as_bytes()),
    ];
    client.query(&NOTIFY, &params).await.map(drop)
}

/// Parse an `edgeauth_revoke` payload, `<jti> <exp-unix-seconds>`.
pub fn parse_revocation(payload: &str) -> Option<(Jti, u64)> {
    let (jti, exp) = payload.split_once(' ')?;
    let jti = uuid::Uuid::try_parse(jti).ok()?;
    Some((*jti.as_bytes(), exp.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_payloads() {
        let (jti, exp) =
            parse_revocation("0190a5c4-1234-7abc-8def-0123456789ab 1700000000").unwrap();
        assert_eq!(jti[0], 0x01);
        assert_eq!(exp, 1_700_000_000);
        assert_eq!(
            parse_revocation("0190a5c4-1234-7abc-8def-0123456789ab"),
            None
        );
        assert_eq!(parse_revocation("nope 1"), None);
        assert_eq!(
            parse_revocation("0190a5c4-1234-7abc-8def-0123456789ab -1"),
            None
        );
    }

    #[test]
    fn invalidation_payloads_round_trip() {
        for what in [Invalidation::All, Invalidation::Client("svc-1")] {
            assert_eq!(Invalidation::parse(what.payload()), what);
        }
    }

    #[test]
    fn statements_announce_on_these_channels() {
        let invalidate = format!("pg_notify('{INVALIDATE_CHANNEL}', client_id)");
        for sql in crate::store::clients::ANNOUNCING_STATEMENTS {
            assert!(sql.contains(&invalidate), "{sql}");
        }
        let revoke = format!("pg_notify('{REVOKE_CHANNEL}',");
        for sql in crate::store::revocations::ANNOUNCING_STATEMENTS {
            assert!(sql.contains(&revoke), "{sql}");
            assert!(sql.contains("jti::text || ' ' ||"), "{sql}");
        }
    }
}
