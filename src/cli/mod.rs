//! The command line: subcommands and the settings they share.
//!
//! Every setting can come from a flag, from `EDGEAUTH_<NAME>` in the environment, or from the
//! TOML file named by `--config`; clap resolves flag-over-environment, and `config` fills
//! what is still unset from the file, then validates the whole once.

pub mod commands;

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::{SETTINGS, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "edgeauth",
    version,
    about = "OAuth 2.0 client-credentials token server"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process, like `ClientCommand`.
#[allow(clippy::large_enum_variant)]
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

// Parsed once per process: the size of `Add` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
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
        /// How the client authenticates: client_secret_basic (a secret, by HTTP Basic or in
        /// the body; the default), private_key_jwt (an assertion signed by a key of --jwks,
        /// or a token of a trusted issuer: --federated), tls_client_auth (a certificate from
        /// tls_client_ca carrying --tls-subject) or self_signed_tls_client_auth (the
        /// certificate in --tls-cert). --jwks and --federated imply private_key_jwt.
        #[arg(long = "auth")]
        auth_method: Option<String>,
        /// private_key_jwt: the client's public keys, a JWKS file ({"keys":[...]}; EC P-256,
        /// Ed25519 or RSA of 2048+ bits; no private members).
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// Workload identity: the client authenticates with a token that the trusted issuer
        /// ISSUER (see trusted_issuers) signed for SUBJECT, e.g. a Kubernetes service account
        /// `system:serviceaccount:NAMESPACE:NAME` or a SPIFFE ID. No secret exists.
        #[arg(long, num_args = 2, value_names = ["ISSUER", "SUBJECT"])]
        federated: Option<Vec<String>>,
        /// Tokens only with a DPoP proof (RFC 9449): every token is bound to a key.
        #[arg(long)]
        require_dpop: bool,
        #[command(flatten)]
        rate: RateArgs,
        /// tls_client_auth: the subject DN (RFC 4514, e.g. "CN=billing,O=Example") or an
        /// alternative name (dns:NAME, uri:URI, ip:ADDRESS, email:ADDRESS) the client's
        /// certificate must carry.
        #[arg(long)]
        tls_subject: Option<String>,
        /// self_signed_tls_client_auth: the client's certificate (PEM); only its SHA-256 is
        /// kept. (The same flag as the server's `tls_cert` setting, which `client add` does
        /// not use: a string, as the setting's flag is.)
        #[arg(long)]
        tls_cert: Option<String>,
        /// For certificate clients: whether their tokens carry the certificate's thumbprint
        /// (`cnf`, RFC 8705 §3), so that only the certificate's holder can use them.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
        certificate_bound_tokens: bool,
        /// A resource (RFC 8707, an absolute URI) the client may request tokens for, as their
        /// `aud`; repeat for several.
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// A JSON object of static claims every token of the client carries (e.g.
        /// {"tenant":"acme"}); registered names (iss sub aud exp iat nbf jti client_id scope
        /// cnf typ) are refused.
        #[arg(long)]
        claims: Option<std::path::PathBuf>,
    },
    /// List clients as JSON lines.
    List,
    /// Show one client as JSON.
    Show { client_id: String },
    /// Replace a client's secret; prints the new one once.
    RotateSecret {
        client_id: String,
        /// How long the old secret stays accepted beside the new one (e.g. 10m; at most
        /// 7d); without it the old one stops at once.
        #[arg(long, value_parser = crate::config::duration)]
        grace: Option<std::time::Duration>,
    },
    /// Give a client its own token rate (`--rate off`: the server's client_rate_default).
    SetRate {
        client_id: String,
        #[command(flatten)]
        rate: RateArgs,
    },
    /// Replace the public keys of a private_key_jwt client (list the new key beside the old
    /// one until the client signs with the new).
    SetJwks {
        client_id: String,
        /// The new JWKS file.
        jwks: std::path::PathBuf,
    },
    /// Refuse tokens to a client.
    Disable { client_id: String },
    /// Allow a disabled client again.
    Enable { client_id: String },
    /// Remove a client (its tokens introspect as inactive from then on).
    Delete { client_id: String },
    /// Make every token the client was issued so far inactive (kill switch); tokens issued
    /// afterwards work.
    RevokeTokens { client_id: String },
}

/// A client's token rate: `--rate N/s` (or /m, /h) and `--burst M` (default: a second's
/// worth). Each of the instance's shards enforces its even share.
#[derive(clap::Args, Debug, Default)]
pub struct RateArgs {
    #[arg(long, value_name = "N/s")]
    pub rate: Option<String>,
    #[arg(long, value_name = "M", requires = "rate")]
    pub burst: Option<u32>,
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

/// The settings' flags and environment variables, made from `config::SETTINGS` (one
/// declaration per setting), plus `--config`, the TOML file.
impl ClientCommand {
    /// `client add --tls-cert` shares its flag with the server's `tls_cert` setting, whose
    /// environment variable would otherwise fill it in: keep it only when it was typed.
    pub fn typed_only(mut self, settings: &Settings) -> ClientCommand {
        if let ClientCommand::Add { tls_cert, .. } = &mut self
            && !settings.on_command_line.contains(&"tls_cert")
        {
            *tls_cert = None;
        }
        self
    }
}

#[derive(Debug, Default, Clone)]
pub struct SettingArgs(pub Settings);

const CONFIG_FILE_ARG: &str = "config";

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Settings {
            file: matches.get_one::<PathBuf>(CONFIG_FILE_ARG).cloned(),
            ..Settings::default()
        };
        for setting in SETTINGS {
            if let Some(value) = matches.get_one::<String>(setting.name) {
                settings.given.insert(setting.name, value.clone());
            }
            if matches.value_source(setting.name) == Some(clap::parser::ValueSource::CommandLine) {
                settings.on_command_line.push(setting.name);
            }
        }
        Ok(SettingArgs(settings))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = SettingArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let file = Arg::new(CONFIG_FILE_ARG)
            .long("config")
            .env("EDGEAUTH_CONFIG")
            .global(true)
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML file with settings (below flags and environment, above defaults)");
        SETTINGS.iter().fold(cmd.arg(file), |cmd, setting| {
            // Built once per process; clap keeps the names for its lifetime.
            let flag: &'static str = setting.flag().leak();
            let env: &'static str = setting.env().leak();
            cmd.arg(
                Arg::new(setting.name)
                    .long(flag)
                    .env(env)
                    .global(true)
                    .hide_env_values(setting.secret)
                    .value_name(setting.unit)
                    .help(format!(
                        "{} [default: {}]",
                        setting.help,
                        setting.default_shown()
                    )),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        SettingArgs::augment_args(cmd)
    }
}
