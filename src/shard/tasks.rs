//! What a shard runs beside its connections: the signal thread's wake-ups (key reload,
//! shutdown), its database session's events (reconnects, invalidations, revocations), the
//! purges of its caches, and (shard 0 only) the periodic prune of expired rows.

use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::clock::unix_now_s;
use crate::endpoint::context::{Context, Keys};
use crate::limits;
use crate::log;
use crate::pg::SessionEvent;
use crate::shard::{KeyReload, Shard};
use crate::store::events::{self, Invalidation};
use crate::store::{INVALIDATE_CHANNEL, REVOKE_CHANNEL, revocations, tokens};

/// Wake-up byte: shut down (also implied when the signal thread's end goes away).
pub const WAKE_SHUTDOWN: u8 = b'x';
/// Wake-up byte: a new key set waits on the shard's reload channel.
pub const WAKE_RELOAD: u8 = b'r';

/// How often a shard drops revocations whose tokens have expired.
const REVOCATION_PURGE_PERIOD: Duration = Duration::from_secs(60);

/// Pause between two prune chunks, so that a round over millions of expired rows leaves
/// shard 0's session (client look-ups, batch writes) and the database room for other work
/// instead of running DELETEs back to back.
const PRUNE_CHUNK_PAUSE: Duration = Duration::from_millis(20);

/// Start every background task of the shard.
pub fn spawn(
    shard: &Rc<Shard>,
    wake: std::os::unix::net::UnixStream,
    reloads: mpsc::Receiver<KeyReload>,
) -> Result<(), String> {
    let wake =
        monoio::net::UnixStream::from_std(wake).map_err(|e| format!("wake-up socket: {e}"))?;
    monoio::spawn(on_wake(shard.clone(), wake, reloads));
    if let Some(events) = shard.ctx.pg.events() {
        // Taken already (None) when token rows share the main session.
        let tokens_events = shard.ctx.tokens_pg.events();
        let writes_tokens = tokens_events.is_none();
        monoio::spawn(database_events(shard.clone(), events, writes_tokens));
        if let Some(events) = tokens_events {
            monoio::spawn(tokens_database_events(shard.clone(), events));
        }
    }
    if shard.ctx.config.cache_capacity > 0 {
        monoio::spawn(purge_expired_clients(shard.clone()));
    }
    monoio::spawn(purge_expired_revocations(shard.clone()));
    // One partition keeper and one pruner per instance is enough (theirs is database work,
    // not shard work); instances sharing a database take turns (an advisory lock) and
    // split each round's rows (SKIP LOCKED).
    if shard.ctx.shard_id == 0 {
        monoio::spawn(keep_partitions(shard.clone()));
        if let Some(period) = shard.ctx.config.prune_interval {
            monoio::spawn(prune_expired_rows(shard.clone(), period));
        }
    }
    Ok(())
}

/// Serve the signal thread's wake-ups: [`WAKE_RELOAD`] swaps in the keys waiting on
/// `reloads`; [`WAKE_SHUTDOWN`], EOF or an error fires the shutdown latch. The socket keeps
/// the signal thread off the shard's runtime; the channel carries what a byte cannot.
async fn on_wake(
    shard: Rc<Shard>,
    mut wake: monoio::net::UnixStream,
    reloads: mpsc::Receiver<KeyReload>,
) {
    use monoio::io::AsyncReadRent;
    let mut buf = vec![0u8; 16];
    loop {
        let (res, b) = wake.read(buf).await;
        buf = b;
        let n = match res {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        if buf[..n].contains(&WAKE_RELOAD) {
            apply_reload(&shard, &reloads);
        }
        if buf[..n].contains(&WAKE_SHUTDOWN) {
            break;
        }
    }
    shard.shutdown.fire();
}

/// Swap in the newest reload waiting on `reloads`, if any: keys and certificate together,
/// or neither. Runs only when the signal thread has woken the shard, never on the request
/// path; connections already open keep the session they have.
fn apply_reload(shard: &Shard, reloads: &mpsc::Receiver<KeyReload>) {
    // Several SIGHUPs in a row: only the last one's keys matter.
    let Some(reload) = reloads.try_iter().last() else {
        return;
    };
    let ctx = &shard.ctx;
    let tls = reload.tls.as_ref().map(|t| t.for_shard()).transpose();
    match (
        Keys::parse(&reload.key_pems, reload.documents, reload.issuers),
        tls,
    ) {
        (Ok(keys), Ok(tls)) => {
            log::debug(
                "signing keys reloaded",
                &[
                    ("shard", &ctx.shard_id),
                    ("signing_kid", &keys.signer.key().kid()),
                    (
                        "kids",
                        &crate::endpoint::context::kid_list(&keys.verify_keys),
                    ),
                ],
            );
            ctx.replace_keys(keys);
            if tls.is_some() {
                *shard.tls.borrow_mut() = tls;
            }
        }
        // The signal thread parsed the same bytes, so this is not expected; keeping the
        // old keys is the safe answer either way.
        (Err(e), _) | (_, Err(e)) => log::error(
            "key or certificate reload failed on a shard; keeping the current ones",
            &[("shard", &ctx.shard_id), ("error", &e)],
        ),
    }
}

/// What the shard's main database session reports: connection changes (logged; a
/// reconnect clears the client cache and reloads the revocation cache, since notifications
/// sent while it was down are lost), and the notifications of `store::events`.
/// `writes_tokens`: token rows go over this session too (no `tokens_database_url`), so its
/// figures are the token session's as well.
///
/// The session LISTENs before it reports Connected, so a revocation committed after the
/// reload's snapshot arrives as a notification: none falls between the two.
async fn database_events(
    shard: Rc<Shard>,
    mut events: local_sync::mpsc::unbounded::Rx<SessionEvent>,
    writes_tokens: bool,
) {
    let ctx = &shard.ctx;
    let stats = ctx.stats();
    let mut connected_before = false;
    let mut outages = OutageLog::new(ctx.shard_id, "main");
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::Connected => {
                outages.connected();
                stats.pg_reconnects.set(ctx.pg.reconnects());
                stats.pg_connected.set(1);
                if writes_tokens {
                    stats.tokens_pg_reconnects.set(ctx.pg.reconnects());
                    stats.tokens_pg_connected.set(1);
                }
                if connected_before {
                    invalidate(ctx, Invalidation::All);
                }
                connected_before = true;
                load_revocations(ctx).await;
            }
            SessionEvent::Disconnected { cause } => {
                stats.pg_connected.set(0);
                if writes_tokens {
                    stats.tokens_pg_connected.set(0);
                }
                // Notifications sent from now on are lost until the reload at reconnect.
                if ctx.revocations_stale_since.get().is_none() {
                    ctx.revocations_stale_since.set(Some(Instant::now()));
                }
                outages.lost(&cause, shard.shutdown.is_fired());
            }
            SessionEvent::ConnectFailed { cause } => outages.connect_failed(cause),
            SessionEvent::Notification(n) if n.channel == INVALIDATE_CHANNEL => {
                invalidate(ctx, Invalidation::parse(&n.payload));
            }
            SessionEvent::Notification(n) if n.channel == REVOKE_CHANNEL => {
                revoked(ctx, &n.payload);
            }
            SessionEvent::Notification(_) => {}
        }
    }
}

/// The session to `tokens_database_url`: its connection changes are logged and counted like
/// the main session's. It LISTENs to nothing, and the batch writer retries by itself.
/// Draining its events also keeps them from queueing up through a long outage.
async fn tokens_database_events(
    shard: Rc<Shard>,
    mut events: local_sync::mpsc::unbounded::Rx<SessionEvent>,
) {
    let ctx = &shard.ctx;
    let stats = ctx.stats();
    let mut outages = OutageLog::new(ctx.shard_id, "tokens");
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::Connected => {
                outages.connected();
                stats.tokens_pg_reconnects.set(ctx.tokens_pg.reconnects());
                stats.tokens_pg_connected.set(1);
            }
            SessionEvent::Disconnected { cause } => {
                stats.tokens_pg_connected.set(0);
                outages.lost(&cause, shard.shutdown.is_fired());
            }
            SessionEvent::ConnectFailed { cause } => outages.connect_failed(cause),
            SessionEvent::Notification(_) => {}
        }
    }
}

/// The log of one session's outages: a line when one begins and when its cause changes,
/// not at every backoff step.
struct OutageLog {
    shard_id: usize,
    /// `main` or `tokens`: which database the session is to.
    database: &'static str,
    /// The cause of the last failed attempt, while the outage lasts.
    last_failure: Option<String>,
}

impl OutageLog {
    fn new(shard_id: usize, database: &'static str) -> OutageLog {
        OutageLog {
            shard_id,
            database,
            last_failure: None,
        }
    }

    fn connected(&mut self) {
        self.last_failure = None;
        log::info(
            "database connected",
            &[("shard", &self.shard_id), ("database", &self.database)],
        );
    }

    fn lost(&self, cause: &str, shutting_down: bool) {
        let fields: [(&str, &dyn std::fmt::Display); 3] = [
            ("shard", &self.shard_id),
            ("database", &self.database),
            ("cause", &cause),
        ];
        // Our own close at shutdown is no fault.
        if shutting_down {
            log::debug("database session closed", &fields);
        } else {
            log::warn("database connection lost; reconnecting", &fields);
        }
    }

    fn connect_failed(&mut self, cause: String) {
        let fields: [(&str, &dyn std::fmt::Display); 3] = [
            ("shard", &self.shard_id),
            ("database", &self.database),
            ("cause", &cause),
        ];
        if self.last_failure.as_ref() == Some(&cause) {
            log::debug("database still unreachable; retrying", &fields);
        } else {
            log::warn("cannot connect to the database; retrying", &fields);
            self.last_failure = Some(cause);
        }
    }
}

fn invalidate(ctx: &Context, what: Invalidation<'_>) {
    ctx.clients.invalidate(what);
    ctx.stats().invalidations.bump();
}

fn revoked(ctx: &Context, payload: &str) {
    match events::parse_revocation(payload) {
        Some((jti, exp_s)) => ctx
            .revocations
            .borrow_mut()
            .insert(jti, exp_s, unix_now_s()),
        None => log::warn(
            "ignoring a malformed revocation notification",
            &[("shard", &ctx.shard_id), ("payload", &payload)],
        ),
    }
}

/// Drop expired cache entries every half TTL, so that memory held by clients nobody asks
/// for any more is returned without waiting for LRU pressure.
async fn purge_expired_clients(shard: Rc<Shard>) {
    let period = shard.ctx.config.cache_ttl / 2;
    while sleep_unless_shutdown(&shard, period).await {
        let purged = shard.ctx.clients.purge_expired();
        if purged > 0 {
            log::debug(
                "client cache purge",
                &[("shard", &shard.ctx.shard_id), ("expired", &purged)],
            );
        }
    }
}

/// Replace the revocation cache with the live rows of `revoked_tokens`. On failure the
/// cache keeps what it had; the next reconnect (or a saturated cache's purge tick) retries.
pub async fn load_revocations(ctx: &Context) {
    let capacity = ctx.revocations.borrow().capacity();
    // Revocations the endpoint or a notification adds while the query runs may postdate
    // its snapshot; the cache keeps them through the reload.
    ctx.revocations.borrow_mut().begin_reload();
    let rows = match ctx.pg.client() {
        Ok(pg) => revocations::live(&pg, capacity + 1).await,
        Err(e) => Err(e),
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            ctx.revocations.borrow_mut().abandon_reload();
            log::warn(
                "could not load revocations",
                &[("shard", &ctx.shard_id), ("error", &e)],
            );
            return;
        }
    };
    let mut cache = ctx.revocations.borrow_mut();
    cache.reload(rows, unix_now_s());
    // Listening since before the query, and loaded: current from now on.
    ctx.revocations_stale_since.set(None);
    if cache.is_saturated() {
        log::error(
            "revocation cache is full: introspection asks revoked_tokens for the jti it does not hold",
            &[("shard", &ctx.shard_id), ("capacity", &capacity)],
        );
    }
    log::debug(
        "revocation cache loaded",
        &[("shard", &ctx.shard_id), ("revoked", &cache.len())],
    );
}

/// Drop expired revocations once a minute, so the cache holds only live tokens' ids; a
/// saturated cache tries to reload, which succeeds once enough of them have expired. Expired
/// verified tokens go at the same tick.
async fn purge_expired_revocations(shard: Rc<Shard>) {
    let ctx = &shard.ctx;
    while sleep_unless_shutdown(&shard, REVOCATION_PURGE_PERIOD).await {
        let purged = ctx.revocations.borrow_mut().purge_expired(unix_now_s());
        if purged > 0 {
            log::debug(
                "revocation cache purge",
                &[("shard", &ctx.shard_id), ("expired", &purged)],
            );
        }
        if ctx.revocations.borrow().is_saturated() {
            load_revocations(ctx).await;
        }
        // Same period, different state: failure windows that have passed, and verified
        // tokens that have expired (their memory only: a lookup checks `exp` itself).
        ctx.auth_failures.forget_expired(Instant::now());
        ctx.verified.borrow_mut().purge_expired(Instant::now());
    }
}

/// Every `period`, drop expired partitions of `tokens` and delete expired rows of
/// `revoked_tokens` (`store::tokens`'s one prune round, as `edgeauth prune` runs it) over
/// this shard's own sessions. It runs
/// beside the request path, never on it: each chunk is one pipelined statement whose
/// answer this task awaits while the shard serves. A round is skipped while the database
/// is down (the next one catches up) and ends at the first error; shutdown interrupts it
/// between chunks.
async fn prune_expired_rows(shard: Rc<Shard>, period: Duration) {
    let ctx = &shard.ctx;
    while sleep_unless_shutdown(&shard, period).await {
        let started = Instant::now();
        let (Ok(main), Ok(tokens_db)) = (ctx.pg.client(), ctx.tokens_pg.client()) else {
            log::debug("prune skipped: database not connected", &[]);
            continue;
        };
        let (pruned, result) = tokens::prune(&tokens_db, &main, async || {
            sleep_unless_shutdown(&shard, PRUNE_CHUNK_PAUSE).await
        })
        .await;
        if let Err(e) = &result {
            log::warn("prune round abandoned", &[("error", e)]);
        }
        if pruned != tokens::Pruned::default() {
            log::info(
                "pruned expired rows",
                &[
                    ("partitions", &pruned.partitions),
                    ("tokens", &pruned.tokens),
                    ("revocations", &pruned.revocations),
                    ("write_records", &pruned.writes),
                    ("duration_ms", &started.elapsed().as_millis()),
                    ("complete", &result.is_ok()),
                ],
            );
        }
    }
}

/// Create the partitions of `tokens` ahead of need: at start (once connected) and every
/// `PARTITION_CHECK_INTERVAL`. `edgeauth migrate` made them 48 hours ahead, so a failed
/// round only waits for the next.
async fn keep_partitions(shard: Rc<Shard>) {
    let mut period = Duration::ZERO;
    while sleep_unless_shutdown(&shard, period).await {
        period = limits::PARTITION_CHECK_INTERVAL;
        let done = match shard.ctx.tokens_pg.client() {
            Ok(client) => tokens::ensure_partitions(&client).await,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            // Right after start the session may still be connecting: try again soon.
            period = PARTITION_RETRY;
            log::debug("token partitions not checked", &[("error", &e)]);
        }
    }
}

/// How soon a failed partition check is tried again.
const PARTITION_RETRY: Duration = Duration::from_secs(5);

/// Sleep for `period`; false if the shard began shutting down meanwhile.
async fn sleep_unless_shutdown(shard: &Shard, period: Duration) -> bool {
    monoio::select! {
        _ = monoio::time::sleep(period) => true,
        _ = shard.shutdown.wait() => false,
    }
}
