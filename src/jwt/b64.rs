//! Unpadded base64url (RFC 7515 §2), the encoding of every part of a JWS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `bytes` as unpadded base64url.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Append the unpadded base64url encoding of `bytes` to `out` without a temporary; false
/// (with `out` holding an incomplete encoding) if that ever went wrong.
#[must_use]
pub(crate) fn append_b64url(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let start = out.len();
    let encoded_len = b64url_len(bytes.len());
    out.resize(start + encoded_len, 0);
    // The destination is exactly the encoded length, so this cannot fail; if it ever did,
    // an error beats a silently truncated token.
    matches!(URL_SAFE_NO_PAD.encode_slice(bytes, &mut out[start..]), Ok(written) if written == encoded_len)
}

/// Length of unpadded base64 for `n` input bytes: ceil(4n / 3).
pub(crate) const fn b64url_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}
