//! Client authentication and client secrets.
//!
//! * [`client_auth`]: which credentials a request presents (HTTP Basic or body parameters).
//! * [`assertion`]: JWT client assertions (RFC 7523): `private_key_jwt` and workload
//!   tokens, parsed, then verified against a JWK set under the caller's rules.
//! * [`dpop`]: DPoP proofs (RFC 9449) at the token endpoint, and stateless server nonces.
//! * [`federation`]: the workload-identity issuers (`trusted_issuers`) and their keys.
//! * [`secret`]: generate, hash (SHA-256) and constant-time compare client secrets.

pub mod assertion;
pub mod client_auth;
pub mod dpop;
pub mod federation;
pub mod secret;
