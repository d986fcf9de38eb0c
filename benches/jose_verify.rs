//! What verifying others' JOSE costs per token request, per algorithm, next to the bare
//! signature check under it, so the overhead beyond the signature is visible.
//!
//! * `assertion`: `Assertion::parse` + `check` of a `private_key_jwt` client assertion
//!   against the client's JWK set, parsed once (as the endpoint holds it).
//! * `dpop`: `dpop::check` of a proof; its `jwk` header is parsed on every call, as it must
//!   be at the endpoint.
//! * `jwk_from_json`: `PublicJwk::from_json` alone, the part of `dpop` the assertion skips.
//! * `signature_only`: aws-lc's `ParsedPublicKey::verify_sig` on the same signing input and
//!   signature, the key parsed once.
//! * `dpop_nonce/issue`, `dpop_nonce/accepts`: a server nonce made and checked.
//!
//! Tokens are signed by jsonwebtoken (an independent signer) with keys from
//! `generate_pem`; RS256 and PS256 use one RSA-2048 key.
//!
//! Run briefly on a shared box:
//! `cargo bench --bench jose_verify -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::auth::assertion::{Assertion, Lifetime, Rules};
use edgeauth::auth::dpop::{self, NonceKey, Window};
use edgeauth::jwt::{Alg, JwkSet, PublicJwk, SigningKey, Unusable, VerifyAlg, generate_pem};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const NOW: u64 = 1_764_000_000;
const TOKEN_URL: &str = "https://auth.example.com/oauth/token";

/// A client key: its public JWK (restricted to `alg`) and jsonwebtoken's signing key.
struct ClientKey {
    alg: VerifyAlg,
    jwk: Value,
    encoding_key: EncodingKey,
}

fn client_key(alg: VerifyAlg) -> ClientKey {
    let (ours, read): (Alg, fn(&[u8]) -> _) = match alg {
        VerifyAlg::ES256 => (Alg::ES256, EncodingKey::from_ec_pem),
        VerifyAlg::EdDSA => (Alg::EdDSA, EncodingKey::from_ed_pem),
        VerifyAlg::RS256 | VerifyAlg::PS256 => (Alg::RS256, EncodingKey::from_rsa_pem),
    };
    let pem = generate_pem(ours).expect("generate key");
    let key = SigningKey::from_pem(pem.as_bytes()).expect("load key");
    let mut jwk = key.public_jwk().expect("asymmetric").clone();
    jwk["alg"] = alg.as_str().into();
    let encoding_key = read(pem.as_bytes()).expect("jsonwebtoken reads the key");
    ClientKey {
        alg,
        jwk,
        encoding_key,
    }
}

impl ClientKey {
    fn jose_alg(&self) -> Algorithm {
        self.alg
            .as_str()
            .parse()
            .expect("jsonwebtoken knows the alg")
    }

    fn kid(&self) -> String {
        self.jwk["kid"].as_str().expect("kid").to_owned()
    }

    fn assertion(&self) -> String {
        let mut header = Header::new(self.jose_alg());
        header.kid = Some(self.kid());
        let claims = json!({
            "iss": "billing-service", "sub": "billing-service", "aud": TOKEN_URL,
            "exp": NOW + 60, "iat": NOW, "jti": "0b6a1f0e-5c1d-4c7e-9a51-3d1f6e3c2b10",
        });
        jsonwebtoken::encode(&header, &claims, &self.encoding_key).expect("sign")
    }

    fn dpop_proof(&self) -> String {
        let mut header = Header::new(self.jose_alg());
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("a JWK"));
        let claims =
            json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": TOKEN_URL, "iat": NOW});
        jsonwebtoken::encode(&header, &claims, &self.encoding_key).expect("sign")
    }

    /// The same public key as aws-lc parses it, for the bare signature check.
    fn parsed_public_key(&self) -> ParsedPublicKey {
        let member = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(self.jwk[name].as_str().expect("member"))
                .expect("base64url")
        };
        let rsa = |params| {
            let (n, e) = (member("n"), member("e"));
            RsaPublicKeyComponents { n: &n, e: &e }.to_parsed_public_key(params)
        };
        match self.alg {
            VerifyAlg::ES256 => {
                let point = [&[4][..], &member("x"), &member("y")].concat();
                ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
            }
            VerifyAlg::EdDSA => ParsedPublicKey::new(&sig::ED25519, member("x")),
            VerifyAlg::RS256 => rsa(&sig::RSA_PKCS1_2048_8192_SHA256),
            VerifyAlg::PS256 => rsa(&sig::RSA_PSS_2048_8192_SHA256),
        }
        .expect("a valid public key")
    }
}

/// `(signing input, raw signature)` of a compact JWS.
fn split_signature(token: &str) -> (&[u8], Vec<u8>) {
    let dot = token.rfind('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD
        .decode(&token[dot + 1..])
        .expect("base64url");
    (&token.as_bytes()[..dot], signature)
}

fn bench_verify(c: &mut Criterion) {
    let audiences = [TOKEN_URL];
    let rules = Rules {
        now: NOW,
        audiences: &audiences,
        leeway_s: 30,
        lifetime: Lifetime::SingleUse { max_ahead_s: 300 },
    };
    let window = Window {
        max_age_s: 60,
        leeway_s: 5,
    };
    for alg in VerifyAlg::ALL {
        let key = client_key(alg);
        let jwks = serde_json::to_vec(&json!({ "keys": [key.jwk] })).expect("JSON");
        let keys = JwkSet::parse(&jwks, Unusable::Refuse).expect("client JWKS");
        let assertion = key.assertion();
        let proof = key.dpop_proof();
        let mut group = c.benchmark_group(format!("jose/{alg}"));
        group.bench_function("assertion", |b| {
            b.iter(|| {
                let parsed = Assertion::parse(black_box(assertion.as_bytes())).expect("parses");
                parsed.check(&keys, &rules).expect("valid").exp
            })
        });
        group.bench_function("dpop", |b| {
            b.iter(|| {
                dpop::check(black_box(proof.as_bytes()), "POST", TOKEN_URL, NOW, window)
                    .expect("valid")
                    .iat
            })
        });
        group.bench_function("jwk_from_json", |b| {
            b.iter(|| PublicJwk::from_json(black_box(&key.jwk)).expect("parses"))
        });
        let public = key.parsed_public_key();
        let (input, signature) = split_signature(&assertion);
        assert!(public.verify_sig(input, &signature).is_ok());
        group.bench_function("signature_only", |b| {
            b.iter(|| {
                public
                    .verify_sig(black_box(input), black_box(&signature))
                    .expect("verifies")
            })
        });
        group.finish();
    }
}

fn bench_nonces(c: &mut Criterion) {
    let key = NonceKey::random();
    let nonce = key.issue(NOW);
    let mut group = c.benchmark_group("dpop_nonce");
    group.bench_function("issue", |b| b.iter(|| key.issue(black_box(NOW))));
    group.bench_function("accepts", |b| {
        b.iter(|| key.accepts(black_box(&nonce), black_box(NOW)))
    });
    group.finish();
}

criterion_group!(benches, bench_verify, bench_nonces);
criterion_main!(benches);
