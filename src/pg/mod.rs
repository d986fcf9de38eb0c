//! Our own PostgreSQL client on monoio, built on `postgres-protocol`'s byte layer.
//!
//! One connection per shard, single-threaded (`Rc`/`RefCell`, no locks), pipelined: every
//! request is `[Parse] Bind Execute Sync`, many callers' requests go out in one write, and
//! replies are matched to a FIFO of waiters by counting ReadyForQuery.
//!
//! * `config`: connection strings (URL or key=value) into a validated `PgConfig`.
//! * `error`: `Error` with an `ErrorKind` and, for server errors, the SQLSTATE.
//! * `statement`: compile-time statements, prepared lazily once per connection.
//! * `codec`: framing of backend messages; "not enough bytes yet" is `Ok(None)`.
//! * `auth_policy`: `require_auth` and `channel_binding`: what authentication we accept.
//! * `tls`: `sslmode` and friends: SSLRequest, the rustls handshake, the TLS stream.
//! * `connect`: start-up and authentication (trust, cleartext, MD5, SCRAM-SHA-256[-PLUS]).
//! * `client`: `Client`, the handle callers use, and request encoding.
//! * `connection`: the reader and writer tasks that own the socket halves.
//! * `shared`: the state a connection's handles and its two tasks share.
//! * `rows`: result rows stored in one buffer.
//! * `session`: a self-healing per-shard handle: reconnect with backoff, re-LISTEN.
//! * `passfile`: passwords from `PGPASSFILE` / `~/.pgpass`, as libpq reads them.

mod auth_policy;
mod client;
pub mod codec;
mod config;
mod connect;
mod connection;
mod error;
pub mod passfile;
mod rows;
mod session;
mod shared;
mod statement;
mod tls;

pub use auth_policy::{AuthMethod, ChannelBindingMode, RequireAuth};
pub use client::{Client, REQUESTS_IN_FLIGHT_MAX};
pub use config::{Host, PgConfig};
pub use error::{DbError, Error, ErrorKind};
pub use rows::{Row, Rows};
pub use session::{Session, SessionEvent};
pub use shared::Notification;
pub use statement::{Statement, oid};
pub use tls::{RootCert, SslMode, SslSettings};

/// Run a short database conversation to completion on a small single-threaded runtime of
/// its own (epoll: always available; a CLI command or a start-up check has no use for
/// io_uring).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("building a monoio runtime needs only an epoll fd")
        .block_on(future)
}
