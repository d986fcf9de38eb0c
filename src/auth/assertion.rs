//! Client assertions (RFC 7523 §3, RFC 7521 §4.2): a JWT presented as `client_assertion`,
//! signed by the client's own key (`private_key_jwt`) or by a platform for a workload
//! (Kubernetes service account tokens, SPIFFE JWT-SVIDs, CI OIDC tokens).
//!
//! Two steps, because which keys verify depends on whom the assertion claims to be from:
//! [`Assertion::parse`] reads the header and claims without trusting them, so that the
//! caller can find the client (by `sub`) or the trusted issuer (by `iss`) and its JWK set;
//! [`Assertion::check`] then verifies the signature with that set and checks the times, the
//! lifetime and the audience under the caller's [`Rules`]. Two checks stay with the caller,
//! who knows the client: that `iss` and `sub` name it (RFC 7523 §3 items 1-2, or the
//! registered workload subject), and that the `jti` was not seen before its `exp` (item 7).
//! [`AssertionError`] has a variant for those too, so every refusal is logged one way.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::jwt::jws::{Jws, JwsError};
use crate::jwt::public_key::{JwkSet, PublicJwk};
use crate::limits::{ASSERTION_AUDIENCES_MAX, ASSERTION_CLAIM_BYTES_MAX, JTI_BYTES_MAX};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The claims of an assertion, as sent (parsed, bounded, not yet verified).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssertionClaims {
    /// Who signed: the client itself (`private_key_jwt`) or the platform's issuer URL. A
    /// SPIFFE JWT-SVID may leave it out: its trust bundle (the keys) says who signed.
    pub iss: Option<String>,
    /// Whom it is about: the client id, or the workload's identity on the platform.
    pub sub: String,
    /// Whom it is for: one string or an array in JSON; we must be among them.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<String>,
}

impl AssertionClaims {
    /// Every value within its bound (`limits`); a `jti`, if any, is not empty.
    fn within_bounds(&self) -> bool {
        let claim_ok = |s: &String| !s.is_empty() && s.len() <= ASSERTION_CLAIM_BYTES_MAX;
        self.iss.as_ref().is_none_or(claim_ok)
            && claim_ok(&self.sub)
            && self.aud.len() <= ASSERTION_AUDIENCES_MAX
            && self
                .aud
                .iter()
                .all(|a| a.len() <= ASSERTION_CLAIM_BYTES_MAX)
            && self
                .jti
                .as_ref()
                .is_none_or(|jti| !jti.is_empty() && jti.len() <= JTI_BYTES_MAX)
    }
}

/// `aud` as RFC 7519 §4.1.3 allows it: one string, or an array of strings.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(audience) => vec![audience],
        OneOrMany::Many(audiences) => audiences,
    })
}

/// A parsed client assertion whose signature and claims are not checked yet.
#[derive(Debug)]
pub struct Assertion<'a> {
    jws: Jws<'a>,
    claims: AssertionClaims,
}

/// What an assertion must satisfy, beyond its signature.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The current time, in seconds since the Unix epoch.
    pub now: u64,
    /// Our names; `aud` must contain at least one (the token endpoint URL, the issuer).
    pub audiences: &'a [&'a str],
    /// Clock skew allowed in every time comparison, in seconds.
    pub leeway_s: u64,
    pub lifetime: Lifetime,
}

/// How long an assertion may live, by what kind of assertion it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `private_key_jwt`: made for one request, so it must expire soon (`exp` at most
    /// `max_ahead_s` after now) and carry a `jti` for the replay check.
    SingleUse { max_ahead_s: u64 },
    /// A platform's workload token, presented until it expires: it needs no `jti`, but an
    /// `iat`, and `exp - iat` at most `max_token_age_s`.
    Reusable { max_token_age_s: u64 },
}

/// What the caller's replay check needs from a checked assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked<'a> {
    /// Remember this until `exp`, and refuse it when seen again (`Lifetime::SingleUse`
    /// guarantees there is one).
    pub jti: Option<&'a str>,
    pub exp: u64,
}

/// Why an assertion was refused. Logged and counted by [`AssertionError::reason_code`];
/// the client is only ever told `invalid_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionError {
    /// Not a compact JWS, claims that are not JSON, missing or out of bounds, or a `crit`
    /// header.
    Malformed,
    /// An `alg` other than ES256, EdDSA, RS256 and PS256 (`none` and HMAC included).
    UnsupportedAlg,
    /// No key of the set has the header's `kid`; or, without a `kid`, not exactly one key
    /// accepts the `alg`.
    UnknownKey,
    /// The key the `kid` names does not take the header's `alg`.
    WrongAlgForKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `nbf` or `iat` is still ahead.
    NotYetValid,
    /// `exp` too far ahead (`SingleUse`), or `exp - iat` (`exp - now` without `iat`) too
    /// long (`Reusable`).
    TooLongLived,
    /// None of our audiences is in `aud`.
    WrongAudience,
    /// A single-use assertion without `jti`.
    MissingJti,
    /// The caller's check: `iss` is not who it must be.
    WrongIssuer,
    /// The caller's check: `sub` is not the client or its registered subject.
    WrongSubject,
    /// The caller's check: the `jti` was seen before.
    Replayed,
}

impl AssertionError {
    /// A stable snake_case name for logs and metrics; never sent to the client.
    pub const fn reason_code(&self) -> &'static str {
        match self {
            AssertionError::Malformed => "malformed",
            AssertionError::UnsupportedAlg => "unsupported_alg",
            AssertionError::UnknownKey => "unknown_key",
            AssertionError::WrongAlgForKey => "wrong_alg_for_key",
            AssertionError::BadSignature => "bad_signature",
            AssertionError::Expired => "expired",
            AssertionError::NotYetValid => "not_yet_valid",
            AssertionError::TooLongLived => "too_long_lived",
            AssertionError::WrongAudience => "wrong_audience",
            AssertionError::MissingJti => "missing_jti",
            AssertionError::WrongIssuer => "wrong_issuer",
            AssertionError::WrongSubject => "wrong_subject",
            AssertionError::Replayed => "replayed",
        }
    }
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client assertion refused: {}", self.reason_code())
    }
}

impl std::error::Error for AssertionError {}

impl<'a> Assertion<'a> {
    /// Parse `token` and its claims without verifying anything, so that the caller can
    /// learn `iss` and `sub` and find the keys.
    pub fn parse(token: &'a [u8]) -> Result<Assertion<'a>, AssertionError> {
        let jws = Jws::parse(token).map_err(|e| match e {
            JwsError::UnsupportedAlg => AssertionError::UnsupportedAlg,
            JwsError::TooLarge | JwsError::Malformed | JwsError::CriticalHeader => {
                AssertionError::Malformed
            }
        })?;
        let claims: AssertionClaims =
            serde_json::from_slice(&jws.claims_json).map_err(|_| AssertionError::Malformed)?;
        if !claims.within_bounds() {
            return Err(AssertionError::Malformed);
        }
        Ok(Assertion { jws, claims })
    }

    /// `iss`, as sent.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.iss.as_deref()
    }

    /// `sub`, as sent.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The header's `kid`, as sent (for logs).
    pub fn kid(&self) -> Option<&str> {
        self.jws.header.kid.as_deref()
    }

    /// Every claim we read, as sent.
    pub fn claims(&self) -> &AssertionClaims {
        &self.claims
    }

    /// Verify the signature with `keys` (the key the header's `kid` names, which must take
    /// the header's `alg`) and check `exp`, `nbf`, `iat`, the lifetime and `aud`. The
    /// caller still checks `iss`, `sub` and the `jti` replay.
    pub fn check(&self, keys: &JwkSet, rules: &Rules) -> Result<Checked<'_>, AssertionError> {
        let key = self.key(keys)?;
        if !self.jws.verify(key) {
            return Err(AssertionError::BadSignature);
        }
        self.check_times(rules)?;
        debug_assert!(!rules.audiences.is_empty(), "an audience must be required");
        let ours = |aud: &String| rules.audiences.contains(&aud.as_str());
        if !self.claims.aud.iter().any(ours) {
            return Err(AssertionError::WrongAudience);
        }
        Ok(Checked {
            jti: self.claims.jti.as_deref(),
            exp: self.claims.exp,
        })
    }

    fn key<'k>(&self, keys: &'k JwkSet) -> Result<&'k PublicJwk, AssertionError> {
        let kid = self.kid();
        keys.find(kid, self.jws.alg()).ok_or_else(|| {
            let named = |key: &PublicJwk| kid.is_some() && key.kid() == kid;
            if keys.keys().iter().any(named) {
                AssertionError::WrongAlgForKey
            } else {
                AssertionError::UnknownKey
            }
        })
    }

    /// `exp`, `nbf` and `iat` against `now`, each with `leeway_s` of clock skew, then the
    /// lifetime rule.
    fn check_times(&self, rules: &Rules) -> Result<(), AssertionError> {
        let claims = &self.claims;
        let latest_valid = rules.now.saturating_add(rules.leeway_s);
        if claims.exp.saturating_add(rules.leeway_s) <= rules.now {
            return Err(AssertionError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > latest_valid)
            || claims.iat.is_some_and(|iat| iat > latest_valid)
        {
            return Err(AssertionError::NotYetValid);
        }
        match rules.lifetime {
            Lifetime::SingleUse { max_ahead_s } => {
                if claims.jti.is_none() {
                    return Err(AssertionError::MissingJti);
                }
                if claims.exp > latest_valid.saturating_add(max_ahead_s) {
                    return Err(AssertionError::TooLongLived);
                }
            }
            Lifetime::Reusable { max_token_age_s } => {
                // Without `iat` (optional in a JWT-SVID), the token counts as issued now.
                let iat = claims.iat.unwrap_or(rules.now);
                if claims.exp.saturating_sub(iat) > max_token_age_s {
                    return Err(AssertionError::TooLongLived);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jwt::public_key::{Unusable, VerifyAlg};
    use crate::jwt::test_keys::{TestKey, base64url, signing_input};

    const NOW: u64 = 1_764_000_000;
    const TOKEN_ENDPOINT: &str = "https://auth.example.com/oauth/token";
    const ISSUER: &str = "https://auth.example.com";
    const LEEWAY_S: u64 = 30;
    const MAX_AHEAD_S: u64 = 300;
    const MAX_TOKEN_AGE_S: u64 = 24 * 3600;
    const SINGLE_USE: Lifetime = Lifetime::SingleUse {
        max_ahead_s: MAX_AHEAD_S,
    };
    const REUSABLE: Lifetime = Lifetime::Reusable {
        max_token_age_s: MAX_TOKEN_AGE_S,
    };

    fn rules(lifetime: Lifetime) -> Rules<'static> {
        Rules {
            now: NOW,
            audiences: &[TOKEN_ENDPOINT, ISSUER],
            leeway_s: LEEWAY_S,
            lifetime,
        }
    }

    /// What a `private_key_jwt` client sends.
    fn claims() -> Value {
        json!({
            "iss": "client-1",
            "sub": "client-1",
            "aud": TOKEN_ENDPOINT,
            "exp": NOW + 60,
            "iat": NOW,
            "jti": "0b6a1f0e-5c1d-4c7e-9a51-3d1f6e3c2b10",
        })
    }

    fn with(mut claims: Value, claim: &str, value: Value) -> Value {
        claims[claim] = value;
        claims
    }

    fn without(mut claims: Value, claim: &str) -> Value {
        claims.as_object_mut().unwrap().remove(claim);
        claims
    }

    /// A client key and the JWK set it registered (one key, kid `k1`).
    fn client(alg: VerifyAlg) -> (TestKey, JwkSet) {
        let signer = TestKey::generate(alg.as_str());
        let json = serde_json::to_vec(&json!({"keys": [signer.jwk_with("k1")]})).unwrap();
        (
            signer,
            JwkSet::parse(&json, Unusable::Refuse).expect("JWKS"),
        )
    }

    fn signed(signer: &TestKey, claims: &Value) -> String {
        signer.token(&json!({"alg": signer.alg, "kid": "k1"}), claims)
    }

    /// Parse and check `claims` signed by a fresh ES256 client key.
    fn checked(claims: &Value, lifetime: Lifetime) -> Result<(), AssertionError> {
        let (signer, keys) = client(VerifyAlg::ES256);
        let token = signed(&signer, claims);
        Assertion::parse(token.as_bytes())?.check(&keys, &rules(lifetime))?;
        Ok(())
    }

    #[test]
    fn assertions_of_every_alg_are_accepted() {
        for alg in VerifyAlg::ALL {
            let (signer, keys) = client(alg);
            let token = signed(&signer, &claims());
            let assertion = Assertion::parse(token.as_bytes()).expect("parses");
            assert_eq!(
                (assertion.issuer(), assertion.subject()),
                (Some("client-1"), "client-1")
            );
            assert_eq!(assertion.kid(), Some("k1"));
            assert_eq!(assertion.claims().aud, [TOKEN_ENDPOINT]);
            let checked = assertion
                .check(&keys, &rules(SINGLE_USE))
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(checked.jti, Some("0b6a1f0e-5c1d-4c7e-9a51-3d1f6e3c2b10"));
            assert_eq!(checked.exp, NOW + 60);
        }
    }

    #[test]
    fn aud_may_be_a_string_or_an_array_and_must_name_us() {
        let ok = |aud: Value| checked(&with(claims(), "aud", aud), SINGLE_USE);
        assert_eq!(ok(json!(ISSUER)), Ok(()));
        assert_eq!(ok(json!([TOKEN_ENDPOINT])), Ok(()));
        assert_eq!(ok(json!(["https://other.example", ISSUER])), Ok(()));
        let wrong = Err(AssertionError::WrongAudience);
        assert_eq!(ok(json!("https://other.example/oauth/token")), wrong);
        assert_eq!(ok(json!([])), wrong);
        assert_eq!(
            ok(json!(["https://AUTH.example.com"])),
            wrong,
            "exact match only"
        );
        assert_eq!(ok(json!(5)), Err(AssertionError::Malformed));
        assert_eq!(ok(json!([ISSUER, 5])), Err(AssertionError::Malformed));
        let mut most: Vec<String> = (1..ASSERTION_AUDIENCES_MAX)
            .map(|i| i.to_string())
            .collect();
        most.push(ISSUER.to_owned());
        assert_eq!(ok(json!(most)), Ok(()));
        most.push("one too many".to_owned());
        assert_eq!(ok(json!(most)), Err(AssertionError::Malformed));
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let rsa = TestKey::generate("RS256");
        let none = [
            signing_input(&json!({"alg": "none", "kid": "k1"}), &claims()),
            String::new(),
        ]
        .join(".");
        assert_eq!(
            Assertion::parse(none.as_bytes()).err(),
            Some(AssertionError::UnsupportedAlg)
        );
        let input = signing_input(&json!({"alg": "HS256", "kid": "k1"}), &claims());
        let public = serde_json::to_vec(&rsa.jwk_with("k1")).unwrap();
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public),
            input.as_bytes(),
        );
        let forged = [input, base64url(tag.as_ref())].join(".");
        assert_eq!(
            Assertion::parse(forged.as_bytes()).err(),
            Some(AssertionError::UnsupportedAlg)
        );
    }

    #[test]
    fn the_key_is_chosen_by_kid_and_must_take_the_alg() {
        let (ec, keys) = client(VerifyAlg::ES256);
        let check = |token: &str| {
            Assertion::parse(token.as_bytes())?.check(&keys, &rules(SINGLE_USE))?;
            Ok(())
        };
        let header = |alg: &str, kid: Option<&str>| match kid {
            Some(kid) => json!({"alg": alg, "kid": kid}),
            None => json!({"alg": alg}),
        };
        assert_eq!(check(&ec.token(&header("ES256", None), &claims())), Ok(()));
        assert_eq!(
            check(&ec.token(&header("ES256", Some("k2")), &claims())),
            Err(AssertionError::UnknownKey)
        );
        // An RS256 header on the EC key's kid: the key does not take RS256.
        let confused = TestKey::generate("ES256").signing_as("RS256");
        assert_eq!(
            check(&confused.token(&header("RS256", Some("k1")), &claims())),
            Err(AssertionError::WrongAlgForKey)
        );
        assert_eq!(
            check(&confused.token(&header("RS256", None), &claims())),
            Err(AssertionError::UnknownKey)
        );
        let stranger = TestKey::generate("ES256");
        assert_eq!(
            check(&signed(&stranger, &claims())),
            Err(AssertionError::BadSignature)
        );
        // A JWK registered for RS256 does not verify PS256, though the key is the same.
        let (rsa, rs256_keys) = client(VerifyAlg::RS256);
        let pss = rsa.signing_as("PS256");
        let token = signed(&pss, &claims());
        let assertion = Assertion::parse(token.as_bytes()).expect("parses");
        assert_eq!(
            assertion.check(&rs256_keys, &rules(SINGLE_USE)),
            Err(AssertionError::WrongAlgForKey)
        );
    }

    #[test]
    fn exp_nbf_and_iat_allow_the_leeway_and_no_more() {
        let at = |claim: &str, value: u64| checked(&with(claims(), claim, value.into()), REUSABLE);
        assert_eq!(at("exp", NOW - LEEWAY_S + 1), Ok(()));
        assert_eq!(at("exp", NOW - LEEWAY_S), Err(AssertionError::Expired));
        assert_eq!(at("exp", 0), Err(AssertionError::Expired));
        assert_eq!(at("nbf", NOW + LEEWAY_S), Ok(()));
        assert_eq!(
            at("nbf", NOW + LEEWAY_S + 1),
            Err(AssertionError::NotYetValid)
        );
        assert_eq!(at("iat", NOW + LEEWAY_S), Ok(()));
        assert_eq!(
            at("iat", NOW + LEEWAY_S + 1),
            Err(AssertionError::NotYetValid)
        );
        let no_leeway = Rules {
            leeway_s: 0,
            ..rules(SINGLE_USE)
        };
        let (signer, keys) = client(VerifyAlg::EdDSA);
        let check = |claims: &Value| {
            let token = signed(&signer, claims);
            let assertion = Assertion::parse(token.as_bytes()).expect("parses");
            assertion.check(&keys, &no_leeway).map(|c| c.exp)
        };
        assert_eq!(check(&with(claims(), "exp", (NOW + 1).into())), Ok(NOW + 1));
        let expired = with(claims(), "exp", NOW.into());
        assert_eq!(check(&expired), Err(AssertionError::Expired));
    }

    #[test]
    fn single_use_assertions_expire_soon_and_carry_a_jti() {
        let exp = |exp: u64| checked(&with(claims(), "exp", exp.into()), SINGLE_USE);
        assert_eq!(exp(NOW + MAX_AHEAD_S + LEEWAY_S), Ok(()));
        let too_long = Err(AssertionError::TooLongLived);
        assert_eq!(exp(NOW + MAX_AHEAD_S + LEEWAY_S + 1), too_long);
        assert_eq!(exp(u64::MAX), too_long);
        let no_jti = without(claims(), "jti");
        assert_eq!(
            checked(&no_jti, SINGLE_USE),
            Err(AssertionError::MissingJti)
        );
        // iat is optional for private_key_jwt.
        assert_eq!(checked(&without(claims(), "iat"), SINGLE_USE), Ok(()));
    }

    #[test]
    fn reusable_assertions_need_a_bounded_lifetime_but_no_jti() {
        let platform = |iat: u64, exp: u64| {
            let claims = with(
                with(without(claims(), "jti"), "iat", iat.into()),
                "exp",
                exp.into(),
            );
            checked(&claims, REUSABLE)
        };
        let issued = NOW - 3600;
        assert_eq!(platform(issued, issued + MAX_TOKEN_AGE_S), Ok(()));
        assert_eq!(
            platform(issued, issued + MAX_TOKEN_AGE_S + 1),
            Err(AssertionError::TooLongLived)
        );
        // Without iat, the lifetime counts from now.
        let no_iat =
            |exp: u64| checked(&with(without(claims(), "iat"), "exp", exp.into()), REUSABLE);
        assert_eq!(no_iat(NOW + MAX_TOKEN_AGE_S), Ok(()));
        assert_eq!(
            no_iat(NOW + MAX_TOKEN_AGE_S + 1),
            Err(AssertionError::TooLongLived)
        );
        assert_eq!(
            checked(&without(without(claims(), "iat"), "iss"), REUSABLE),
            Ok(()),
            "a JWT-SVID may have neither iss nor iat"
        );
        let (signer, keys) = client(VerifyAlg::RS256);
        let token = signed(&signer, &without(claims(), "jti"));
        let assertion = Assertion::parse(token.as_bytes()).expect("parses");
        let checked = assertion
            .check(&keys, &rules(REUSABLE))
            .expect("no jti needed");
        assert_eq!(checked.jti, None);
    }

    #[test]
    fn missing_mistyped_and_oversize_claims_are_malformed() {
        let malformed = Err(AssertionError::Malformed);
        for claim in ["sub", "aud", "exp"] {
            assert_eq!(
                checked(&without(claims(), claim), SINGLE_USE),
                malformed,
                "{claim}"
            );
        }
        let cases = [
            ("exp", json!(-1)),
            ("exp", json!(1.5e9)),
            ("exp", json!("1764000060")),
            ("iat", json!(true)),
            ("nbf", json!(-5)),
            ("iss", json!(["client-1"])),
            ("iss", json!("")),
            ("sub", json!("x".repeat(ASSERTION_CLAIM_BYTES_MAX + 1))),
            ("aud", json!("x".repeat(ASSERTION_CLAIM_BYTES_MAX + 1))),
            ("jti", json!("")),
            ("jti", json!(7)),
            ("jti", json!("j".repeat(JTI_BYTES_MAX + 1))),
        ];
        for (claim, value) in cases {
            let claims = with(claims(), claim, value.clone());
            assert_eq!(checked(&claims, SINGLE_USE), malformed, "{claim}: {value}");
        }
        let longest_jti = with(claims(), "jti", "j".repeat(JTI_BYTES_MAX).into());
        assert_eq!(checked(&longest_jti, SINGLE_USE), Ok(()));
        let longest_sub = with(
            claims(),
            "sub",
            "s".repeat(ASSERTION_CLAIM_BYTES_MAX).into(),
        );
        assert_eq!(checked(&longest_sub, SINGLE_USE), Ok(()));
        // Not a JWS at all, a crit header, and an oversize token.
        let signer = TestKey::generate("ES256");
        let crit = signer.token(&json!({"alg": "ES256", "crit": ["b64"]}), &claims());
        for token in [&b"client-1:secret"[..], crit.as_bytes(), &[b'a'; 9000]] {
            assert_eq!(
                Assertion::parse(token).err(),
                Some(AssertionError::Malformed)
            );
        }
    }

    #[test]
    fn reason_codes_are_distinct_snake_case() {
        let all = [
            AssertionError::Malformed,
            AssertionError::UnsupportedAlg,
            AssertionError::UnknownKey,
            AssertionError::WrongAlgForKey,
            AssertionError::BadSignature,
            AssertionError::Expired,
            AssertionError::NotYetValid,
            AssertionError::TooLongLived,
            AssertionError::WrongAudience,
            AssertionError::MissingJti,
            AssertionError::WrongIssuer,
            AssertionError::WrongSubject,
            AssertionError::Replayed,
        ];
        let mut codes: Vec<&str> = all.iter().map(AssertionError::reason_code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(
            AssertionError::Expired.to_string(),
            "client assertion refused: expired"
        );
    }
}
