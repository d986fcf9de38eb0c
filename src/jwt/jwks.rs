//! The JWKS document (RFC 7517 §5) served at `/.well-known/jwks.json`.

use super::keys::SigningKey;

/// The JWKS document `{"keys":[...]}` for a set of keys; HS256 keys are never published.
///
/// Built at start-up and on each SIGHUP key reload, and the bytes served as-is. Every loaded
/// key is published, not only the one that signs, so tokens signed before a rotation keep
/// verifying.
pub fn jwks_json(keys: &[SigningKey]) -> Vec<u8> {
    let published: Vec<&serde_json::Value> = keys.iter().filter_map(|k| k.public_jwk()).collect();
    let document = serde_json::json!({ "keys": published });
    // Serializing a `Value` into memory cannot fail: its map keys are strings and writing to
    // a `Vec` never errors.
    serde_json::to_vec(&document).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::keys::{Alg, generate_pem};

    fn key(alg: Alg) -> SigningKey {
        SigningKey::from_pem(generate_pem(alg).expect("generate").as_bytes()).expect("load")
    }

    #[test]
    fn publishes_asymmetric_keys_only_in_order() {
        let keys = [key(Alg::ES256), key(Alg::HS256), key(Alg::EdDSA)];
        let doc: serde_json::Value = serde_json::from_slice(&jwks_json(&keys)).expect("valid JSON");
        let published = doc["keys"].as_array().expect("keys array");
        assert_eq!(published.len(), 2);
        assert_eq!(published[0]["kid"], keys[0].kid());
        assert_eq!(published[1]["kid"], keys[2].kid());
        let text = String::from_utf8(jwks_json(&keys)).expect("UTF-8");
        assert!(
            !text.contains(keys[1].kid()),
            "HS256 key must not be published"
        );
        assert!(!text.contains("\"d\""), "no private members");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(doc).expect("a JWK set");
        assert!(set.find(keys[2].kid()).is_some());
    }

    #[test]
    fn empty_set_is_still_a_document() {
        assert_eq!(jwks_json(&[]), b"{\"keys\":[]}");
        assert_eq!(jwks_json(&[key(Alg::HS256)]), b"{\"keys\":[]}");
    }
}
