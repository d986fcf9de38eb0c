//! Signing keys: load and generate PEM files, compute the `kid`, publish the public JWK.
//!
//! Keys hold ready-to-use aws-lc key objects rather than jsonwebtoken `EncodingKey`s.
//! `jsonwebtoken::encode` re-parses its key on every call, and even the signer from
//! `CryptoProvider::signer_factory` re-parses RSA keys per signature and returns each
//! signature in a fresh `Vec`. Holding `EcdsaKeyPair` / `Ed25519KeyPair` / `RsaKeyPair` /
//! `hmac::Key` directly means the per-token cost is the signature itself and nothing else.
//! The output is byte-for-byte the JWS that jsonwebtoken produces (tests verify tokens with
//! jsonwebtoken's `decode`, using the published JWK, as a resource server would).

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    ParsedPublicKey, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::pem;

/// PEM label of our HS256 key files (the format is ours: no standard exists for raw secrets).
pub const HS256_PEM_LABEL: &str = "EDGEAUTH HS256 KEY";
/// Smallest HS256 secret we accept: RFC 7518 §3.2 requires a key at least as long as the hash.
pub const HS256_SECRET_BYTES_MIN: usize = 32;
/// Size of secrets `generate_pem(Alg::HS256)` creates.
pub const HS256_SECRET_BYTES_GENERATED: usize = 32;
/// Smallest RSA modulus we accept (RFC 7518 §3.3: 2048 bits or larger).
pub const RSA_MODULUS_BITS_MIN: usize = 2048;
/// Largest signature we produce (RSA-8192, aws-lc's upper bound); sizes a stack buffer.
pub const SIGNATURE_BYTES_MAX: usize = 8192 / 8;
/// Domain separator hashed in front of an HS256 secret to form its `kid` (see `hs256_kid`).
const HS256_KID_CONTEXT: &[u8] = b"edgeauth hs256 kid v1\0";

/// A JWS signing algorithm edgeauth can issue tokens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256: the default; small keys and tokens, fast enough to sign.
    ES256,
    /// Ed25519: the fastest asymmetric option; some older resource-server libraries lack it.
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256: for legacy verifiers; ~1 ms per signature.
    RS256,
    /// HMAC-SHA-256: shared secret, so resource servers cannot verify offline; never published.
    HS256,
}

impl Alg {
    /// The JOSE `alg` name (RFC 7518 §3.1).
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
            Alg::HS256 => "HS256",
        }
    }

    /// The same algorithm in jsonwebtoken's terms, for code that verifies with that crate.
    pub const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown algorithm name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlg(pub String);

impl fmt::Display for UnknownAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signing algorithm {:?} (expected ES256, EdDSA, RS256 or HS256)",
            self.0
        )
    }
}

impl std::error::Error for UnknownAlg {}

impl FromStr for Alg {
    type Err = UnknownAlg;

    /// Exact JOSE names; `Ed25519` is accepted as an alias because users type it.
    fn from_str(s: &str) -> Result<Alg, UnknownAlg> {
        match s {
            "ES256" => Ok(Alg::ES256),
            "EdDSA" | "Ed25519" => Ok(Alg::EdDSA),
            "RS256" => Ok(Alg::RS256),
            "HS256" => Ok(Alg::HS256),
            _ => Err(UnknownAlg(s.to_owned())),
        }
    }
}

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
    fn io(path: &Path, source: std::io::Error) -> KeyError {
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

/// Signing failed inside aws-lc. Not expected with a key that loaded; a plain enum because
/// it is returned on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// aws-lc reported an internal error while signing.
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

/// The parsed private key, ready to sign. Parsing happens once, in `SigningKey::from_pem`.
enum Material {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
    // Boxed: aws-lc's HMAC key holds a 1.2 KB precomputed context; one indirection is free
    // next to the hash itself.
    Hs256(Box<hmac::Key>),
}

/// One signing key: its algorithm, `kid`, the parsed private key, and its public JWK.
///
/// Send + Sync and immutable after loading, so one instance may be shared by all shards.
pub struct SigningKey {
    alg: Alg,
    /// RFC 7638 thumbprint (asymmetric keys) or a domain-separated hash (HS256), see `kid()`.
    kid: String,
    material: Material,
    /// What `/.well-known/jwks.json` publishes; `None` for HS256, whose key is secret.
    public_jwk: Option<serde_json::Value>,
    /// The public key parsed once for verification (introspection); `None` for HS256,
    /// which verifies with the HMAC key in `material`.
    public: Option<ParsedPublicKey>,
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
        let material = match block.label.as_str() {
            "PRIVATE KEY" => parse_pkcs8(&block.der)?,
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &block.der)
                    .map(Material::Es256)
                    .map_err(|e| {
                        KeyError::unsupported(format!("EC key is not a valid P-256 key ({e})"))
                    })?
            }
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&block.der)
                .map(Material::Rs256)
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
        check_rsa_size(&material)?;
        Ok(SigningKey::from_material(material, &block.der))
    }

    fn from_material(material: Material, der: &[u8]) -> SigningKey {
        let (alg, jwk_members) = match &material {
            Material::Es256(pair) => (Alg::ES256, Some(ec_members(pair))),
            Material::EdDsa(pair) => (Alg::EdDSA, Some(okp_members(pair))),
            Material::Rs256(pair) => (Alg::RS256, Some(rsa_members(pair))),
            Material::Hs256(_) => (Alg::HS256, None),
        };
        let (kid, public_jwk) = match jwk_members {
            Some(members) => {
                let kid = thumbprint(&members);
                let mut jwk = serde_json::Map::new();
                for (name, value) in members {
                    jwk.insert(name.to_owned(), serde_json::Value::String(value));
                }
                jwk.insert("alg".to_owned(), alg.as_str().into());
                jwk.insert("use".to_owned(), "sig".into());
                jwk.insert("kid".to_owned(), kid.clone().into());
                (kid, Some(serde_json::Value::Object(jwk)))
            }
            // For HS256 `der` is the raw secret.
            None => (hs256_kid(der), None),
        };
        SigningKey {
            alg,
            kid,
            public: parse_public(&material),
            material,
            public_jwk,
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

    /// Sign `message` (the JWS signing input, `b64(header) "." b64(claims)`).
    ///
    /// The hot path: the signature is returned in a stack buffer; the only allocations
    /// are aws-lc's own inside the signing call.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, SignError> {
        let mut out = Signature {
            bytes: [0; SIGNATURE_BYTES_MAX],
            len: 0,
        };
        out.len = match &self.material {
            Material::Es256(pair) => {
                let signature = pair
                    .sign(&SystemRandom::new(), message)
                    .map_err(|_| SignError::Crypto)?;
                out.copy_from(signature.as_ref())
            }
            Material::EdDsa(pair) => {
                let signature = pair.try_sign(message).map_err(|_| SignError::Crypto)?;
                out.copy_from(signature.as_ref())
            }
            Material::Rs256(pair) => {
                let len = pair.public_modulus_len();
                pair.sign(
                    &sig::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut out.bytes[..len],
                )
                .map_err(|_| SignError::Crypto)?;
                len
            }
            Material::Hs256(key) => out.copy_from(hmac::sign(key, message).as_ref()),
        };
        Ok(out)
    }
}

impl SigningKey {
    /// Does `signature` (raw bytes, not base64) over `message` verify with this key?
    ///
    /// Used by introspection to check tokens we issued; the public key was parsed once at
    /// load time, and HS256 compares tags in constant time.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match (&self.public, &self.material) {
            (Some(public), _) => public.verify_sig(message, signature).is_ok(),
            (None, Material::Hs256(key)) => hmac::verify(key.as_ref(), message, signature).is_ok(),
            (None, _) => false,
        }
    }
}

/// Parse the public half of an asymmetric key for fast verification.
fn parse_public(material: &Material) -> Option<ParsedPublicKey> {
    let parsed = match material {
        Material::Es256(pair) => {
            ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        }
        Material::EdDsa(pair) => ParsedPublicKey::new(&sig::ED25519, pair.public_key().as_ref()),
        Material::Rs256(pair) => {
            ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
        }
        Material::Hs256(_) => return None,
    };
    // aws-lc derived these bytes from a private key it accepted, so they always parse; a
    // failure would make `verify` return false, never accept a bad signature.
    debug_assert!(parsed.is_ok(), "public half of a loaded key must parse");
    parsed.ok()
}

/// A raw signature on the stack, sized for the largest key we accept (RSA-8192).
pub struct Signature {
    bytes: [u8; SIGNATURE_BYTES_MAX],
    len: usize,
}

impl Signature {
    fn copy_from(&mut self, signature: &[u8]) -> usize {
        self.bytes[..signature.len()].copy_from_slice(signature);
        signature.len()
    }
}

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Append the unpadded base64url encoding of `bytes` to `out` without a temporary.
pub(crate) fn append_b64url(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), SignError> {
    let start = out.len();
    let encoded_len = b64url_len(bytes.len());
    out.resize(start + encoded_len, 0);
    // The destination is exactly the encoded length, so this cannot fail; if it ever did,
    // an error beats a silently truncated token.
    match URL_SAFE_NO_PAD.encode_slice(bytes, &mut out[start..]) {
        Ok(written) if written == encoded_len => Ok(()),
        _ => Err(SignError::Encoding),
    }
}

/// Length of unpadded base64 for `n` input bytes: ceil(4n / 3).
pub(crate) const fn b64url_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// PKCS#8 may hold any of the three asymmetric key types; the algorithm OID inside decides.
fn parse_pkcs8(der: &[u8]) -> Result<Material, KeyError> {
    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(Material::Es256(pair));
    }
    if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
        return Ok(Material::EdDsa(pair));
    }
    match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) => Ok(Material::Rs256(pair)),
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

fn parse_hs256(secret: &[u8]) -> Result<Material, KeyError> {
    if secret.len() < HS256_SECRET_BYTES_MIN {
        return Err(KeyError::unsupported(format!(
            "HS256 secret is {} bytes; at least {HS256_SECRET_BYTES_MIN} are required",
            secret.len()
        )));
    }
    Ok(Material::Hs256(Box::new(hmac::Key::new(
        hmac::HMAC_SHA256,
        secret,
    ))))
}

fn check_rsa_size(material: &Material) -> Result<(), KeyError> {
    if let Material::Rs256(pair) = material {
        let bits = pair.public_modulus_len() * 8;
        if bits < RSA_MODULUS_BITS_MIN {
            return Err(KeyError::unsupported(format!(
                "RSA key has {bits} bits; at least {RSA_MODULUS_BITS_MIN} are required"
            )));
        }
        if pair.public_modulus_len() > SIGNATURE_BYTES_MAX {
            return Err(KeyError::unsupported(format!(
                "RSA key has {bits} bits; at most {} are supported",
                SIGNATURE_BYTES_MAX * 8
            )));
        }
    }
    Ok(())
}

/// The required JWK members of a key (RFC 7638 §3.2), already in lexicographic order.
type JwkMembers = Vec<(&'static str, String)>;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ec_members(pair: &EcdsaKeyPair) -> JwkMembers {
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

fn okp_members(pair: &Ed25519KeyPair) -> JwkMembers {
    vec![
        ("crv", "Ed25519".to_owned()),
        ("kty", "OKP".to_owned()),
        ("x", b64(pair.public_key().as_ref())),
    ]
}

fn rsa_members(pair: &RsaKeyPair) -> JwkMembers {
    let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    vec![
        ("e", b64(&components.e)),
        ("kty", "RSA".to_owned()),
        ("n", b64(&components.n)),
    ]
}

/// RFC 7638 thumbprint: SHA-256 over the required members, sorted, no whitespace.
/// Member values here are base64url or fixed names, so they need no JSON escaping.
fn thumbprint(members: &[(&'static str, String)]) -> String {
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

/// See `SigningKey::kid` for why HS256 kids look like this.
fn hs256_kid(secret: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(HS256_KID_CONTEXT);
    ctx.update(secret);
    ["hs256-", &b64(ctx.finish().as_ref())].concat()
}

/// Generate a new private key as PEM: ES256 (P-256, PKCS#8), EdDSA (Ed25519, PKCS#8 v1, as
/// `openssl genpkey` writes it), RS256 (2048-bit, PKCS#8) or HS256 (32 random bytes).
pub fn generate_pem(alg: Alg) -> Result<String, KeyError> {
    let failed = |_| KeyError::Generate(alg);
    let rng = SystemRandom::new();
    match alg {
        Alg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", doc.as_ref()))
        }
        Alg::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", doc.as_ref()))
        }
        Alg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der = pair.as_der().map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", der.as_ref()))
        }
        Alg::HS256 => {
            let mut secret = [0u8; HS256_SECRET_BYTES_GENERATED];
            rand::fill(&mut secret).map_err(failed)?;
            Ok(pem::encode(HS256_PEM_LABEL, &secret))
        }
    }
}

/// Write a new key to `path` with mode 0600, creating parent directories.
///
/// Refuses to overwrite an existing file (the error is `KeyError::Io` with kind
/// `AlreadyExists`): replacing a live signing key would invalidate every token it signed,
/// and two instances racing to create the shared default key must end up with one key, not
/// two. The loser of that race should simply load the file.
pub fn generate_file(alg: Alg, path: &Path) -> Result<(), KeyError> {
    let pem = generate_pem(alg)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| KeyError::io(parent, e))?;
    }
    // Write the whole key to a private temporary name first, then hard-link it into place:
    // link(2) fails if `path` exists, and a reader never sees a half-written key.
    let mut nonce = [0u8; 8];
    rand::fill(&mut nonce).map_err(|_| KeyError::Generate(alg))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let tmp = PathBuf::from(tmp_name);
    let written = write_new_private(&tmp, pem.as_bytes())
        .and_then(|()| std::fs::hard_link(&tmp, path).map_err(|e| KeyError::io(path, e)));
    // Best effort: the temporary is either a duplicate link or a failed partial write.
    let _ = std::fs::remove_file(&tmp);
    written
}

/// Create `path` (which must not exist) with mode 0600 and write `bytes` durably.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::io(path, e))
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

    /// A fresh, not yet existing path under the system temp dir.
    fn temp_path(name: &str) -> PathBuf {
        let mut nonce = [0u8; 8];
        rand::fill(&mut nonce).expect("rng");
        std::env::temp_dir()
            .join(format!("edgeauth-keys-{}", u64::from_le_bytes(nonce)))
            .join(name)
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
    fn generated_keys_load_back_with_stable_distinct_kids() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let pem_a = generate_pem(alg).expect("generate");
            let pem_b = generate_pem(alg).expect("generate");
            let a1 = SigningKey::from_pem(pem_a.as_bytes()).expect("load");
            let a2 = SigningKey::from_pem(pem_a.as_bytes()).expect("load");
            let b = SigningKey::from_pem(pem_b.as_bytes()).expect("load");
            assert_eq!(a1.alg(), alg);
            assert_eq!(a1.kid(), a2.kid(), "{alg}: kid must be stable");
            assert_ne!(a1.kid(), b.kid(), "{alg}: kid must differ between keys");
            assert_eq!(a1.public_jwk().is_none(), alg == Alg::HS256);
        }
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

    #[test]
    fn generate_file_writes_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = temp_path("nested/signing-key.pem");
        generate_file(Alg::ES256, &path).expect("first write");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = std::fs::read(&path).expect("read");
        match generate_file(Alg::ES256, &path) {
            Err(KeyError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "must not change"
        );
        let key = SigningKey::from_pem_file(&path).expect("loads");
        assert_eq!(key.alg(), Alg::ES256);
        let dir = path.parent().and_then(Path::parent).expect("temp root");
        let leftovers = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let path = temp_path("absent.pem");
        let err = SigningKey::from_pem_file(&path).expect_err("missing");
        assert!(matches!(err, KeyError::Io { .. }));
        assert!(err.to_string().contains("absent.pem"));
    }
}
