//! The hot path: one RFC 9068 access token, written and signed into a reused buffer.
//!
//! A token is `b64(header) "." b64(claims) "." b64(signature)`. The header depends only on
//! the key, so its base64 is computed once in `TokenSigner::new`; per token we write the
//! claims JSON, base64 it, sign, and base64 the signature, all inside the caller's buffer.

pub use super::claims::AccessClaims;
pub use super::jti::JtiGenerator;
pub use super::keys::SignError;

use super::b64::{append_b64url, b64url_len};
use super::claims::{write_claims_json, write_json_str};
use super::keys::SigningKey;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signs access tokens with one key; each shard builds its own at start-up (the key holds
/// jsonwebtoken's signer, which is neither `Send` nor `Sync`).
pub struct TokenSigner {
    key: SigningKey,
    /// `base64url({"alg":…,"typ":"at+jwt","kid":…})` followed by the `.` separator.
    header_b64_dot: Box<[u8]>,
}

impl TokenSigner {
    /// Precompute the protected header for `key`.
    pub fn new(key: SigningKey) -> TokenSigner {
        let mut header = Vec::with_capacity(128);
        header.extend_from_slice(b"{\"alg\":");
        write_json_str(&mut header, key.alg().as_str());
        header.extend_from_slice(b",\"typ\":\"at+jwt\",\"kid\":");
        write_json_str(&mut header, key.kid());
        header.push(b'}');
        let mut header_b64_dot = URL_SAFE_NO_PAD.encode(&header).into_bytes();
        header_b64_dot.push(b'.');
        TokenSigner {
            key,
            header_b64_dot: header_b64_dot.into_boxed_slice(),
        }
    }

    /// The key this signer uses (for its `kid`, `alg` and JWK).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Append `header.claims.signature` to `out`.
    ///
    /// `out` is meant to be a buffer reused across requests: nothing here allocates once it
    /// has grown to fit a token plus its claims JSON (used as scratch space past the end and
    /// truncated away), apart from the signature's own `Vec` (jsonwebtoken's signer returns
    /// one) and what aws-lc does inside the signature. On error `out` is
    /// restored to its original length.
    pub fn sign_into(&self, claims: &AccessClaims<'_>, out: &mut Vec<u8>) -> Result<(), SignError> {
        let token_start = out.len();
        let result = self.write_token(claims, out, token_start);
        if result.is_err() {
            out.truncate(token_start);
        }
        result
    }

    fn write_token(
        &self,
        claims: &AccessClaims<'_>,
        out: &mut Vec<u8>,
        token_start: usize,
    ) -> Result<(), SignError> {
        out.extend_from_slice(&self.header_b64_dot);
        append_claims_b64(claims, out)?;
        let signature = self.key.sign(&out[token_start..])?;
        out.push(b'.');
        if append_b64url(out, &signature) {
            Ok(())
        } else {
            Err(SignError::Encoding)
        }
    }
}

/// Append base64url(claims JSON) to `out`. The JSON is written past the end of `out` as
/// scratch, encoded behind itself, and the encoding moved down over it: no second buffer.
fn append_claims_b64(claims: &AccessClaims<'_>, out: &mut Vec<u8>) -> Result<(), SignError> {
    let json_start = out.len();
    write_claims_json(claims, out);
    let json_len = out.len() - json_start;
    let encoded_start = json_start + json_len;
    let encoded_len = b64url_len(json_len);
    out.resize(encoded_start + encoded_len, 0);
    let (json, encoded) = out[json_start..].split_at_mut(json_len);
    match URL_SAFE_NO_PAD.encode_slice(&*json, encoded) {
        Ok(written) if written == encoded_len => {}
        _ => return Err(SignError::Encoding),
    }
    out.copy_within(encoded_start..encoded_start + encoded_len, json_start);
    out.truncate(json_start + encoded_len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::claims::Audience;
    use crate::jwt::generate::generate_pem;
    use crate::jwt::keys::{Alg, HS256_PEM_LABEL};
    use crate::jwt::pem;
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};

    const ISS: &str = "https://auth.example.test";
    const AUD: &str = "https://api.example.test";

    fn now() -> u64 {
        crate::clock::unix_now_s()
    }

    fn claims<'a>(sub: &'a str, scope: &'a str, jti: &'a str) -> AccessClaims<'a> {
        let iat = now();
        AccessClaims {
            iss: ISS,
            sub,
            aud: Audience::One(AUD),
            iat,
            exp: iat + 3600,
            jti,
            scope,
            cnf_x5t_s256: None,
            cnf_jkt: None,
            extra: "",
        }
    }

    /// How a resource server verifies: HS256 with the shared secret, everything else with
    /// the JWK published in the JWKS.
    fn decoding_key(key_pem: &[u8], signer: &TokenSigner) -> DecodingKey {
        match signer.key().public_jwk() {
            Some(jwk) => {
                let jwk: Jwk = serde_json::from_value(jwk.clone()).expect("JWK parses");
                DecodingKey::from_jwk(&jwk).expect("usable JWK")
            }
            None => {
                let block = pem::decode_key_block(key_pem).expect("PEM");
                assert_eq!(block.label, HS256_PEM_LABEL);
                DecodingKey::from_secret(&block.der)
            }
        }
    }

    /// Sign into a buffer that already holds bytes, then verify with jsonwebtoken.
    fn sign_and_verify(key_pem: &[u8], claims: &AccessClaims<'_>) -> serde_json::Value {
        let signer = TokenSigner::new(SigningKey::from_pem(key_pem).expect("key loads"));
        let alg = signer.key().alg();
        let mut out = b"HTTP prefix ".to_vec();
        signer.sign_into(claims, &mut out).expect("signs");
        assert!(out.starts_with(b"HTTP prefix "), "existing bytes kept");
        let token = std::str::from_utf8(&out[12..]).expect("ASCII token");
        assert_eq!(token.split('.').count(), 3);

        let mut validation = Validation::new(alg.to_jsonwebtoken());
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &decoding_key(key_pem, &signer),
            &validation,
        )
        .unwrap_or_else(|e| panic!("{alg}: token does not verify: {e}"));
        assert_eq!(data.header.alg, alg.to_jsonwebtoken());
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.header.kid.as_deref(), Some(signer.key().kid()));
        data.claims
    }

    #[test]
    fn every_alg_round_trips_through_jsonwebtoken_decode() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let pem = generate_pem(alg).expect("generate");
            let c = claims(
                "svc-a",
                "read write",
                "0190a5c4-1234-7abc-8def-0123456789ab",
            );
            let got = sign_and_verify(pem.as_bytes(), &c);
            let want = serde_json::json!({
                "iss": ISS, "sub": "svc-a", "client_id": "svc-a", "aud": AUD,
                "iat": c.iat, "exp": c.exp, "jti": c.jti, "scope": "read write",
            });
            assert_eq!(got, want, "{alg}");
        }
    }

    #[test]
    fn openssl_generated_keys_sign_verifiable_tokens() {
        for pem in [
            &include_bytes!("testdata/ec_p256_sec1.pem")[..],
            include_bytes!("testdata/ec_p256_pkcs8.pem"),
            include_bytes!("testdata/ed25519_pkcs8.pem"),
            include_bytes!("testdata/rsa2048_pkcs1.pem"),
            include_bytes!("testdata/rsa2048_pkcs8.pem"),
        ] {
            let got = sign_and_verify(pem, &claims("c", "s", "j"));
            assert_eq!(got["sub"], "c");
        }
    }

    #[test]
    fn hostile_strings_are_escaped_and_survive_verification() {
        let pem = generate_pem(Alg::ES256).expect("generate");
        let sub = "evil\",\"scope\":\"admin";
        let scope = "a\\b \"q\" \n\t\u{1}\u{1f} ünï";
        let got = sign_and_verify(pem.as_bytes(), &claims(sub, scope, "j"));
        assert_eq!(got["sub"], sub);
        assert_eq!(got["client_id"], sub);
        assert_eq!(got["scope"], scope);
    }

    #[test]
    fn hs256_signature_matches_jsonwebtoken_for_the_same_input() {
        let pem = generate_pem(Alg::HS256).expect("generate");
        let secret = pem::decode_key_block(pem.as_bytes()).expect("PEM").der;
        let signer = TokenSigner::new(SigningKey::from_pem(pem.as_bytes()).expect("load"));
        let mut out = Vec::new();
        signer
            .sign_into(&claims("c", "s", "j"), &mut out)
            .expect("signs");
        let token = std::str::from_utf8(&out).expect("ASCII");
        let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
        let expected = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
            jsonwebtoken::Algorithm::HS256,
        )
        .expect("jsonwebtoken signs");
        assert_eq!(signature, expected);
    }

    #[test]
    fn reused_buffer_holds_back_to_back_tokens() {
        let signer = TokenSigner::new(
            SigningKey::from_pem(generate_pem(Alg::EdDSA).expect("gen").as_bytes()).expect("load"),
        );
        let mut out = Vec::new();
        signer
            .sign_into(&claims("a", "s", "1"), &mut out)
            .expect("signs");
        let first = out.clone();
        out.push(b'\n');
        signer
            .sign_into(&claims("a", "s", "1"), &mut out)
            .expect("signs");
        let (a, b) = out.split_at(first.len());
        assert_eq!(a, &first[..]);
        // Ed25519 is deterministic: same claims, same token.
        assert_eq!(&b[1..], &first[..]);
        let capacity = out.capacity();
        out.clear();
        signer
            .sign_into(&claims("a", "s", "1"), &mut out)
            .expect("signs");
        assert_eq!(out.capacity(), capacity, "no regrowth once warmed up");
    }
}
