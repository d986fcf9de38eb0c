//! The public side of our keys: each asymmetric key's JWK (RFC 7517) with its RFC 7638
//! thumbprint as `kid`, and the JWKS document (RFC 7517 §5) served at
//! `/.well-known/jwks.json`.

use aws_lc_rs::digest;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

use super::alg::Alg;
use super::b64::b64;

/// The required JWK members of a key (RFC 7638 §3.2), already in lexicographic order.
pub(crate) type JwkMembers = Vec<(&'static str, String)>;

pub(crate) fn ec_members(pair: &EcdsaKeyPair) -> JwkMembers {
    // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes); aws-lc guarantees this
    // form for P-256 key pairs it accepted.
    let point = pair.public_key().as_ref();
    debug_assert_eq!(point.len(), 65);
    let (x, y) = point[1..].split_at(32);
    vec![
        ("crv", "P-256".to_owned()),
        ("kty", "EC".to_owned()),
        ("x", b64(x)),
        ("y", b64(y)),
    ]
}

pub(crate) fn okp_members(pair: &Ed25519KeyPair) -> JwkMembers {
    vec![
        ("crv", "Ed25519".to_owned()),
        ("kty", "OKP".to_owned()),
        ("x", b64(pair.public_key().as_ref())),
    ]
}

pub(crate) fn rsa_members(pair: &RsaKeyPair) -> JwkMembers {
    let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    vec![
        ("e", b64(&components.e)),
        ("kty", "RSA".to_owned()),
        ("n", b64(&components.n)),
    ]
}

/// RFC 7638 thumbprint: SHA-256 over the required members, sorted, no whitespace.
/// Member values here are base64url or fixed names, so they need no JSON escaping.
pub(crate) fn thumbprint(members: &[(&'static str, String)]) -> String {
    debug_assert!(members.windows(2).all(|w| w[0].0 < w[1].0));
    let mut canonical = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":\"");
        canonical.push_str(value);
        canonical.push('"');
    }
    canonical.push('}');
    b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

/// The public JWK of a key with these members (`kty`, `crv`/`x`/`y` or `n`/`e`, `alg`,
/// `use: "sig"`, `kid`), and its `kid`: the thumbprint, so every instance loading the same
/// key derives the same one, and anyone can recompute it from the JWKS.
pub(crate) fn public_jwk(alg: Alg, members: JwkMembers) -> (String, serde_json::Value) {
    let kid = thumbprint(&members);
    let mut jwk = serde_json::Map::new();
    for (name, value) in members {
        jwk.insert(name.to_owned(), serde_json::Value::String(value));
    }
    jwk.insert("alg".to_owned(), alg.as_str().into());
    jwk.insert("use".to_owned(), "sig".into());
    jwk.insert("kid".to_owned(), kid.clone().into());
    (kid, serde_json::Value::Object(jwk))
}

/// The JWKS document `{"keys":[...]}` of these public JWKs, in order (HS256 keys have none,
/// and are never published).
///
/// Built at start-up and on each SIGHUP key reload, and the bytes served as-is. Every loaded
/// key is published, not only the one that signs, so tokens signed before a rotation keep
/// verifying.
pub fn jwks_json<'a>(jwks: impl IntoIterator<Item = &'a serde_json::Value>) -> Vec<u8> {
    let published: Vec<&serde_json::Value> = jwks.into_iter().collect();
    let document = serde_json::json!({ "keys": published });
    // Serializing a `Value` into memory cannot fail: its map keys are strings and writing to
    // a `Vec` never errors.
    serde_json::to_vec(&document).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;

    /// RFC 7638 §3.1: the thumbprint of the RFC 7517 Appendix A.1 RSA key.
    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![
            ("e", "AQAB".to_owned()),
            ("kty", "RSA".to_owned()),
            ("n", n.to_owned()),
        ];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn publishes_every_key_in_order_as_a_jwk_set() {
        let rng = SystemRandom::new();
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
            .unwrap();
        let (ec_kid, ec_jwk) = public_jwk(Alg::ES256, ec_members(&ec));
        let (ed_kid, ed_jwk) = public_jwk(Alg::EdDSA, okp_members(&ed));
        let bytes = jwks_json([&ec_jwk, &ed_jwk]);
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        let published = doc["keys"].as_array().expect("keys array");
        assert_eq!(published.len(), 2);
        assert_eq!(published[0]["kid"], ec_kid.as_str());
        assert_eq!(published[1]["kid"], ed_kid.as_str());
        assert!(
            !String::from_utf8(bytes).unwrap().contains("\"d\""),
            "no private members"
        );
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(doc).expect("a JWK set");
        assert!(set.find(&ed_kid).is_some());
    }

    #[test]
    fn empty_set_is_still_a_document() {
        assert_eq!(jwks_json([]), b"{\"keys\":[]}");
    }
}
