//! JWT access tokens: keys, signing, and the JWKS document.
//!
//! * `keys`: load and generate PEM signing keys, detect their algorithm, derive the `kid`.
//! * `claims`: the RFC 9068 claim set and its hand-written JSON.
//! * `token`: `TokenSigner::sign_into`, the per-token hot path.
//! * `jti`: UUIDv7 token ids from a per-shard random pool.
//! * `jwks`: the public JWKS document.
//! * `verify`: check tokens we issued (introspection, revocation).
//! * `pem`: the little PEM reader/writer the key files need.

pub mod claims;
pub mod jti;
pub mod jwks;
pub mod keys;
mod pem;
pub mod token;
pub mod verify;

pub use claims::AccessClaims;
pub use jti::JtiGenerator;
pub use jwks::jwks_json;
pub use keys::{Alg, KeyError, SignError, SigningKey, generate_file, generate_pem};
pub use token::TokenSigner;
pub use verify::{VerifiedClaims, VerifyError, verify_token};
