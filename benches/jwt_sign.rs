//! Per-token signing cost, per algorithm, against the jsonwebtoken ways of doing it.
//!
//! * `sign_into`: edgeauth's hot path (precomputed header, hand-written claims, reused
//!   buffer, jsonwebtoken's aws-lc signer built once per key).
//! * `jsonwebtoken_encode`: `jsonwebtoken::encode` with a serde claims struct (parses the
//!   key on every call).
//! * `provider_signer`: jsonwebtoken's aws-lc signer built once via
//!   `CryptoProvider::signer_factory`, signing a prebuilt signing input (no claims work).
//! * `verify_token`: what introspection costs: verifying one of our tokens (keys parsed once).
//! * `secret/*`: client-secret hash and verify; `jti/next`: one UUIDv7.
//!
//! Run briefly on a shared box:
//! `cargo bench --bench jwt_sign -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::auth::secret::{generate_secret, hash_secret, verify_secret};
use edgeauth::jwt::claims::Audience;
use edgeauth::jwt::verify::verify_token;
use edgeauth::jwt::{AccessClaims, Alg, JtiGenerator, SigningKey, TokenSigner, generate_pem};
use jsonwebtoken::{EncodingKey, Header, crypto::aws_lc::DEFAULT_PROVIDER};
use serde::Serialize;

const ALGS: [Alg; 4] = [Alg::HS256, Alg::EdDSA, Alg::ES256, Alg::RS256];

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    client_id: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
    scope: &'a str,
}

const AUD: &str = "https://api.example.com";

fn claims() -> AccessClaims<'static> {
    AccessClaims {
        iss: "https://auth.example.com",
        sub: "billing-service",
        aud: Audience::One(AUD),
        iat: 1_764_000_000,
        exp: 1_764_003_600,
        jti: "019abc12-3456-7def-8123-456789abcdef",
        scope: "invoices:read invoices:write",
        cnf_x5t_s256: None,
        cnf_jkt: None,
        extra: "",
    }
}

/// jsonwebtoken's key for the same PEM edgeauth loaded.
fn encoding_key(alg: Alg, pem: &str) -> EncodingKey {
    let parsed = match alg {
        Alg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Alg::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        Alg::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Alg::HS256 => {
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            EncodingKey::from_base64_secret(&body)
        }
    };
    parsed.expect("jsonwebtoken accepts the generated key")
}

fn bench_signing(c: &mut Criterion) {
    for alg in ALGS {
        let pem = generate_pem(alg).expect("generate key");
        let signer = TokenSigner::new(SigningKey::from_pem(pem.as_bytes()).expect("load key"));
        let mut group = c.benchmark_group(format!("sign/{alg}"));

        let mut out = Vec::with_capacity(1024);
        let claims = claims();
        group.bench_function("sign_into", |b| {
            b.iter(|| {
                out.clear();
                signer
                    .sign_into(black_box(&claims), &mut out)
                    .expect("sign");
                black_box(out.len())
            })
        });

        let key = encoding_key(alg, &pem);
        let mut header = Header::new(alg.to_jsonwebtoken());
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(signer.key().kid().to_owned());
        let serde_claims = Claims {
            iss: claims.iss,
            sub: claims.sub,
            client_id: claims.sub,
            aud: AUD,
            iat: claims.iat,
            exp: claims.exp,
            jti: claims.jti,
            scope: claims.scope,
        };
        group.bench_function("jsonwebtoken_encode", |b| {
            b.iter(|| {
                jsonwebtoken::encode(&header, black_box(&serde_claims), &key).expect("encode")
            })
        });

        let prebuilt =
            (DEFAULT_PROVIDER.signer_factory)(&alg.to_jsonwebtoken(), &key).expect("signer");
        out.clear();
        signer.sign_into(&claims, &mut out).expect("sign");
        let signing_input_len = out.iter().rposition(|&b| b == b'.').expect("three parts");
        let signing_input = out[..signing_input_len].to_vec();
        group.bench_function("provider_signer", |b| {
            b.iter(|| prebuilt.try_sign(black_box(&signing_input)).expect("sign"))
        });

        // Introspection's cost: verifying a token we issued (signature, typ, kid), keys
        // parsed once, in the same run as signing.
        out.clear();
        signer.sign_into(&claims, &mut out).expect("sign");
        let token = out.clone();
        let keys = [SigningKey::from_pem(pem.as_bytes()).expect("load key")];
        group.bench_function("verify_token", |b| {
            b.iter(|| verify_token(&keys, black_box(&token)).expect("verifies"))
        });
        group.finish();
    }
}

fn bench_secrets(c: &mut Criterion) {
    let secret = generate_secret();
    let stored = hash_secret(secret.as_bytes());
    let mut group = c.benchmark_group("secret");
    group.bench_function("hash", |b| {
        b.iter(|| hash_secret(black_box(secret.as_bytes())))
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify_secret(black_box(secret.as_bytes()), &stored))
    });
    group.finish();

    let mut jti = JtiGenerator::new();
    c.bench_function("jti/next", |b| {
        b.iter(|| jti.next(black_box(1_764_000_000_000)))
    });
}

criterion_group!(benches, bench_signing, bench_secrets);
criterion_main!(benches);
