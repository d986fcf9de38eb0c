//! A shard: one thread, one monoio runtime, one listening socket, one database session.
//!
//! A shard owns everything its requests touch, so the request path takes no lock: the
//! kernel (SO_REUSEPORT) picks the shard for each connection, and the shard serves it from
//! start to end.
//!
//! * `listener`: the accept loop, bounded by `max_connections`.
//! * `connection`: one connection's loop: keep-alive, pipelining, timeouts; each parsed
//!   request goes to `endpoint::handle` with the shard's [`Context`].
//! * `tasks`: what runs beside the connections: wake-ups from the signal thread (key
//!   reload, shutdown), database events (invalidations, revocations, reconnects), purges
//!   and the periodic prune.
//! * `runtime`: the monoio runtime a shard thread runs on (io_uring or epoll).
//! * `state`: the shard itself, and what the server hands a shard thread.

pub mod connection;
pub mod listener;
mod proxy;
mod runtime;
mod state;
mod tasks;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use crate::batch::{TokenWriter, WriterConfig};
use crate::cache::RevocationCache;
use crate::endpoint::clients::ClientDirectory;
use crate::endpoint::context::{Context, Keys, Parts};
use crate::endpoint::route::Surface;
use crate::limits;
use crate::log;
use crate::pg::Session;
use crate::replay::ReplayGuard;
use crate::shutdown::Shutdown;
use crate::store::{INVALIDATE_CHANNEL, REVOKE_CHANNEL};

pub use state::{KeyPems, KeyReload, Shard, ShardCommon, ShardInit};
pub use tasks::{WAKE_RELOAD, WAKE_SHUTDOWN};

/// The body of a shard thread: pin, build the runtime, serve until shutdown.
pub fn run_thread(init: ShardInit) {
    if let Some(core) = init.core {
        core_affinity::set_for_current(core);
    }
    let driver = init.common.config.io_driver;
    let ready = init.ready.clone();
    if let Err(e) = runtime::block_on(driver, |driver_name| run(init, driver_name)) {
        let _ = ready.send(Err(e));
    }
}

async fn run(mut init: ShardInit, driver: &'static str) {
    let (shard, listeners) = match start(&mut init).await {
        Ok(started) => started,
        Err(e) => {
            let _ = init.ready.send(Err(format!("shard {}: {e}", init.id)));
            return;
        }
    };
    if let Err(e) = tasks::spawn(&shard, init.wake, init.reloads) {
        let _ = init.ready.send(Err(format!("shard {}: {e}", init.id)));
        return;
    }
    let _ = init.ready.send(Ok(driver));
    drop(init.ready);

    let Listeners {
        public,
        plain,
        management,
    } = listeners;
    let public_surface = if management.is_some() {
        Surface::Public
    } else {
        Surface::All
    };
    if let Some(management) = management {
        monoio::spawn(listener::accept_loop(
            shard.clone(),
            management,
            Surface::Management,
            false,
        ));
    }
    if let Some(plain) = plain {
        monoio::spawn(listener::accept_loop(
            shard.clone(),
            plain,
            public_surface,
            false,
        ));
    }
    let secure = shard.tls.borrow().is_some();
    listener::accept_loop(shard.clone(), public, public_surface, secure).await;
    drain(&shard).await;
    let unwritten = shard
        .ctx
        .writer
        .shutdown(Instant::now() + limits::SHUTDOWN_FLUSH_MAX)
        .await;
    if unwritten > 0 {
        log::error(
            "shutdown: tokens could not be recorded before the deadline",
            &[("shard", &shard.ctx.shard_id), ("tokens", &unwritten)],
        );
    }
    shard.ctx.pg.shutdown().await;
    log::debug("shard stopped", &[("shard", &shard.ctx.shard_id)]);
}

/// Listen, parse the keys, open the database session and build the shard; wait for the
/// session (when the database answered at start-up) and load the revocations, so the first
/// request finds both.
async fn start(init: &mut ShardInit) -> Result<(Rc<Shard>, Listeners), String> {
    let config = &init.common.config;
    let listeners = Listeners {
        public: bind(config.listen)?,
        plain: config.plain_listen.map(bind).transpose()?,
        management: config.admin_listen.map(bind).transpose()?,
    };
    let keys = Keys::parse(
        &init.common.key_pems,
        init.common.documents.clone(),
        init.common.issuers.clone(),
    )
    .map_err(|e| format!("signing key: {e}"))?;
    let tls = init
        .common
        .tls
        .as_ref()
        .map(|t| t.for_shard())
        .transpose()?;
    let replay = replay_guard(init)?;
    let shard = Rc::new(Shard {
        ctx: context(init, keys, replay),
        shutdown: Shutdown::new(),
        tls: RefCell::new(tls),
    });
    let pg = &shard.ctx.pg;
    // Both sessions (one when tokens share the main database), so that a started shard is
    // ready (`/readyz`) at once.
    for session in [pg, &shard.ctx.tokens_pg] {
        if init.common.database_reachable
            && let Err(e) = session.wait_connected(limits::STARTUP_DB_WAIT_MAX).await
        {
            log::warn(
                "shard starts without its database session",
                &[("shard", &init.id), ("error", &e)],
            );
        }
    }
    // Before the first request: a restarted server must not forget a revocation even
    // briefly. (The Connected event loads them again; the repeat is cheap.)
    if pg.is_connected() {
        tasks::load_revocations(&shard.ctx).await;
    }
    Ok((shard, listeners))
}

/// The shard's sockets: `listen`, and `plain_listen` and `admin_listen` when set.
struct Listeners {
    public: monoio::net::TcpListener,
    plain: Option<monoio::net::TcpListener>,
    management: Option<monoio::net::TcpListener>,
}

/// This shard's part of the replay check, its task already answering other shards.
fn replay_guard(init: &mut ShardInit) -> Result<Rc<ReplayGuard>, String> {
    let port = init
        .replay
        .take()
        .ok_or("the replay exchange was taken already")?;
    let mut guard = ReplayGuard::new(port);
    let wake = guard
        .take_wake()
        .ok_or("the replay wake-up was taken already")?;
    let guard = Rc::new(guard);
    monoio::spawn(guard.clone().serve(wake));
    Ok(guard)
}

fn context(init: &ShardInit, keys: Keys, replay: Rc<ReplayGuard>) -> Context {
    let config = &init.common.config;
    let pg = Session::start(
        init.common.pg.clone(),
        &[INVALIDATE_CHANNEL, REVOKE_CHANNEL],
    );
    // Token rows go over a session of their own when they go to a database of their own.
    let tokens_pg = match &init.common.tokens_pg {
        Some(tokens) => Session::start(tokens.clone(), &[]),
        None => pg.clone(),
    };
    let writer_config = WriterConfig::from_config(config);
    let writer_stats = init.common.all_stats[init.id].writer.clone();
    Context::new(Parts {
        shard_id: init.id,
        config: config.clone(),
        dpop_nonces: init.common.dpop_nonces.clone(),
        keys,
        revocations: RevocationCache::new(config.revocation_cache_capacity),
        writer: TokenWriter::start(tokens_pg.clone(), writer_config, writer_stats),
        tokens_pg,
        clients: ClientDirectory::new(config, pg.clone(), init.common.all_stats.clone(), init.id),
        pg,
        replay,
        all_stats: init.common.all_stats.clone(),
    })
}

fn bind(address: SocketAddr) -> Result<monoio::net::TcpListener, String> {
    let opts = monoio::net::ListenerOpts::new()
        .reuse_port(true)
        .backlog(LISTEN_BACKLOG);
    monoio::net::TcpListener::bind_with_config(address, &opts)
        .map_err(|e| format!("cannot listen on {address}: {e}"))
}

/// Accept queue per shard: a burst of new connections (wrk's start, a fleet reconnecting)
/// waits in the kernel instead of being refused. The kernel caps it at net.core.somaxconn.
const LISTEN_BACKLOG: i32 = 4096;

/// Let connections finish what they have, for at most SHUTDOWN_DRAIN_MAX.
async fn drain(shard: &Shard) {
    let open = &shard.ctx.stats().connections_open;
    let started = Instant::now();
    while open.get() > 0 && started.elapsed() < limits::SHUTDOWN_DRAIN_MAX {
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if open.get() > 0 {
        log::warn(
            "shutdown: closing connections that did not finish",
            &[("shard", &shard.ctx.shard_id), ("connections", &open.get())],
        );
    }
}
