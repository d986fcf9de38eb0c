//! edgeauth: an OAuth 2.0 client-credentials token server built for the edge.
//!
//! # Layout
//!
//! Layers, bottom first; a module imports only layers below it (`tests/tidy.rs` checks it,
//! `docs/ARCHITECTURE.md` says what each may never import).
//!
//! * `limits`: every bound, named, with units. `clock`: the one place the wall clock is read.
//!   `counter`: the one single-writer counter. `wake`: the one wake-up primitive.
//!   `form`: the form-urlencoded codec. `rate`: token rates and buckets.
//! * `log`: JSON log lines on stderr. `shutdown`: the per-shard latch and the drain protocol.
//! * `config`: every setting declared once (flags, environment, TOML, validation, log line).
//!   `audit`: audit events (client changes, revocations, admin calls, key reloads, failed
//!   authentications) to `audit_log` or stderr.
//! * `tls`: TLS for the listeners (rustls): certificates, ticket keys, a session without
//!   I/O for the connection loop, client certificates (RFC 8705).
//! * `pg`: our own Postgres client on monoio: start-up/auth, TLS, pipelined extended query,
//!   LISTEN.
//! * `cache`: the per-shard client cache (TTL, LRU bound, negative entries), revocation
//!   cache, and verified-token cache (introspection checks a signature once). `jwt`:
//!   signing keys, RFC 9068 access tokens (**a token is signed in
//!   `jwt::token::TokenSigner::sign_into`**), verification, the JWKS; others' public keys
//!   and compact JWS.
//! * `auth`: client credentials (Basic vs post) and secrets (generate, hash, compare),
//!   client assertions (RFC 7523) and DPoP proofs (RFC 9449), no HTTP.
//!   `replay`: single-use ids (assertion and DPoP `jti`) checked on their owner shard, by
//!   message.
//! * `store`: every SQL statement, the schema and its migrations, and the NOTIFY channels and
//!   payloads (`store::events`).
//! * `batch`: the per-shard token batch writer: batches, retries, back-pressure, group commit.
//! * `http`: HTTP/1.1 protocol only: request parsing (httparse) and responses.
//! * `endpoint`: OAuth semantics over a narrow `endpoint::context::Context`: routing, the
//!   endpoints (`endpoint::token` is where a token is issued), their parameters, client
//!   authentication, the one mapping of refusals to answers, the per-shard statistics.
//! * `shard`: one thread per core: its state, the accept and connection loops, background
//!   tasks (key reloads, database events, purges, pruning).
//! * `server`: `edgeauth serve`: shared set-up, one pinned thread per shard, signals.
//! * `cli`: the command line and the subcommands besides `serve` (`cli::commands`).

pub mod audit;
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
pub mod rate;
pub mod replay;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod store;
pub mod tls;
pub mod wake;
