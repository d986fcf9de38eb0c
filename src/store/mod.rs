//! Everything edgeauth keeps in PostgreSQL: the schema and its migrations, every SQL statement the
//! server and the CLI run, and the notifications that announce changes (`events`). No SQL
//! text and no channel name lives outside this module.

pub mod clients;
pub mod events;
pub mod revocations;
pub mod schema;
pub mod tokens;

pub use events::{INVALIDATE_CHANNEL, REVOKE_CHANNEL};

use crate::config::Config;
use crate::pg::PgConfig;

/// The database `config` names (`database_url`); its absence is an error that says how to
/// get one.
pub fn database(config: &Config) -> Result<PgConfig, String> {
    let url = config.database_url.as_deref().ok_or(
        "no database configured: set EDGEAUTH_DATABASE_URL or --database-url (scripts/run.sh starts a private one)",
    )?;
    PgConfig::parse(url).map_err(|e| e.to_string())
}
