//! Client authentication and client secrets.
//!
//! * `secret`: generate, hash (SHA-256) and constant-time compare client secrets.

pub mod secret;
