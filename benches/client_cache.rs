//! The client cache on the token endpoint's path, on a full 5,000-entry cache (the default
//! `cache_capacity`) holding `ClientRecord`s:
//!
//! * `hit`: a lookup that finds an unexpired client (a different one each time, so the
//!   recency list really moves).
//! * `hit_same_client`: one client over and over, the "few clients hammering" case, where
//!   the entry is already most recent and the list is not touched.
//! * `miss`: a client_id that is not cached (what a request pays before its database query).
//! * `insert_evict`: inserting a new client into the full cache, evicting the oldest.
//! * `hit_and_verify_secret`: a hit plus the SHA-256 and constant-time compare of the
//!   presented 43-character secret against the cached 32-byte hash: the whole cost of
//!   authenticating a known client.
//! * `rate_limit/admit`: a limited client's token taken from its shard's bucket, among
//!   5,000 limited clients (`endpoint::rate_limit`): what a per-client rate adds to a token.
//!
//! Run briefly on a shared box:
//! `cargo bench --bench client_cache -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::auth::secret::{generate_secret, hash_secret, verify_either, verify_secret};
use edgeauth::cache::{CacheConfig, CacheStats, ClientCache, Lookup};
use edgeauth::endpoint::rate_limit::RateLimiter;
use edgeauth::rate::Rate;
use edgeauth::store::clients::{ClientAuth, ClientRecord, Secrets};

const CAPACITY: usize = 5_000;

fn record(client_id: &str, secret: &str) -> ClientRecord {
    ClientRecord {
        client_id: client_id.to_owned(),
        auth: ClientAuth::Secret(Secrets::new(hash_secret(secret.as_bytes()))),
        certificate_bound: true,
        require_dpop: false,
        rate: None,
        resources: Vec::new(),
        claims: String::new(),
        allowed_scopes: "read write admin:metrics".to_owned(),
        audience: Some("https://api.example.com".to_owned()),
        token_ttl: Some(Duration::from_secs(3600)),
        grant_types: "client_credentials".to_owned(),
        disabled: false,
        tokens_not_before_ms: None,
    }
}

/// A full cache whose every client has `secret`; returns it with the ids it holds.
fn full_cache(secret: &str, now: Instant) -> (ClientCache<ClientRecord>, Vec<String>) {
    let config = CacheConfig {
        ttl: Duration::from_secs(600),
        capacity: CAPACITY,
        negative_ttl: Duration::from_secs(5),
        negative_capacity: 1_000,
    };
    let mut cache = ClientCache::new(config, Arc::new(CacheStats::default()));
    let ids: Vec<String> = (0..CAPACITY).map(|i| format!("service-{i:05}")).collect();
    for id in &ids {
        cache.insert(id, record(id, secret), now);
    }
    assert_eq!(cache.len(), CAPACITY);
    (cache, ids)
}

fn bench_cache(c: &mut Criterion) {
    let secret = generate_secret();
    let now = Instant::now();
    let mut group = c.benchmark_group("client_cache");

    let (mut cache, ids) = full_cache(&secret, now);
    // Stride through the ids so consecutive lookups hit unrelated entries.
    let mut at = 0usize;
    group.bench_function("hit", |b| {
        b.iter(|| {
            at = (at + 2_503) % CAPACITY;
            let hit = matches!(cache.get(black_box(&ids[at]), now), Lookup::Hit(_));
            assert!(hit);
        })
    });
    group.bench_function("hit_same_client", |b| {
        b.iter(|| {
            let hit = matches!(cache.get(black_box("service-00042"), now), Lookup::Hit(_));
            assert!(hit);
        })
    });
    group.bench_function("miss", |b| {
        b.iter(|| {
            let miss = matches!(cache.get(black_box("no-such-service"), now), Lookup::Miss);
            assert!(miss);
        })
    });

    // Fresh ids, each evicting the least recently used; ids are made outside the timing.
    let fresh: Vec<String> = (0..1 << 16).map(|i| format!("fresh-{i:06}")).collect();
    let template = record("fresh", &secret);
    let mut next = 0usize;
    group.bench_function("insert_evict", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % fresh.len();
                (next, template.clone())
            },
            |(index, value)| cache.insert(black_box(&fresh[index]), value, now),
            criterion::BatchSize::SmallInput,
        )
    });

    let (mut cache, ids) = full_cache(&secret, now);
    let now_s = edgeauth::clock::unix_now_s();
    let mut at = 0usize;
    group.bench_function("hit_and_verify_secret", |b| {
        b.iter(|| {
            at = (at + 2_503) % CAPACITY;
            let ok = match cache.get(black_box(&ids[at]), now) {
                Lookup::Hit(client) => {
                    let ClientAuth::Secret(secrets) = &client.auth else {
                        unreachable!("every benchmark client has a secret")
                    };
                    let previous = secrets.previous_at(now_s);
                    !client.disabled
                        && verify_either(black_box(secret.as_bytes()), &secrets.current, previous)
                }
                Lookup::Absent | Lookup::Miss => false,
            };
            assert!(ok);
        })
    });
    group.bench_function("verify_secret_alone", |b| {
        let hash = hash_secret(secret.as_bytes());
        b.iter(|| assert!(verify_secret(black_box(secret.as_bytes()), &hash)))
    });
    group.finish();
}

fn bench_rate_limit(c: &mut Criterion) {
    let limiter = RateLimiter::new(CAPACITY, 2);
    let rate = Some(Rate::parse("1000000/s", None).expect("a rate"));
    let clients: Vec<ClientRecord> = (0..CAPACITY)
        .map(|i| ClientRecord {
            rate,
            ..record(&format!("service-{i:05}"), "s")
        })
        .collect();
    let now = Instant::now();
    for client in &clients {
        let _ = limiter.admit(client, None, now);
    }
    let mut i = 0;
    c.bench_function("rate_limit/admit", |b| {
        b.iter(|| {
            i = (i + 1) % CAPACITY;
            black_box(limiter.admit(&clients[i], None, Instant::now()))
        })
    });
}

criterion_group!(benches, bench_cache, bench_rate_limit);
criterion_main!(benches);
