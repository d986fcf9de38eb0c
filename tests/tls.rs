//! Native TLS on `listen`, through the real binary: tokens over TLS, the refusals (plain
//! HTTP on the TLS port, TLS on the plain port, stalled handshakes, ALPN), resumption on
//! every shard, SIGHUP reloads under load, and start-up errors for broken certificates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use common::tls::{CertFiles, Pki, TlsConn, client_config, write_private};
use common::*;

fn token_request(id: &str, secret: &str) -> Vec<u8> {
    token_request_basic(id, secret, "grant_type=client_credentials")
}

/// Per-shard values of a counter family.
fn per_shard(server: &Server, name: &str) -> Vec<u64> {
    let page = String::from_utf8(server.get("/metrics").body).unwrap();
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect()
}

#[test]
fn tokens_over_tls_verify_against_the_jwks_and_name_an_https_issuer() {
    let db = TestDb::new();
    let secret = db.add_client("tls-client", "read");
    let pki = Pki::new();
    let server = Server::start_tls(&db, &pki.server("server"), &[]);
    let tls_addr = server.tls_addr.unwrap();

    let mut conn = TlsConn::connect(tls_addr, pki.client()).expect("handshake");
    assert_eq!(conn.connection().alpn_protocol(), Some(&b"http/1.1"[..]));
    // Keep-alive: several requests on one session.
    for _ in 0..3 {
        let r = conn.request(&token_request("tls-client", &secret));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        let claims = verify(&server, &token, &server.issuer()).claims;
        assert_eq!(claims["iss"], format!("https://{tls_addr}"));
    }
    let metadata = conn
        .request(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: t\r\n\r\n")
        .json();
    assert_eq!(metadata["issuer"], format!("https://{tls_addr}"));
    assert_eq!(
        metadata["token_endpoint"],
        format!("https://{tls_addr}/oauth/token")
    );

    // TLS 1.2 as well.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).unwrap())
        .unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn = TlsConn::connect(tls_addr, Arc::new(tls12)).expect("TLS 1.2 handshake");
    assert_eq!(
        conn.connection().protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        conn.request(&token_request("tls-client", &secret)).status,
        200
    );
    assert_eq!(server.metric("edgeauth_tls_handshakes_total"), 2);
}

#[test]
fn the_wrong_protocol_on_either_port_is_refused_at_once() {
    let db = TestDb::new();
    let pki = Pki::new();
    let server = Server::start_tls(&db, &pki.server("server"), &[]);
    let tls_addr = server.tls_addr.unwrap();

    // Plain HTTP on the TLS port: a readable 400 in plain text, then close.
    let r = try_request(tls_addr, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("https://")
    );

    // A TLS hello on the plain listener: a 400 (not HTTP), and the handshake fails fast.
    let started = Instant::now();
    assert!(TlsConn::connect(server.addr, pki.client()).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));

    // A client that speaks only h2: refused in the handshake (no_application_protocol).
    let mut h2_only = (*pki.client()).clone();
    h2_only.alpn_protocols = vec![b"h2".to_vec()];
    assert!(TlsConn::connect(tls_addr, Arc::new(h2_only)).is_err());

    // Another CA's certificate is what a client sees when it does not trust ours.
    let other = Pki::new();
    assert!(TlsConn::connect(tls_addr, other.client()).is_err());

    // Nothing above hurt anyone else.
    let mut conn = TlsConn::connect(tls_addr, pki.client()).unwrap();
    assert_eq!(
        conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        200
    );
    assert!(server.metric("edgeauth_tls_handshake_failures_total") >= 3);
}

#[test]
fn a_stalled_handshake_is_closed_at_header_timeout() {
    let db = TestDb::new();
    let pki = Pki::new();
    let server = Server::start_tls(
        &db,
        &pki.server("server"),
        &[
            ("EDGEAUTH_HEADER_TIMEOUT", "1s"),
            ("EDGEAUTH_IDLE_TIMEOUT", "60s"),
        ],
    );
    let tls_addr = server.tls_addr.unwrap();
    // Silent after the connect, and half a ClientHello: both closed near header_timeout,
    // far before idle_timeout.
    let silent = TcpStream::connect(tls_addr).unwrap();
    let mut partial = TcpStream::connect(tls_addr).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .unwrap();
    let started = Instant::now();
    for mut stream in [silent, partial] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    // A full handshake that is then quiet is not a stalled head: it waits for idle_timeout.
    let mut conn = TlsConn::connect(tls_addr, pki.client()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        200
    );
    assert_eq!(server.metric("edgeauth_tls_handshake_failures_total"), 2);
}

#[test]
fn sessions_resume_on_every_shard() {
    let db = TestDb::new();
    let pki = Pki::new();
    let server = Server::start_tls(&db, &pki.server("server"), &[]);
    let tls_addr = server.tls_addr.unwrap();
    // One client config: its session store keeps the tickets it is given.
    let client = pki.client();
    let mut resumed = 0;
    for _ in 0..40 {
        let mut conn = TlsConn::connect(tls_addr, client.clone()).unwrap();
        // The ticket comes after the handshake; a response makes sure it has arrived.
        assert_eq!(
            conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .status,
            200
        );
        resumed += conn.resumed() as usize;
    }
    assert_eq!(resumed, 39, "every connection after the first resumes");
    let by_shard = per_shard(&server, "edgeauth_tls_resumed_handshakes_total");
    assert_eq!(by_shard.len(), 2);
    assert!(
        by_shard.iter().all(|&n| n > 0),
        "a ticket from one shard opens on the other: {by_shard:?}"
    );
}

/// Replace `target`'s certificate and key files with `source`'s (rename: never half-written).
fn install(source: &CertFiles, target: &CertFiles) {
    for (from, to) in [(&source.cert, &target.cert), (&source.key, &target.key)] {
        let tmp = to.with_extension("tmp");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
}

#[test]
fn sighup_swaps_the_certificate_under_load_and_keeps_it_when_the_new_one_is_bad() {
    let db = TestDb::new();
    let secret = db.add_client("reload", "read");
    let pki = Pki::new();
    let live = pki.server("live");
    let first = live.der.clone();
    let server = Server::start_tls(&db, &live, &[]);
    let tls_addr = server.tls_addr.unwrap();

    // Load: new connections and keep-alive requests, counting every failure.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            let (client, secret) = (pki.client(), secret.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut conn) = TlsConn::connect(tls_addr, client.clone()) else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    for _ in 0..5 {
                        let r = conn.send(&token_request("reload", &secret));
                        match r.and_then(|_| conn.read_response()) {
                            Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let renewed = pki.server("renewed");
    install(&renewed, &live);
    server.signal(libc::SIGHUP);
    eventually(
        "new connections see the renewed certificate",
        Duration::from_secs(5),
        || {
            let conn = TlsConn::connect(tls_addr, pki.client()).unwrap();
            ok_if(conn.server_cert() == renewed.der, ())
        },
    );
    std::thread::sleep(Duration::from_millis(300));

    // A key that belongs to another certificate: refused, the renewed one stays.
    let other = pki.server("other");
    std::fs::copy(&other.key, &live.key).unwrap();
    server.signal(libc::SIGHUP);
    eventually("the refusal is logged", Duration::from_secs(5), || {
        ok_if(server.log().contains("keeping the current ones"), ())
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let conn = TlsConn::connect(tls_addr, pki.client()).unwrap();
    assert_eq!(conn.server_cert(), renewed.der);
    assert_ne!(renewed.der, first);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during the reloads"
    );
    assert!(ok.load(Ordering::Relaxed) > 100);
}

/// `edgeauth serve` with these settings must exit with an error that contains `expected`.
fn refuses_to_start(db: &TestDb, settings: &[(&str, &str)], expected: &str) {
    let data_dir = std::env::temp_dir().join(unique_name("edgeauth-data"));
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("serve")
        .env("EDGEAUTH_DATABASE_URL", &db.url)
        .env("EDGEAUTH_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("EDGEAUTH_DATA_DIR", &data_dir);
    for (k, v) in settings {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {settings:?}");
    assert!(stderr.contains(expected), "{settings:?}: {stderr}");
}

#[test]
fn broken_certificates_are_refused_at_start_naming_the_file() {
    let db = TestDb::new();
    let pki = Pki::new();
    let good = pki.server("good");
    let other = pki.server("other");
    let cert = good.cert.to_str().unwrap();
    let key = good.key.to_str().unwrap();

    refuses_to_start(
        &db,
        &[
            ("EDGEAUTH_TLS_CERT", cert),
            ("EDGEAUTH_TLS_KEY", other.key.to_str().unwrap()),
        ],
        "does not belong to the first certificate",
    );

    let open_key = pki.dir.join("open.key");
    std::fs::copy(&good.key, &open_key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    refuses_to_start(
        &db,
        &[
            ("EDGEAUTH_TLS_CERT", cert),
            ("EDGEAUTH_TLS_KEY", open_key.to_str().unwrap()),
        ],
        "other users can read",
    );

    // The CA before the leaf: out of order.
    let reversed = pki.dir.join("reversed.pem");
    let chain =
        std::fs::read_to_string(&pki.ca).unwrap() + &std::fs::read_to_string(&good.cert).unwrap();
    std::fs::write(&reversed, chain).unwrap();
    refuses_to_start(
        &db,
        &[
            ("EDGEAUTH_TLS_CERT", reversed.to_str().unwrap()),
            ("EDGEAUTH_TLS_KEY", key),
        ],
        "does not verify",
    );
    // Leaf then CA: in order, starts (checked by the chain test below, not here).

    let garbage = pki.dir.join("garbage.pem");
    write_private(&garbage, "not a certificate\n");
    refuses_to_start(
        &db,
        &[
            ("EDGEAUTH_TLS_CERT", garbage.to_str().unwrap()),
            ("EDGEAUTH_TLS_KEY", key),
        ],
        "no certificate",
    );
    refuses_to_start(&db, &[("EDGEAUTH_TLS_CERT", cert)], "tls_key is not");
    refuses_to_start(
        &db,
        &[("EDGEAUTH_PLAIN_LISTEN", "127.0.0.1:1")],
        "set tls_cert and tls_key",
    );
}

#[test]
fn a_full_chain_leaf_first_is_served_whole() {
    let db = TestDb::new();
    let pki = Pki::new();
    let leaf = pki.server("leaf");
    let chain =
        std::fs::read_to_string(&leaf.cert).unwrap() + &std::fs::read_to_string(&pki.ca).unwrap();
    std::fs::write(&leaf.cert, chain).unwrap();
    let server = Server::start_tls(&db, &leaf, &[]);
    let conn = TlsConn::connect(server.tls_addr.unwrap(), client_config(&pki.ca, None)).unwrap();
    assert_eq!(conn.connection().peer_certificates().unwrap().len(), 2);
}

#[test]
fn instances_sharing_a_ticket_key_file_resume_each_others_sessions() {
    let db = TestDb::new();
    let pki = Pki::new();
    let key_file = pki.dir.join("ticket-key");
    write_private(&key_file, "0123456789abcdef0123456789abcdef-shared");
    let key_file = key_file.to_str().unwrap();
    let cert = pki.server("server");
    let shared = [("EDGEAUTH_TLS_TICKET_KEY_FILE", key_file)];
    let (a, b) = (
        Server::start_tls(&db, &cert, &shared),
        Server::start_tls(&db, &cert, &shared),
    );
    let lone = Server::start_tls(&db, &cert, &[]);
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    let resumes_on = |server: &Server| {
        // A fresh client: its only ticket is the one instance `a` gives it.
        let client = pki.client();
        let mut first = TlsConn::connect(a.tls_addr.unwrap(), client.clone()).unwrap();
        assert_eq!(first.request(healthz).status, 200);
        let mut next = TlsConn::connect(server.tls_addr.unwrap(), client).unwrap();
        assert_eq!(next.request(healthz).status, 200);
        next.resumed()
    };
    assert!(
        resumes_on(&b),
        "a ticket from one instance opens on the other"
    );
    assert!(!resumes_on(&lone), "not on an instance with its own secret");
}

/// The pending-output bound holds over TLS too: clients that pipeline `/metrics` and never
/// read cost bounded memory, and are closed once they have taken nothing for idle_timeout.
#[test]
fn never_reading_pipelining_tls_clients_cost_bounded_memory_and_are_closed() {
    const CLIENTS: usize = 100;
    let db = TestDb::new();
    let pki = Pki::new();
    let server = Server::start_tls(
        &db,
        &pki.server("server"),
        &[("EDGEAUTH_SHARDS", "1"), ("EDGEAUTH_IDLE_TIMEOUT", "2s")],
    );
    let before = server.rss_bytes();
    let request = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(100);
    let mut clients: Vec<TlsConn> = (0..CLIENTS)
        .map(|_| TlsConn::connect(server.tls_addr.unwrap(), pki.client()).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    for conn in &mut clients {
        let socket = &conn.reader.get_ref().sock;
        socket
            .set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while Instant::now() < deadline && conn.send(&request).is_ok() {}
    }
    let grown = server.rss_bytes().saturating_sub(before);
    eprintln!(
        "{CLIENTS} never-reading TLS clients: RSS +{} MiB",
        grown >> 20
    );
    assert!(grown < 48 << 20, "RSS grew by {} MiB", grown >> 20);
    eventually(
        "every stalled client closed",
        Duration::from_secs(15),
        || {
            let closed = server.metric("edgeauth_connections_timed_out_total");
            ok_if(closed >= CLIENTS as u64, closed)
        },
    );
    drop(clients);
    let mut conn = TlsConn::connect(server.tls_addr.unwrap(), pki.client()).unwrap();
    assert_eq!(
        conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        200
    );
}

/// SIGTERM with TLS clients connected: idle sessions are closed with close_notify (a clean
/// end, not a truncation), the server exits 0, and every token it issued is recorded.
#[test]
fn sigterm_closes_tls_sessions_cleanly_and_loses_no_token() {
    let db = TestDb::new();
    let secret = db.add_client("leaving", "read");
    let pki = Pki::new();
    let mut server = Server::start_tls(&db, &pki.server("server"), &[]);
    let tls_addr = server.tls_addr.unwrap();
    let mut idle: Vec<TlsConn> = (0..4)
        .map(|_| TlsConn::connect(tls_addr, pki.client()).unwrap())
        .collect();
    let mut issued = 0;
    for conn in &mut idle {
        assert_eq!(conn.request(&token_request("leaving", &secret)).status, 200);
        issued += 1;
    }
    server.signal(libc::SIGTERM);
    for conn in &mut idle {
        // EOF after close_notify reads as a clean end (Ok(0)); a bare TCP close would be
        // an UnexpectedEof error from rustls.
        let mut byte = [0u8; 1];
        assert_eq!(conn.reader.read(&mut byte).unwrap(), 0);
    }
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    assert_eq!(db.token_rows(), issued);
}
