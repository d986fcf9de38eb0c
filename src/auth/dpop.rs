//! DPoP proofs at the token endpoint (RFC 9449 §4.2-4.3) and stateless server nonces (§8).
//!
//! [`check`] does every check of §4.3 that needs no state: the proof is a compact JWS of
//! `typ: dpop+jwt`, signed with an algorithm we accept by the public key in its own `jwk`
//! header; its `htm` and `htu` name this request; its `iat` is recent. The caller keeps the
//! two checks that need state or policy: the `jti` replay check (until `iat` leaves the
//! window), and whether a `nonce` is required and [`NonceKey::accepts`] it. The token it
//! issues is bound to [`Proof::jkt`] (`cnf.jkt`, §6).
//!
//! Nonces carry no state either: a nonce is an HMAC of the current period's index (and the
//! index), so every shard and every instance holding the same [`NonceKey`] issues the same
//! nonce in a period and accepts it until the next period ends.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::jwt::jws::{Jws, JwsError};
use crate::jwt::public_key::{JwkError, PublicJwk};
use crate::limits::{DPOP_NONCE_BYTES_MAX, DPOP_NONCE_PERIOD, JTI_BYTES_MAX};

/// The `typ` header of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// A proof that passed [`check`]: what the caller needs to finish the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's `jwk`: the token is bound to it (`cnf.jkt`).
    pub jkt: String,
    /// For the caller's replay check.
    pub jti: String,
    pub iat: u64,
    /// The server nonce the proof carries, for [`NonceKey::accepts`].
    pub nonce: Option<String>,
}

/// How far a proof's `iat` may be from now: at most `max_age_s` old, and both bounds
/// widened by `leeway_s` of clock skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max_age_s: u64,
    pub leeway_s: u64,
}

/// Why a DPoP proof was refused. Logged and counted by [`DpopError::reason_code`]; the
/// client is told `invalid_dpop_proof` (or `use_dpop_nonce` for the nonce variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    /// Not a compact JWS, a `crit` header, claims missing, mistyped or out of bounds.
    Malformed,
    /// An `alg` other than ES256, EdDSA, RS256 and PS256 (`none` and HMAC included).
    UnsupportedAlg,
    /// `typ` is not exactly `dpop+jwt`.
    WrongTyp,
    /// No `jwk` header (a `kid` alone does not do: the proof carries its key).
    MissingJwk,
    /// The `jwk` holds a private key (or is a symmetric one).
    PrivateJwk,
    /// The `jwk` is no public key we accept.
    BadJwk,
    /// The `jwk` does not take the header's `alg`.
    WrongAlgForKey,
    /// The signature does not verify with the `jwk`.
    BadSignature,
    /// `htm` is not this request's method.
    WrongMethod,
    /// `htu` is not this endpoint's URL (query and fragment aside).
    WrongUrl,
    /// `iat` is older than the window.
    TooOld,
    /// `iat` is ahead of now by more than the leeway.
    IssuedInFuture,
    /// The caller's check: a nonce is required and the proof has none.
    MissingNonce,
    /// The caller's check: the nonce is not one we issued recently.
    BadNonce,
    /// The caller's check: the `jti` was seen before.
    Replayed,
}

impl DpopError {
    /// A stable snake_case name for logs and metrics; never sent to the client.
    pub const fn reason_code(&self) -> &'static str {
        match self {
            DpopError::Malformed => "malformed",
            DpopError::UnsupportedAlg => "unsupported_alg",
            DpopError::WrongTyp => "wrong_typ",
            DpopError::MissingJwk => "missing_jwk",
            DpopError::PrivateJwk => "private_jwk",
            DpopError::BadJwk => "bad_jwk",
            DpopError::WrongAlgForKey => "wrong_alg_for_key",
            DpopError::BadSignature => "bad_signature",
            DpopError::WrongMethod => "wrong_method",
            DpopError::WrongUrl => "wrong_url",
            DpopError::TooOld => "too_old",
            DpopError::IssuedInFuture => "issued_in_future",
            DpopError::MissingNonce => "missing_nonce",
            DpopError::BadNonce => "bad_nonce",
            DpopError::Replayed => "replayed",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DPoP proof refused: {}", self.reason_code())
    }
}

impl std::error::Error for DpopError {}

/// The claims of a proof (RFC 9449 §4.2); `ath` only matters at resource servers.
#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    nonce: Option<String>,
}

/// Check the DPoP proof of a request with method `htm` to our URL `htu` (RFC 9449 §4.3,
/// all but the replay and nonce checks, which the caller does with what this returns).
pub fn check(
    proof: &[u8],
    htm: &str,
    htu: &str,
    now: u64,
    window: Window,
) -> Result<Proof, DpopError> {
    let (jws, key) = verified(proof)?;
    let claims: ProofClaims =
        serde_json::from_slice(&jws.claims_json).map_err(|_| DpopError::Malformed)?;
    let jti_ok = !claims.jti.is_empty() && claims.jti.len() <= JTI_BYTES_MAX;
    let nonce_ok = claims
        .nonce
        .as_ref()
        .is_none_or(|n| !n.is_empty() && n.len() <= DPOP_NONCE_BYTES_MAX);
    if !jti_ok || !nonce_ok {
        return Err(DpopError::Malformed);
    }
    if claims.htm != htm {
        return Err(DpopError::WrongMethod);
    }
    if !same_htu(&claims.htu, htu) {
        return Err(DpopError::WrongUrl);
    }
    if claims.iat > now.saturating_add(window.leeway_s) {
        return Err(DpopError::IssuedInFuture);
    }
    let oldest_s = window.max_age_s.saturating_add(window.leeway_s);
    if claims.iat.saturating_add(oldest_s) < now {
        return Err(DpopError::TooOld);
    }
    Ok(Proof {
        jkt: key.thumbprint().to_owned(),
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

/// The proof as a JWS whose signature verifies with the public key of its own `jwk`
/// header, and that key.
fn verified(proof: &[u8]) -> Result<(Jws<'_>, PublicJwk), DpopError> {
    let jws = Jws::parse(proof).map_err(|e| match e {
        JwsError::UnsupportedAlg => DpopError::UnsupportedAlg,
        JwsError::TooLarge | JwsError::Malformed | JwsError::CriticalHeader => DpopError::Malformed,
    })?;
    if jws.header.typ.as_deref() != Some(DPOP_TYP) {
        return Err(DpopError::WrongTyp);
    }
    let jwk = jws.header.jwk.as_ref().ok_or(DpopError::MissingJwk)?;
    let key = PublicJwk::from_json(jwk).map_err(|e| match e {
        JwkError::PrivateMember(_) | JwkError::Symmetric => DpopError::PrivateJwk,
        _ => DpopError::BadJwk,
    })?;
    if !key.accepts(jws.alg()) {
        return Err(DpopError::WrongAlgForKey);
    }
    if !jws.verify(&key) {
        return Err(DpopError::BadSignature);
    }
    Ok((jws, key))
}

/// Does the proof's `htu` name our URL? RFC 9449 §4.3 item 9 compares them without query
/// and fragment, after RFC 3986 §6.2.2-6.2.3 normalisation: scheme and host case, a
/// default port, an empty path as `/`. Paths compare exactly; anything that is not an
/// `http` or `https` URL with a host names nothing.
fn same_htu(claim: &str, ours: &str) -> bool {
    match (UrlParts::of(claim), UrlParts::of(ours)) {
        (Some(a), Some(b)) => {
            a.scheme.eq_ignore_ascii_case(b.scheme)
                && a.host.eq_ignore_ascii_case(b.host)
                && a.port == b.port
                && a.path == b.path
        }
        _ => false,
    }
}

/// The parts of an `http(s)` URL that `htu` comparison looks at, borrowed from it.
struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    /// The port, or the scheme's default one.
    port: u16,
    /// The path, `/` when empty.
    path: &'a str,
}

impl<'a> UrlParts<'a> {
    fn of(url: &'a str) -> Option<UrlParts<'a>> {
        // The fragment first: a `?` inside the fragment is not a query.
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let url = url.split_once('?').map_or(url, |(before, _)| before);
        let (scheme, rest) = url.split_once("://")?;
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else if scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            return None;
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        // Userinfo has no place in a URL a proof names (RFC 9110 §4.2.4 deprecates it).
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_port(authority)?;
        Some(UrlParts {
            scheme,
            host,
            port: port.unwrap_or(default_port),
            path,
        })
    }
}

/// `host[:port]` (the host may be a bracketed IPv6 literal): the host, and the port if one
/// is written (`host:` has none, RFC 3986 §6.2.3).
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.rfind(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() {
        return None;
    }
    let port = match port {
        "" | ":" => None,
        written => {
            let digits = written.strip_prefix(':')?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok()?)
        }
    };
    Some((host, port))
}

/// Bytes of a nonce key: an HMAC-SHA256 key.
pub const NONCE_KEY_BYTES: usize = 32;
/// Bytes of the truncated HMAC in a nonce: 128 bits cannot be guessed.
const NONCE_TAG_BYTES: usize = 16;
/// Bytes of a nonce before base64url: the tag, then the period index (big-endian u64).
const NONCE_BYTES: usize = NONCE_TAG_BYTES + 8;
/// Length of an issued nonce: unpadded base64url of `NONCE_BYTES`.
pub const NONCE_CHARS: usize = 32;
/// Hashed in front of the period index, so a nonce is an HMAC of nothing else.
const NONCE_CONTEXT: &[u8] = b"edgeauth dpop nonce v1\0";

const _: () = assert!(NONCE_CHARS == (NONCE_BYTES * 4).div_ceil(3));
const _: () = assert!(
    NONCE_CHARS <= DPOP_NONCE_BYTES_MAX,
    "our nonces fit the bound"
);

/// The secret that makes and checks DPoP nonces (RFC 9449 §8) without storing any. Give
/// every instance behind one endpoint the same key (`from_bytes`), or a client may get a
/// nonce from one instance that another refuses.
#[derive(Clone)]
pub struct NonceKey {
    key: hmac::Key,
}

impl fmt::Debug for NonceKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A key of 256 random bits from the OS CSPRNG.
    pub fn random() -> NonceKey {
        let mut bytes = [0u8; NONCE_KEY_BYTES];
        // AWS-LC's RAND_bytes aborts rather than return weak output, so this cannot fail in
        // practice; predictable nonces would let clients make proofs for the future.
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            panic!("the system CSPRNG failed; refusing to make predictable DPoP nonces");
        }
        NonceKey::from_bytes(&bytes)
    }

    /// A key from shared secret bytes, so that several instances agree on nonces.
    pub fn from_bytes(bytes: &[u8; NONCE_KEY_BYTES]) -> NonceKey {
        NonceKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// The nonce of the period `now` (seconds since the Unix epoch) falls in: the same for
    /// every call in that period, [`NONCE_CHARS`] base64url characters.
    pub fn issue(&self, now: u64) -> String {
        let period = period_index(now);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce[..NONCE_TAG_BYTES].copy_from_slice(&self.tag(period));
        nonce[NONCE_TAG_BYTES..].copy_from_slice(&period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(nonce)
    }

    /// Is `nonce` one this key issued in the current period or the one before? The tag is
    /// compared in constant time.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut decoded = [0u8; NONCE_BYTES];
        if nonce.len() != NONCE_CHARS
            || !matches!(
                URL_SAFE_NO_PAD.decode_slice(nonce, &mut decoded),
                Ok(NONCE_BYTES)
            )
        {
            return false;
        }
        let (tag, period) = decoded.split_at(NONCE_TAG_BYTES);
        let mut period_bytes = [0u8; 8];
        period_bytes.copy_from_slice(period);
        let period = u64::from_be_bytes(period_bytes);
        let current = period_index(now);
        let recent = period == current || current.checked_sub(1) == Some(period);
        recent && verify_slices_are_equal(&self.tag(period), tag).is_ok()
    }

    fn tag(&self, period: u64) -> [u8; NONCE_TAG_BYTES] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(NONCE_CONTEXT);
        context.update(&period.to_be_bytes());
        let mut tag = [0u8; NONCE_TAG_BYTES];
        tag.copy_from_slice(&context.sign().as_ref()[..NONCE_TAG_BYTES]);
        tag
    }
}

/// Which nonce period `now` falls in.
fn period_index(now: u64) -> u64 {
    now / DPOP_NONCE_PERIOD.as_secs()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jwt::public_key::VerifyAlg;
    use crate::jwt::test_keys::{TestKey, base64url, signing_input};

    const NOW: u64 = 1_764_000_000;
    const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
    const WINDOW: Window = Window {
        max_age_s: 60,
        leeway_s: 5,
    };

    fn claims() -> Value {
        json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": TOKEN_URL, "iat": NOW})
    }

    fn header(signer: &TestKey) -> Value {
        json!({"typ": "dpop+jwt", "alg": signer.alg, "jwk": signer.jwk()})
    }

    fn with(mut value: Value, member: &str, new: Value) -> Value {
        value[member] = new;
        value
    }

    fn without(mut value: Value, member: &str) -> Value {
        value.as_object_mut().unwrap().remove(member);
        value
    }

    fn check_token(token: &str) -> Result<Proof, DpopError> {
        check(token.as_bytes(), "POST", TOKEN_URL, NOW, WINDOW)
    }

    /// A proof of these claims by a fresh ES256 key, checked.
    fn check_claims(claims: &Value) -> Result<Proof, DpopError> {
        let signer = TestKey::generate("ES256");
        check_token(&signer.token(&header(&signer), claims))
    }

    #[test]
    fn proofs_of_every_alg_are_accepted_and_bound_to_their_key() {
        for alg in VerifyAlg::ALL {
            let signer = TestKey::generate(alg.as_str());
            let claims = with(claims(), "nonce", "n0nce".into());
            let proof = check_token(&signer.token(&header(&signer), &claims))
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(proof.jkt, signer.thumbprint(), "{alg}");
            assert_eq!(proof.jti, "e1j3V_bKic8-LAEB");
            assert_eq!(proof.iat, NOW);
            assert_eq!(proof.nonce.as_deref(), Some("n0nce"));
        }
    }

    /// `jkt` against RFC 7638 §3 computed here by hand: SHA-256 of the members in order.
    #[test]
    fn jkt_is_the_rfc_7638_thumbprint_of_the_jwk() {
        let signer = TestKey::generate("ES256");
        let jwk = signer.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        // Members the thumbprint leaves out do not change it.
        let header = with(header(&signer), "jwk", with(jwk, "use", "sig".into()));
        let proof = check_token(&signer.token(&header, &claims())).expect("accepted");
        assert_eq!(proof.jkt, base64url(digest.as_ref()));
    }

    #[test]
    fn typ_must_be_dpop_jwt() {
        let signer = TestKey::generate("EdDSA");
        for typ in [
            json!("JWT"),
            json!("DPOP+JWT"),
            json!("dpop+jwt "),
            json!(null),
        ] {
            let header = with(header(&signer), "typ", typ.clone());
            assert_eq!(
                check_token(&signer.token(&header, &claims())),
                Err(DpopError::WrongTyp),
                "{typ}"
            );
        }
        let untyped = without(header(&signer), "typ");
        let token = signer.token(&untyped, &claims());
        assert_eq!(check_token(&token), Err(DpopError::WrongTyp));
    }

    #[test]
    fn the_proof_must_carry_a_public_key_that_takes_its_alg() {
        let signer = TestKey::generate("ES256");
        let kid_only = with(without(header(&signer), "jwk"), "kid", "k1".into());
        let token = signer.token(&kid_only, &claims());
        assert_eq!(check_token(&token), Err(DpopError::MissingJwk));
        let private = with(signer.jwk(), "d", base64url(&[7; 32]).into());
        let header_private = with(header(&signer), "jwk", private);
        let token = signer.token(&header_private, &claims());
        assert_eq!(check_token(&token), Err(DpopError::PrivateJwk));
        let secret = json!({"kty": "oct", "k": base64url(b"a shared secret of 32 bytes!!!!!")});
        let token = signer.token(&with(header(&signer), "jwk", secret), &claims());
        assert_eq!(check_token(&token), Err(DpopError::PrivateJwk));
        let p384 = with(signer.jwk(), "crv", "P-384".into());
        let token = signer.token(&with(header(&signer), "jwk", p384), &claims());
        assert_eq!(check_token(&token), Err(DpopError::BadJwk));
        // RS256 header over the EC jwk.
        let confused = TestKey::generate("ES256").signing_as("RS256");
        let token = confused.token(&header(&confused), &claims());
        assert_eq!(check_token(&token), Err(DpopError::WrongAlgForKey));
        // PS256 header, jwk restricted to RS256.
        let pss = TestKey::generate("PS256");
        let rs256_jwk = with(pss.jwk(), "alg", "RS256".into());
        let token = pss.token(&with(header(&pss), "jwk", rs256_jwk), &claims());
        assert_eq!(check_token(&token), Err(DpopError::WrongAlgForKey));
        // Signed by another key than the one in the header.
        let stranger = TestKey::generate("ES256");
        let token = stranger.token(&header(&signer), &claims());
        assert_eq!(check_token(&token), Err(DpopError::BadSignature));
    }

    #[test]
    fn alg_none_hmac_crit_and_junk_are_refused() {
        let signer = TestKey::generate("ES256");
        for alg in ["none", "HS256"] {
            let header = with(header(&signer), "alg", alg.into());
            let unsigned = [signing_input(&header, &claims()), String::new()].join(".");
            assert_eq!(
                check_token(&unsigned),
                Err(DpopError::UnsupportedAlg),
                "{alg}"
            );
        }
        let crit = with(header(&signer), "crit", json!(["exp"]));
        let token = signer.token(&crit, &claims());
        assert_eq!(check_token(&token), Err(DpopError::Malformed));
        let oversize = vec![b'a'; crate::limits::JWS_BYTES_MAX + 1];
        let junk: [&[u8]; 4] = [b"", b"a.b.c", b"not a jwt", &oversize];
        for proof in junk {
            assert_eq!(
                check(proof, "POST", TOKEN_URL, NOW, WINDOW),
                Err(DpopError::Malformed)
            );
        }
    }

    #[test]
    fn claims_must_be_present_typed_and_bounded() {
        for claim in ["jti", "htm", "htu", "iat"] {
            assert_eq!(
                check_claims(&without(claims(), claim)),
                Err(DpopError::Malformed),
                "{claim}"
            );
        }
        let cases = [
            ("jti", json!("")),
            ("jti", json!("j".repeat(JTI_BYTES_MAX + 1))),
            ("iat", json!("1764000000")),
            ("iat", json!(-1)),
            ("htm", json!(["POST"])),
            ("nonce", json!("")),
            ("nonce", json!("n".repeat(DPOP_NONCE_BYTES_MAX + 1))),
            ("nonce", json!(5)),
        ];
        for (claim, value) in cases {
            assert_eq!(
                check_claims(&with(claims(), claim, value.clone())),
                Err(DpopError::Malformed),
                "{claim}: {value}"
            );
        }
        let longest_jti = with(claims(), "jti", "j".repeat(JTI_BYTES_MAX).into());
        assert!(check_claims(&longest_jti).is_ok());
    }

    #[test]
    fn htm_must_be_the_method_exactly() {
        for htm in ["GET", "post", "POST "] {
            assert_eq!(
                check_claims(&with(claims(), "htm", htm.into())),
                Err(DpopError::WrongMethod),
                "{htm}"
            );
        }
    }

    #[test]
    fn htu_is_compared_without_query_and_fragment_after_normalisation() {
        for same in [
            "https://auth.example.com/oauth/token",
            "https://auth.example.com/oauth/token?client_id=x",
            "https://auth.example.com/oauth/token#frag?ment",
            "https://auth.example.com/oauth/token?a=b#c",
            "https://AUTH.Example.COM/oauth/token",
            "HTTPS://auth.example.com/oauth/token",
            "https://auth.example.com:443/oauth/token",
            "https://auth.example.com:/oauth/token",
        ] {
            let proof = check_claims(&with(claims(), "htu", same.into()));
            assert!(proof.is_ok(), "{same}: {proof:?}");
        }
        for different in [
            "https://auth.example.com/oauth/token/",
            "https://auth.example.com/oauth/revoke",
            "https://auth.example.com/OAUTH/token",
            "https://auth.example.com/oauth/%74oken",
            "http://auth.example.com/oauth/token",
            "https://auth.example.com:8443/oauth/token",
            "https://auth.example.com:80/oauth/token",
            "https://auth.example.com.evil.example/oauth/token",
            "https://user@auth.example.com/oauth/token",
            "https://auth.example.com:443x/oauth/token",
            "https://auth.example.com:99999/oauth/token",
            "wss://auth.example.com/oauth/token",
            "//auth.example.com/oauth/token",
            "/oauth/token",
            "",
        ] {
            assert_eq!(
                check_claims(&with(claims(), "htu", different.into())),
                Err(DpopError::WrongUrl),
                "{different}"
            );
        }
    }

    #[test]
    fn htu_normalisation_applies_to_both_sides() {
        assert!(same_htu("http://h/p", "http://H:80/p"));
        assert!(same_htu("https://h", "https://h/"));
        assert!(same_htu("https://[::1]:443/t", "https://[::1]/t"));
        assert!(!same_htu("https://[::1]:8443/t", "https://[::1]/t"));
        assert!(!same_htu("http://h:443/p", "https://h/p"), "scheme differs");
        assert!(!same_htu("https://h/p", "not a url"));
        assert!(!same_htu("https://:443/p", "https://:443/p"), "no host");
    }

    #[test]
    fn iat_must_be_within_the_window_and_leeway() {
        let at = |iat: u64| check_claims(&with(claims(), "iat", iat.into())).map(|p| p.iat);
        let oldest = NOW - WINDOW.max_age_s - WINDOW.leeway_s;
        assert_eq!(at(oldest), Ok(oldest));
        assert_eq!(at(oldest - 1), Err(DpopError::TooOld));
        assert_eq!(at(0), Err(DpopError::TooOld));
        assert_eq!(at(NOW + WINDOW.leeway_s), Ok(NOW + WINDOW.leeway_s));
        assert_eq!(
            at(NOW + WINDOW.leeway_s + 1),
            Err(DpopError::IssuedInFuture)
        );
        assert_eq!(at(u64::MAX), Err(DpopError::IssuedInFuture));
    }

    const PERIOD_S: u64 = DPOP_NONCE_PERIOD.as_secs();

    #[test]
    fn nonces_are_accepted_in_their_period_and_the_next_only() {
        let key = NonceKey::random();
        let start = NOW - NOW % PERIOD_S;
        let nonce = key.issue(start);
        assert_eq!(nonce.len(), NONCE_CHARS);
        assert_eq!(
            key.issue(start + PERIOD_S - 1),
            nonce,
            "one nonce per period"
        );
        assert_ne!(key.issue(start + PERIOD_S), nonce);
        assert!(key.accepts(&nonce, start));
        assert!(key.accepts(&nonce, start + PERIOD_S - 1), "current period");
        assert!(
            key.accepts(&nonce, start + 2 * PERIOD_S - 1),
            "previous period"
        );
        assert!(!key.accepts(&nonce, start + 2 * PERIOD_S), "expired");
        assert!(!key.accepts(&nonce, start - 1), "from the future");
        assert!(
            !key.accepts(&key.issue(start + PERIOD_S), start),
            "from the future"
        );
        assert!(
            key.accepts(&key.issue(0), 0),
            "period 0 has no previous one"
        );
    }

    #[test]
    fn forged_nonces_are_refused() {
        let key = NonceKey::from_bytes(&[1; NONCE_KEY_BYTES]);
        let nonce = key.issue(NOW);
        assert!(key.accepts(&nonce, NOW));
        let twin = NonceKey::from_bytes(&[1; NONCE_KEY_BYTES]);
        assert_eq!(twin.issue(NOW), nonce, "instances sharing a key agree");
        assert!(!NonceKey::from_bytes(&[2; NONCE_KEY_BYTES]).accepts(&nonce, NOW));
        assert!(!NonceKey::random().accepts(&nonce, NOW));
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        raw[0] ^= 1;
        assert!(!key.accepts(&base64url(&raw), NOW), "flipped tag bit");
        // Another period's index under this period's tag.
        let mut moved = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        moved[NONCE_BYTES - 1] ^= 1;
        assert!(!key.accepts(&base64url(&moved), NOW + PERIOD_S));
        let zeros = base64url(&[0; NONCE_BYTES]);
        for forged in [
            &zeros,
            "",
            &nonce[1..],
            &format!("{nonce}A"),
            &"!".repeat(NONCE_CHARS),
        ] {
            assert!(!key.accepts(forged, NOW), "{forged:?}");
        }
        assert_eq!(format!("{key:?}"), "NonceKey(..)");
    }

    #[test]
    fn reason_codes_are_distinct_snake_case() {
        let all = [
            DpopError::Malformed,
            DpopError::UnsupportedAlg,
            DpopError::WrongTyp,
            DpopError::MissingJwk,
            DpopError::PrivateJwk,
            DpopError::BadJwk,
            DpopError::WrongAlgForKey,
            DpopError::BadSignature,
            DpopError::WrongMethod,
            DpopError::WrongUrl,
            DpopError::TooOld,
            DpopError::IssuedInFuture,
            DpopError::MissingNonce,
            DpopError::BadNonce,
            DpopError::Replayed,
        ];
        let mut codes: Vec<&str> = all.iter().map(DpopError::reason_code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(DpopError::TooOld.to_string(), "DPoP proof refused: too_old");
    }
}
