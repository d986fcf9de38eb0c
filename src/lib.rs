//! edgeauth: an OAuth 2.0 client-credentials token server built for the edge.
//!
//! # Layout
//!
//! * `pg`: our own Postgres client on monoio: startup/auth, pipelined extended query, LISTEN.
//! * `jwt`: signing keys (load, generate, kid), RFC 9068 access tokens, the JWKS document.
//! * `http`: HTTP/1.1 request parsing (httparse), response writing, token-request bodies.
//! * `auth`: client authentication (Basic vs post) and client secrets (generate, hash, compare).

pub mod auth;
pub mod http;
pub mod jwt;
pub mod pg;
