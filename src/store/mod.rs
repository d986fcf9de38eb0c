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
use crate::log;
use crate::pg::{PgConfig, passfile};

/// The database `config` names (`database_url`); its absence is an error that says how to
/// get one. A URL without a password takes it from the password file libpq would read
/// (`PGPASSFILE`, else `~/.pgpass`), so that it need not be in the URL.
pub fn database(config: &Config) -> Result<PgConfig, String> {
    let url = config.database_url.as_deref().ok_or(
        "no database configured: set EDGEAUTH_DATABASE_URL or --database-url (scripts/run.sh starts a private one)",
    )?;
    parse_with_password(url)
}

/// Where token rows go when it is not the main database (`tokens_database_url`): `None`
/// for the main one. Clients, revocations and notifications stay on the main database.
pub fn tokens_database(config: &Config) -> Result<Option<PgConfig>, String> {
    match config.tokens_database_url.as_deref() {
        Some(url) if Some(url) != config.database_url.as_deref() => {
            parse_with_password(url).map(Some)
        }
        _ => Ok(None),
    }
}

fn parse_with_password(url: &str) -> Result<PgConfig, String> {
    let pg = PgConfig::parse(url).map_err(|e| e.to_string())?;
    if pg.password().is_some() {
        return Ok(pg);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")));
    let Some(file) = file.filter(|f| f.exists()) else {
        return Ok(pg);
    };
    match passfile::lookup(&file, &pg) {
        Ok(password) => Ok(pg.or_password(password)),
        Err(why) => {
            log::warn("password file not used", &[("reason", &why)]);
            Ok(pg)
        }
    }
}
