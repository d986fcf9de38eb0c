//! The subcommands other than `serve`: short-lived, one database connection each, results
//! printed as JSON on stdout so that scripts can read them.

use std::error::Error;

use crate::cli::{ClientCommand, KeysCommand};
use crate::config::{self, Config};
use crate::jwt::generate::generate_file;
use crate::jwt::keys::{self, Alg};
use crate::pg::{Client, block_on};
use crate::store::{self, clients, schema, tokens};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

async fn connect(config: &Config) -> Result<Client> {
    let pg = store::database(config)?.with_application_name("edgeauth-cli");
    Client::connect(&pg)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", pg.display_redacted()).into())
}

pub fn migrate(config: &Config) -> Result<()> {
    block_on(async {
        let client = connect(config).await?;
        let applied = schema::migrate(&client).await?;
        client.close().await;
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
        // Back to back: this connection has nothing else to do.
        let (pruned, result) =
            tokens::prune(async |s| client.execute(s, &[]).await, async || true).await;
        client.close().await;
        result?;
        println!(
            "{}",
            serde_json::json!({"tokens_deleted": pruned.tokens, "revocations_deleted": pruned.revocations})
        );
        Ok(())
    })
}

pub fn client(config: &Config, cmd: ClientCommand) -> Result<()> {
    block_on(async {
        let client = connect(config).await?;
        let result = client_command(&client, cmd).await;
        client.close().await;
        result
    })
}

async fn client_command(client: &Client, cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Add {
            client_id,
            scopes,
            audience,
            token_ttl,
            grant_types,
        } => {
            let token_ttl = token_ttl.as_deref().map(config::duration).transpose()?;
            let new = clients::NewClient {
                client_id: &client_id,
                scopes: &scopes,
                audience: audience.as_deref(),
                token_ttl,
                grant_types: &grant_types,
            };
            let secret = clients::add(client, &new).await?;
            print_secret(&client_id, &secret);
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = clients::rotate_secret(client, &client_id).await?;
            print_secret(&client_id, &secret);
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
            clients::set_disabled(client, &client_id, true).await?;
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "disabled": true})
            );
        }
        ClientCommand::Enable { client_id } => {
            clients::set_disabled(client, &client_id, false).await?;
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "disabled": false})
            );
        }
        ClientCommand::RevokeTokens { client_id } => {
            clients::revoke_tokens(client, &client_id).await?;
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "tokens_revoked": true})
            );
        }
        ClientCommand::Delete { client_id } => {
            clients::delete(client, &client_id).await?;
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "deleted": true})
            );
        }
    }
    Ok(())
}

/// The one place a secret is ever shown: stdout, once, to whoever ran the command.
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
