//! HTTP/1.1 framing against the real server: keep-alive, pipelining, HTTP/1.0, and what
//! hostile or broken clients get (SPEC §5). Every test ends by checking that the server still
//! serves everyone else.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

fn still_serving(server: &Server) {
    assert_eq!(
        server.get("/healthz").status,
        200,
        "server still serves: {}",
        server.log()
    );
}

/// Several requests in one write are all answered, in order, on the same connection.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let db = TestDb::new();
    let secret = db.add_client("pipe", "a b");
    let server = Server::start(&db);
    let mut batch = Vec::new();
    batch.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(&token_request_basic(
        "pipe",
        &secret,
        "grant_type=client_credentials&scope=a",
    ));
    batch.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(&token_request_basic(
        "pipe",
        &secret,
        "grant_type=client_credentials&scope=b",
    ));
    batch.extend_from_slice(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut conn = server.connect();
    conn.send(&batch).unwrap();
    let statuses: Vec<(u16, Option<String>)> = (0..5)
        .map(|_| {
            let r = conn.read_response().unwrap();
            let scope = (r.status == 200)
                .then(|| r.json()["scope"].as_str().map(str::to_owned))
                .flatten();
            (r.status, scope)
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (200, None),
            (200, Some("a".into())),
            (404, None),
            (200, Some("b".into())),
            (200, None)
        ]
    );
    // Still open for more.
    assert_eq!(
        conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        200
    );
}

/// A request split into single bytes is still one request.
#[test]
fn request_trickled_byte_by_byte() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let mut conn = server.connect();
    for b in b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" {
        conn.send(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(conn.read_response().unwrap().status, 200);
}

/// HTTP/1.0 closes after one response unless it asks for keep-alive (as `ab -k` does).
#[test]
fn http10_keep_alive_only_when_asked() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let mut conn = server.connect();
    let r = conn.request(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(conn.is_closed_by_peer(Duration::from_secs(5)));

    let mut conn = server.connect();
    let r = conn.request(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("keep-alive")
    );
    let r = conn.request(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn connection_close_is_honoured() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let mut conn = server.connect();
    let r = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(conn.is_closed_by_peer(Duration::from_secs(5)));
}

#[test]
fn unknown_paths_and_methods() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let r = server.get("/admin/secrets");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    assert_eq!(r.json()["error_description"], "no such endpoint");
    let r = server.get("/oauth/token");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    assert_eq!(r.json()["error"], "method_not_allowed");
    assert!(r.json()["error_description"].is_string());
    let r = server.request(b"DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    let r = server.request(b"BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        r.status == 405 || r.status == 501 || r.status == 400,
        "{}",
        r.status
    );
    // HEAD: the head GET would get, and no body.
    let mut conn = server.connect();
    conn.send(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut conn.reader, &mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("Content-Length: 15\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "no body after the head: {raw:?}");
    still_serving(&server);
}

/// Garbage, oversized heads and bodies, and missing lengths get a 4xx and a closed
/// connection; nobody else notices.
#[test]
fn malformed_and_oversized_requests() {
    let db = TestDb::new();
    let server = Server::start(&db);

    let mut conn = server.connect();
    let r = conn.request(b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(conn.is_closed_by_peer(Duration::from_secs(5)));

    // A head over 16 KiB: 431, without waiting for its end.
    let mut conn = server.connect();
    let mut big = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Fill: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 17 * 1024));
    conn.send(&big).unwrap();
    assert_eq!(conn.read_response().unwrap().status, 431);

    // A declared body over 64 KiB: 413 before the body is sent.
    let mut conn = server.connect();
    conn.send(b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n").unwrap();
    assert_eq!(conn.read_response().unwrap().status, 413);

    // POST without a length.
    let r = server.request(
        b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\r\n",
    );
    assert_eq!(r.status, 411);

    // Conflicting lengths (a request-smuggling shape).
    let r = server.request(b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    assert_eq!(r.status, 400);

    still_serving(&server);
}

/// An idle connection, and one that trickles a request too slowly, are closed at the idle
/// timeout; the server keeps serving.
#[test]
fn idle_and_slow_connections_time_out() {
    let db = TestDb::new();
    let server = Server::start_with(&db, &[("EDGEAUTH_IDLE_TIMEOUT", "300ms")]);
    let mut idle = server.connect();
    let started = Instant::now();
    assert!(idle.is_closed_by_peer(Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut slow = server.connect();
    let started = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n" {
        if slow.reader.get_mut().write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    assert!(
        closed || slow.is_closed_by_peer(Duration::from_secs(5)),
        "slow sender is cut off"
    );
    still_serving(&server);
}

/// Beyond max_connections per shard, new connections are closed; existing ones are served.
#[test]
fn connections_per_shard_are_bounded() {
    let db = TestDb::new();
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_MAX_CONNECTIONS", "4"), ("EDGEAUTH_SHARDS", "1")],
    );
    let mut held: Vec<Conn> = (0..4).map(|_| server.connect()).collect();
    for c in &mut held {
        assert_eq!(
            c.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .status,
            200
        );
    }
    let mut extra = server.connect();
    let _ = extra.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        extra.read_response().is_err(),
        "the fifth connection is refused"
    );
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(100));
    still_serving(&server);
}

/// A head dribbled a byte at a time gets 408 `header_timeout` after its first byte, however
/// long `idle_timeout` is; a head that arrives in time is served.
#[test]
fn a_head_dribbled_slowly_gets_408_at_header_timeout() {
    let db = TestDb::new();
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_SHARDS", "1"),
            ("EDGEAUTH_HEADER_TIMEOUT", "1s"),
            ("EDGEAUTH_IDLE_TIMEOUT", "60s"),
        ],
    );
    let mut slow = server.connect();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n";
    for b in head.iter().take(head.len() - 4) {
        if slow.send(&[*b]).is_err() || started.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = slow.read_response().expect("a 408 before the close");
    assert_eq!(r.status, 408, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Connection"), Some("close"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "408 after {waited:?}, header_timeout is 1s"
    );
    assert!(slow.is_closed_by_peer(Duration::from_secs(2)));
    assert_eq!(server.metric("edgeauth_connections_timed_out_total"), 1);

    // Trickled, but whole within header_timeout: served.
    let mut quick = server.connect();
    for chunk in head.chunks(8) {
        quick.send(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(quick.read_response().unwrap().status, 200);
    still_serving(&server);
}

/// Clients that pipeline `GET /metrics` and never read cost the server a bounded amount of
/// memory each (`limits::PENDING_OUTPUT_BYTES_MAX` of answers, not one page per request),
/// and are closed once they have taken nothing for `idle_timeout`.
#[test]
fn pipelining_clients_that_never_read_cost_bounded_memory_and_are_closed() {
    const CLIENTS: usize = 200;
    let db = TestDb::new();
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_SHARDS", "1"), ("EDGEAUTH_IDLE_TIMEOUT", "2s")],
    );
    let before = server.rss_bytes();
    let request = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(100);
    let mut clients: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..CLIENTS {
        let conn = std::net::TcpStream::connect(server.addr).unwrap();
        conn.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        clients.push(conn);
    }
    // Write until the kernel's buffers are full both ways: the server has stopped reading.
    let deadline = Instant::now() + Duration::from_secs(10);
    for conn in &mut clients {
        while Instant::now() < deadline && conn.write_all(&request).is_ok() {}
    }
    let loaded = server.rss_bytes();
    let grown = loaded.saturating_sub(before);
    eprintln!(
        "{CLIENTS} never-reading pipelining clients: RSS {} -> {} MiB",
        before >> 20,
        loaded >> 20
    );
    // Unbounded, each held a read buffer's worth of pages (~120 x 6 KB) or more.
    assert!(
        grown < 48 << 20,
        "RSS grew by {} MiB for {CLIENTS} clients",
        grown >> 20
    );
    eventually(
        "every stalled client closed",
        Duration::from_secs(15),
        || {
            let closed = server.metric("edgeauth_connections_timed_out_total");
            ok_if(closed >= CLIENTS as u64, closed)
        },
    );
    drop(clients);
    still_serving(&server);
}

/// With `admin_listen`, `/metrics` and `/admin/*` exist on the management address only:
/// the public listener answers 404 for them (as for any unknown path, whatever the method),
/// and the management listener serves nothing of OAuth.
#[test]
fn admin_listen_keeps_metrics_and_admin_off_the_public_listener() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let admin_port = free_port().to_string();
    let admin_addr = format!("127.0.0.1:{admin_port}");
    let token = "admin-listen-test-token-0123456789abcdef";
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_ADMIN_LISTEN", admin_addr.as_str()),
            ("EDGEAUTH_ADMIN_TOKEN", token),
        ],
    );
    let admin: std::net::SocketAddr = admin_addr.parse().unwrap();
    let on = |addr, raw: &[u8]| try_request(addr, raw).expect("answered").status;
    let stats = format!(
        "GET /admin/cache/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    // Public: no management, everything OAuth.
    assert_eq!(
        on(server.addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"),
        404
    );
    assert_eq!(
        on(
            server.addr,
            b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        ),
        404
    );
    assert_eq!(on(server.addr, stats.as_bytes()), 404);
    assert_eq!(
        server
            .token_basic("svc", &secret, "grant_type=client_credentials")
            .status,
        200
    );
    assert_eq!(server.get("/healthz").status, 200);
    // Management: metrics, admin and health; no OAuth.
    assert_eq!(on(admin, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    assert_eq!(on(admin, stats.as_bytes()), 200);
    assert_eq!(on(admin, b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    assert_eq!(
        on(
            admin,
            &token_request_basic("svc", &secret, "grant_type=client_credentials")
        ),
        404
    );
    assert_eq!(
        on(
            admin,
            b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n"
        ),
        404
    );
}

/// A bare LF line end (which front proxies disagree about: request smuggling) is a 400 and
/// the connection closes.
#[test]
fn a_bare_lf_in_the_head_is_refused() {
    let db = TestDb::new();
    let server = Server::start(&db);
    let mut conn = server.connect();
    conn.send(b"GET /healthz HTTP/1.1\nHost: t\n\n").unwrap();
    let r = conn.read_response().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(conn.is_closed_by_peer(Duration::from_secs(2)));
    still_serving(&server);
}
