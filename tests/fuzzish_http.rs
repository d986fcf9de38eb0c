//! Mutation tests for the HTTP layer: thousands of damaged and re-split requests, generated
//! from a fixed seed so a failure reproduces. The parsers must never panic, must never claim
//! more bytes than they were given, and must agree with themselves however the bytes arrive.
//!
//! Run: `cargo test --test fuzzish_http`

use edgeauth::auth::client_auth::{BasicScratch, client_credentials};
use edgeauth::endpoint::params::parse_params;
use edgeauth::http::{BODY_BYTES_MAX, HEADER_BYTES_MAX, Request, parse};

const SEED: u64 = 0x5eed_0ea7_4a11_b0b5;
const ROUNDS: usize = 20_000;

/// xorshift64*: enough randomness for mutations, no dependency, same sequence every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

const SEEDS: [&[u8]; 4] = [
    b"POST /oauth/token HTTP/1.1\r\nHost: a\r\nAuthorization: Basic Y2xpZW50OnNlY3JldA==\r\n\
      Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n\
      grant_type=client_credentials&scope=read",
    b"POST /oauth/token HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n\
      Content-Length: 77\r\n\r\n\
      {\"grant_type\":\"client_credentials\",\"client_id\":\"a\",\"client_secret\":\"b\\u0041\"}",
    b"GET /.well-known/jwks.json?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
];

/// The seeds themselves are complete requests with nothing left over, and say what they mean.
#[test]
fn seeds_are_single_complete_requests() {
    for seed in SEEDS {
        let request = parse(seed).expect("valid").expect("complete");
        assert_eq!(request.len, seed.len());
        if !request.body.is_empty() {
            let params = parse_params(request.content_type, request.body).expect("valid body");
            assert_eq!(params.grant_type.as_deref(), Some("client_credentials"));
            let mut scratch = BasicScratch::new();
            let credentials = client_credentials(
                request.authorization,
                params.body_credentials(),
                &mut scratch,
            )
            .expect("valid");
            assert!(credentials.secret().is_some());
        }
    }
}

/// Overwrite, insert, delete or duplicate a few bytes, biased towards bytes that matter to
/// framing.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\r\n :%+=&{}\"\\0123456789\x00\xff\t,;";
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        let byte = match rng.below(2) {
            0 => INTERESTING[rng.below(INTERESTING.len())],
            _ => rng.next() as u8,
        };
        match rng.below(4) {
            0 if at < out.len() => out[at] = byte,
            1 => out.insert(at, byte),
            2 if at < out.len() => {
                out.remove(at);
            }
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

/// Everything a complete request promises about itself, and about the rest of the pipeline.
fn check_request(buf: &[u8], request: &Request<'_>) {
    assert!(request.len <= buf.len());
    assert!(request.len - request.body.len() <= HEADER_BYTES_MAX);
    assert!(request.body.len() <= BODY_BYTES_MAX);
    // The same request parses from exactly its own bytes, and no prefix of them is complete.
    assert_eq!(
        parse(&buf[..request.len]).ok().flatten().as_ref(),
        Some(request)
    );
    assert_eq!(parse(&buf[..request.len - 1]), Ok(None));
    // Whatever it carries, the body and credential decoders return rather than panic.
    if let Ok(params) = parse_params(request.content_type, request.body) {
        let _ = client_credentials(
            request.authorization,
            params.body_credentials(),
            &mut BasicScratch::new(),
        );
    }
}

#[test]
fn mutated_requests_never_panic_or_overrun() {
    let mut rng = Rng(SEED);
    let mut complete = 0;
    for round in 0..ROUNDS {
        let buf = mutate(&mut rng, SEEDS[round % SEEDS.len()]);
        match parse(&buf) {
            Ok(Some(request)) => {
                complete += 1;
                check_request(&buf, &request);
            }
            // Any prefix of an incomplete request is incomplete too.
            Ok(None) => assert_eq!(parse(&buf[..rng.below(buf.len() + 1)]), Ok(None)),
            Err(_) => {}
        }
    }
    // The mutations must leave enough valid requests for the checks above to mean something.
    assert!(
        complete > ROUNDS / 10,
        "only {complete} of {ROUNDS} mutated requests parsed"
    );
}

/// Random pipelines of valid requests, cut into random reads: the parser yields them in order,
/// whatever the read boundaries.
#[test]
fn pipelines_parse_the_same_however_they_arrive() {
    let mut rng = Rng(SEED ^ 1);
    for _ in 0..500 {
        let count = 1 + rng.below(8);
        let picks: Vec<&[u8]> = (0..count).map(|_| SEEDS[rng.below(SEEDS.len())]).collect();
        let wire: Vec<u8> = picks.concat();
        let mut buffer = Vec::new();
        let mut sent = 0;
        let mut parsed = 0;
        while parsed < count {
            let read = (1 + rng.below(64)).min(wire.len() - sent);
            buffer.extend_from_slice(&wire[sent..sent + read]);
            sent += read;
            while let Ok(Some(request)) = parse(&buffer) {
                assert_eq!(request.len, picks[parsed].len());
                let consumed = request.len;
                buffer.drain(..consumed);
                parsed += 1;
            }
            assert!(
                sent < wire.len() || parsed == count,
                "all bytes sent, requests left over"
            );
        }
        assert!(buffer.is_empty());
    }
}

#[test]
fn random_bodies_and_credentials_never_panic() {
    let mut rng = Rng(SEED ^ 2);
    let content_types: [&[u8]; 3] = [
        b"application/x-www-form-urlencoded",
        b"application/json",
        b"application/json; charset=utf-8",
    ];
    let bodies: [&[u8]; 3] = [
        b"grant_type=client_credentials&client_id=a%3Ab&client_secret=s+1&scope=",
        b"{\"grant_type\":\"client_credentials\",\"scope\":\"a b\",\"x\":[1,{\"y\":null}]}",
        b"Basic Y2xpZW50OnNlY3JldA==",
    ];
    for round in 0..ROUNDS {
        let body = mutate(&mut rng, bodies[round % bodies.len()]);
        let _ = parse_params(Some(content_types[rng.below(content_types.len())]), &body);
        let empty = parse_params(None, b"").expect("an empty body has no parameters");
        let _ = client_credentials(
            Some(&body),
            empty.body_credentials(),
            &mut BasicScratch::new(),
        );
    }
}
