//! TLS for the listeners, on rustls with the aws-lc-rs provider.
//!
//! * `server`: the certificate chain and key from PEM files, checked when loaded, and the
//!   rustls configuration each shard builds from them.
//! * `tickets`: session-ticket keys every shard of the instance derives alike, rotated by
//!   the clock.
//! * `session`: one connection's TLS session without I/O, for the connection loop.
//! * `peer`: a client's certificate and the RFC 8705 checks of it (chain to
//!   `tls_client_ca`, thumbprint, validity, subject names).
//! * `provider`: the crypto provider of every configuration (aws-lc-rs).
//! * `secret_file`: the permission check of files that hold secrets.

pub mod peer;
pub mod provider;
pub mod secret_file;
pub mod server;
pub mod session;
pub mod tickets;

pub use peer::{ClientRoots, PeerCert, SubjectName};
pub use server::{ServerTls, ShardTls};
pub use session::Session;
pub use tickets::TicketKeys;
