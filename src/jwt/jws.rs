//! Compact JWS (RFC 7515 §7.1) signed by others: client assertions, workload tokens and DPoP
//! proofs. `Jws::parse` splits and decodes a token and checks its header, without trusting
//! it: the header's `alg` must be a [`VerifyAlg`] (never `none` or HMAC), a `crit` header is
//! refused (we implement no extension), and whoever verifies picks the key and checks that
//! the key accepts this `alg` ([`PublicJwk::verify`]).
//!
//! Per token request: three base64 decodes into small `Vec`s and the header's strings; the
//! claims stay JSON text for the caller's own typed parse. The signature check (20-60 µs)
//! is what costs.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};

use super::public_key::{PublicJwk, VerifyAlg};
pub use crate::limits::JWS_BYTES_MAX;

/// The JOSE header members we read; others are ignored (but see `crit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseHeader {
    /// The signing algorithm; only those we verify parse.
    pub alg: VerifyAlg,
    /// The token type (`dpop+jwt` for DPoP proofs), as sent.
    pub typ: Option<String>,
    /// Which of the issuer's keys signed.
    pub kid: Option<String>,
    /// The signer's public key itself (DPoP), as sent: parse it with `PublicJwk::from_json`.
    pub jwk: Option<serde_json::Value>,
}

/// A compact JWS whose header is checked and whose signature is not yet.
#[derive(Debug)]
pub struct Jws<'a> {
    pub header: JoseHeader,
    /// The decoded payload. It opens as a JSON object (JWT claims must be one); the rest is
    /// the caller's to parse, into its own typed claims.
    pub claims_json: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`, what the signature covers.
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

/// Why a token is not a compact JWS we could verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsError {
    /// Longer than `JWS_BYTES_MAX`.
    TooLarge,
    /// Not three unpadded base64url parts, or a header or payload that is not a JSON object
    /// of the right shape.
    Malformed,
    /// An `alg` other than ES256, EdDSA, RS256 and PS256 (`none` and HMAC included).
    UnsupportedAlg,
    /// A `crit` header: an extension we do not implement (RFC 7515 §4.1.11).
    CriticalHeader,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwsError::TooLarge => "JWS too large",
            JwsError::Malformed => "malformed JWS",
            JwsError::UnsupportedAlg => "unsupported JWS alg",
            JwsError::CriticalHeader => "JWS with a crit header",
        })
    }
}

impl std::error::Error for JwsError {}

/// The header as sent. Duplicate members among these are a serde error, so a header
/// cannot say `alg` twice and be read two ways.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    crit: Present,
}

/// Whether a member is there at all, whatever its value (`"crit": null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Present, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Present(true))
    }
}

impl<'a> Jws<'a> {
    /// Split and decode `token` and check its header; the size is checked first.
    pub fn parse(token: &'a [u8]) -> Result<Jws<'a>, JwsError> {
        if token.len() > JWS_BYTES_MAX {
            return Err(JwsError::TooLarge);
        }
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let header = parse_header(&decode(header_b64)?)?;
        let claims_json = decode(claims_b64)?;
        if !is_json_object(&claims_json) {
            return Err(JwsError::Malformed);
        }
        let signature = decode(signature_b64)?;
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        Ok(Jws {
            header,
            claims_json,
            signing_input,
            signature,
        })
    }

    /// The header's algorithm.
    pub fn alg(&self) -> VerifyAlg {
        self.header.alg
    }

    /// Does the signature verify with `key` under the header's `alg`? False if the key does
    /// not accept that `alg` (another key type, or the JWK names another `alg`).
    pub fn verify(&self, key: &PublicJwk) -> bool {
        key.verify(self.header.alg, self.signing_input, &self.signature)
    }
}

fn decode(part: &[u8]) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwsError::Malformed)
}

/// Does `json` open as an object? serde would also read a struct from a JSON array, which
/// RFC 7515 §4 does not allow for a header (nor RFC 7519 §7.2 for claims).
fn is_json_object(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

fn parse_header(json: &[u8]) -> Result<JoseHeader, JwsError> {
    if !is_json_object(json) {
        return Err(JwsError::Malformed);
    }
    let raw: RawHeader = serde_json::from_slice(json).map_err(|_| JwsError::Malformed)?;
    if raw.crit.0 {
        return Err(JwsError::CriticalHeader);
    }
    let alg = raw
        .alg
        .parse::<VerifyAlg>()
        .map_err(|_| JwsError::UnsupportedAlg)?;
    Ok(JoseHeader {
        alg,
        typ: raw.typ,
        kid: raw.kid,
        jwk: raw.jwk,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jwt::test_keys::{TestKey, base64url, signing_input};

    fn key_of(signer: &TestKey) -> PublicJwk {
        PublicJwk::from_json(&signer.jwk()).expect("public JWK")
    }

    /// A token of these header and claims bytes and this signature, assembled by hand.
    fn assembled(header: &[u8], claims: &[u8], signature: &[u8]) -> String {
        [base64url(header), base64url(claims), base64url(signature)].join(".")
    }

    fn claims() -> Value {
        json!({"iss": "svc", "sub": "svc", "exp": 1_700_000_300})
    }

    #[test]
    fn tokens_of_every_alg_parse_and_verify_with_their_key_only() {
        let stranger = TestKey::generate("ES256");
        for alg in VerifyAlg::ALL {
            let signer = TestKey::generate(alg.as_str());
            let header = json!({"alg": alg.as_str(), "typ": "JWT", "kid": "k1", "x": 1});
            let token = signer.token(&header, &claims());
            let jws = Jws::parse(token.as_bytes()).expect("parses");
            assert_eq!(jws.alg(), alg);
            assert_eq!(jws.header.typ.as_deref(), Some("JWT"));
            assert_eq!(jws.header.kid.as_deref(), Some("k1"));
            assert_eq!(jws.header.jwk, None);
            let parsed: Value = serde_json::from_slice(&jws.claims_json).expect("JSON");
            assert_eq!(parsed, claims());
            assert!(jws.verify(&key_of(&signer)), "{alg}");
            assert!(!jws.verify(&key_of(&stranger)), "{alg}");
        }
    }

    /// An independent signer: jsonwebtoken's aws-lc backend, with edgeauth's generated keys
    /// and their published JWKs (without `alg`, so one RSA key serves RS256 and PS256).
    #[test]
    fn tokens_signed_by_jsonwebtoken_verify() {
        use crate::jwt::{Alg, SigningKey, generate_pem};
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let cases = [
            (Alg::ES256, Algorithm::ES256, VerifyAlg::ES256),
            (Alg::EdDSA, Algorithm::EdDSA, VerifyAlg::EdDSA),
            (Alg::RS256, Algorithm::RS256, VerifyAlg::RS256),
            (Alg::RS256, Algorithm::PS256, VerifyAlg::PS256),
        ];
        for (ours, theirs, alg) in cases {
            let pem = generate_pem(ours).expect("generate");
            let encoding_key = match ours {
                Alg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
                Alg::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
                _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
            }
            .expect("jsonwebtoken reads the key");
            let token = jsonwebtoken::encode(&Header::new(theirs), &claims(), &encoding_key)
                .expect("signs");
            let mut jwk = SigningKey::from_pem(pem.as_bytes())
                .expect("loads")
                .public_jwk()
                .expect("asymmetric")
                .clone();
            jwk.as_object_mut().expect("object").remove("alg");
            let jws = Jws::parse(token.as_bytes()).expect("parses");
            assert_eq!(jws.alg(), alg);
            assert!(
                jws.verify(&PublicJwk::from_json(&jwk).expect("JWK")),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_changed_payload_or_signature_does_not_verify() {
        let signer = TestKey::generate("EdDSA");
        let token = signer.token(&json!({"alg": "EdDSA"}), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let other_claims = base64url(br#"{"iss":"admin"}"#);
        let swapped = [parts[0], &other_claims, parts[2]].join(".");
        let jws = Jws::parse(swapped.as_bytes()).expect("parses");
        assert!(!jws.verify(&key_of(&signer)));
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[0] ^= 0x80;
        let flipped = [parts[0], parts[1], &base64url(&signature)].join(".");
        assert!(
            !Jws::parse(flipped.as_bytes())
                .unwrap()
                .verify(&key_of(&signer))
        );
    }

    #[test]
    fn alg_none_hmac_and_unknown_algs_are_refused() {
        let body = serde_json::to_vec(&claims()).unwrap();
        for alg in [
            "none", "HS256", "HS384", "HS512", "ES384", "RSA-OAEP", "es256",
        ] {
            let header = format!(r#"{{"alg":"{alg}"}}"#);
            let token = assembled(header.as_bytes(), &body, b"");
            assert_eq!(
                Jws::parse(token.as_bytes()).err(),
                Some(JwsError::UnsupportedAlg),
                "{alg}"
            );
        }
        // The confusion attack: HS256 "signed" with the RSA public key as the secret.
        let rsa = TestKey::generate("RS256");
        let input = signing_input(&json!({"alg": "HS256"}), &claims());
        let public = rsa.jwk()["n"].as_str().unwrap().to_owned();
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes()),
            input.as_bytes(),
        );
        let forged = [input, base64url(tag.as_ref())].join(".");
        assert_eq!(
            Jws::parse(forged.as_bytes()).err(),
            Some(JwsError::UnsupportedAlg)
        );
    }

    #[test]
    fn an_alg_that_does_not_fit_the_key_does_not_verify() {
        // An EC key's signature under an RS256 header: the EC key does not take RS256.
        let ec = TestKey::generate("ES256").signing_as("RS256");
        let token = ec.token(&json!({"alg": "RS256"}), &claims());
        let jws = Jws::parse(token.as_bytes()).expect("parses");
        assert_eq!(jws.alg(), VerifyAlg::RS256);
        assert!(!jws.verify(&key_of(&ec)));
        // A PS256 token against a JWK that says RS256 only.
        let pss = TestKey::generate("PS256");
        let token = pss.token(&json!({"alg": "PS256"}), &claims());
        let jws = Jws::parse(token.as_bytes()).expect("parses");
        let mut rs256_only = pss.jwk();
        rs256_only["alg"] = "RS256".into();
        assert!(!jws.verify(&PublicJwk::from_json(&rs256_only).expect("public JWK")));
        assert!(jws.verify(&key_of(&pss)));
    }

    #[test]
    fn crit_headers_are_refused() {
        let signer = TestKey::generate("ES256");
        for crit in [json!(["exp"]), json!([]), json!(null)] {
            let header = json!({"alg": "ES256", "crit": crit, "exp": 5});
            let token = signer.token(&header, &claims());
            assert_eq!(
                Jws::parse(token.as_bytes()).err(),
                Some(JwsError::CriticalHeader),
                "crit: {crit}"
            );
        }
    }

    #[test]
    fn the_header_jwk_is_kept_as_sent() {
        let signer = TestKey::generate("ES256");
        let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": signer.jwk()});
        let token = signer.token(&header, &claims());
        let jws = Jws::parse(token.as_bytes()).expect("parses");
        assert_eq!(jws.header.jwk, Some(signer.jwk()));
    }

    #[test]
    fn oversize_tokens_are_refused_before_decoding() {
        let huge = vec![b'!'; JWS_BYTES_MAX + 1];
        assert_eq!(Jws::parse(&huge).err(), Some(JwsError::TooLarge));
        let at_the_bound = vec![b'!'; JWS_BYTES_MAX];
        assert_eq!(Jws::parse(&at_the_bound).err(), Some(JwsError::Malformed));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let signer = TestKey::generate("ES256");
        let token = signer.token(&json!({"alg": "ES256"}), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let body = serde_json::to_vec(&claims()).unwrap();
        let header = br#"{"alg":"ES256"}"#;
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            (parts[..2].join("."), "two parts"),
            ([&token, "AAAA"].join("."), "four parts"),
            (
                [parts[0], parts[1], &format!("{}=", parts[2])].join("."),
                "padding",
            ),
            ([parts[0], " ", parts[2]].join("."), "space"),
            (
                [&format!("{}+", parts[0]), parts[1], parts[2]].join("."),
                "not url-safe",
            ),
            (assembled(b"{\"alg\":", &body, b"s"), "header not JSON"),
            (assembled(br#"["ES256"]"#, &body, b"s"), "header an array"),
            (assembled(br#"{"typ":"JWT"}"#, &body, b"s"), "no alg"),
            (
                assembled(br#"{"alg":256}"#, &body, b"s"),
                "alg not a string",
            ),
            (
                assembled(br#"{"alg":"ES256","typ":1}"#, &body, b"s"),
                "typ not a string",
            ),
            (
                assembled(br#"{"alg":"ES256","alg":"none"}"#, &body, b"s"),
                "two algs",
            ),
            (assembled(header, br#"["svc"]"#, b"s"), "claims an array"),
            (assembled(header, b"svc", b"s"), "claims not JSON"),
            (assembled(header, b"", b"s"), "no claims"),
        ];
        for (token, why) in cases {
            assert_eq!(
                Jws::parse(token.as_bytes()).err(),
                Some(JwsError::Malformed),
                "{why}"
            );
        }
    }
}
