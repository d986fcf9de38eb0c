//! Tests only: keys that sign the way other parties do, for the tests of `public_key`, `jws`
//! and `auth`'s assertion and DPoP checks. Real aws-lc keys of each JOSE algorithm we
//! verify, their public JWKs, and compact JWS assembled by hand, so a test can also build
//! what no honest signer would (`alg: none`, a `crit` header, a private `jwk`).
//!
//! Algorithms are named by their JOSE names, not by `public_key::VerifyAlg`: the signing
//! side of a test knows nothing of the code under test.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaKeyPair,
};
use serde_json::Value;

use super::b64::b64;
use super::jwks::{JwkMembers, ec_members, okp_members, rsa_members, thumbprint};

/// A private key of one algorithm that signs JOSE-style.
pub(crate) struct TestKey {
    /// `ES256`, `EdDSA`, `RS256` or `PS256`.
    pub(crate) alg: &'static str,
    pair: Pair,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl TestKey {
    /// A fresh key for `alg` (RSA: 2048 bits, shared by RS256 and PS256 signing).
    pub(crate) fn generate(alg: &'static str) -> TestKey {
        let pair = match alg {
            "ES256" => {
                Pair::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key"))
            }
            "EdDSA" => Pair::Ed(Ed25519KeyPair::generate().expect("Ed25519 key")),
            "RS256" | "PS256" => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
            }
            other => panic!("no test key for {other}"),
        };
        TestKey { alg, pair }
    }

    /// The RFC 7638 required members, from the key pair itself (not from any JSON).
    pub(crate) fn members(&self) -> JwkMembers {
        match &self.pair {
            Pair::Ec(pair) => ec_members(pair),
            Pair::Ed(pair) => okp_members(pair),
            Pair::Rsa(pair) => rsa_members(pair),
        }
    }

    /// The RFC 7638 thumbprint, computed from the key pair.
    pub(crate) fn thumbprint(&self) -> String {
        thumbprint(&self.members())
    }

    /// The public JWK: the required members only (no `kid`, `alg` or `use`).
    pub(crate) fn jwk(&self) -> Value {
        let mut jwk = serde_json::Map::new();
        for (name, value) in self.members() {
            jwk.insert(name.to_owned(), Value::String(value));
        }
        Value::Object(jwk)
    }

    /// The public JWK with a `kid` and this key's `alg`.
    pub(crate) fn jwk_with(&self, kid: &str) -> Value {
        let mut jwk = self.jwk();
        jwk["kid"] = kid.into();
        jwk["alg"] = self.alg.into();
        jwk
    }

    /// A TestKey of the same key pair signing as `alg` (RSA: RS256 or PS256).
    pub(crate) fn signing_as(self, alg: &'static str) -> TestKey {
        TestKey { alg, ..self }
    }

    /// The JOSE signature of `input` under this key's `alg` (ES256 as `r || s`).
    pub(crate) fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(pair) => pair.sign(&rng, input).expect("sign").as_ref().to_vec(),
            Pair::Ed(pair) => pair.sign(input).as_ref().to_vec(),
            Pair::Rsa(pair) => {
                let padding = match self.alg {
                    "PS256" => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, input, &mut signature)
                    .expect("sign");
                signature
            }
        }
    }

    /// A compact JWS of these header and claims, signed by this key.
    pub(crate) fn token(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature = self.sign(input.as_bytes());
        [input, b64(&signature)].join(".")
    }
}

/// `base64url(header) "." base64url(claims)` of these JSON values.
pub(crate) fn signing_input(header: &Value, claims: &Value) -> String {
    let encode = |value: &Value| b64(&serde_json::to_vec(value).expect("JSON"));
    [encode(header), encode(claims)].join(".")
}

/// Unpadded base64url, for tests that assemble tokens part by part.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    b64(bytes)
}
