//! The JWKS document (RFC 7517 §5) served at `/.well-known/jwks.json`.

use super::keys::SigningKey;

/// The JWKS document `{"keys":[...]}` for a set of keys; HS256 keys are never published.
///
/// Built once at start-up, and the bytes served as-is. Every loaded key is published, not
/// only the one that signs, so tokens signed before a rotation keep verifying.
pub fn jwks_json(keys: &[SigningKey]) -> Vec<u8> {
    let published: Vec<&serde_json::Value> = keys.iter().filter_map(|k| k.public_jwk()).collect();
    let document = serde_json::json!({ "keys": published });
    // Serializing a `Value` into memory cannot fail: its map keys are strings and writing to
    // a `Vec` never errors.
    serde_json::to_vec(&document).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec())
}
