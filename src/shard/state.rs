//! The shard itself, and what the server hands a shard thread to build one.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, mpsc};

use crate::auth::dpop::NonceKey;
use crate::auth::federation::TrustedIssuers;
use crate::config::Config;
use crate::endpoint::context::Context;
use crate::endpoint::metadata::Documents;
use crate::endpoint::stats::ShardStats;
use crate::pg::PgConfig;
use crate::replay::exchange::Port;
use crate::shutdown::Shutdown;
use crate::tls::{self, ClientRoots, ServerTls, ShardTls};

pub struct Shard {
    /// What the endpoints see: caches, keys, database session, batch writer, counters.
    pub ctx: Context,
    /// Fired by the signal thread's wake-up; stops the accept loop, ends keep-alive and
    /// idle connections, then the shard drains and flushes.
    pub shutdown: Shutdown,
    /// The TLS listener's configuration, built by this shard (swapped by a reload); `None`
    /// when `listen` is plain.
    pub tls: RefCell<Option<ShardTls>>,
}

impl Shard {
    /// A TLS session for a new connection on the TLS listener, and the roots its client's
    /// certificate is checked against.
    pub fn tls_session(&self) -> Option<(tls::Session, Rc<ClientRoots>)> {
        let tls = self.tls.borrow();
        let tls = tls.as_ref()?;
        let session = tls::Session::new(tls.config.clone()).ok()?;
        Some((session, tls.client_roots.clone()))
    }
}

/// Every configured key's PEM bytes, in configuration order (the first signs). Keys are not
/// `Send`, so each shard parses its own copies from these bytes.
pub type KeyPems = Arc<[Vec<u8>]>;

/// What every shard thread is given alike (cloned for each); everything in it is `Send`.
#[derive(Clone)]
pub struct ShardCommon {
    pub config: Arc<Config>,
    pub pg: PgConfig,
    /// `tokens_database_url`, when token rows go to a database of their own.
    pub tokens_pg: Option<PgConfig>,
    pub key_pems: KeyPems,
    /// The workload-identity issuers and their keys, read only.
    pub issuers: Arc<TrustedIssuers>,
    /// With `dpop_nonce`: one key for every shard, so a nonce one issues another accepts.
    pub dpop_nonces: Option<NonceKey>,
    /// The certificate of a TLS `listen`.
    pub tls: Option<ServerTls>,
    pub documents: Arc<Documents>,
    pub all_stats: Arc<[ShardStats]>,
    /// The start-up check reached the database: the shard waits for its own session before
    /// it accepts, so that its first requests are not refused with 503.
    pub database_reachable: bool,
}

/// What the server hands one shard thread.
pub struct ShardInit {
    pub id: usize,
    pub common: ShardCommon,
    /// The signal thread's end writes `WAKE_SHUTDOWN` or `WAKE_RELOAD` here.
    pub wake: std::os::unix::net::UnixStream,
    /// New key sets after a SIGHUP; the shard looks only when woken with `WAKE_RELOAD`.
    pub reloads: mpsc::Receiver<KeyReload>,
    pub core: Option<core_affinity::CoreId>,
    /// This shard's end of the replay exchange; taken when the shard starts.
    pub replay: Option<Port>,
    /// The shard says here whether it is listening (and on which driver) or why it is not.
    pub ready: mpsc::Sender<Result<&'static str, String>>,
}

/// A new key set (and certificate) from the signal thread, already validated there.
pub struct KeyReload {
    pub key_pems: KeyPems,
    pub issuers: Arc<TrustedIssuers>,
    pub tls: Option<ServerTls>,
    pub documents: Arc<Documents>,
}
