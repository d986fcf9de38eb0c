//! The HTTP stage of the hot path on canned bytes: parse a typical token request (Basic auth,
//! form body), decode its parameters and credentials, decode form and JSON bodies alone, and
//! write a token response into a reused buffer. Run briefly on the shared box:
//!
//! ```text
//! cargo bench --bench http_parse -- --warm-up-time 1 --measurement-time 2
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeauth::auth::client_auth::{BasicScratch, client_credentials};
use edgeauth::endpoint::params::parse_params;
use edgeauth::http::{parse, write_json};

/// What `wrk` with a Lua token script sends: 255 bytes.
const TOKEN_REQUEST: &[u8] = b"POST /oauth/token HTTP/1.1\r\n\
    Host: 127.0.0.1:8080\r\n\
    User-Agent: wrk\r\n\
    Authorization: Basic c2VydmljZS1hOnE0bVZ4c1pnOXdUZUtIM2pVcDdMYzJ5Qk5mUmQ4YVg=\r\n\
    Content-Type: application/x-www-form-urlencoded\r\n\
    Content-Length: 40\r\n\
    \r\n\
    grant_type=client_credentials&scope=read";

/// A token response body of typical size (an ES256 JWT is ~550 bytes).
fn token_body() -> Vec<u8> {
    let mut body = br#"{"access_token":""#.to_vec();
    body.resize(body.len() + 550, b'x');
    body.extend_from_slice(br#"","token_type":"Bearer","expires_in":3600,"scope":"read"}"#);
    body
}

fn bench_parse(c: &mut Criterion) {
    c.bench_function("parse token request", |b| {
        b.iter(|| {
            let request = parse(black_box(TOKEN_REQUEST));
            black_box(request.is_ok_and(|request| request.is_some()))
        })
    });

    let mut scratch = BasicScratch::new();
    c.bench_function("parse + params + Basic credentials", |b| {
        b.iter(|| {
            let Ok(Some(request)) = parse(black_box(TOKEN_REQUEST)) else {
                panic!("the canned request parses");
            };
            let params = parse_params(request.content_type, request.body).expect("valid body");
            let credentials = client_credentials(
                request.authorization,
                params.body_credentials(),
                &mut scratch,
            )
            .expect("valid credentials");
            black_box(credentials.id().map(str::len))
        })
    });
}

/// The body decoders alone: the form body wrk sends, a form body with percent-encoded
/// credentials (`client_secret_post`), and the JSON body ab sends.
fn bench_params(c: &mut Criterion) {
    const FORM: &[u8] = b"grant_type=client_credentials&scope=read";
    const FORM_POST: &[u8] = b"grant_type=client_credentials&client_id=billing%2Dservice\
        &client_secret=q4mVxsZg9wTeKH3jUp7Lc2yBNfRd8aX%2B&scope=invoices%3Aread+invoices%3Awrite";
    const JSON: &[u8] = br#"{"grant_type":"client_credentials","client_id":"billing-service","client_secret":"q4mVxsZg9wTeKH3jUp7Lc2yBNfRd8aX","scope":"read"}"#;
    let form = Some(&b"application/x-www-form-urlencoded"[..]);
    let json = Some(&b"application/json"[..]);
    let mut group = c.benchmark_group("params");
    for (name, content_type, body) in [
        ("form", form, FORM),
        ("form, percent-encoded credentials", form, FORM_POST),
        ("json", json, JSON),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let params = parse_params(content_type, black_box(body)).expect("valid body");
                black_box(params.grant_type.is_some())
            })
        });
    }
    group.finish();
}

fn bench_write(c: &mut Criterion) {
    let body = token_body();
    let extra_headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")];
    let mut out = Vec::with_capacity(4096);
    c.bench_function("write token response (known length)", |b| {
        b.iter(|| {
            out.clear();
            write_json(&mut out, 200, black_box(&body), true, &extra_headers);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, bench_parse, bench_params, bench_write);
criterion_main!(benches);
