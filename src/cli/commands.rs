//! The subcommands other than `serve`: short-lived, one database connection each, results
//! printed as JSON on stdout so that scripts can read them.

use std::error::Error;
use std::time::Duration;

use crate::audit;
use crate::cli::{ClientCommand, KeysCommand, RateArgs};
use crate::config::{self, Config};
use crate::jwt::generate::generate_file;
use crate::jwt::keys::{self, Alg};
use crate::limits;
use crate::pg::{Client, block_on};
use crate::rate::Rate;
use crate::store::clients::{ClientChange, NewAuth};
use crate::store::{self, clients, schema, tokens};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

async fn connect(config: &Config) -> Result<Client> {
    connect_to(store::database(config)?).await
}

async fn connect_to(pg: crate::pg::PgConfig) -> Result<Client> {
    let pg = pg.with_application_name("edgeauth-cli");
    Client::connect(&pg)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", pg.display_redacted()).into())
}

/// A connection to the tokens' database when it is not the main one.
async fn connect_tokens(config: &Config) -> Result<Option<Client>> {
    match store::tokens_database(config)? {
        Some(pg) => Ok(Some(connect_to(pg).await?)),
        None => Ok(None),
    }
}

/// Migrates the main database and, when token rows go elsewhere, that one too (the same
/// schema: its own `tokens`, partitions and write records are the ones used there).
pub fn migrate(config: &Config) -> Result<()> {
    block_on(async {
        let client = connect(config).await?;
        let applied = schema::migrate(&client).await?;
        client.close().await;
        if let Some(tokens) = connect_tokens(config).await? {
            schema::migrate(&tokens).await?;
            tokens.close().await;
        }
        println!(
            "{}",
            serde_json::json!({"schema_version": schema::SCHEMA_VERSION, "applied": applied})
        );
        Ok(())
    })
}

pub fn prune(config: &Config) -> Result<()> {
    block_on(async {
        let client = connect(config).await?;
        let tokens_db = connect_tokens(config).await?;
        // Back to back: these connections have nothing else to do.
        let (pruned, result) =
            tokens::prune(tokens_db.as_ref().unwrap_or(&client), &client, async || {
                true
            })
            .await;
        client.close().await;
        if let Some(tokens_db) = tokens_db {
            tokens_db.close().await;
        }
        result?;
        println!(
            "{}",
            serde_json::json!({
                "partitions_dropped": pruned.partitions,
                "tokens_deleted": pruned.tokens,
                "revocations_deleted": pruned.revocations,
                "write_records_deleted": pruned.writes,
            })
        );
        Ok(())
    })
}

pub fn client(config: &Config, cmd: ClientCommand) -> Result<()> {
    // A change is audited: without its audit log, no change (reading needs none).
    if !matches!(cmd, ClientCommand::List | ClientCommand::Show { .. }) {
        audit::open(config.audit_log.as_deref())?;
    }
    block_on(async {
        let client = connect(config).await?;
        let result = client_command(config, &client, cmd).await;
        client.close().await;
        result
    })
}

async fn client_command(config: &Config, client: &Client, cmd: ClientCommand) -> Result<()> {
    match cmd {
        add @ ClientCommand::Add { .. } => add_client(config, client, add).await?,
        ClientCommand::SetJwks { client_id, jwks } => {
            let json = read_jwks(&jwks)?;
            let change = ClientChange {
                credential: Some(NewAuth::Jwks(&json)),
                ..ClientChange::default()
            };
            clients::update(client, &client_id, &change).await?;
            audited("client.jwks_replaced", &client_id);
            println!(
                "{}",
                clients::to_json(&clients::show(client, &client_id).await?)
            );
        }
        ClientCommand::SetRate { client_id, rate } => {
            if rate.rate.is_none() {
                return Err("client set-rate takes --rate N/s [--burst M], or --rate off".into());
            }
            let change = ClientChange {
                rate: Some(client_rate(&rate)?),
                ..ClientChange::default()
            };
            clients::update(client, &client_id, &change).await?;
            audited("client.rate_set", &client_id);
            println!(
                "{}",
                clients::to_json(&clients::show(client, &client_id).await?)
            );
        }
        ClientCommand::RotateSecret { client_id, grace } => {
            rotate_secret(client, &client_id, grace.unwrap_or_default()).await?
        }
        ClientCommand::List => {
            for c in clients::list(client).await? {
                println!("{}", clients::to_json(&c));
            }
        }
        ClientCommand::Show { client_id } => {
            println!(
                "{}",
                clients::to_json(&clients::show(client, &client_id).await?)
            );
        }
        ClientCommand::Disable { client_id } => {
            set_disabled(client, &client_id, true).await?;
            changed("client.disabled", &client_id, "disabled", true);
        }
        ClientCommand::Enable { client_id } => {
            set_disabled(client, &client_id, false).await?;
            changed("client.enabled", &client_id, "disabled", false);
        }
        ClientCommand::RevokeTokens { client_id } => {
            clients::revoke_tokens(client, &client_id).await?;
            changed("client.tokens_revoked", &client_id, "tokens_revoked", true);
        }
        ClientCommand::Delete { client_id } => {
            clients::delete(client, &client_id).await?;
            changed("client.deleted", &client_id, "deleted", true);
        }
    }
    Ok(())
}

/// `client rotate-secret`: the new secret on stdout; the old one accepted for `grace`.
async fn rotate_secret(client: &Client, client_id: &str, grace: Duration) -> Result<()> {
    let secret = clients::rotate_secret(client, client_id, grace).await?;
    let grace_s = grace.as_secs();
    audit::record(
        "client.secret_rotated",
        &[
            ("client_id", &client_id),
            ("grace_s", &grace_s),
            ("via", &"cli"),
        ],
    );
    print_secret(client_id, &secret);
    Ok(())
}

async fn set_disabled(client: &Client, client_id: &str, disabled: bool) -> Result<()> {
    let change = ClientChange {
        disabled: Some(disabled),
        ..ClientChange::default()
    };
    clients::update(client, client_id, &change).await?;
    Ok(())
}

/// After a change: its audit event, and `{"client_id": .., <what>: <value>}` on stdout.
fn changed(event: &str, client_id: &str, what: &str, value: bool) {
    audited(event, client_id);
    println!(
        "{}",
        serde_json::json!({"client_id": client_id, what: value})
    );
}

/// The audit event of a change made through the CLI.
fn audited(event: &str, client_id: &str) {
    audit::record(event, &[("client_id", &client_id), ("via", &"cli")]);
}

/// The one place a secret is ever shown: stdout, once, to whoever ran the command.
/// `client add`: register the client; print its secret, if it has one.
async fn add_client(config: &Config, client: &Client, cmd: ClientCommand) -> Result<()> {
    let ClientCommand::Add {
        client_id,
        scopes,
        audience,
        token_ttl,
        grant_types,
        auth_method,
        tls_subject,
        tls_cert,
        jwks,
        federated,
        require_dpop,
        rate,
        certificate_bound_tokens,
        resources,
        claims,
    } = cmd
    else {
        unreachable!("called for `client add` only");
    };
    let token_ttl = token_ttl.as_deref().map(config::duration).transpose()?;
    let given = clients::Credentials {
        tls_subject: tls_subject.as_deref(),
        cert_der: tls_cert
            .as_deref()
            .map(|path| read_certificate(path.as_ref()))
            .transpose()?,
        jwks: jwks.as_deref().map(read_jwks).transpose()?,
        // clap takes exactly two values for it.
        federated: federated
            .as_deref()
            .map(|pair| (pair[0].as_str(), pair[1].as_str())),
    };
    let auth_method = auth_method.unwrap_or_else(|| given.implied_method().to_owned());
    let auth = given.new_auth(&auth_method)?;
    warn_if_untrusted(config, &auth);
    let claims = claims
        .map(|path| {
            std::fs::read_to_string(&path).map_err(|e| format!("--claims {}: {e}", path.display()))
        })
        .transpose()?;
    let new = clients::NewClient {
        client_id: &client_id,
        auth,
        resources: &resources,
        claims: claims.as_deref(),
        certificate_bound: certificate_bound_tokens,
        require_dpop,
        rate: client_rate(&rate)?,
        scopes: &scopes,
        audience: audience.as_deref(),
        token_ttl,
        grant_types: &grant_types,
    };
    let secret = clients::add(client, &new).await?;
    added(&client_id, &auth_method, secret.as_deref());
    Ok(())
}

/// A workload registered for an issuer this configuration does not trust cannot
/// authenticate yet: say so, and register it anyway (the issuer may be added next).
fn warn_if_untrusted(config: &Config, auth: &clients::NewAuth<'_>) {
    if let clients::NewAuth::Federated { issuer, .. } = auth
        && !config.trusted_issuers.iter().any(|t| t.issuer == *issuer)
    {
        eprintln!(
            "warning: {issuer:?} is not among this configuration's trusted_issuers: the client cannot authenticate until it is"
        );
    }
}

/// After `client add`: its audit event, and the secret (or the method) on stdout.
fn added(client_id: &str, auth_method: &str, secret: Option<&str>) {
    audit::record(
        "client.added",
        &[
            ("client_id", &client_id),
            ("auth_method", &auth_method),
            ("via", &"cli"),
        ],
    );
    match secret {
        Some(secret) => print_secret(client_id, secret),
        None => println!(
            "{}",
            serde_json::json!({"client_id": client_id, "auth_method": auth_method})
        ),
    }
}

/// `--rate` and `--burst` as a rate; `--rate off` or no `--rate`: the server's default.
fn client_rate(args: &RateArgs) -> Result<Option<Rate>> {
    match args.rate.as_deref() {
        None | Some("off") => Ok(None),
        Some(text) => Ok(Some(Rate::parse(text, args.burst)?)),
    }
}

/// A JWKS file, bounded before it is read whole.
fn read_jwks(path: &std::path::Path) -> Result<String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("--jwks {}: {e}", path.display()))?
        .len();
    if len > limits::JWKS_BYTES_MAX as u64 {
        return Err(format!(
            "--jwks {}: larger than {} bytes",
            path.display(),
            limits::JWKS_BYTES_MAX
        )
        .into());
    }
    Ok(std::fs::read_to_string(path).map_err(|e| format!("--jwks {}: {e}", path.display()))?)
}

/// The first certificate of a PEM file, DER.
fn read_certificate(path: &std::path::Path) -> Result<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_file(path)
        .map_err(|e| format!("--tls-cert {}: no PEM certificate ({e})", path.display()))?;
    Ok(cert.to_vec())
}

fn print_secret(client_id: &str, secret: &str) {
    println!(
        "{}",
        serde_json::json!({"client_id": client_id, "client_secret": secret})
    );
}

pub fn keys(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate { alg, out } => {
            let alg: Alg = alg.parse().map_err(|e| format!("--alg: {e}"))?;
            generate_file(alg, &out)?;
            let key = keys::SigningKey::from_pem_file(&out)?;
            println!(
                "{}",
                serde_json::json!({"alg": alg.to_string(), "kid": key.kid(), "path": out.display().to_string()})
            );
            Ok(())
        }
    }
}
