//! TLS for the listeners, on rustls with the aws-lc-rs provider.
//!
//! * `server`: the certificate chain and key from PEM files, checked when loaded, and the
//!   rustls configuration each shard builds from them.
//! * `tickets`: session-ticket keys every shard of the instance derives alike, rotated by
//!   the clock.
//! * `session`: one connection's TLS session without I/O, for the connection loop.

pub mod server;
pub mod session;
pub mod tickets;

pub use server::ServerTls;
pub use session::Session;
pub use tickets::TicketKeys;
