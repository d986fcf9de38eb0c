//! What each fuzz target does with its input, shared by the `cargo fuzz` targets
//! (`fuzz/fuzz_targets/`) and by `tests/fuzz_regressions.rs`, which runs every saved input
//! in `fuzz/regressions/<target>/` on stable Rust as part of `scripts/test.sh`.
//!
//! Each function must not panic on any input, and checks the invariants its parser
//! promises.

use edgeauth::auth::assertion::{Assertion, Lifetime, Rules};
use edgeauth::auth::client_auth::{BasicScratch, BodyCredentials, client_credentials};
use edgeauth::auth::dpop;
use edgeauth::endpoint::params::parse_params;
use edgeauth::http::request;
use edgeauth::jwt::keys::SigningKey;
use edgeauth::jwt::public_key::{JwkSet, Unusable};
use edgeauth::jwt::verify::verify_token;
use edgeauth::store::events::{Invalidation, parse_revocation};
use edgeauth::tls::{ClientRoots, PeerCert, ServerTls, Session, ShardTls, SubjectName, TicketKeys};

/// A target's harness: its whole job on one input.
pub type Harness = fn(&[u8]);

/// The targets, by name: the directory of their saved inputs and their function.
pub const TARGETS: &[(&str, Harness)] = &[
    ("http_request", http_request),
    ("body_params", body_params),
    ("basic_auth", basic_auth),
    ("pg_backend", pg_backend),
    ("notify_payload", notify_payload),
    ("pem_key", pem_key),
    ("jwt_verify", jwt_verify),
    ("client_cert", client_cert),
    ("tls_session", tls_session),
    ("jose", jose),
];

/// The request parser and framing over one read buffer: every complete request is cut off
/// the front in turn (pipelining), and a prefix of a complete request is never a different
/// complete request (split reads).
pub fn http_request(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some(req)) = request::parse(rest) {
        assert!(req.len > 0 && req.len <= rest.len());
        let len = req.len;
        for cut in [len - 1, len / 2] {
            if let Ok(Some(prefix)) = request::parse(&rest[..cut]) {
                panic!(
                    "a prefix of {len} bytes parsed as a request of {}",
                    prefix.len
                );
            }
        }
        rest = &rest[len..];
    }
}

/// The form and JSON body parsers, under both media types, and the credentials they yield.
pub fn body_params(data: &[u8]) {
    for content_type in [
        &b"application/x-www-form-urlencoded"[..],
        b"application/json",
    ] {
        if let Ok(params) = parse_params(Some(content_type), data) {
            let mut scratch = BasicScratch::new();
            let _ = client_credentials(None, params.body_credentials(), &mut scratch);
        }
    }
}

/// Basic credential decoding of an arbitrary `Authorization` header value.
pub fn basic_auth(data: &[u8]) {
    let mut scratch = BasicScratch::new();
    if let Ok(credentials) =
        client_credentials(Some(data), BodyCredentials::default(), &mut scratch)
    {
        assert!(credentials.id().is_some_and(|id| !id.is_empty()));
    }
}

/// Our Postgres backend-message framing over an arbitrary stream.
pub fn pg_backend(data: &[u8]) {
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(_message)) = edgeauth::pg::codec::next_message(&mut buf) {}
}

/// The NOTIFY payloads a shard parses.
pub fn notify_payload(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_revocation(text);
        let what = Invalidation::parse(text);
        assert_eq!(Invalidation::parse(what.payload()), what);
    }
}

/// PEM and key loading.
pub fn pem_key(data: &[u8]) {
    if let Ok(key) = SigningKey::from_pem(data) {
        assert!(!key.kid().is_empty());
    }
}

thread_local! {
    /// Keys of every algorithm, loaded once (keys are not `Send`).
    static KEYS: Vec<SigningKey> = [
        edgeauth::jwt::Alg::ES256,
        edgeauth::jwt::Alg::EdDSA,
        edgeauth::jwt::Alg::HS256,
    ]
    .into_iter()
    .map(|alg| SigningKey::from_pem(edgeauth::jwt::generate_pem(alg).unwrap().as_bytes()).unwrap())
    .collect();
}

/// JWT verification as introspection sees it: arbitrary tokens against real keys; nothing
/// that was not signed by one of them may verify.
pub fn jwt_verify(data: &[u8]) {
    KEYS.with(|keys| {
        assert!(
            verify_token(keys, data).is_err(),
            "a token no key signed verified"
        );
    });
}

/// A client certificate as RFC 8705 authentication reads it (attacker-chosen DER after a
/// handshake that only proved key possession), and registered names: nothing panics, and
/// without roots nothing chains. The input splits at the first NUL: a subject name, then DER.
pub fn client_cert(data: &[u8]) {
    let (name, der) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let name = std::str::from_utf8(name)
        .ok()
        .and_then(|n| SubjectName::parse(n).ok());
    if let Some(name) = &name {
        assert_eq!(SubjectName::parse(&name.to_string()).as_ref(), Ok(name));
    }
    let chain = vec![rustls::pki_types::CertificateDer::from(der.to_vec())];
    let Some(peer) = PeerCert::new(chain, std::rc::Rc::new(ClientRoots::default())) else {
        return;
    };
    assert!(!peer.chains_to_client_ca());
    let _ = peer.is_current();
    if let Some(name) = &name {
        let _ = peer.has_name(name);
    }
}

thread_local! {
    /// A server configuration with a throwaway certificate (`fuzz/testdata/`), built once.
    static SERVER_TLS: ShardTls = ServerTls::from_pem(
        include_bytes!("testdata/server.pem"),
        include_bytes!("testdata/server.key"),
        Vec::new(),
        TicketKeys::random().unwrap(),
    )
    .unwrap()
    .for_shard()
    .unwrap();
}

/// The server side of a TLS session as the connection loop drives it: a client's bytes in
/// reads of any size (the first byte sets it), each handed to `Session::receive` whole.
/// Nothing panics or loops for ever, and a read never yields more plaintext than its size.
pub fn tls_session(data: &[u8]) {
    let Some((&read_size, records)) = data.split_first() else {
        return;
    };
    SERVER_TLS.with(|tls| {
        let mut session = Session::new(tls.config.clone()).unwrap();
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        for read in records.chunks(usize::from(read_size).max(1)) {
            let before = plain.len();
            let received = session.receive(read, &mut plain);
            assert!(plain.len() - before <= read.len());
            session.seal_pending(&mut out);
            if !matches!(received, Ok(false)) {
                return;
            }
        }
        session.seal(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &mut out);
    });
}

/// What the token endpoint does with JOSE from the network and from registrations: a JWK
/// set parsed both ways, a client assertion parsed and judged against real keys, and a DPoP
/// proof checked. Nothing panics, and nothing that none of the keys signed is accepted (a
/// DPoP proof carries its own key, so only its checks must hold: it verifies, or is refused).
pub fn jose(data: &[u8]) {
    let _ = JwkSet::parse(data, Unusable::Refuse);
    let _ = JwkSet::parse(data, Unusable::Skip);
    JOSE_KEYS.with(|keys| {
        if let Ok(assertion) = Assertion::parse(data) {
            for lifetime in [
                Lifetime::SingleUse { max_ahead_s: 300 },
                Lifetime::Reusable {
                    max_token_age_s: 86_400,
                },
            ] {
                let rules = Rules {
                    now: 1_700_000_000,
                    audiences: &["https://issuer", "https://issuer/oauth/token"],
                    leeway_s: 5,
                    lifetime,
                };
                assert!(
                    assertion.check(keys, &rules).is_err(),
                    "an assertion none of the keys signed was accepted"
                );
            }
        }
    });
    let window = dpop::Window {
        max_age_s: 60,
        leeway_s: 5,
    };
    if let Ok(proof) = dpop::check(
        data,
        "POST",
        "https://issuer/oauth/token",
        1_700_000_000,
        window,
    ) {
        assert!(!proof.jti.is_empty() && !proof.jkt.is_empty());
    }
}

thread_local! {
    /// A JWK set of one public key per algorithm; their private halves are thrown away.
    static JOSE_KEYS: JwkSet = {
        use edgeauth::jwt::Alg;
        let pems = [Alg::ES256, Alg::EdDSA, Alg::RS256].map(|alg| {
            SigningKey::from_pem(edgeauth::jwt::generate_pem(alg).unwrap().as_bytes()).unwrap()
        });
        let jwks = edgeauth::jwt::jwks_json(pems.iter().filter_map(SigningKey::public_jwk));
        JwkSet::parse(&jwks, Unusable::Refuse).unwrap()
    };
}
