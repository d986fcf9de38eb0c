//! Signing keys: load PEM files, detect the algorithm, derive the `kid` and the public JWK
//! (`jwks`), sign and verify. Generating keys is `generate`.
//!
//! What signs: jsonwebtoken (the design's JWT crate). Each `SigningKey` holds the signer that
//! jsonwebtoken's aws-lc `CryptoProvider::signer_factory` builds, once, when the key loads;
//! per token we call its `try_sign` on the signing input: `jsonwebtoken::encode` would parse
//! the key again for every token, which roughly doubles the cost of EdDSA and ES256. The price
//! of going through jsonwebtoken is one `Vec` per signature, and for RS256 much more: its
//! aws-lc RSA signer keeps the DER and parses (and validates) the key on every signature, so
//! RS256 costs about three times what a pre-parsed aws-lc key would (docs/MEASUREMENTS.md).
//! RS256 is only for legacy verifiers; ES256 (the default), EdDSA and HS256 cost the same as
//! with aws-lc directly.
//!
//! aws-lc still does what jsonwebtoken does not: it parses the key once at load (detects the
//! algorithm, accepts SEC1 EC and PKCS#1 RSA files, checks sizes), converts it to the DER
//! jsonwebtoken's signer expects, derives the JWK and `kid`, generates keys, and verifies
//! (`SigningKey::verify`, for introspection). A load-time self-test signs with jsonwebtoken's
//! signer and verifies with the published public key, so the two can never disagree.
//! Tests verify tokens with jsonwebtoken's `decode`, using the published JWK, as a resource
//! server would.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    ParsedPublicKey, RsaKeyPair,
};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;

pub use super::alg::{Alg, UnknownAlg};
use super::b64::b64;
use super::jwks::{self, ec_members, okp_members, rsa_members};
use super::pem;

/// PEM label of our HS256 key files (the format is ours: no standard exists for raw secrets).
pub const HS256_PEM_LABEL: &str = "EDGEAUTH HS256 KEY";
/// Smallest HS256 secret we accept: RFC 7518 §3.2 requires a key at least as long as the hash.
pub const HS256_SECRET_BYTES_MIN: usize = 32;
/// Size of secrets `generate_pem(Alg::HS256)` creates.
pub const HS256_SECRET_BYTES_GENERATED: usize = 32;
/// Smallest RSA modulus we accept (RFC 7518 §3.3: 2048 bits or larger).
pub const RSA_MODULUS_BITS_MIN: usize = 2048;
/// Largest RSA modulus we accept (aws-lc's upper bound for RSA signing keys).
pub const RSA_MODULUS_BITS_MAX: usize = 8192;
/// What the load-time self-test signs (see `SigningKey::from_pem`).
const SELF_TEST_MESSAGE: &[u8] = b"edgeauth signing key self-test";
/// Domain separator hashed in front of an HS256 secret to form its `kid` (see `hs256_kid`).
const HS256_KID_CONTEXT: &[u8] = b"edgeauth hs256 kid v1\0";

/// A JWS signing algorithm edgeauth can issue tokens with.
/// Why a key could not be loaded or generated. Never contains key material.
#[derive(Debug)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not a PEM file we can read.
    Pem(String),
    /// The PEM holds a key we do not sign with (wrong type, curve or size), or a broken one.
    Unsupported(String),
    /// aws-lc failed to generate a key (entropy failure; not expected in practice).
    Generate(Alg),
}

impl KeyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> KeyError {
        KeyError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn unsupported(what: impl Into<String>) -> KeyError {
        KeyError::Unsupported(what.into())
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io { path, source } => write!(f, "key file {}: {source}", path.display()),
            KeyError::Pem(why) => write!(f, "not a PEM key: {why}"),
            KeyError::Unsupported(why) => write!(f, "unsupported signing key: {why}"),
            KeyError::Generate(alg) => write!(f, "could not generate a {alg} key"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Signing failed. Not expected with a key that loaded (and passed its self-test); a plain
/// enum because it is returned on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// jsonwebtoken's signer (aws-lc underneath) reported an error while signing.
    Crypto,
    /// base64 encoding did not produce the expected length (a bug, never bad input).
    Encoding,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignError::Crypto => "signing failed in the crypto library",
            SignError::Encoding => "base64 encoding of a token part failed",
        })
    }
}

impl std::error::Error for SignError {}

/// The private key as aws-lc parsed it at load time: checked, and used to derive the JWK,
/// the verification key and the DER handed to jsonwebtoken. Dropped once the key is loaded.
enum Parsed {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
    /// The secret itself is the PEM block's bytes.
    Hs256,
}

/// How `SigningKey::verify` checks a signature: parsed once, at load time.
enum Verifier {
    Public(ParsedPublicKey),
    // Boxed: aws-lc's HMAC key holds a 1.2 KB precomputed context.
    Hmac(Box<hmac::Key>),
}

/// One signing key: its algorithm, `kid`, jsonwebtoken's signer, and its public JWK.
///
/// Not `Send`: jsonwebtoken's signer is a `Box<dyn JwtSigner>` without `Send`/`Sync` bounds.
/// Each shard loads its own from the PEM bytes; keys are immutable after loading.
pub struct SigningKey {
    alg: Alg,
    /// RFC 7638 thumbprint (asymmetric keys) or a domain-separated hash (HS256), see `kid()`.
    kid: String,
    /// jsonwebtoken's signer for this key, built once by its aws-lc crypto provider.
    signer: Box<dyn JwtSigner>,
    verifier: Verifier,
    /// What `/.well-known/jwks.json` publishes; `None` for HS256, whose key is secret.
    public_jwk: Option<serde_json::Value>,
}

impl fmt::Debug for SigningKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a PEM file. ES256: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY` on P-256;
    /// EdDSA: PKCS#8 Ed25519; RS256: PKCS#8 or PKCS#1 `RSA PRIVATE KEY`, >= 2048 bits;
    /// HS256: `-----BEGIN EDGEAUTH HS256 KEY-----` + base64 of >= 32 bytes.
    /// The algorithm is detected from the key itself, so a config names files, not algs.
    pub fn from_pem_file(path: &Path) -> Result<SigningKey, KeyError> {
        let pem = std::fs::read(path).map_err(|e| KeyError::io(path, e))?;
        SigningKey::from_pem(&pem).map_err(|e| match e {
            KeyError::Pem(why) => KeyError::Pem(format!("{}: {why}", path.display())),
            KeyError::Unsupported(why) => {
                KeyError::Unsupported(format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// Load a key from PEM bytes; see `from_pem_file` for the accepted forms.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let block = pem::decode_key_block(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        let parsed = match block.label.as_str() {
            "PRIVATE KEY" => parse_pkcs8(&block.der)?,
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &block.der)
                    .map(Parsed::Es256)
                    .map_err(|e| {
                        KeyError::unsupported(format!("EC key is not a valid P-256 key ({e})"))
                    })?
            }
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&block.der)
                .map(Parsed::Rs256)
                .map_err(|e| KeyError::unsupported(format!("invalid RSA key ({e})")))?,
            HS256_PEM_LABEL => parse_hs256(&block.der)?,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(KeyError::unsupported(
                    "encrypted keys are not supported; store the key unencrypted, mode 0600",
                ));
            }
            other => {
                return Err(KeyError::unsupported(format!(
                    "PEM block \"{other}\" is not a private key"
                )));
            }
        };
        check_rsa_size(&parsed)?;
        let key = SigningKey::from_parsed(&parsed, &block)?;
        key.self_test()?;
        Ok(key)
    }

    fn from_parsed(parsed: &Parsed, block: &pem::Block) -> Result<SigningKey, KeyError> {
        let (alg, jwk_members) = match parsed {
            Parsed::Es256(pair) => (Alg::ES256, Some(ec_members(pair))),
            Parsed::EdDsa(pair) => (Alg::EdDSA, Some(okp_members(pair))),
            Parsed::Rs256(pair) => (Alg::RS256, Some(rsa_members(pair))),
            Parsed::Hs256 => (Alg::HS256, None),
        };
        let (kid, public_jwk) = match jwk_members {
            Some(members) => {
                let (kid, jwk) = jwks::public_jwk(alg, members);
                (kid, Some(jwk))
            }
            // For HS256 the block's bytes are the raw secret.
            None => (hs256_kid(&block.der), None),
        };
        let encoding_key = encoding_key(parsed, block)?;
        let signer = (DEFAULT_PROVIDER.signer_factory)(&alg.to_jsonwebtoken(), &encoding_key)
            .map_err(|e| {
                KeyError::unsupported(format!("jsonwebtoken cannot sign with this key ({e})"))
            })?;
        Ok(SigningKey {
            alg,
            kid,
            signer,
            verifier: verifier(parsed, &block.der)?,
            public_jwk,
        })
    }

    /// Sign with jsonwebtoken's signer and verify with the key we publish (or, for HS256, our
    /// own HMAC key). Catches a key jsonwebtoken cannot use (its RSA signer only parses the key
    /// when it signs) and any mismatch between what signs and what the JWKS announces.
    fn self_test(&self) -> Result<(), KeyError> {
        let signature = self.sign(SELF_TEST_MESSAGE).map_err(|e| {
            KeyError::unsupported(format!("{} key failed its self-test: {e}", self.alg))
        })?;
        if self.verify(SELF_TEST_MESSAGE, &signature) {
            Ok(())
        } else {
            Err(KeyError::unsupported(format!(
                "{} key failed its self-test: the signature does not verify",
                self.alg
            )))
        }
    }

    /// The algorithm, detected from the key when it was loaded.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key id put in every token header and in the JWKS.
    ///
    /// Asymmetric keys: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key,
    /// so every instance loading the same key file derives the same `kid` with no
    /// coordination, and anyone can recompute it from the JWKS.
    ///
    /// HS256: there is no public key, and hashing the bare secret would publish a value an
    /// attacker could test guesses against offline. With 256-bit secrets guessing is hopeless
    /// anyway, but we still hash `"edgeauth hs256 kid v1\0" || secret`, so the `kid` can never
    /// equal any other hash of the secret (such as one stored elsewhere) and reveals nothing
    /// beyond "same key or not". It is prefixed `hs256-` so it never collides with a thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, `crv`/`x`/`y` or `n`/`e`, `alg`, `use: "sig"`, `kid`),
    /// or `None` for HS256.
    pub fn public_jwk(&self) -> Option<&serde_json::Value> {
        self.public_jwk.as_ref()
    }

    /// Sign `message` (the JWS signing input, `b64(header) "." b64(claims)`) with
    /// jsonwebtoken's signer, built when the key loaded.
    ///
    /// The hot path: one `Vec` for the signature (jsonwebtoken's `Signer<Vec<u8>>`) plus
    /// aws-lc's own allocations; RS256 also re-parses the key here (see the module doc).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer.try_sign(message).map_err(|_| SignError::Crypto)
    }

    /// Does `signature` (raw bytes, not base64) over `message` verify with this key?
    ///
    /// Used by introspection to check tokens we issued; the public key was parsed once at
    /// load time, and HS256 compares tags in constant time.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Public(public) => public.verify_sig(message, signature).is_ok(),
            Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// The key in the form jsonwebtoken's aws-lc signer parses: PKCS#8 for ES256 (re-encoded by
/// aws-lc, so SEC1 files work too) and EdDSA, PKCS#1 `RSAPrivateKey` for RS256 (extracted by
/// jsonwebtoken's own PEM reader, which takes PKCS#1 and PKCS#8), the raw secret for HS256.
fn encoding_key(parsed: &Parsed, block: &pem::Block) -> Result<EncodingKey, KeyError> {
    match parsed {
        Parsed::Es256(pair) => pair
            .to_pkcs8v1()
            .map(|doc| EncodingKey::from_ec_der(doc.as_ref()))
            .map_err(|_| KeyError::unsupported("EC key cannot be re-encoded as PKCS#8")),
        // jsonwebtoken's signer calls the same `Ed25519KeyPair::from_pkcs8` that accepted it.
        Parsed::EdDsa(_) => Ok(EncodingKey::from_ed_der(&block.der)),
        Parsed::Rs256(_) => EncodingKey::from_rsa_pem(
            pem::encode(&block.label, &block.der).as_bytes(),
        )
        .map_err(|e| KeyError::unsupported(format!("jsonwebtoken cannot read this RSA key ({e})"))),
        Parsed::Hs256 => Ok(EncodingKey::from_secret(&block.der)),
    }
}

/// Parse the public half (or, for HS256, the HMAC key) once, for `SigningKey::verify`.
fn verifier(parsed: &Parsed, der: &[u8]) -> Result<Verifier, KeyError> {
    let public = match parsed {
        Parsed::Es256(pair) => {
            ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        }
        Parsed::EdDsa(pair) => ParsedPublicKey::new(&sig::ED25519, pair.public_key().as_ref()),
        Parsed::Rs256(pair) => {
            ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
        }
        Parsed::Hs256 => {
            return Ok(Verifier::Hmac(Box::new(hmac::Key::new(
                hmac::HMAC_SHA256,
                der,
            ))));
        }
    };
    // aws-lc derived these bytes from a private key it accepted, so they always parse.
    public
        .map(Verifier::Public)
        .map_err(|_| KeyError::unsupported("the public half of the key does not parse"))
}

/// PKCS#8 may hold any of the three asymmetric key types; the algorithm OID inside decides.
fn parse_pkcs8(der: &[u8]) -> Result<Parsed, KeyError> {
    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(Parsed::Es256(pair));
    }
    if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
        return Ok(Parsed::EdDsa(pair));
    }
    match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) => Ok(Parsed::Rs256(pair)),
        Err(e) if contains(der, OID_RSA_ENCRYPTION) => Err(KeyError::unsupported(format!(
            "invalid RSA key ({e}); RS256 needs 2048 to 8192 bits"
        ))),
        Err(_) if contains(der, OID_EC_PUBLIC_KEY) => Err(KeyError::unsupported(
            "EC key is not on P-256 (ES256 is the only ECDSA algorithm we sign with)",
        )),
        Err(_) => Err(KeyError::unsupported(
            "PKCS#8 key is neither P-256 (ES256), Ed25519 (EdDSA) nor RSA (RS256)",
        )),
    }
}

/// DER of OID 1.2.840.113549.1.1.1 (rsaEncryption), only used to word error messages.
const OID_RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
/// DER of OID 1.2.840.10045.2.1 (id-ecPublicKey), only used to word error messages.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn parse_hs256(secret: &[u8]) -> Result<Parsed, KeyError> {
    if secret.len() < HS256_SECRET_BYTES_MIN {
        return Err(KeyError::unsupported(format!(
            "HS256 secret is {} bytes; at least {HS256_SECRET_BYTES_MIN} are required",
            secret.len()
        )));
    }
    Ok(Parsed::Hs256)
}

fn check_rsa_size(parsed: &Parsed) -> Result<(), KeyError> {
    if let Parsed::Rs256(pair) = parsed {
        let bits = pair.public_modulus_len() * 8;
        if bits < RSA_MODULUS_BITS_MIN {
            return Err(KeyError::unsupported(format!(
                "RSA key has {bits} bits; at least {RSA_MODULUS_BITS_MIN} are required"
            )));
        }
        if bits > RSA_MODULUS_BITS_MAX {
            return Err(KeyError::unsupported(format!(
                "RSA key has {bits} bits; at most {RSA_MODULUS_BITS_MAX} are supported"
            )));
        }
    }
    Ok(())
}

/// See `SigningKey::kid` for why HS256 kids look like this.
fn hs256_kid(secret: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(HS256_KID_CONTEXT);
    ctx.update(secret);
    ["hs256-", &b64(ctx.finish().as_ref())].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_SEC1: &[u8] = include_bytes!("testdata/ec_p256_sec1.pem");
    const EC_PKCS8: &[u8] = include_bytes!("testdata/ec_p256_pkcs8.pem");
    const ED25519: &[u8] = include_bytes!("testdata/ed25519_pkcs8.pem");
    const RSA_PKCS1: &[u8] = include_bytes!("testdata/rsa2048_pkcs1.pem");
    const RSA_PKCS8: &[u8] = include_bytes!("testdata/rsa2048_pkcs8.pem");
    const RSA_1024: &[u8] = include_bytes!("testdata/rsa1024_pkcs8.pem");
    const EC_P384: &[u8] = include_bytes!("testdata/ec_p384_pkcs8.pem");

    fn unsupported_reason(pem: &[u8]) -> String {
        match SigningKey::from_pem(pem) {
            Err(KeyError::Unsupported(why)) => why,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn alg_names_round_trip() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            assert_eq!(alg.to_string().parse::<Alg>(), Ok(alg));
        }
        assert_eq!("Ed25519".parse::<Alg>(), Ok(Alg::EdDSA));
        assert!("es256".parse::<Alg>().is_err());
        assert!("none".parse::<Alg>().is_err());
    }

    /// Expected values computed independently with `openssl pkey -pubout` and Python.
    #[test]
    fn openssl_keys_load_with_the_right_alg_and_thumbprint() {
        let ec = SigningKey::from_pem(EC_SEC1).expect("SEC1 P-256 with EC PARAMETERS");
        assert_eq!(ec.alg(), Alg::ES256);
        assert_eq!(ec.kid(), "1c7XCus8IJhQ7YM4jrG-27ReLNbauNnyIKwRQcntZHI");
        let jwk = ec.public_jwk().expect("published");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["x"], "Fb9vJIE_FAoAHuPQpM72QL3PxiYMuV1CzhbLTk61DAg");
        assert_eq!(jwk["y"], "sTWFSfLge0LmbI1ZHRQPeXTJwbbyrp5Mry4iOQUxo8w");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], ec.kid());

        let ed = SigningKey::from_pem(ED25519).expect("PKCS#8 v1 Ed25519");
        assert_eq!(ed.alg(), Alg::EdDSA);
        assert_eq!(ed.kid(), "YhIdeETEJlOQ1Rf7STJ2fOKr5BF0iDFeq0mYJlZFHj4");
        let jwk = ed.public_jwk().expect("published");
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["x"], "wdAaHMpsTc0zg6zjGgetMFoat3G09f6mj8DdYiESEV8");

        let rsa = SigningKey::from_pem(RSA_PKCS1).expect("PKCS#1 RSA");
        assert_eq!(rsa.alg(), Alg::RS256);
        assert_eq!(rsa.kid(), "AxBYKFIHgUa9oYEQxFQ2HYlX0Z4hIF_5FTWASb-kdu8");
        let jwk = rsa.public_jwk().expect("published");
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");

        assert_eq!(
            SigningKey::from_pem(EC_PKCS8).expect("PKCS#8 EC").alg(),
            Alg::ES256
        );
        assert_eq!(
            SigningKey::from_pem(RSA_PKCS8).expect("PKCS#8 RSA").alg(),
            Alg::RS256
        );
    }

    #[test]
    fn unsupported_keys_are_rejected_with_a_reason() {
        assert!(unsupported_reason(EC_P384).contains("P-256"));
        assert!(unsupported_reason(RSA_1024).contains("RSA"));
        let encrypted = pem::encode("ENCRYPTED PRIVATE KEY", &[1, 2, 3]);
        assert!(unsupported_reason(encrypted.as_bytes()).contains("encrypted"));
        let public = pem::encode("PUBLIC KEY", &[1, 2, 3]);
        assert!(unsupported_reason(public.as_bytes()).contains("PUBLIC KEY"));
        let junk = pem::encode("PRIVATE KEY", b"not DER at all");
        assert!(unsupported_reason(junk.as_bytes()).contains("PKCS#8"));
        let short = pem::encode(HS256_PEM_LABEL, &[7; HS256_SECRET_BYTES_MIN - 1]);
        assert!(unsupported_reason(short.as_bytes()).contains("HS256"));
        assert!(matches!(
            SigningKey::from_pem(b"just text"),
            Err(KeyError::Pem(_))
        ));
    }

    #[test]
    fn hs256_kid_is_domain_separated_from_a_plain_hash() {
        let secret = [42u8; 32];
        let key =
            SigningKey::from_pem(pem::encode(HS256_PEM_LABEL, &secret).as_bytes()).expect("load");
        let plain = b64(digest::digest(&digest::SHA256, &secret).as_ref());
        assert!(key.kid().starts_with("hs256-"));
        assert!(!key.kid().contains(&plain));
        assert!(
            !format!("{key:?}").contains("42"),
            "Debug must not leak the secret"
        );
    }

    /// The signature is jsonwebtoken's: the signer is a jsonwebtoken `JwtSigner` for the key's
    /// algorithm, deterministic algorithms give exactly what `jsonwebtoken::crypto::sign` gives
    /// for the key as jsonwebtoken reads the same PEM itself, and ES256 (randomized) verifies
    /// with `jsonwebtoken::crypto::verify` and the published JWK.
    #[test]
    fn signatures_come_from_jsonwebtoken() {
        use jsonwebtoken::{DecodingKey, jwk::Jwk};
        let hs256 = pem::encode(HS256_PEM_LABEL, &[7; HS256_SECRET_BYTES_MIN]);
        let message = b"eyJhbGciOi.eyJzdWIiOi";
        for pem_bytes in [
            EC_SEC1,
            EC_PKCS8,
            ED25519,
            RSA_PKCS1,
            RSA_PKCS8,
            hs256.as_bytes(),
        ] {
            let key = SigningKey::from_pem(pem_bytes).expect("loads");
            let alg = key.alg().to_jsonwebtoken();
            assert_eq!(key.signer.algorithm(), alg);
            let signature = key.sign(message).expect("signs");
            let ours = b64(&signature);
            let theirs_key = match key.alg() {
                Alg::ES256 => {
                    let jwk: Jwk =
                        serde_json::from_value(key.public_jwk().expect("published").clone())
                            .expect("JWK");
                    let decoding = DecodingKey::from_jwk(&jwk).expect("usable JWK");
                    assert!(
                        jsonwebtoken::crypto::verify(&ours, message, &decoding, alg)
                            .expect("verifies"),
                        "ES256 signature must verify with jsonwebtoken"
                    );
                    continue;
                }
                Alg::EdDSA => EncodingKey::from_ed_pem(pem_bytes),
                Alg::RS256 => EncodingKey::from_rsa_pem(pem_bytes),
                Alg::HS256 => Ok(EncodingKey::from_secret(
                    &pem::decode_key_block(pem_bytes).expect("PEM").der,
                )),
            }
            .expect("jsonwebtoken reads the PEM");
            let theirs = jsonwebtoken::crypto::sign(message, &theirs_key, alg).expect("signs");
            assert_eq!(ours, theirs, "{}", key.alg());
            assert!(key.verify(message, &signature));
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let path = std::env::temp_dir().join("edgeauth-no-such-dir/absent.pem");
        let err = SigningKey::from_pem_file(&path).expect_err("missing");
        assert!(matches!(err, KeyError::Io { .. }));
        assert!(err.to_string().contains("absent.pem"));
    }
}
