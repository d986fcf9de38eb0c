//! `edgeauth serve`: prepare what every shard shares, start one pinned thread per shard,
//! own the signals, and wait for the shards to finish.
//!
//! SIGHUP reloads the signing keys and the TLS certificate: the signal thread re-reads
//! `signing_keys` (the config file's, unless a flag or the environment sets them), every key
//! file and `tls_cert`/`tls_key`, checks them all, and only then hands each shard the new
//! set through its reload channel plus a wake-up byte. Nothing else in the configuration is
//! reloaded.

use std::error::Error;
use std::io::Write;
use std::net::TcpListener as StdTcpListener;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::audit;
use crate::auth::dpop::NonceKey;
use crate::auth::federation::TrustedIssuers;
use crate::config::{Config, Settings};
use crate::endpoint::context::kid_list;
use crate::endpoint::metadata::Documents;
use crate::endpoint::stats::ShardStats;
use crate::jwt::generate::generate_file;
use crate::jwt::keys::{Alg, SigningKey};
use crate::limits;
use crate::log;
use crate::pg::{Client, ErrorKind, PgConfig, block_on};
use crate::replay;
use crate::shard::{self, KeyPems, KeyReload, ShardCommon, ShardInit, WAKE_RELOAD, WAKE_SHUTDOWN};
use crate::store::{self, schema};
use crate::tls::{ServerTls, TicketKeys};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The running shards, as the signal thread and `serve` hold them.
struct Shards {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The signal thread's end of each shard's wake-up socket.
    wakers: Vec<StdUnixStream>,
    reloads: Vec<mpsc::Sender<KeyReload>>,
    /// The certificate the shards serve, for the next reload to replace.
    tls: Option<ServerTls>,
}

/// `settings` are what the command line and environment gave: a SIGHUP resolves them again
/// to re-read the config file's `signing_keys`.
pub fn serve(config: Config, settings: Settings) -> Result<()> {
    // Take SIGTERM/SIGINT (and SIGHUP, whose default also kills) away from their default
    // before anything can be lost.
    let signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    audit::open(config.audit_log.as_deref())?;
    let pg = store::database(&config)?.with_application_name("edgeauth");
    let tokens_pg = store::tokens_database(&config)?
        .map(|tokens| tokens.with_application_name("edgeauth-tokens"));
    let (key_pems, keys) = load_signing_keys(&config)?;
    let issuers = Arc::new(TrustedIssuers::load(&config.trusted_issuers)?);
    let tls = load_tls(&config, None)?;
    let documents = Arc::new(Documents::build(&config, &keys));
    ensure_listen_address_free(&config)?;
    let mut database_reachable = check_database(&pg)?;
    if let Some(tokens) = &tokens_pg {
        database_reachable &= check_database(tokens)?;
    }

    let config = Arc::new(config);
    let (ready_tx, ready_rx) = mpsc::channel();
    let common = ShardCommon {
        config: config.clone(),
        pg: pg.clone(),
        tokens_pg,
        key_pems,
        issuers,
        dpop_nonces: config.dpop_nonce.then(NonceKey::random),
        tls,
        documents,
        all_stats: (0..config.shards).map(|_| ShardStats::default()).collect(),
        database_reachable,
    };
    let mut shards = start_shards(&common, ready_tx)?;
    let drivers = match wait_ready(&ready_rx, config.shards) {
        Ok(drivers) => drivers,
        Err(e) => {
            wake_all(&mut shards.wakers);
            join(shards.threads);
            return Err(e.into());
        }
    };
    log_startup(&config, &keys, &drivers);
    let threads = std::mem::take(&mut shards.threads);
    std::thread::Builder::new()
        .name("edgeauth-signals".to_owned())
        .spawn(move || handle_signals(signals, &config, &settings, shards))?;
    if join(threads) {
        return Err("a shard thread panicked".into());
    }
    log::info("stopped", &[]);
    Ok(())
}

/// One pinned thread per shard (cores reused round-robin when there are more shards).
fn start_shards(
    common: &ShardCommon,
    ready: mpsc::Sender<std::result::Result<&'static str, String>>,
) -> Result<Shards> {
    let count = common.config.shards;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut shards = Shards {
        threads: Vec::with_capacity(count),
        wakers: Vec::with_capacity(count),
        reloads: Vec::with_capacity(count),
        tls: common.tls.clone(),
    };
    let mut replay_ports = replay::exchange::ports(count)?.into_iter();
    for id in 0..count {
        let (wake_tx, wake_rx) = StdUnixStream::pair()?;
        let (reload_tx, reload_rx) = mpsc::channel();
        let init = ShardInit {
            id,
            common: common.clone(),
            wake: wake_rx,
            reloads: reload_rx,
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
            replay: replay_ports.next(),
            ready: ready.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("edgeauth-shard-{id}"))
            .spawn(move || shard::run_thread(init))?;
        shards.threads.push(thread);
        shards.wakers.push(wake_tx);
        shards.reloads.push(reload_tx);
    }
    Ok(shards)
}

/// Each shard's driver once all are listening, or the first reason one is not.
fn wait_ready(
    ready: &mpsc::Receiver<std::result::Result<&'static str, String>>,
    count: usize,
) -> std::result::Result<Vec<&'static str>, String> {
    let mut drivers = Vec::with_capacity(count);
    let mut failure = None;
    for _ in 0..count {
        match ready.recv() {
            Ok(Ok(driver)) => drivers.push(driver),
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a shard thread ended before it was ready".to_owned()),
        }
    }
    failure.map_or(Ok(drivers), Err)
}

/// Join every thread; true if one panicked.
fn join(threads: Vec<std::thread::JoinHandle<()>>) -> bool {
    let mut panicked = false;
    for t in threads {
        panicked |= t.join().is_err();
    }
    panicked
}

/// The signal thread: SIGHUP reloads the keys; the first SIGTERM/SIGINT starts the
/// shutdown, a second one exits at once.
fn handle_signals(mut signals: Signals, config: &Config, settings: &Settings, mut shards: Shards) {
    let mut received = 0;
    for signal in signals.forever() {
        if signal == SIGHUP {
            // During shutdown a reload is pointless: the shards are draining.
            if received == 0 {
                reload(config, settings, &mut shards);
            }
            continue;
        }
        received += 1;
        if received == 1 {
            log::info(
                "shutting down: finishing requests, then exiting",
                &[("signal", &signal)],
            );
            wake_all(&mut shards.wakers);
        } else {
            log::warn(
                "second signal during shutdown: exiting now",
                &[("signal", &signal)],
            );
            std::process::exit(130);
        }
    }
}

fn wake_all(wakers: &mut [StdUnixStream]) {
    for w in wakers {
        let _ = w.write_all(&[WAKE_SHUTDOWN]);
    }
}

/// SIGHUP: load and check every key and the certificate first, then hand the set to every
/// shard. Any failure leaves every shard with the keys it has: a half-applied reload would
/// have shards signing with keys other shards cannot verify.
fn reload(config: &Config, settings: &Settings, shards: &mut Shards) {
    let loaded = load_reloaded_keys(config, settings)
        .and_then(|keys| Ok((keys, load_tls(config, shards.tls.as_ref())?)));
    let ((key_pems, keys, issuers), tls) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            log::error(
                "SIGHUP: keys and certificate not reloaded; keeping the current ones",
                &[("error", &e)],
            );
            audit::record("keys.reload_failed", &[("error", &e)]);
            return;
        }
    };
    let documents = Arc::new(Documents::build(config, &keys));
    for (sender, waker) in shards.reloads.iter().zip(shards.wakers.iter_mut()) {
        // A shard that has already gone (shutdown) no longer needs keys.
        let sent = sender.send(KeyReload {
            key_pems: key_pems.clone(),
            issuers: issuers.clone(),
            tls: tls.clone(),
            documents: documents.clone(),
        });
        if sent.is_ok() {
            let _ = waker.write_all(&[WAKE_RELOAD]);
        }
    }
    shards.tls = tls;
    audit::record(
        "keys.reloaded",
        &[
            ("signing_kid", &keys[0].kid()),
            ("kids", &kid_list(&keys)),
            ("trusted_issuers", &issuers.iter().count()),
        ],
    );
    log::info(
        "SIGHUP: signing keys reloaded",
        &[
            ("signing_alg", &keys[0].alg()),
            ("signing_kid", &keys[0].kid()),
            ("kids", &kid_list(&keys)),
            ("tls_cert", &shards.tls.is_some()),
            ("trusted_issuers", &issuers.iter().count()),
        ],
    );
}

/// The certificate and key of a TLS `listen`, loaded and checked; a reload keeps the
/// random ticket secret of the `current` certificate, so sessions resume across it (a
/// `tls_ticket_key_file` is read again).
fn load_tls(config: &Config, current: Option<&ServerTls>) -> Result<Option<ServerTls>> {
    let Some((cert, key)) = config.tls_files()? else {
        return Ok(None);
    };
    let tickets = match (&config.tls_ticket_key_file, current) {
        (Some(path), _) => TicketKeys::from_file(path)?,
        (None, Some(current)) => current.tickets().clone(),
        (None, None) => TicketKeys::random()?,
    };
    let client_ca = config.tls_client_ca.as_deref();
    Ok(Some(ServerTls::load(cert, key, client_ca, tickets)?))
}

/// The key files `settings` name now (the config file is read again), loaded with the
/// start-up rules, except that a configured list may not become empty. Only `signing_keys`
/// is taken from the fresh configuration.
/// The signing keys and the trusted issuers (list and keys) as the configuration now says.
fn load_reloaded_keys(
    config: &Config,
    settings: &Settings,
) -> Result<(KeyPems, Vec<SigningKey>, Arc<TrustedIssuers>)> {
    let fresh = Config::resolve(settings).map_err(|e| format!("configuration: {e}"))?;
    let issuers = Arc::new(TrustedIssuers::load(&fresh.trusted_issuers)?);
    // An empty list means "the generated default key" at start-up; on a running server that
    // configured keys it is far more likely a half-written or mis-edited file, and switching
    // to a different key would make every live token fail verification.
    if fresh.signing_keys.is_empty() && !config.signing_keys.is_empty() {
        return Err("signing_keys is now empty; a running server does not fall back to the generated default key".into());
    }
    let mut config = config.clone();
    config.signing_keys = fresh.signing_keys;
    let (pems, keys) = load_signing_keys(&config)?;
    Ok((pems, keys, issuers))
}

/// Load the configured keys; with none configured, use `<data_dir>/signing-key.pem`,
/// creating an ES256 key there on first start. Returns every key's PEM (for the shards,
/// which sign with the first and verify with all) and every key (for the JWKS).
fn load_signing_keys(config: &Config) -> Result<(KeyPems, Vec<SigningKey>)> {
    let paths: Vec<PathBuf> = config.signing_key_paths();
    if config.signing_keys.is_empty() {
        let path = config.default_signing_key_path();
        if !path.exists() {
            generate_file(Alg::ES256, &path)
                .map_err(|e| format!("creating {}: {e}", path.display()))?;
            log::info(
                "generated a signing key",
                &[("path", &path.display()), ("alg", &"ES256")],
            );
        }
    }
    let mut loaded = Vec::with_capacity(paths.len());
    let mut pems = Vec::with_capacity(paths.len());
    for path in &paths {
        // Read once and parse those bytes, so the shards get exactly the keys checked here.
        let pem =
            std::fs::read(path).map_err(|e| format!("signing key {}: {e}", path.display()))?;
        let key = SigningKey::from_pem(&pem)
            .map_err(|e| format!("signing key {}: {e}", path.display()))?;
        loaded.push(key);
        pems.push(pem);
    }
    Ok((pems.into(), loaded))
}

/// monoio sets SO_REUSEPORT on every listener, so a second server on the same port would
/// start silently and steal half the connections. Binding once without it first turns that
/// into a clear error.
fn ensure_listen_address_free(config: &Config) -> Result<()> {
    let addresses = [
        Some(config.listen),
        config.plain_listen,
        config.admin_listen,
    ];
    for address in addresses.into_iter().flatten() {
        StdTcpListener::bind(address)
            .map(drop)
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    }
    Ok(())
}

/// Wait for the database a little; if it answers, it must be at our schema version. If it
/// does not, start anyway: shards reconnect by themselves and `/readyz` says not ready.
/// What retrying cannot fix (refused credentials or certificate, a TLS file that cannot be
/// read) stops the start. Returns whether the database answered.
fn check_database(pg: &PgConfig) -> Result<bool> {
    block_on(async {
        let started = Instant::now();
        let client = loop {
            match Client::connect(pg).await {
                Ok(c) => break c,
                Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Config) => {
                    return Err(format!("database {}: {e}", pg.display_redacted()).into());
                }
                Err(_) if started.elapsed() < limits::STARTUP_DB_WAIT_MAX => {
                    monoio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    log::warn(
                        "database unreachable at start-up; serving 503 until it is",
                        &[("database", &pg.display_redacted()), ("error", &e)],
                    );
                    return Ok(false);
                }
            }
        };
        let version = schema::current_version(&client).await?;
        client.close().await;
        if version != schema::SCHEMA_VERSION {
            return Err(format!(
                "database schema is at version {version}, this edgeauth needs {}: run `edgeauth migrate`",
                schema::SCHEMA_VERSION
            )
            .into());
        }
        Ok(true)
    })
}

/// One line with the effective configuration, so that an operator can see from the log what
/// this process actually runs with (defaults, environment and file merged) without
/// guessing precedence: every setting under its own name (`config::SETTINGS`, secrets
/// masked there), then what start-up made of them.
fn log_startup(config: &Config, keys: &[SigningKey], drivers: &[&str]) {
    // Shards choose their driver themselves (auto falls back to epoll per shard): show what
    // they chose, once if they agree.
    let mut running: Vec<&str> = drivers.to_vec();
    running.sort_unstable();
    running.dedup();
    let kids: Vec<&str> = keys.iter().map(|k| k.kid()).collect();
    let mut fields: Vec<(&str, String)> = vec![("version", env!("CARGO_PKG_VERSION").to_owned())];
    fields.extend(config.shown());
    fields.extend([
        ("io_drivers_running", running.join(",")),
        ("signing_alg", keys[0].alg().to_string()),
        ("signing_kid", keys[0].kid().to_owned()),
        ("published_kids", kids.join(",")),
    ]);
    let fields: Vec<(&str, &dyn std::fmt::Display)> = fields
        .iter()
        .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
        .collect();
    log::info("edgeauth listening", &fields);
}
