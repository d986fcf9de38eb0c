//! Public keys of others: the JWKs (RFC 7517) that verify client assertions (RFC 7523),
//! platform workload tokens and DPoP proofs (RFC 9449), and the JWK sets that carry them.
//!
//! A JWK is checked and parsed once, into aws-lc's `ParsedPublicKey`: only public keys (a
//! private member is refused: whoever registered or sent it has leaked its private key),
//! only the algorithms of [`VerifyAlg`], only the curves and sizes we accept. Which
//! algorithm may verify with a key is decided by the key (its type and its own `alg`),
//! never by a token alone, so `alg: none`, HMAC keyed with a public key and RS256/ES256
//! swaps never verify.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::jwks::{JwkMembers, thumbprint};
use super::keys::{RSA_MODULUS_BITS_MAX, RSA_MODULUS_BITS_MIN};
use crate::limits::{JWKS_BYTES_MAX, JWKS_KEYS_MAX};

/// The asymmetric algorithms we accept from others (client assertions, platform tokens,
/// DPoP proofs), by their JOSE names (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyAlg {
    /// ECDSA on P-256 with SHA-256; the signature is `r || s`, 32 bytes each.
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    PS256,
}

impl VerifyAlg {
    /// Every accepted algorithm, for the metadata's `*_alg_values_supported`.
    pub const ALL: [VerifyAlg; 4] = [
        VerifyAlg::ES256,
        VerifyAlg::EdDSA,
        VerifyAlg::RS256,
        VerifyAlg::PS256,
    ];

    /// The JOSE `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            VerifyAlg::ES256 => "ES256",
            VerifyAlg::EdDSA => "EdDSA",
            VerifyAlg::RS256 => "RS256",
            VerifyAlg::PS256 => "PS256",
        }
    }

    /// The one key type this algorithm verifies with.
    const fn key_type(self) -> KeyType {
        match self {
            VerifyAlg::ES256 => KeyType::Ec,
            VerifyAlg::EdDSA => KeyType::Okp,
            VerifyAlg::RS256 | VerifyAlg::PS256 => KeyType::Rsa,
        }
    }
}

impl fmt::Display for VerifyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `alg` we do not verify: `none`, HMAC, or any other name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedAlg;

impl fmt::Display for UnsupportedAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unsupported alg (expected ES256, EdDSA, RS256 or PS256)")
    }
}

impl std::error::Error for UnsupportedAlg {}

impl FromStr for VerifyAlg {
    type Err = UnsupportedAlg;

    /// The exact JOSE names only: no aliases, no case folding, and never `none` or `HS*`.
    fn from_str(s: &str) -> Result<VerifyAlg, UnsupportedAlg> {
        VerifyAlg::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or(UnsupportedAlg)
    }
}

/// The key types we parse (`kty`), each with its one curve or size range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    /// `EC` on `P-256`.
    Ec,
    /// `OKP` with `Ed25519`.
    Okp,
    /// `RSA`, 2048 to 8192 bits.
    Rsa,
}

impl KeyType {
    const fn name(self) -> &'static str {
        match self {
            KeyType::Ec => "EC",
            KeyType::Okp => "OKP",
            KeyType::Rsa => "RSA",
        }
    }
}

/// Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWK or a JWK set cannot be used; the text names what is wrong, for the operator
/// who registered it (CLI) or the log line of a refused proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    /// The JWK is not a JSON object.
    NotAnObject,
    /// A required member is absent.
    Missing(&'static str),
    /// A member that must be a string is not one.
    NotAString(&'static str),
    /// A member's value is not what it must be.
    BadValue {
        member: &'static str,
        expected: &'static str,
    },
    /// `kty: "oct"`: a shared secret, not a public key.
    Symmetric,
    /// A `kty` other than `EC`, `OKP` and `RSA`.
    UnsupportedKeyType(String),
    /// A curve other than `P-256` (EC) or `Ed25519` (OKP).
    UnsupportedCurve(String),
    /// A private-key member (`d`, `p`, ...): this JWK is a private key.
    PrivateMember(&'static str),
    /// A `use` other than `sig` (or SPIFFE's `jwt-svid`).
    Use(String),
    /// An `alg` that is not one of [`VerifyAlg`].
    UnsupportedAlg(String),
    /// An `alg` of another key type (`ES256` on an RSA key).
    AlgDoesNotFitKey { alg: VerifyAlg, kty: &'static str },
    /// An RSA modulus outside the sizes we accept.
    RsaModulusBits(usize),
    /// aws-lc refused the key (an EC point not on the curve, say).
    Rejected,
    /// A JWK set larger than `JWKS_BYTES_MAX`.
    SetTooLarge(usize),
    /// A JWK set that is not JSON (serde_json's description).
    NotJson(String),
    /// JSON, but not `{"keys": [...]}`.
    NotASet,
    /// More keys than `JWKS_KEYS_MAX`.
    TooManyKeys(usize),
    /// Key `index` (from 0) of a set that must hold only keys we can use.
    InKey { index: usize, error: Box<JwkError> },
    /// Two keys of one set with the same `kid`.
    DuplicateKid(String),
    /// A set with no key we can use.
    NoUsableKey,
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwkError::NotAnObject => f.write_str("a JWK must be a JSON object"),
            JwkError::Missing(member) => write!(f, "JWK member \"{member}\" is missing"),
            JwkError::NotAString(member) => write!(f, "JWK member \"{member}\" must be a string"),
            JwkError::BadValue { member, expected } => {
                write!(f, "JWK member \"{member}\" must be {expected}")
            }
            JwkError::Symmetric => f.write_str("a symmetric key (kty \"oct\") is not a public key"),
            JwkError::UnsupportedKeyType(kty) => {
                write!(f, "unsupported kty {kty:?} (expected EC, OKP or RSA)")
            }
            JwkError::UnsupportedCurve(crv) => {
                write!(f, "unsupported crv {crv:?} (expected P-256 or Ed25519)")
            }
            JwkError::PrivateMember(member) => {
                write!(
                    f,
                    "JWK has private member \"{member}\": only public keys are accepted"
                )
            }
            JwkError::Use(usage) => write!(f, "JWK use {usage:?} is not \"sig\""),
            JwkError::UnsupportedAlg(alg) => {
                write!(
                    f,
                    "unsupported alg {alg:?} (expected ES256, EdDSA, RS256 or PS256)"
                )
            }
            JwkError::AlgDoesNotFitKey { alg, kty } => {
                write!(f, "alg {alg} does not fit a key of kty {kty}")
            }
            JwkError::RsaModulusBits(bits) => write!(
                f,
                "RSA key has {bits} bits (expected {RSA_MODULUS_BITS_MIN} to {RSA_MODULUS_BITS_MAX})"
            ),
            JwkError::Rejected => f.write_str("not a valid public key"),
            JwkError::SetTooLarge(bytes) => {
                write!(f, "JWK set is {bytes} bytes (at most {JWKS_BYTES_MAX})")
            }
            JwkError::NotJson(why) => write!(f, "JWK set is not JSON: {why}"),
            JwkError::NotASet => f.write_str("a JWK set is a JSON object {\"keys\": [...]}"),
            JwkError::TooManyKeys(n) => write!(f, "JWK set has {n} keys (at most {JWKS_KEYS_MAX})"),
            JwkError::InKey { index, error } => write!(f, "key {index} of the set: {error}"),
            JwkError::DuplicateKid(kid) => write!(f, "two keys of the set have kid {kid:?}"),
            JwkError::NoUsableKey => f.write_str("the JWK set holds no key we can verify with"),
        }
    }
}

impl std::error::Error for JwkError {}

/// One public key, parsed once: what it is, which algorithms may verify with it, and the
/// aws-lc key that does. Immutable, `Send + Sync`: key sets are shared read-only by shards.
#[derive(Clone)]
pub struct PublicJwk {
    kty: KeyType,
    /// The JWK's own `alg`: if it names one, that is the only algorithm the key verifies.
    alg: Option<VerifyAlg>,
    kid: Option<String>,
    /// RFC 7638 thumbprint (base64url SHA-256), computed once: DPoP binds tokens to it.
    thumbprint: String,
    verifiers: Verifiers,
}

// Key sets are shared read-only by every shard thread (behind an `Arc`).
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<PublicJwk>();
    shared_across_threads::<JwkSet>();
};

/// The key as aws-lc parsed it, once per algorithm it may verify: aws-lc ties the padding
/// (PKCS#1 v1.5 or PSS) to the parsed RSA key.
#[derive(Clone)]
enum Verifiers {
    /// EC (ES256) or OKP (EdDSA): one algorithm per key type.
    One(ParsedPublicKey),
    /// RSA: parsed for RS256 and for PS256, each unless the JWK's `alg` names the other.
    Rsa {
        rs256: Option<ParsedPublicKey>,
        ps256: Option<ParsedPublicKey>,
    },
}

impl PublicJwk {
    /// Check and parse one JWK (see the module doc for what is accepted).
    pub fn from_json(jwk: &Value) -> Result<PublicJwk, JwkError> {
        let members = jwk.as_object().ok_or(JwkError::NotAnObject)?;
        let kty = match required(members, "kty")? {
            "EC" => KeyType::Ec,
            "OKP" => KeyType::Okp,
            "RSA" => KeyType::Rsa,
            "oct" => return Err(JwkError::Symmetric),
            other => return Err(JwkError::UnsupportedKeyType(other.to_owned())),
        };
        if let Some(member) = PRIVATE_MEMBERS
            .into_iter()
            .find(|m| members.contains_key(*m))
        {
            return Err(JwkError::PrivateMember(member));
        }
        // SPIFFE bundles (SPIFFE Trust Domain and Bundle §4.2.2) mark JWT signing keys
        // `jwt-svid` instead of `sig`; their `x509-svid` keys verify certificates, not JWTs.
        if let Some(usage) = optional(members, "use")?
            && usage != "sig"
            && usage != "jwt-svid"
        {
            return Err(JwkError::Use(usage.to_owned()));
        }
        let alg = match optional(members, "alg")? {
            Some(name) => Some(
                name.parse::<VerifyAlg>()
                    .map_err(|_| JwkError::UnsupportedAlg(name.to_owned()))?,
            ),
            None => None,
        };
        if let Some(alg) = alg
            && alg.key_type() != kty
        {
            let kty = kty.name();
            return Err(JwkError::AlgDoesNotFitKey { alg, kty });
        }
        let kid = optional(members, "kid")?.map(str::to_owned);
        let (verifiers, required_members) = match kty {
            KeyType::Ec => ec_key(members)?,
            KeyType::Okp => okp_key(members)?,
            KeyType::Rsa => rsa_key(members, alg)?,
        };
        Ok(PublicJwk {
            kty,
            alg,
            kid,
            thumbprint: thumbprint(&required_members),
            verifiers,
        })
    }

    /// The JWK's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 over the required members (DPoP's `jkt`).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The JWK's own `alg`, if it names one.
    pub fn alg(&self) -> Option<VerifyAlg> {
        self.alg
    }

    /// May `alg` verify with this key? Its key type must fit, and the JWK's own `alg`, if
    /// any, must be `alg`.
    pub fn accepts(&self, alg: VerifyAlg) -> bool {
        alg.key_type() == self.kty && self.alg.is_none_or(|own| own == alg)
    }

    /// Does `signature` (raw bytes, not base64) over `signing_input` verify with this key
    /// and `alg`? False whenever `!self.accepts(alg)`.
    pub fn verify(&self, alg: VerifyAlg, signing_input: &[u8], signature: &[u8]) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        let key = match (&self.verifiers, alg) {
            (Verifiers::One(key), _) => Some(key),
            (Verifiers::Rsa { rs256, .. }, VerifyAlg::RS256) => rs256.as_ref(),
            (Verifiers::Rsa { ps256, .. }, VerifyAlg::PS256) => ps256.as_ref(),
            (Verifiers::Rsa { .. }, VerifyAlg::ES256 | VerifyAlg::EdDSA) => None,
        };
        key.is_some_and(|key| key.verify_sig(signing_input, signature).is_ok())
    }
}

impl PartialEq for PublicJwk {
    /// The same key (thumbprint), under the same `kid`, restricted to the same `alg`.
    fn eq(&self, other: &PublicJwk) -> bool {
        self.thumbprint == other.thumbprint && self.kid == other.kid && self.alg == other.alg
    }
}

impl Eq for PublicJwk {}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("kty", &self.kty.name())
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// A required string member.
fn required<'a>(jwk: &'a Map<String, Value>, member: &'static str) -> Result<&'a str, JwkError> {
    optional(jwk, member)?.ok_or(JwkError::Missing(member))
}

/// An optional string member: absent is `None`, present but not a string is an error.
fn optional<'a>(
    jwk: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match jwk.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::NotAString(member)),
    }
}

/// The bytes of a base64url member (unpadded, canonical: the text is exactly what these
/// bytes encode to, so it can go into the thumbprint as it is).
fn decoded(text: &str, member: &'static str, expected: &'static str) -> Result<Vec<u8>, JwkError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwkError::BadValue { member, expected })
}

/// A coordinate or Ed25519 key: exactly 32 bytes (RFC 7518 §6.2.1.2 keeps leading zeros).
fn bytes_32(jwk: &Map<String, Value>, member: &'static str) -> Result<[u8; 32], JwkError> {
    const EXPECTED: &str = "the unpadded base64url of 32 bytes";
    let bytes = decoded(required(jwk, member)?, member, EXPECTED)?;
    bytes.try_into().map_err(|_| JwkError::BadValue {
        member,
        expected: EXPECTED,
    })
}

fn ec_key(jwk: &Map<String, Value>) -> Result<(Verifiers, JwkMembers), JwkError> {
    let crv = required(jwk, "crv")?;
    if crv != "P-256" {
        return Err(JwkError::UnsupportedCurve(crv.to_owned()));
    }
    // Uncompressed SEC1 point: 0x04 || x || y.
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..33].copy_from_slice(&bytes_32(jwk, "x")?);
    point[33..].copy_from_slice(&bytes_32(jwk, "y")?);
    let key = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
        .map_err(|_| JwkError::Rejected)?;
    let members = vec![
        ("crv", crv.to_owned()),
        ("kty", "EC".to_owned()),
        ("x", required(jwk, "x")?.to_owned()),
        ("y", required(jwk, "y")?.to_owned()),
    ];
    Ok((Verifiers::One(key), members))
}

fn okp_key(jwk: &Map<String, Value>) -> Result<(Verifiers, JwkMembers), JwkError> {
    let crv = required(jwk, "crv")?;
    if crv != "Ed25519" {
        return Err(JwkError::UnsupportedCurve(crv.to_owned()));
    }
    let key =
        ParsedPublicKey::new(&sig::ED25519, bytes_32(jwk, "x")?).map_err(|_| JwkError::Rejected)?;
    let members = vec![
        ("crv", crv.to_owned()),
        ("kty", "OKP".to_owned()),
        ("x", required(jwk, "x")?.to_owned()),
    ];
    Ok((Verifiers::One(key), members))
}

fn rsa_key(
    jwk: &Map<String, Value>,
    alg: Option<VerifyAlg>,
) -> Result<(Verifiers, JwkMembers), JwkError> {
    // RFC 7518 §6.3.1: the minimal big-endian octets, so no leading zero.
    const UNSIGNED: &str = "the unpadded base64url of an unsigned integer, no leading zero";
    let (n_text, e_text) = (required(jwk, "n")?, required(jwk, "e")?);
    let n = decoded(n_text, "n", UNSIGNED)?;
    let e = decoded(e_text, "e", UNSIGNED)?;
    let (Some(&n_first), Some(&e_first)) = (n.first(), e.first()) else {
        return Err(JwkError::BadValue {
            member: if n.is_empty() { "n" } else { "e" },
            expected: UNSIGNED,
        });
    };
    if n_first == 0 || e_first == 0 {
        let member = if n_first == 0 { "n" } else { "e" };
        let expected = UNSIGNED;
        return Err(JwkError::BadValue { member, expected });
    }
    let bits = n.len() * 8 - n_first.leading_zeros() as usize;
    if !(RSA_MODULUS_BITS_MIN..=RSA_MODULUS_BITS_MAX).contains(&bits) {
        return Err(JwkError::RsaModulusBits(bits));
    }
    if !rsa_exponent_ok(&e) {
        return Err(JwkError::BadValue {
            member: "e",
            expected: "an odd public exponent of 3 to 33 bits",
        });
    }
    let components = RsaPublicKeyComponents { n: &n, e: &e };
    let parse = |wanted: VerifyAlg, params: &'static RsaParameters| {
        if alg.is_some_and(|own| own != wanted) {
            return Ok(None);
        }
        components
            .to_parsed_public_key(params)
            .map(Some)
            .map_err(|_| JwkError::Rejected)
    };
    let verifiers = Verifiers::Rsa {
        rs256: parse(VerifyAlg::RS256, &sig::RSA_PKCS1_2048_8192_SHA256)?,
        ps256: parse(VerifyAlg::PS256, &sig::RSA_PSS_2048_8192_SHA256)?,
    };
    let members = vec![
        ("e", e_text.to_owned()),
        ("kty", "RSA".to_owned()),
        ("n", n_text.to_owned()),
    ];
    Ok((verifiers, members))
}

/// An exponent aws-lc verifies with (BoringSSL's `rsa_check_public_key`): odd, at least 3
/// and at most 33 bits. A key failing this would be registered and then never verify.
fn rsa_exponent_ok(e: &[u8]) -> bool {
    if e.len() > 5 {
        return false;
    }
    let value = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    value >= 3 && value % 2 == 1 && value < (1 << 33)
}

/// What to do with a key of a set that we cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The whole set is refused: a client's registered JWKS, where any key we cannot use
    /// is an error its operator should see at registration.
    Refuse,
    /// The key is left out: a platform issuer's published JWKS (Kubernetes, SPIFFE) may
    /// hold keys of other types or uses. At least one usable key must remain.
    Skip,
}

/// A JWK set (RFC 7517 §5) of public keys we can verify with, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwkSet {
    /// In the set's order; `kid`s are unique.
    keys: Vec<PublicJwk>,
}

impl JwkSet {
    /// Parse `{"keys": [...]}` of at most `JWKS_BYTES_MAX` bytes and `JWKS_KEYS_MAX` keys.
    /// Keys we cannot use are an error or skipped, as `unusable` says; duplicate `kid`s
    /// among the keys kept, and a set with none kept, are errors either way.
    pub fn parse(json: &[u8], unusable: Unusable) -> Result<JwkSet, JwkError> {
        if json.len() > JWKS_BYTES_MAX {
            return Err(JwkError::SetTooLarge(json.len()));
        }
        let document: Value =
            serde_json::from_slice(json).map_err(|e| JwkError::NotJson(e.to_string()))?;
        let listed = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::NotASet)?;
        if listed.len() > JWKS_KEYS_MAX {
            return Err(JwkError::TooManyKeys(listed.len()));
        }
        let mut keys: Vec<PublicJwk> = Vec::with_capacity(listed.len());
        for (index, jwk) in listed.iter().enumerate() {
            let key = match (PublicJwk::from_json(jwk), unusable) {
                (Ok(key), _) => key,
                (Err(_), Unusable::Skip) => continue,
                (Err(error), Unusable::Refuse) => {
                    let error = Box::new(error);
                    return Err(JwkError::InKey { index, error });
                }
            };
            if let Some(kid) = key.kid()
                && keys.iter().any(|k| k.kid() == Some(kid))
            {
                return Err(JwkError::DuplicateKid(kid.to_owned()));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(JwkError::NoUsableKey);
        }
        debug_assert!(keys.len() <= JWKS_KEYS_MAX);
        Ok(JwkSet { keys })
    }

    /// The keys, in the set's order.
    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// How many keys the set holds (never zero).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a set without a usable key does not parse. (`len`'s companion.)
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key a token with this header `kid` and `alg` verifies with: with a `kid`, the key
    /// of that `kid` if it accepts `alg`; without one, the only key accepting `alg`, if
    /// exactly one does.
    pub fn find(&self, kid: Option<&str>, alg: VerifyAlg) -> Option<&PublicJwk> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid() == Some(kid) && key.accepts(alg)),
            None => {
                let mut accepting = self.keys.iter().filter(|key| key.accepts(alg));
                let only = accepting.next()?;
                accepting.next().is_none().then_some(only)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jwt::test_keys::TestKey;

    fn parsed(jwk: &Value) -> PublicJwk {
        PublicJwk::from_json(jwk).expect("a usable public JWK")
    }

    fn refused(jwk: Value) -> JwkError {
        PublicJwk::from_json(&jwk).expect_err("refused")
    }

    /// `jwk` with `member` set to `value`.
    fn with(mut jwk: Value, member: &str, value: Value) -> Value {
        jwk[member] = value;
        jwk
    }

    #[test]
    fn algorithm_names_are_exact_jose_names() {
        for alg in VerifyAlg::ALL {
            assert_eq!(alg.as_str().parse::<VerifyAlg>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
        for name in [
            "none", "None", "HS256", "HS384", "HS512", "es256", "Ed25519", "ES384", "RS512",
            "PS384", "ES256 ", "",
        ] {
            assert_eq!(name.parse::<VerifyAlg>(), Err(UnsupportedAlg), "{name:?}");
        }
    }

    #[test]
    fn keys_of_every_alg_verify_their_own_signatures_only() {
        for alg in VerifyAlg::ALL {
            let signer = TestKey::generate(alg.as_str());
            let key = parsed(&signer.jwk());
            assert_eq!(key.thumbprint(), signer.thumbprint(), "{alg}");
            assert_eq!((key.kid(), key.alg()), (None, None));
            let signature = signer.sign(b"header.claims");
            assert!(key.verify(alg, b"header.claims", &signature), "{alg}");
            assert!(!key.verify(alg, b"header.claimz", &signature), "{alg}");
            let mut flipped = signature.clone();
            flipped[7] ^= 1;
            assert!(!key.verify(alg, b"header.claims", &flipped), "{alg}");
            for other in VerifyAlg::ALL.into_iter().filter(|&o| o != alg) {
                let same_rsa_key = matches!((alg, other), (VerifyAlg::RS256, VerifyAlg::PS256))
                    || matches!((alg, other), (VerifyAlg::PS256, VerifyAlg::RS256));
                assert_eq!(key.accepts(other), same_rsa_key, "{alg} key, {other}");
                assert!(
                    !key.verify(other, b"header.claims", &signature),
                    "{alg} as {other}"
                );
            }
        }
    }

    #[test]
    fn a_jwk_alg_restricts_the_key_to_that_alg() {
        let signer = TestKey::generate("RS256");
        let rs256_only = parsed(&signer.jwk_with("k1"));
        assert_eq!(rs256_only.kid(), Some("k1"));
        assert_eq!(rs256_only.alg(), Some(VerifyAlg::RS256));
        assert!(rs256_only.accepts(VerifyAlg::RS256));
        assert!(!rs256_only.accepts(VerifyAlg::PS256));
        let pss = signer.signing_as("PS256");
        let pss_signature = pss.sign(b"input");
        assert!(!rs256_only.verify(VerifyAlg::PS256, b"input", &pss_signature));
        let any_rsa = parsed(&pss.jwk());
        assert!(any_rsa.verify(VerifyAlg::PS256, b"input", &pss_signature));
        // PKCS#1 v1.5 and PSS signatures are not interchangeable under one key.
        assert!(!any_rsa.verify(VerifyAlg::RS256, b"input", &pss_signature));
    }

    /// RFC 7638 §3.1: the thumbprint of the RFC 7517 Appendix A.1 RSA key, as a JWK parses.
    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = parsed(&jwk);
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.kid(), Some("2011-04-29"));
        // Members beyond the required ones do not change the thumbprint.
        let key = parsed(&with(jwk, "use", "sig".into()));
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        let ec = TestKey::generate("ES256").jwk();
        let rsa = TestKey::generate("RS256").jwk();
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let base = if member == "d" { &ec } else { &rsa };
            let private = with(base.clone(), member, "AQAB".into());
            assert_eq!(refused(private), JwkError::PrivateMember(member));
        }
        let secret = json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
        assert_eq!(refused(secret), JwkError::Symmetric);
    }

    #[test]
    fn unsupported_types_curves_uses_and_algs_are_refused() {
        let ec = TestKey::generate("ES256").jwk();
        let ed = TestKey::generate("EdDSA").jwk();
        assert_eq!(refused(json!([ec.clone()])), JwkError::NotAnObject);
        assert_eq!(
            refused(with(ec.clone(), "kty", "EC2".into())),
            JwkError::UnsupportedKeyType("EC2".into())
        );
        assert_eq!(
            refused(with(ec.clone(), "crv", "P-384".into())),
            JwkError::UnsupportedCurve("P-384".into())
        );
        assert_eq!(
            refused(with(ed.clone(), "crv", "X25519".into())),
            JwkError::UnsupportedCurve("X25519".into())
        );
        assert_eq!(
            refused(with(ec.clone(), "use", "enc".into())),
            JwkError::Use("enc".into())
        );
        assert_eq!(
            refused(with(ec.clone(), "alg", "HS256".into())),
            JwkError::UnsupportedAlg("HS256".into())
        );
        assert_eq!(
            refused(with(ec.clone(), "alg", "RS256".into())),
            JwkError::AlgDoesNotFitKey {
                alg: VerifyAlg::RS256,
                kty: "EC"
            }
        );
        assert_eq!(
            refused(with(ed.clone(), "alg", "ES256".into())),
            JwkError::AlgDoesNotFitKey {
                alg: VerifyAlg::ES256,
                kty: "OKP"
            }
        );
        // SPIFFE's name for a JWT signing key is as good as "sig".
        assert!(PublicJwk::from_json(&with(ed, "use", "jwt-svid".into())).is_ok());
    }

    #[test]
    fn malformed_members_are_refused() {
        let ec = TestKey::generate("ES256").jwk();
        let x = ec["x"].as_str().unwrap().to_owned();
        let mut no_x = ec.clone();
        no_x.as_object_mut().unwrap().remove("x");
        assert_eq!(refused(no_x), JwkError::Missing("x"));
        assert_eq!(refused(json!({"crv": "P-256"})), JwkError::Missing("kty"));
        assert_eq!(
            refused(with(ec.clone(), "x", 5.into())),
            JwkError::NotAString("x")
        );
        assert_eq!(
            refused(with(ec.clone(), "kid", 5.into())),
            JwkError::NotAString("kid")
        );
        let bad_x = |text: String| refused(with(ec.clone(), "x", text.into()));
        let expected = JwkError::BadValue {
            member: "x",
            expected: "the unpadded base64url of 32 bytes",
        };
        assert_eq!(bad_x(x[..42].to_owned()), expected, "31 bytes and a bit");
        assert_eq!(bad_x(x[..40].to_owned()), expected, "30 bytes");
        assert_eq!(bad_x(format!("{x}=")), expected, "padded");
        assert_eq!(bad_x(format!("+{}", &x[1..])), expected, "not url-safe");
        assert_eq!(bad_x(format!("{x}AAAA")), expected, "35 bytes");
        // Two coordinates that are no point of P-256.
        let zero = "A".repeat(43);
        let off_curve = with(with(ec, "x", zero.clone().into()), "y", zero.into());
        assert_eq!(refused(off_curve), JwkError::Rejected);
    }

    #[test]
    fn rsa_sizes_and_encodings_are_checked() {
        let rsa = TestKey::generate("RS256").jwk();
        let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
        let n_value = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            refused(with(rsa.clone(), "n", n_value(&n[..128]))),
            JwkError::RsaModulusBits(1024)
        );
        let mut too_big = vec![0xff_u8; 8192 / 8 + 1];
        too_big[0] = 1;
        assert_eq!(
            refused(with(rsa.clone(), "n", n_value(&too_big))),
            JwkError::RsaModulusBits(8193)
        );
        let leading_zero = [&[0][..], &n].concat();
        assert!(matches!(
            refused(with(rsa.clone(), "n", n_value(&leading_zero))),
            JwkError::BadValue { member: "n", .. }
        ));
        for e in [
            &[][..],
            &[0, 1, 0, 1],
            &[1],
            &[2],
            &[1, 0, 0],
            &[3, 0, 0, 0, 0, 1],
        ] {
            assert!(
                matches!(
                    refused(with(rsa.clone(), "e", n_value(e))),
                    JwkError::BadValue { member: "e", .. }
                ),
                "e = {e:?}"
            );
        }
        assert!(PublicJwk::from_json(&with(rsa, "e", n_value(&[3]))).is_ok());
    }

    #[test]
    fn equal_by_thumbprint_kid_and_alg_and_debug_shows_no_key_material() {
        let signer = TestKey::generate("ES256");
        let a = parsed(&signer.jwk_with("a"));
        assert_eq!(a, parsed(&signer.jwk_with("a")));
        assert_eq!(a, a.clone());
        assert_ne!(a, parsed(&signer.jwk_with("b")));
        assert_ne!(a, parsed(&with(signer.jwk(), "kid", "a".into())), "no alg");
        assert_ne!(a, parsed(&TestKey::generate("ES256").jwk_with("a")));
        let debug = format!("{a:?}");
        assert!(
            debug.contains(a.thumbprint()) && debug.contains("\"EC\""),
            "{debug}"
        );
        let x = signer.jwk()["x"].as_str().unwrap().to_owned();
        assert!(!debug.contains(&x), "{debug}");
    }

    fn set(keys: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    #[test]
    fn a_set_finds_keys_by_kid_and_alg() {
        let signers = VerifyAlg::ALL.map(|alg| TestKey::generate(alg.as_str()));
        let jwks: Vec<Value> = signers
            .iter()
            .map(|s| s.jwk_with(&format!("kid-{}", s.alg)))
            .collect();
        let keys = JwkSet::parse(&set(&jwks), Unusable::Refuse).expect("parses");
        assert_eq!(keys.len(), 4);
        assert!(!keys.is_empty());
        for (signer, alg) in signers.iter().zip(VerifyAlg::ALL) {
            let kid = format!("kid-{alg}");
            let key = keys.find(Some(&kid), alg).expect("found by kid");
            assert_eq!(key.thumbprint(), signer.thumbprint());
            // Without a kid: the one key accepting this alg.
            assert_eq!(keys.find(None, alg), Some(key));
        }
        assert_eq!(keys.find(Some("kid-ES256"), VerifyAlg::EdDSA), None);
        assert_eq!(keys.find(Some("kid-RS256"), VerifyAlg::PS256), None);
        assert_eq!(keys.find(Some("nobody"), VerifyAlg::ES256), None);
        // Two EC keys without kids: which one a kid-less token means is unknown.
        let ec_twice = [signers[0].jwk(), TestKey::generate("ES256").jwk()];
        let ambiguous = JwkSet::parse(&set(&ec_twice), Unusable::Refuse).expect("parses");
        assert_eq!(ambiguous.find(None, VerifyAlg::ES256), None);
        assert_eq!(ambiguous.find(None, VerifyAlg::EdDSA), None);
    }

    #[test]
    fn refuse_rejects_the_set_and_skip_leaves_the_key_out() {
        let ec = TestKey::generate("ES256").jwk_with("ec");
        let secret = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"});
        let x509 = with(TestKey::generate("ES256").jwk(), "use", "x509-svid".into());
        let json = set(&[secret.clone(), ec.clone(), x509]);
        assert_eq!(
            JwkSet::parse(&json, Unusable::Refuse),
            Err(JwkError::InKey {
                index: 0,
                error: Box::new(JwkError::Symmetric)
            })
        );
        let platform = JwkSet::parse(&json, Unusable::Skip).expect("one usable key");
        assert_eq!(platform.keys(), &[parsed(&ec)]);
        for unusable in [Unusable::Refuse, Unusable::Skip] {
            assert_eq!(
                JwkSet::parse(&set(&[]), unusable),
                Err(JwkError::NoUsableKey)
            );
        }
        assert_eq!(
            JwkSet::parse(&set(&[secret]), Unusable::Skip),
            Err(JwkError::NoUsableKey)
        );
        let message = JwkSet::parse(&json, Unusable::Refuse)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "key 0 of the set: a symmetric key (kty \"oct\") is not a public key"
        );
    }

    #[test]
    fn set_bounds_and_shape_are_checked() {
        let ec = TestKey::generate("ES256").jwk_with("same");
        let ed = TestKey::generate("EdDSA").jwk_with("same");
        assert_eq!(
            JwkSet::parse(&set(&[ec.clone(), ed]), Unusable::Skip),
            Err(JwkError::DuplicateKid("same".into()))
        );
        let many: Vec<Value> = (0..=JWKS_KEYS_MAX)
            .map(|i| with(ec.clone(), "kid", i.to_string().into()))
            .collect();
        assert_eq!(
            JwkSet::parse(&set(&many), Unusable::Refuse),
            Err(JwkError::TooManyKeys(JWKS_KEYS_MAX + 1))
        );
        assert!(JwkSet::parse(&set(&many[..JWKS_KEYS_MAX]), Unusable::Refuse).is_ok());
        let mut large = set(&[ec]);
        large.splice(1..1, std::iter::repeat_n(b' ', JWKS_BYTES_MAX));
        assert_eq!(
            JwkSet::parse(&large, Unusable::Refuse),
            Err(JwkError::SetTooLarge(large.len()))
        );
        assert!(matches!(
            JwkSet::parse(b"{\"keys\":[", Unusable::Refuse),
            Err(JwkError::NotJson(_))
        ));
        for not_a_set in [
            &b"[]"[..],
            b"{}",
            b"{\"keys\":{}}",
            b"{\"keys\":null}",
            b"7",
        ] {
            assert_eq!(
                JwkSet::parse(not_a_set, Unusable::Refuse),
                Err(JwkError::NotASet)
            );
        }
    }
}
