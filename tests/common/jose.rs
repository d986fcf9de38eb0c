//! JWTs signed the way clients and platforms sign them, for tests of `private_key_jwt`,
//! workload identity and DPoP: keys of the four accepted algorithms, their public JWKs and
//! JWKS files, client assertions and DPoP proofs. Built with aws-lc-rs directly, so the
//! tests do not share the server's JOSE code.

use std::path::PathBuf;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The client-assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    ES256,
    EdDSA,
    RS256,
    PS256,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A signing key and its public JWK (`kid` = RFC 7638 thumbprint).
pub struct JoseKey {
    pub alg: Alg,
    pair: Pair,
    pub kid: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl JoseKey {
    pub fn new(alg: Alg) -> JoseKey {
        let rng = SystemRandom::new();
        let pair = match alg {
            Alg::ES256 => {
                Pair::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
            }
            Alg::EdDSA => Pair::Ed(
                Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
                    .unwrap(),
            ),
            Alg::RS256 | Alg::PS256 => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
        };
        let mut key = JoseKey {
            alg,
            pair,
            kid: String::new(),
        };
        key.kid = thumbprint(&key.members());
        key
    }

    /// The RFC 7638 required members, in lexicographic order.
    fn members(&self) -> Vec<(&'static str, String)> {
        match &self.pair {
            Pair::Ec(p) => {
                let point = p.public_key().as_ref();
                vec![
                    ("crv", "P-256".into()),
                    ("kty", "EC".into()),
                    ("x", b64(&point[1..33])),
                    ("y", b64(&point[33..65])),
                ]
            }
            Pair::Ed(p) => vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", b64(p.public_key().as_ref())),
            ],
            Pair::Rsa(p) => {
                let c = PublicKeyComponents::<Vec<u8>>::from(p.public_key());
                vec![("e", b64(&c.e)), ("kty", "RSA".into()), ("n", b64(&c.n))]
            }
        }
    }

    /// The public JWK without `kid` or `alg` (as a DPoP header carries it).
    pub fn bare_jwk(&self) -> Value {
        let mut jwk = serde_json::Map::new();
        for (name, value) in self.members() {
            jwk.insert(name.to_owned(), value.into());
        }
        Value::Object(jwk)
    }

    /// The public JWK as a client registers it: with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.bare_jwk();
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg_name().into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// The RFC 7638 thumbprint: a DPoP token's `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.members())
    }

    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
        }
    }

    /// A compact JWS of `header` and `claims` signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            Pair::Ec(p) => p.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Pair::Ed(p) => p.sign(input.as_bytes()).as_ref().to_vec(),
            Pair::Rsa(p) => {
                let padding = match self.alg {
                    Alg::PS256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(padding, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
        };
        format!("{input}.{}", b64(&signature))
    }

    /// A client's own assertion (RFC 7523 §3): `iss` = `sub` = `client_id`, for `aud`,
    /// valid `exp_in` seconds from now, a fresh `jti`.
    pub fn assertion(&self, client_id: &str, aud: &str, exp_in: i64) -> String {
        let now = now() as i64;
        self.sign(
            &json!({"alg": self.alg_name(), "typ": "JWT", "kid": self.kid}),
            &json!({
                "iss": client_id, "sub": client_id, "aud": aud,
                "iat": now, "exp": now + exp_in, "jti": fresh_id(),
            }),
        )
    }

    /// A DPoP proof (RFC 9449 §4.2) for `POST htu`, made now, with a fresh `jti`; `extra`
    /// claims are merged in (a nonce, or a changed member for a refusal test).
    pub fn dpop_proof(&self, htu: &str, extra: Value) -> String {
        let mut claims = json!({
            "jti": fresh_id(), "htm": "POST", "htu": htu, "iat": now(),
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                claims[k] = v;
            }
        }
        self.sign(
            &json!({"typ": "dpop+jwt", "alg": self.alg_name(), "jwk": self.bare_jwk()}),
            &claims,
        )
    }
}

/// The JWKS document of these keys' public JWKs.
pub fn jwks(keys: &[&JoseKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// Write `text` to a fresh temporary file; its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(super::unique_name(name));
    std::fs::write(&path, text).unwrap();
    path
}

fn thumbprint(members: &[(&'static str, String)]) -> String {
    let canonical: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("\"{name}\":\"{value}\""))
        .collect();
    let canonical = format!("{{{}}}", canonical.join(","));
    b64(digest(&SHA256, canonical.as_bytes()).as_ref())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// 128 random bits, base64url: a fresh `jti`.
pub fn fresh_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    b64(&bytes)
}

/// The form body of a token request authenticated by `assertion`.
pub fn assertion_form(assertion: &str, extra: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={JWT_BEARER}&client_assertion={assertion}{extra}"
    )
}
