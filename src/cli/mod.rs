//! The command line: subcommands and the settings they share.
//!
//! Every setting can come from a flag, from `EDGEAUTH_<NAME>` in the environment, or from the
//! TOML file named by `--config`; clap resolves flag-over-environment, and `config` fills
//! what is still unset from the file, then validates the whole once.

pub mod commands;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "edgeauth",
    version,
    about = "OAuth 2.0 client-credentials token server"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the token server.
    Serve,
    /// Create or upgrade the database schema (idempotent).
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired tokens and revocations.
    Prune,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; prints its secret once.
    Add {
        client_id: String,
        /// Space-separated scopes the client may request.
        #[arg(long, default_value = "")]
        scopes: String,
        /// The `aud` claim for this client's tokens (default: the server's audience).
        #[arg(long)]
        audience: Option<String>,
        /// Lifetime of this client's tokens (default: the server's token_ttl).
        #[arg(long)]
        token_ttl: Option<String>,
        /// Grants the client may use; only `client_credentials` exists here.
        #[arg(long, default_value = "client_credentials")]
        grant_types: String,
    },
    /// List clients as JSON lines.
    List,
    /// Show one client as JSON.
    Show { client_id: String },
    /// Replace a client's secret; prints the new one once.
    RotateSecret { client_id: String },
    /// Refuse tokens to a client.
    Disable { client_id: String },
    /// Allow a disabled client again.
    Enable { client_id: String },
    /// Remove a client.
    Delete { client_id: String },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Write a new signing key as PEM (mode 0600; never overwrites).
    Generate {
        #[arg(long, default_value = "ES256")]
        alg: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Raw settings as given; `config::Config::resolve` validates them.
#[derive(Args, Debug, Default, Clone)]
pub struct Settings {
    /// TOML file with settings (lowest precedence).
    #[arg(long, global = true, env = "EDGEAUTH_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(
        long,
        global = true,
        env = "EDGEAUTH_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_LISTEN")]
    pub listen: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_SHARDS")]
    pub shards: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_ISSUER")]
    pub issuer: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_AUDIENCE")]
    pub audience: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_TOKEN_TTL")]
    pub token_ttl: Option<String>,
    /// PEM files, comma-separated; the first signs, all are published.
    #[arg(long, global = true, env = "EDGEAUTH_SIGNING_KEYS")]
    pub signing_keys: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(
        long,
        global = true,
        env = "EDGEAUTH_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_LOG_LEVEL")]
    pub log_level: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_IO_DRIVER")]
    pub io_driver: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_CACHE_TTL")]
    pub cache_ttl: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_CACHE_CAPACITY")]
    pub cache_capacity: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_BATCH_SIZE")]
    pub batch_size: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_FLUSH_INTERVAL")]
    pub flush_interval: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_MAX_PENDING")]
    pub max_pending: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_DURABILITY")]
    pub durability: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    #[arg(long, global = true, env = "EDGEAUTH_MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// How often the server deletes expired tokens and revocations; `0` or `off`: never.
    #[arg(long, global = true, env = "EDGEAUTH_PRUNE_INTERVAL")]
    pub prune_interval: Option<String>,
}
