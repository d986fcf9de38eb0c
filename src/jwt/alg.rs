//! The signing algorithms, by their JOSE names (RFC 7518 §3.1).

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256: the default; small keys and tokens, fast enough to sign.
    ES256,
    /// Ed25519: the fastest asymmetric option; some older resource-server libraries lack it.
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256: for legacy verifiers; ~1 ms per signature.
    RS256,
    /// HMAC-SHA-256: shared secret, so resource servers cannot verify offline; never published.
    HS256,
}

impl Alg {
    /// The JOSE `alg` name (RFC 7518 §3.1).
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
            Alg::HS256 => "HS256",
        }
    }

    /// The same algorithm in jsonwebtoken's terms, for code that verifies with that crate.
    pub const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown algorithm name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlg(pub String);

impl fmt::Display for UnknownAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signing algorithm {:?} (expected ES256, EdDSA, RS256 or HS256)",
            self.0
        )
    }
}

impl std::error::Error for UnknownAlg {}

impl FromStr for Alg {
    type Err = UnknownAlg;

    /// Exact JOSE names; `Ed25519` is accepted as an alias because users type it.
    fn from_str(s: &str) -> Result<Alg, UnknownAlg> {
        match s {
            "ES256" => Ok(Alg::ES256),
            "EdDSA" | "Ed25519" => Ok(Alg::EdDSA),
            "RS256" => Ok(Alg::RS256),
            "HS256" => Ok(Alg::HS256),
            _ => Err(UnknownAlg(s.to_owned())),
        }
    }
}
