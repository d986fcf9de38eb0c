//! Everything edgeauth keeps in PostgreSQL: the schema and its migrations, the SQL the
//! server runs on the request path, and the client administration behind the CLI.

pub mod clients;
pub mod revocations;
pub mod schema;
pub mod tokens;

/// The channel every client change is announced on (payload: a client_id, or `*`).
pub const INVALIDATE_CHANNEL: &str = "edgeauth_invalidate";

/// The channel every revocation is announced on (payload: `<jti> <exp-unix-seconds>`).
pub const REVOKE_CHANNEL: &str = "edgeauth_revoke";
