//! edgeauth: an OAuth 2.0 client-credentials token server built for the edge.
//!
//! # Layout
//!
//! * `server`: `edgeauth serve` — shared set-up, one pinned thread per shard, signals.
//! * `shard`: a shard's state and accept loop; `shard::stats` its lock-free counters,
//!   `shard::metrics` the fixed-size request matrix and token latency histogram behind
//!   `/metrics` (rendered by `endpoint::metrics`).
//! * `shutdown`: the per-shard shutdown latch and the drain protocol.
//! * `http`: HTTP/1.1 request parsing (httparse), responses, bodies; `http::connection` the
//!   per-connection loop (keep-alive, pipelining, idle timeout).
//! * `endpoint`: routing and the endpoints; `endpoint::token` is where a token is issued,
//!   `endpoint::introspect` and `endpoint::revoke` where one is checked and revoked.
//! * `cache`: the per-shard client cache (TTL, LRU bound, negative entries) and its stats,
//!   and the per-shard revocation cache (revoked jti until their exp).
//! * `auth`: client authentication (Basic vs post) and client secrets (generate, hash, compare).
//! * `jwt`: signing keys (load, generate, kid), RFC 9068 access tokens, the JWKS document.
//! * `pg`: our own Postgres client on monoio: start-up/auth, pipelined extended query, LISTEN.
//! * `batch`: the per-shard token batch writer: unnest batches, retries, back-pressure, group commit.
//! * `store`: the schema, its migrations, and the SQL for clients, tokens and revocations.
//! * `config`, `cli`: settings from flags, environment and TOML, validated once.
//! * `admin_cmd`: the subcommands besides `serve` (migrate, client, keys, prune).
//! * `limits`: every bound, named, with units. `log`: JSON log lines on stderr.

pub mod auth;
pub mod batch;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod counter;
pub mod endpoint;
pub mod form;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod log;
pub mod pg;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod store;
pub mod wake;
