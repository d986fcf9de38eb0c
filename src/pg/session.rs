//! The per-shard, self-healing database handle.
//!
//! A supervisor task owns the connection's life: connect, `LISTEN`, announce
//! `SessionEvent::Connected`, forward notifications until the connection dies, announce
//! `Disconnected`, back off, repeat. Callers never wait on a dead database: while there is
//! no connection every call fails at once with `ErrorKind::Closed` (the server answers 503).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use local_sync::{mpsc::unbounded, oneshot};

use super::client::Client;
use super::config::PgConfig;
use super::error::Error;
use super::rows::Rows;
use super::shared::Notification;
use super::statement::Statement;

/// First reconnect delay; doubled after every failed attempt up to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bounds one connect + authenticate + LISTEN attempt, so a black-holed host cannot stall
/// the supervisor.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the supervisor reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A (new) connection is up and listening. Notifications may have been missed while
    /// down: drop caches that depend on them.
    Connected,
    /// The connection was lost (or shut down), and why; calls fail with `Closed` until
    /// `Connected`.
    Disconnected {
        cause: String,
    },
    /// An attempt to connect failed, and why (refused, timed out, authentication, ...); the
    /// supervisor backs off and tries again.
    ConnectFailed {
        cause: String,
    },
    Notification(Notification),
}

struct Inner {
    cfg: PgConfig,
    listen_channels: &'static [&'static str],
    /// The live connection, or None while disconnected.
    current: RefCell<Option<Client>>,
    events_tx: unbounded::Tx<SessionEvent>,
    /// Handed out once by `events()`; unread events queue here until then.
    events_rx: RefCell<Option<unbounded::Rx<SessionEvent>>>,
    /// Successful connections after the first one.
    reconnects: Cell<u64>,
    connects: Cell<u64>,
    stopping: Cell<bool>,
    connected_waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Inner {
    /// Stops the supervisor: it exits at its next step (after the current connection ends,
    /// the current connect attempt returns, or the current backoff sleep).
    fn stop(&self) -> Option<Client> {
        self.stopping.set(true);
        self.connected_waiters.borrow_mut().clear();
        self.current.borrow_mut().take()
    }
}

/// Dropping the last `Session` clone stops the supervisor and closes the connection (once
/// no `Client` obtained from it is left), so a forgotten session leaks nothing.
struct Handle(Rc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        // Dropping the session's Client begins a graceful close if it was the last clone.
        drop(self.0.stop());
    }
}

/// Cheap to clone; all clones share one supervisor task.
#[derive(Clone)]
pub struct Session(Rc<Handle>);

impl Session {
    /// Spawns the supervisor task on the current monoio runtime; it connects at once.
    pub fn start(cfg: PgConfig, listen_channels: &'static [&'static str]) -> Session {
        let (events_tx, events_rx) = unbounded::channel();
        let inner = Rc::new(Inner {
            cfg,
            listen_channels,
            current: RefCell::new(None),
            events_tx,
            events_rx: RefCell::new(Some(events_rx)),
            reconnects: Cell::new(0),
            connects: Cell::new(0),
            stopping: Cell::new(false),
            connected_waiters: RefCell::new(Vec::new()),
        });
        monoio::spawn(supervise(inner.clone()));
        Session(Rc::new(Handle(inner)))
    }

    fn inner(&self) -> &Inner {
        &self.0.0
    }

    /// Waits until a connection is up, at most `timeout`; `Closed` if it is not.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), Error> {
        if self.is_connected() {
            return Ok(());
        }
        if self.inner().stopping.get() {
            return Err(Error::closed());
        }
        let (tx, rx) = oneshot::channel();
        self.inner().connected_waiters.borrow_mut().push(tx);
        match monoio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::closed_because("session shut down")),
            Err(_) => Err(Error::closed_because("timed out waiting for the database")),
        }
    }

    /// The current connection, or `Closed` at once while there is none.
    pub fn client(&self) -> Result<Client, Error> {
        match &*self.inner().current.borrow() {
            Some(c) if !c.is_closed() => Ok(c.clone()),
            _ => Err(Error::closed_because("database not connected")),
        }
    }

    pub async fn query(&self, stmt: &Statement, params: &[Option<&[u8]>]) -> Result<Rows, Error> {
        self.client()?.query(stmt, params).await
    }

    pub async fn execute(&self, stmt: &Statement, params: &[Option<&[u8]>]) -> Result<u64, Error> {
        self.client()?.execute(stmt, params).await
    }

    /// `execute` with every parameter in binary format (see `Client::execute_binary`).
    pub async fn execute_binary(
        &self,
        stmt: &Statement,
        params: &[Option<&[u8]>],
    ) -> Result<u64, Error> {
        self.client()?.execute_binary(stmt, params).await
    }

    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.client()?.batch_execute(sql).await
    }

    /// The session's events. The receiver exists once: the first call takes it.
    pub fn events(&self) -> Option<unbounded::Rx<SessionEvent>> {
        self.inner().events_rx.borrow_mut().take()
    }

    pub fn is_connected(&self) -> bool {
        self.client().is_ok()
    }

    /// Successful connections after the first.
    pub fn reconnects(&self) -> u64 {
        self.inner().reconnects.get()
    }

    /// Stops reconnecting and closes the connection after its queued requests are answered.
    pub async fn shutdown(&self) {
        if let Some(client) = self.inner().stop() {
            client.close().await;
        }
    }
}

async fn supervise(inner: Rc<Inner>) {
    let mut backoff = BACKOFF_MIN;
    let mut rng = seed(&inner);
    while !inner.stopping.get() {
        let attempt = monoio::time::timeout(CONNECT_TIMEOUT, connect_and_listen(&inner)).await;
        let (client, mut notes) = match attempt {
            Ok(Ok(connected)) => connected,
            failure => {
                let cause = match failure {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                };
                if !inner.stopping.get() {
                    let _ = inner.events_tx.send(SessionEvent::ConnectFailed { cause });
                }
                monoio::time::sleep(jittered(backoff, &mut rng)).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if inner.stopping.get() {
            client.close().await;
            break;
        }
        backoff = BACKOFF_MIN;
        if inner.connects.replace(inner.connects.get() + 1) > 0 {
            inner.reconnects.set(inner.reconnects.get() + 1);
        }
        *inner.current.borrow_mut() = Some(client);
        let _ = inner.events_tx.send(SessionEvent::Connected);
        for tx in inner.connected_waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
        // The stream ends when the connection closes, for whatever reason.
        while let Some(n) = notes.recv().await {
            let _ = inner.events_tx.send(SessionEvent::Notification(n));
        }
        let lost = inner.current.borrow_mut().take();
        let cause = lost
            .and_then(|c| c.closed_cause())
            .unwrap_or_else(|| "closed".to_owned());
        let _ = inner.events_tx.send(SessionEvent::Disconnected { cause });
        if !inner.stopping.get() {
            // Even a connection that just died gets a short pause, so a server that accepts
            // and then drops us cannot make this loop spin.
            monoio::time::sleep(jittered(BACKOFF_MIN, &mut rng)).await;
        }
    }
}

async fn connect_and_listen(inner: &Inner) -> Result<(Client, unbounded::Rx<Notification>), Error> {
    let client = Client::connect(&inner.cfg).await?;
    let notes = client.notifications().ok_or_else(Error::closed)?;
    if !inner.listen_channels.is_empty() {
        let mut sql = String::new();
        for channel in inner.listen_channels {
            sql.push_str("LISTEN \"");
            sql.push_str(&channel.replace('"', "\"\""));
            sql.push_str("\";");
        }
        client.batch_execute(&sql).await?;
    }
    Ok((client, notes))
}

/// A delay in [d/2, d]: spreads the reconnects of many shards and instances after an outage.
fn jittered(d: Duration, rng: &mut u64) -> Duration {
    // xorshift64: plenty for jitter, no dependency.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let half = d.as_micros() as u64 / 2;
    Duration::from_micros(half + *rng % (half + 1))
}

fn seed(inner: &Rc<Inner>) -> u64 {
    let nanos = crate::clock::unix_now().as_nanos() as u64;
    (nanos ^ (Rc::as_ptr(inner) as u64)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut rng = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(100), &mut rng);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(100),
                "{d:?}"
            );
        }
    }
}
