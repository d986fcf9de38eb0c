//! What introspection's verified-token cache saves, per algorithm, on a full cache of
//! `limits::VERIFIED_TOKENS_PER_SHARD_MAX` tokens:
//!
//! * `verify`: what a miss pays before the revocation and client checks:
//!   `endpoint::introspect::verify` (the signature against the configured key, the claims'
//!   parse, the jti, the answer serialized once).
//! * `hit`: what a hit pays instead: the lookup of the whole token (foldhash of its bytes,
//!   their comparison with the cached token's, the `exp` check, the recency touch) and the
//!   clone of the cached record's `Rc`, as `endpoint::introspect` runs it.
//! * `hit_round_robin`: hits on 1,024 different cached tokens in turn, so the recency list
//!   really moves and the entries are not all in the CPU's cache.
//! * `miss_and_insert`: a token not cached, looked up, then inserted into the full cache,
//!   evicting the least recently used: the cache's own cost on a miss, beside `verify`.
//! * `sha256`: SHA-256 of the whole token (aws-lc), the key the cache does not use: what
//!   every introspection, hit or miss, would pay first if it did.
//!
//! Run briefly on a shared box:
//! `cargo bench --bench introspect_cache -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::cache::{VerifiedCache, VerifiedStats, VerifiedToken};
use edgeauth::endpoint::introspect::verify;
use edgeauth::jwt::claims::Audience;
use edgeauth::jwt::{AccessClaims, Alg, JtiGenerator, SigningKey, TokenSigner, generate_pem};
use edgeauth::limits::{VERIFIED_TOKEN_BYTES_MAX, VERIFIED_TOKENS_PER_SHARD_MAX};

const ALGS: [Alg; 3] = [Alg::HS256, Alg::EdDSA, Alg::ES256];
const NOW_S: u64 = 1_764_000_000;
const ROUND_ROBIN: usize = 1024;

/// `n` tokens as the token endpoint signs them (one client, a short scope), each with its
/// own jti.
fn tokens(signer: &TokenSigner, n: usize) -> Vec<String> {
    let mut jti = JtiGenerator::new();
    (0..n)
        .map(|_| {
            let id = jti.next(NOW_S * 1000).hyphenated().to_string();
            let claims = AccessClaims {
                iss: "https://auth.example.com",
                sub: "billing-service",
                aud: Audience::One("https://api.example.com"),
                iat: NOW_S,
                exp: NOW_S + 3600,
                jti: &id,
                scope: "read write",
                cnf_x5t_s256: None,
                cnf_jkt: None,
                extra: "",
            };
            let mut out = Vec::with_capacity(1024);
            signer.sign_into(&claims, &mut out).expect("sign");
            String::from_utf8(out).expect("a JWS is ASCII")
        })
        .collect()
}

/// A full cache of `tokens`, each verified for real.
fn full_cache(keys: &[SigningKey], tokens: &[String]) -> VerifiedCache<Rc<VerifiedToken>> {
    let stats = Arc::new(VerifiedStats::default());
    let mut cache = VerifiedCache::new(
        VERIFIED_TOKENS_PER_SHARD_MAX,
        VERIFIED_TOKEN_BYTES_MAX,
        stats,
    );
    for token in tokens {
        let verified = verify(keys, token.as_bytes(), NOW_S).expect("our token verifies");
        let exp_s = verified.exp_s;
        let generation = cache.generation();
        assert!(cache.insert(token, generation, exp_s, Rc::new(verified), NOW_S));
    }
    assert_eq!(cache.len(), cache.capacity());
    cache
}

fn bench_introspect_cache(c: &mut Criterion) {
    for alg in ALGS {
        let pem = generate_pem(alg).expect("generate key");
        let key = || SigningKey::from_pem(pem.as_bytes()).expect("load key");
        let signer = TokenSigner::new(key());
        let keys = [key()];
        let cached = tokens(&signer, VERIFIED_TOKENS_PER_SHARD_MAX);
        let mut cache = full_cache(&keys, &cached);
        let token = &cached[cached.len() / 2];
        eprintln!(
            "{alg}: token {} bytes, answer {} bytes",
            token.len(),
            cache.get(token, NOW_S).expect("cached").answer.len()
        );

        let mut group = c.benchmark_group(format!("introspect_cache/{alg}"));
        group.bench_function("verify", |b| {
            b.iter(|| black_box(verify(&keys, black_box(token.as_bytes()), NOW_S)))
        });
        group.bench_function("hit", |b| {
            b.iter(|| black_box(cache.get(black_box(token), NOW_S).cloned()))
        });
        let mut i = 0;
        group.bench_function("hit_round_robin", |b| {
            b.iter(|| {
                i = (i + 1) % ROUND_ROBIN;
                black_box(cache.get(black_box(&cached[i * 7]), NOW_S).cloned())
            })
        });
        // Tokens never cached, each inserted once (evicting) and then cached: cycle through
        // more than the capacity so that every lookup misses.
        let fresh = tokens(&signer, 2 * VERIFIED_TOKENS_PER_SHARD_MAX);
        let record = Rc::new(verify(&keys, token.as_bytes(), NOW_S).expect("verifies"));
        let mut next = 0;
        group.bench_function("miss_and_insert", |b| {
            b.iter(|| {
                next = (next + 1) % fresh.len();
                let t = &fresh[next];
                assert!(cache.get(black_box(t), NOW_S).is_none());
                let generation = cache.generation();
                cache.insert(t, generation, NOW_S + 3600, record.clone(), NOW_S)
            })
        });
        group.bench_function("sha256", |b| {
            b.iter(|| {
                black_box(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    black_box(token.as_bytes()),
                ))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_introspect_cache);
criterion_main!(benches);
