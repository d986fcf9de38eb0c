//! The hot path: one RFC 9068 access token, written and signed into a reused buffer.
//!
//! A token is `b64(header) "." b64(claims) "." b64(signature)`. The header depends only on
//! the key, so its base64 is computed once in `TokenSigner::new`; per token we write the
//! claims JSON, base64 it, sign, and base64 the signature, all inside the caller's buffer.

pub use super::claims::AccessClaims;
pub use super::jti::JtiGenerator;
pub use super::keys::SignError;

use super::claims::{write_claims_json, write_json_str};
use super::keys::{SigningKey, append_b64url, b64url_len};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signs access tokens with one key; build once at start-up and share (it is `Sync`).
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
    /// truncated away), apart from what aws-lc does inside the signature. On error `out` is
    /// restored to its original length.
    pub fn sign_into(&self, claims: &AccessClaims<'_>, out: &mut Vec<u8>) -> Result<(), SignError> {
        let token_start = out.len();
        out.extend_from_slice(&self.header_b64_dot);

        // Claims JSON goes past the end as scratch, then is base64'd behind it and moved down.
        let json_start = out.len();
        write_claims_json(claims, out);
        let json_len = out.len() - json_start;
        let encoded_len = b64url_len(json_len);
        out.resize(json_start + json_len + encoded_len, 0);
        let (json_part, encoded_part) = out[json_start..].split_at_mut(json_len);
        let written = URL_SAFE_NO_PAD
            .encode_slice(&*json_part, encoded_part)
            .unwrap_or(0);
        debug_assert_eq!(written, encoded_len);
        out.copy_within(
            json_start + json_len..json_start + json_len + written,
            json_start,
        );
        out.truncate(json_start + written);

        match self.key.sign(&out[token_start..]) {
            Ok(signature) => {
                out.push(b'.');
                append_b64url(out, signature.as_ref());
                Ok(())
            }
            Err(e) => {
                out.truncate(token_start);
                Err(e)
            }
        }
    }
}
