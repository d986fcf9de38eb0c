//! Verify access tokens this server issued (for `/oauth/introspect` and `/oauth/revoke`).
//!
//! Only our own token shape is accepted: `typ: at+jwt`, a `kid` naming one of our loaded
//! keys, and an `alg` equal to that key's algorithm, so a token can never choose how it is
//! verified (no `alg: none`, no RS256/HS256 confusion). Expiry is not checked here: the
//! caller knows the clock and decides (introspection answers `active: false`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::keys::SigningKey;

/// Longest token we try to verify; ours are well under 1 KiB (RS256-4096: ~1 KiB).
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;

/// The claims of a verified token, owned (introspection is not on the hot path).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VerifiedClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: AudienceClaim,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub scope: String,
    /// The confirmation of a certificate-bound token (RFC 8705 §3.1).
    #[serde(default)]
    pub cnf: Option<Confirmation>,
    /// The client's static claims, whatever they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `aud` as issued: one string, or an array of them (RFC 8707 resources).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum AudienceClaim {
    One(String),
    Many(Vec<String>),
}

/// `cnf` of a bound token: a certificate (RFC 8705 §3.1), a DPoP key (RFC 9449 §6.1), or
/// both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// Why a token was not accepted. Introspection maps all of these to `active: false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url parts, bad JSON, missing claims, wrong `typ`, or too long.
    Malformed,
    /// The `kid` names none of our keys (or is missing).
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key its `kid` names.
    AlgMismatch,
    /// The signature does not verify.
    BadSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "malformed token",
            VerifyError::UnknownKey => "token signed with an unknown key",
            VerifyError::AlgMismatch => "token alg does not match its key",
            VerifyError::BadSignature => "bad token signature",
        })
    }
}

impl std::error::Error for VerifyError {}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: &'a str,
    #[serde(borrow)]
    typ: Option<&'a str>,
    #[serde(borrow)]
    kid: Option<&'a str>,
}

/// Verify `token` against the loaded `keys` and return its claims.
pub fn verify_token(keys: &[SigningKey], token: &[u8]) -> Result<VerifiedClaims, VerifyError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(VerifyError::Malformed);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let decode = |part: &[u8]| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| VerifyError::Malformed)
    };

    let header_json = decode(header_b64)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
    if header.typ != Some("at+jwt") {
        return Err(VerifyError::Malformed);
    }
    let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or(VerifyError::UnknownKey)?;
    if header.alg != key.alg().as_str() {
        return Err(VerifyError::AlgMismatch);
    }

    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verify(signing_input, &decode(signature_b64)?) {
        return Err(VerifyError::BadSignature);
    }
    serde_json::from_slice(&decode(claims_b64)?).map_err(|_| VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::claims::Audience;
    use crate::jwt::generate::generate_pem;
    use crate::jwt::keys::Alg;
    use crate::jwt::{AccessClaims, TokenSigner};

    fn key(alg: Alg) -> SigningKey {
        SigningKey::from_pem(generate_pem(alg).expect("generate").as_bytes()).expect("load")
    }

    const CLAIMS: AccessClaims<'static> = AccessClaims {
        iss: "https://issuer",
        sub: "svc",
        aud: Audience::One("api"),
        iat: 1_700_000_000,
        exp: 1_700_003_600,
        jti: "0190a5c4-1234-7abc-8def-0123456789ab",
        scope: "read \"x\"",
        cnf_x5t_s256: None,
        cnf_jkt: None,
        extra: "",
    };

    fn token(signer: &TokenSigner) -> Vec<u8> {
        let mut out = Vec::new();
        signer.sign_into(&CLAIMS, &mut out).expect("signs");
        out
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn own_tokens_verify_with_every_alg_among_several_keys() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let pem = generate_pem(alg).expect("generate");
            let load = || SigningKey::from_pem(pem.as_bytes()).expect("load");
            let signer = TokenSigner::new(load());
            let t = token(&signer);
            let keys = [key(Alg::ES256), key(alg), key(Alg::HS256)];
            assert_eq!(
                verify_token(&keys, &t),
                Err(VerifyError::UnknownKey),
                "{alg}: other keys only"
            );
            let keys = [key(Alg::ES256), load()];
            let claims = verify_token(&keys, &t).expect("verifies");
            assert_eq!(claims.client_id, "svc");
            assert_eq!(claims.scope, "read \"x\"");
            assert_eq!(claims.exp, CLAIMS.exp);
            assert_eq!(claims.jti, CLAIMS.jti);
        }
    }

    #[test]
    fn rs256_key_cannot_be_used_as_an_hmac_secret() {
        // The classic confusion attack: claim HS256 and "sign" with the public RSA key.
        let rsa = key(Alg::RS256);
        let header = b64(&format!(
            r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
            rsa.kid()
        ));
        let input = [header, b64(r#"{"sub":"admin"}"#)].join(".");
        let public = rsa.public_jwk().expect("published")["n"].to_string();
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes()),
            input.as_bytes(),
        );
        let forged = [input, URL_SAFE_NO_PAD.encode(tag.as_ref())].join(".");
        assert_eq!(
            verify_token(&[rsa], forged.as_bytes()),
            Err(VerifyError::AlgMismatch)
        );
    }

    #[test]
    fn forged_headers_and_bodies_are_rejected() {
        let pem = generate_pem(Alg::HS256).expect("gen");
        let signer = TokenSigner::new(SigningKey::from_pem(pem.as_bytes()).expect("load"));
        let kid = signer.key().kid().to_owned();
        let t = String::from_utf8(token(&signer)).expect("ASCII");
        let keys = [SigningKey::from_pem(pem.as_bytes()).expect("load")];
        let parts: Vec<&str> = t.split('.').collect();

        let swapped_claims = [parts[0], &b64(r#"{"sub":"admin"}"#), parts[2]].join(".");
        assert_eq!(
            verify_token(&keys, swapped_claims.as_bytes()),
            Err(VerifyError::BadSignature)
        );
        let alg_none = [
            b64(&format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#)),
            parts[1].to_owned(),
            String::new(),
        ]
        .join(".");
        assert_eq!(
            verify_token(&keys, alg_none.as_bytes()),
            Err(VerifyError::AlgMismatch)
        );
        let plain_jwt = [
            b64(&format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#)),
            parts[1].to_owned(),
            parts[2].to_owned(),
        ]
        .join(".");
        assert_eq!(
            verify_token(&keys, plain_jwt.as_bytes()),
            Err(VerifyError::Malformed)
        );
        for junk in [
            &b""[..],
            b"a.b",
            b"a.b.c.d",
            b"!!.!!.!!",
            &[b'a'; TOKEN_BYTES_MAX + 1],
        ] {
            assert_eq!(verify_token(&keys, junk), Err(VerifyError::Malformed));
        }
        let mut flipped = t.into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify_token(&keys, &flipped),
            Err(VerifyError::BadSignature)
        );
    }
}
