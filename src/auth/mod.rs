//! Client authentication and client secrets.
//!
//! * [`client_auth`]: which credentials a request presents (HTTP Basic or body parameters).
//! * [`secret`]: generate, hash (SHA-256) and constant-time compare client secrets.

pub mod client_auth;
pub mod federation;
pub mod secret;
