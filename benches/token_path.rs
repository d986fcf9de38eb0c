//! The whole token path in memory: request bytes in, response bytes out, no network and no
//! database — the number that bounds what one core can do before the kernel's socket work.
//!
//! Per request, exactly what `POST /oauth/token` runs for a cached client: parse the HTTP
//! request, decode the body, take the presented credentials (`client_authn::presented`),
//! look the client up in a full client cache and check its secret (`client_authn::accept`),
//! judge grant and scope, sign, and append the token's row to a batch's binary arrays
//! (`token::mint`), then write the response head and body (`write_json`). Two requests: HTTP
//! Basic with a form body (what `scripts/token.lua` sends through wrk) and a JSON body with
//! `client_secret_post` (what ab sends with `scripts/token-request.json`); per algorithm.
//!
//! Run briefly on the shared box:
//!
//! ```text
//! cargo bench --bench token_path -- --warm-up-time 1 --measurement-time 3
//! ```

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::auth::client_auth::BasicScratch;
use edgeauth::auth::federation::TrustedIssuers;
use edgeauth::auth::secret::{generate_secret, hash_secret};
use edgeauth::batch::encode::ArrayRows;
use edgeauth::cache::{CacheConfig, CacheStats, ClientCache, Lookup};
use edgeauth::endpoint::client_authn;
use edgeauth::endpoint::oauth_error::NO_STORE_HEADERS;
use edgeauth::endpoint::params::parse_params;
use edgeauth::endpoint::token::{Asked, Minter, mint};
use edgeauth::http::{parse, write_json};
use edgeauth::jwt::{Alg, JtiGenerator, SigningKey, TokenSigner, generate_pem};
use edgeauth::store::clients::{ClientAuth, ClientRecord};

const ALGS: [Alg; 3] = [Alg::HS256, Alg::EdDSA, Alg::ES256];
/// The server's default `cache_capacity` and `batch_size`.
const CACHE_CAPACITY: usize = 5_000;
const BATCH_ROWS: usize = 1_000;
const CLIENT_ID: &str = "billing-service";

fn record(client_id: &str, secret: &str) -> ClientRecord {
    ClientRecord {
        client_id: client_id.to_owned(),
        auth: ClientAuth::Secret(edgeauth::store::clients::Secrets::new(hash_secret(
            secret.as_bytes(),
        ))),
        certificate_bound: true,
        require_dpop: false,
        rate: None,
        resources: Vec::new(),
        claims: String::new(),
        allowed_scopes: "read write".to_owned(),
        audience: None,
        token_ttl: None,
        grant_types: "client_credentials".to_owned(),
        disabled: false,
        tokens_not_before_ms: None,
    }
}

/// A full cache, as on a busy server: `CLIENT_ID` among 4,999 others.
fn full_cache(secret: &str, now: Instant) -> ClientCache<Rc<ClientRecord>> {
    let config = CacheConfig {
        ttl: Duration::from_secs(600),
        capacity: CACHE_CAPACITY,
        negative_ttl: Duration::from_secs(5),
        negative_capacity: CACHE_CAPACITY,
    };
    let mut cache = ClientCache::new(config, Arc::new(CacheStats::default()));
    for i in 1..CACHE_CAPACITY {
        let id = format!("service-{i:05}");
        cache.insert(&id, Rc::new(record(&id, secret)), now);
    }
    cache.insert(CLIENT_ID, Rc::new(record(CLIENT_ID, secret)), now);
    cache
}

fn basic_form_request(secret: &str) -> Vec<u8> {
    let credentials = STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
    let body = "grant_type=client_credentials&scope=read";
    format!(
        "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
         Authorization: Basic {credentials}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn json_post_request(secret: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"grant_type":"client_credentials","client_id":"{CLIENT_ID}","client_secret":"{secret}","scope":"read"}}"#
    );
    format!(
        "POST /oauth/token HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\n\
         User-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One shard's state for the path: its cache, signer, jti source, batch arrays and buffers.
struct Path {
    cache: ClientCache<Rc<ClientRecord>>,
    signer: TokenSigner,
    jti: RefCell<JtiGenerator>,
    rows: ArrayRows,
    body: Vec<u8>,
    out: Vec<u8>,
    issuers: TrustedIssuers,
}

impl Path {
    /// Answer one request into `self.out`, as the token endpoint does for a cached client.
    fn answer(&mut self, request: &[u8], now: Instant) -> usize {
        let Ok(Some(req)) = parse(request) else {
            panic!("the canned request parses");
        };
        let params = parse_params(req.content_type, req.body).expect("valid body");
        let mut basic = BasicScratch::new();
        let presented =
            client_authn::presented(&req, &params, &mut basic, None).expect("credentials present");
        let grant_type = params.grant_type.as_deref().expect("grant_type present");
        let cached = match self.cache.get(&presented.client_id, now) {
            Lookup::Hit(client) => Some(client.clone()),
            Lookup::Absent | Lookup::Miss => None,
        };
        let judge = client_authn::Judge {
            now: 1_700_000_000,
            audiences: [
                "https://auth.example.com",
                "https://auth.example.com/oauth/token",
            ],
            assertion_max_age: Duration::from_secs(300),
            issuers: &self.issuers,
        };
        let client = client_authn::accept(&presented, cached, &judge)
            .expect("authenticated")
            .client;
        let minter = Minter {
            issuer: "https://auth.example.com",
            audience: "https://api.example.com",
            token_ttl: Duration::from_secs(3600),
            signer: &self.signer,
            jti: &self.jti,
        };
        self.body.clear();
        let rows = &mut self.rows;
        let asked = Asked {
            grant_type,
            scope: params.scope.as_deref(),
            resources: &params.resources,
            bound_to: None,
            dpop_jkt: None,
        };
        mint(&minter, &asked, &client, &mut self.body, |row| {
            if rows.len() == BATCH_ROWS {
                rows.clear(); // the writer hands a full batch over and starts a fresh one
            }
            rows.push(row);
            Ok(())
        })
        .expect("token issued");
        self.out.clear();
        write_json(
            &mut self.out,
            200,
            &self.body,
            req.keep_alive,
            NO_STORE_HEADERS,
        );
        self.out.len()
    }
}

fn bench_token_path(c: &mut Criterion) {
    let secret = generate_secret();
    let requests = [
        ("basic+form", basic_form_request(&secret)),
        ("post+json", json_post_request(&secret)),
    ];
    for alg in ALGS {
        let pem = generate_pem(alg).expect("generate key");
        let now = Instant::now();
        let mut path = Path {
            cache: full_cache(&secret, now),
            signer: TokenSigner::new(SigningKey::from_pem(pem.as_bytes()).expect("load key")),
            jti: RefCell::new(JtiGenerator::new()),
            rows: ArrayRows::with_capacity(BATCH_ROWS, 64),
            body: Vec::with_capacity(4096),
            out: Vec::with_capacity(4096),
            issuers: TrustedIssuers::default(),
        };
        let mut group = c.benchmark_group(format!("token_path/{alg}"));
        for (name, request) in &requests {
            let first = path.answer(request, now);
            assert!(path.out.starts_with(b"HTTP/1.1 200 OK\r\n") && first > 0);
            group.bench_function(*name, |b| {
                b.iter(|| black_box(path.answer(black_box(request), now)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_token_path);
criterion_main!(benches);
