//! JWT access tokens: keys, signing, and the JWKS document.
//!
//! * `alg`: the signing algorithms.
//! * `keys`: load PEM signing keys, detect their algorithm, derive the `kid`, sign, verify.
//! * `generate`: new keys (`edgeauth keys generate`, the default key of a first start).
//! * `b64`: unpadded base64url.
//! * `claims`: the RFC 9068 claim set and its hand-written JSON.
//! * `token`: `TokenSigner::sign_into`, the per-token hot path.
//! * `jti`: UUIDv7 token ids from a per-shard random pool.
//! * `jwks`: public JWKs, their RFC 7638 thumbprints, and the JWKS document.
//! * `verify`: check tokens we issued (introspection, revocation).
//! * `public_key`: others' public keys: JWKs and JWK sets parsed once, the algorithms we
//!   accept from others (`VerifyAlg`), RFC 7638 thumbprints.
//! * `jws`: compact JWS signed by others (client assertions, workload tokens, DPoP proofs):
//!   split, decode, check the header, verify with a `PublicJwk`.
//! * `pem`: the little PEM reader/writer the key files need.
//! * `test_keys` (tests only): keys that sign like other parties, for the tests above and
//!   `auth`'s.

pub mod alg;
mod b64;
pub mod claims;
pub mod generate;
pub mod jti;
pub mod jwks;
pub mod jws;
pub mod keys;
mod pem;
pub mod public_key;
#[cfg(test)]
pub(crate) mod test_keys;
pub mod token;
pub mod verify;

pub use alg::Alg;
pub use claims::AccessClaims;
pub use generate::{generate_file, generate_pem};
pub use jti::JtiGenerator;
pub use jwks::jwks_json;
pub use jws::{JoseHeader, Jws, JwsError};
pub use keys::{KeyError, SignError, SigningKey};
pub use public_key::{JwkError, JwkSet, PublicJwk, Unusable, VerifyAlg};
pub use token::TokenSigner;
pub use verify::{VerifiedClaims, VerifyError, verify_token};
