//! Client authentication.
//!
//! * [`client_auth`]: which credentials a request presents (HTTP Basic or body parameters).

pub mod client_auth;
