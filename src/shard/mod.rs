//! A shard: one thread, one monoio runtime, one listening socket, one database session.
//!
//! A shard owns everything its requests touch, so the request path takes no lock: the
//! kernel (SO_REUSEPORT) picks the shard for each connection, and the shard serves it from
//! start to end.

pub mod directory;
pub mod listener;
pub mod metrics;
pub mod stats;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::batch::{TokenWriter, WriterConfig};
use crate::cache::{RevocationCache, parse_revocation};
use crate::config::{Config, IoDriver};
use crate::endpoint::metadata::Documents;
use crate::jwt::keys::SigningKey;
use crate::jwt::token::{JtiGenerator, TokenSigner};
use crate::limits;
use crate::log;
use crate::pg::{Session, SessionEvent};
use crate::shutdown::Shutdown;
use crate::store::tokens::{self, PRUNE_CHUNK_ROWS, PruneTable};
use crate::store::{INVALIDATE_CHANNEL, REVOKE_CHANNEL, revocations};
use stats::ShardStats;

pub struct Shard {
    pub id: usize,
    /// Read-only after start-up; shared by every shard.
    pub config: Arc<Config>,
    /// The signer, the verification keys and the documents that publish them, swapped
    /// together on a SIGHUP reload (`apply_reload`). A request clones the `Rc` (no lock, no
    /// atomic) and keeps the set it started with, so a reload never splits one request
    /// between two key sets and never collides with a borrow held across an `await`.
    keys: RefCell<Rc<ShardKeys>>,
    /// Revoked jti until their tokens expire; introspection consults only this. Filled on
    /// every (re)connect and by `edgeauth_revoke` notifications (`database_events`),
    /// purged by `purge_expired_revocations`.
    pub revocations: RefCell<RevocationCache>,
    /// Token ids; a per-shard CSPRNG so that no token costs a syscall.
    pub jti: RefCell<JtiGenerator>,
    /// The shard's one Postgres connection: client lookups and token records, pipelined.
    /// Reconnects by itself; while it is down the token endpoint answers 503.
    pub pg: Session,
    /// Issued tokens on their way to `tokens`: buffered, written in batches over `pg`.
    pub writer: TokenWriter,
    /// Clients: the cache in front of `pg`, with single-flight misses.
    pub clients: directory::ClientDirectory,
    /// Every shard's counters (this shard writes only `all_stats[id]`), for `/metrics`.
    pub all_stats: Arc<[ShardStats]>,
    pub shutdown: Shutdown,
    /// Connections this shard serves now; bounded by `config.max_connections`.
    pub connections: Cell<usize>,
}

/// Everything that changes when the signing keys are reloaded.
pub struct ShardKeys {
    /// This shard's signer, built from the first key, so a token costs one signature and no
    /// key parsing.
    pub signer: TokenSigner,
    /// Every configured key, in configuration order (the signer's first), parsed on this
    /// shard: introspection and revocation verify tokens signed by any of them, so tokens
    /// signed before a rotation stay verifiable while their key is still configured.
    pub verify_keys: Vec<SigningKey>,
    /// Metadata and JWKS documents, serialized once per key set.
    pub documents: Arc<Documents>,
}

impl ShardKeys {
    /// Parse `key_pems` on this thread (keys are not `Send`); the first signs.
    pub fn parse(key_pems: &[Vec<u8>], documents: Arc<Documents>) -> Result<ShardKeys, String> {
        let first = key_pems.first().ok_or("no signing key")?;
        let verify_keys = key_pems
            .iter()
            .map(|pem| SigningKey::from_pem(pem))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let signer = TokenSigner::new(SigningKey::from_pem(first).map_err(|e| e.to_string())?);
        Ok(ShardKeys {
            signer,
            verify_keys,
            documents,
        })
    }
}

/// `kid1,kid2,...` in configuration order, for logs.
pub fn kid_list(keys: &[SigningKey]) -> String {
    keys.iter().map(|k| k.kid()).collect::<Vec<_>>().join(",")
}

/// A new key set from the signal thread, already validated there.
pub struct KeyReload {
    pub key_pems: crate::server::KeyPems,
    pub documents: Arc<Documents>,
}

impl Shard {
    pub fn stats(&self) -> &ShardStats {
        &self.all_stats[self.id]
    }

    /// The current key set. The clone keeps it alive for the caller even if a reload
    /// replaces it meanwhile.
    pub fn keys(&self) -> Rc<ShardKeys> {
        self.keys.borrow().clone()
    }

    /// Swap in the newest reload waiting on `reloads`, if any. Runs only when the signal
    /// thread has woken the shard, never on the request path.
    fn apply_reload(&self, reloads: &std::sync::mpsc::Receiver<KeyReload>) {
        // Several SIGHUPs in a row: only the last one's keys matter.
        let Some(reload) = reloads.try_iter().last() else {
            return;
        };
        match ShardKeys::parse(&reload.key_pems, reload.documents) {
            Ok(keys) => {
                let kids = kid_list(&keys.verify_keys);
                log::debug(
                    "signing keys reloaded",
                    &[
                        ("shard", &self.id),
                        ("signing_kid", &keys.signer.key().kid()),
                        ("kids", &kids),
                    ],
                );
                *self.keys.borrow_mut() = Rc::new(keys);
            }
            // The signal thread parsed the same bytes, so this is not expected; keeping the
            // old keys is the safe answer either way.
            Err(e) => log::error(
                "signing key reload failed on a shard; keeping the current keys",
                &[("shard", &self.id), ("error", &e)],
            ),
        }
    }
}

/// The body of a shard thread: pin, build the runtime, serve until shutdown.
pub fn run_thread(init: crate::server::ShardInit) {
    if let Some(core) = init.core {
        core_affinity::set_for_current(core);
    }
    let ready = init.ready.clone();
    let use_uring = match init.driver {
        IoDriver::Epoll => false,
        IoDriver::IoUring => true,
        IoDriver::Auto => monoio::utils::detect_uring(),
    };
    if use_uring {
        match uring_runtime() {
            Ok(mut rt) => return rt.block_on(run(init, "io_uring")),
            Err(e) if init.driver == IoDriver::IoUring => {
                let _ = ready.send(Err(format!("io_uring runtime: {e}")));
                return;
            }
            Err(e) => log::warn("io_uring unavailable, using epoll", &[("error", &e)]),
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => rt.block_on(run(init, "epoll")),
        Err(e) => {
            let _ = ready.send(Err(format!("epoll runtime: {e}")));
        }
    }
}

/// An io_uring runtime whose completions wait until the shard asks for them
/// (`IORING_SETUP_DEFER_TASKRUN`, Linux 6.1+) instead of interrupting the thread as each one
/// arrives: the shard collects them anyway every time it parks. Measured with the real server
/// (HS256, 64 connections, three alternated runs): 7.6 µs of server CPU per token against
/// 8.8 µs, 1.10x the tokens/s. Kernels that refuse the flag get a plain ring.
fn uring_runtime()
-> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let build = |urb: io_uring::Builder| {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(IO_URING_ENTRIES)
            .uring_builder(urb)
            .enable_timer()
            .build()
    };
    let mut deferred = io_uring::IoUring::builder();
    // DEFER_TASKRUN requires that one thread, the shard's, submits everything: it does.
    deferred.setup_single_issuer().setup_defer_taskrun();
    build(deferred).or_else(|e| {
        log::debug("io_uring without DEFER_TASKRUN", &[("error", &e)]);
        build(io_uring::IoUring::builder())
    })
}

/// Submission queue entries per shard: room for every connection's read and write plus the
/// database session's, so that submissions are rarely flushed for lack of space.
const IO_URING_ENTRIES: u32 = 4096;

async fn run(init: crate::server::ShardInit, driver: &'static str) {
    let listener = match bind(&init) {
        Ok(l) => l,
        Err(e) => {
            let _ = init.ready.send(Err(format!(
                "shard {}: cannot listen on {}: {e}",
                init.id, init.config.listen
            )));
            return;
        }
    };
    let keys = match ShardKeys::parse(&init.key_pems, init.documents.clone()) {
        Ok(keys) => keys,
        Err(e) => {
            let _ = init
                .ready
                .send(Err(format!("shard {}: signing key: {e}", init.id)));
            return;
        }
    };
    let wake = match monoio::net::UnixStream::from_std(init.wake) {
        Ok(w) => w,
        Err(e) => {
            let _ = init
                .ready
                .send(Err(format!("shard {}: wake-up socket: {e}", init.id)));
            return;
        }
    };
    let pg = Session::start(init.pg.clone(), &[INVALIDATE_CHANNEL, REVOKE_CHANNEL]);
    let shard = Rc::new(Shard {
        id: init.id,
        config: init.config.clone(),
        keys: RefCell::new(Rc::new(keys)),
        revocations: RefCell::new(RevocationCache::new(limits::REVOKED_PER_SHARD_MAX)),
        jti: RefCell::new(JtiGenerator::new()),
        writer: TokenWriter::start(
            pg.clone(),
            WriterConfig {
                batch_size: init.config.batch_size,
                flush_interval: init.config.flush_interval,
                max_pending: init.config.max_pending,
                durability: init.config.durability,
                ..WriterConfig::default()
            },
            init.all_stats[init.id].writer.clone(),
        ),
        clients: directory::ClientDirectory::new(
            &init.config,
            pg.clone(),
            init.all_stats.clone(),
            init.id,
        ),
        pg,
        all_stats: init.all_stats.clone(),
        shutdown: Shutdown::new(),
        connections: Cell::new(0),
    });
    if init.database_reachable
        && let Err(e) = shard.pg.wait_connected(limits::STARTUP_DB_WAIT_MAX).await
    {
        log::warn(
            "shard starts without its database session",
            &[("shard", &shard.id), ("error", &e)],
        );
    }
    // Before the first request: a restarted server must not forget a revocation even
    // briefly. (`database_events` loads again on the Connected event; the repeat is cheap.)
    if shard.pg.is_connected() {
        load_revocations(&shard).await;
    }
    monoio::spawn(on_wake(shard.clone(), wake, init.reloads));
    if let Some(events) = shard.pg.events() {
        monoio::spawn(database_events(shard.clone(), events));
    }
    if shard.config.cache_capacity > 0 {
        monoio::spawn(purge_expired_clients(shard.clone()));
    }
    monoio::spawn(purge_expired_revocations(shard.clone()));
    // One pruner per instance is enough (its chunks are database work, not shard work);
    // instances sharing a database split each round's rows through SKIP LOCKED.
    if shard.id == 0
        && let Some(period) = shard.config.prune_interval
    {
        monoio::spawn(prune_expired_rows(shard.clone(), period));
    }
    let _ = init.ready.send(Ok(driver));
    drop(init.ready);

    listener::accept_loop(shard.clone(), listener).await;
    drain(&shard).await;
    let unwritten = shard
        .writer
        .shutdown(Instant::now() + limits::SHUTDOWN_FLUSH_MAX)
        .await;
    if unwritten > 0 {
        log::error(
            "shutdown: tokens could not be recorded before the deadline",
            &[("shard", &shard.id), ("tokens", &unwritten)],
        );
    }
    shard.pg.shutdown().await;
    log::debug("shard stopped", &[("shard", &shard.id)]);
}

fn bind(init: &crate::server::ShardInit) -> std::io::Result<monoio::net::TcpListener> {
    let opts = monoio::net::ListenerOpts::new()
        .reuse_port(true)
        .backlog(LISTEN_BACKLOG);
    monoio::net::TcpListener::bind_with_config(init.config.listen, &opts)
}

/// Accept queue per shard: a burst of new connections (wrk's start, a fleet reconnecting)
/// waits in the kernel instead of being refused. The kernel caps it at net.core.somaxconn.
const LISTEN_BACKLOG: i32 = 4096;

/// Wake-up byte: shut down (also implied when the signal thread's end goes away).
pub const WAKE_SHUTDOWN: u8 = b'x';
/// Wake-up byte: a new key set waits on the shard's reload channel.
pub const WAKE_RELOAD: u8 = b'r';

/// Serve the signal thread's wake-ups: [`WAKE_RELOAD`] swaps in the keys waiting on
/// `reloads`; [`WAKE_SHUTDOWN`], EOF or an error fires the shutdown latch. The socket keeps
/// the signal thread off the shard's runtime; the channel carries what a byte cannot.
async fn on_wake(
    shard: Rc<Shard>,
    wake: monoio::net::UnixStream,
    reloads: std::sync::mpsc::Receiver<KeyReload>,
) {
    use monoio::io::AsyncReadRent;
    let mut wake = wake;
    let mut buf = vec![0u8; 16];
    loop {
        let (res, b) = wake.read(buf).await;
        buf = b;
        let n = match res {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        if buf[..n].contains(&WAKE_RELOAD) {
            shard.apply_reload(&reloads);
        }
        if buf[..n].contains(&WAKE_SHUTDOWN) {
            break;
        }
    }
    shard.shutdown.fire();
}

/// What the shard's database session reports: connection changes (logged; a reconnect
/// clears the client cache and reloads the revocation cache, since notifications sent
/// while it was down are lost), `edgeauth_invalidate` notifications (payload: a client_id,
/// or `*`) and `edgeauth_revoke` notifications (payload: `<jti> <exp-unix-seconds>`).
///
/// The session LISTENs before it reports Connected, so a revocation committed after the
/// reload's snapshot arrives as a notification: none falls between the two.
async fn database_events(
    shard: Rc<Shard>,
    mut events: local_sync::mpsc::unbounded::Rx<SessionEvent>,
) {
    let mut connected_before = false;
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::Connected => {
                log::info("database connected", &[("shard", &shard.id)]);
                let stats = shard.stats();
                ShardStats::set(&stats.pg_reconnects, shard.pg.reconnects());
                ShardStats::set(&stats.pg_connected, 1);
                if connected_before {
                    shard.clients.invalidate("*");
                    ShardStats::bump(&shard.stats().invalidations);
                }
                connected_before = true;
                load_revocations(&shard).await;
            }
            // Our own close at shutdown is no fault.
            SessionEvent::Disconnected if shard.shutdown.is_fired() => {
                ShardStats::set(&shard.stats().pg_connected, 0);
                log::debug("database session closed", &[("shard", &shard.id)])
            }
            SessionEvent::Disconnected => {
                ShardStats::set(&shard.stats().pg_connected, 0);
                log::warn(
                    "database connection lost; reconnecting",
                    &[("shard", &shard.id)],
                )
            }
            SessionEvent::Notification(n) if n.channel == INVALIDATE_CHANNEL => {
                shard.clients.invalidate(&n.payload);
                ShardStats::bump(&shard.stats().invalidations);
            }
            SessionEvent::Notification(n) if n.channel == REVOKE_CHANNEL => {
                match parse_revocation(&n.payload) {
                    Some((jti, exp_s)) => {
                        shard
                            .revocations
                            .borrow_mut()
                            .insert(jti, exp_s, unix_now_s())
                    }
                    None => log::warn(
                        "ignoring a malformed revocation notification",
                        &[("shard", &shard.id), ("payload", &n.payload)],
                    ),
                }
            }
            SessionEvent::Notification(_) => {}
        }
    }
}

/// Drop expired cache entries every half TTL, so that memory held by clients nobody asks
/// for any more is returned without waiting for LRU pressure.
async fn purge_expired_clients(shard: Rc<Shard>) {
    let period = shard.config.cache_ttl / 2;
    loop {
        monoio::select! {
            _ = monoio::time::sleep(period) => {}
            _ = shard.shutdown.wait() => return,
        }
        let purged = shard.clients.purge_expired();
        if purged > 0 {
            log::debug(
                "client cache purge",
                &[("shard", &shard.id), ("expired", &purged)],
            );
        }
    }
}

/// Replace the revocation cache with the live rows of `revoked_tokens`. On failure the
/// cache keeps what it had; the next reconnect (or a saturated cache's purge tick) retries.
async fn load_revocations(shard: &Shard) {
    let capacity = shard.revocations.borrow().capacity();
    // Revocations the endpoint or a notification adds while the query runs may postdate
    // its snapshot; the cache keeps them through the reload.
    shard.revocations.borrow_mut().begin_reload();
    let rows = match shard.pg.client() {
        Ok(pg) => revocations::live(&pg, capacity + 1).await,
        Err(e) => Err(e),
    };
    match rows {
        Ok(rows) => {
            let mut cache = shard.revocations.borrow_mut();
            cache.reload(rows, unix_now_s());
            if cache.is_saturated() {
                log::error(
                    "revocation cache is full: every token introspects as inactive",
                    &[("shard", &shard.id), ("capacity", &capacity)],
                );
            }
            log::debug(
                "revocation cache loaded",
                &[("shard", &shard.id), ("revoked", &cache.len())],
            );
        }
        Err(e) => {
            shard.revocations.borrow_mut().abandon_reload();
            log::warn(
                "could not load revocations",
                &[("shard", &shard.id), ("error", &e)],
            )
        }
    }
}

/// How often a shard drops revocations whose tokens have expired.
const REVOCATION_PURGE_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// Drop expired revocations once a minute, so the cache holds only live tokens' ids; a
/// saturated cache tries to reload, which succeeds once enough of them have expired.
async fn purge_expired_revocations(shard: Rc<Shard>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(REVOCATION_PURGE_PERIOD) => {}
            _ = shard.shutdown.wait() => return,
        }
        let purged = shard.revocations.borrow_mut().purge_expired(unix_now_s());
        if purged > 0 {
            log::debug(
                "revocation cache purge",
                &[("shard", &shard.id), ("expired", &purged)],
            );
        }
        if shard.revocations.borrow().is_saturated() {
            load_revocations(&shard).await;
        }
    }
}

/// Pause between two prune chunks, so that a round over millions of expired rows leaves
/// shard 0's session (client lookups, batch writes) and the database room for other work
/// instead of running DELETEs back to back.
const PRUNE_CHUNK_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Every `period`, delete expired rows of `tokens` and `revoked_tokens`, the same chunks as
/// `edgeauth prune`, over this shard's own session. It runs beside the request path, never
/// on it: each chunk is one pipelined statement whose answer this task awaits while the
/// shard serves. A round is skipped while the database is down (the next one catches up)
/// and abandoned on the first error; shutdown interrupts it between chunks.
async fn prune_expired_rows(shard: Rc<Shard>, period: std::time::Duration) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(period) => {}
            _ = shard.shutdown.wait() => return,
        }
        if !shard.pg.is_connected() {
            log::debug("prune skipped: database not connected", &[]);
            continue;
        }
        let started = Instant::now();
        let mut deleted = [0u64; 2];
        let mut failed = false;
        'round: for (count, table) in deleted.iter_mut().zip(PruneTable::ALL) {
            loop {
                let chunk = match shard.pg.client() {
                    Ok(pg) => tokens::prune_chunk(&pg, table).await,
                    Err(e) => Err(e),
                };
                let n = match chunk {
                    Ok(n) => n,
                    Err(e) => {
                        log::warn(
                            "prune round abandoned",
                            &[("table", &format!("{table:?}")), ("error", &e)],
                        );
                        failed = true;
                        break 'round;
                    }
                };
                *count += n;
                if n < PRUNE_CHUNK_ROWS {
                    break;
                }
                monoio::select! {
                    _ = monoio::time::sleep(PRUNE_CHUNK_PAUSE) => {}
                    _ = shard.shutdown.wait() => break 'round,
                }
            }
        }
        let [tokens, revocations] = deleted;
        if tokens + revocations > 0 {
            log::info(
                "pruned expired rows",
                &[
                    ("tokens", &tokens),
                    ("revocations", &revocations),
                    ("duration_ms", &started.elapsed().as_millis()),
                    ("complete", &!failed),
                ],
            );
        }
    }
}

/// Seconds since the Unix epoch, the unit of `exp`.
pub fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Let connections finish what they have, for at most SHUTDOWN_DRAIN_MAX.
async fn drain(shard: &Shard) {
    let started = std::time::Instant::now();
    while shard.connections.get() > 0 && started.elapsed() < limits::SHUTDOWN_DRAIN_MAX {
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if shard.connections.get() > 0 {
        log::warn(
            "shutdown: closing connections that did not finish",
            &[
                ("shard", &shard.id),
                ("connections", &shard.connections.get()),
            ],
        );
    }
}
