//! Memory against the real binary (issue #6): what a one-shard server holds when idle, and
//! that 10,000 keep-alive connections cost a bounded few KiB each, not a set of buffers.
//!
//! RSS is the server's `VmRSS` from `/proc/<pid>/status`. The bounds come from measuring
//! (io_uring and epoll alike): ~9 MiB idle in a release build, ~14 MiB in the debug build
//! the tests run, and ~3.8 KB per idle keep-alive connection in either once it has released
//! its buffers (its task, its socket's runtime state). Before the release, each connection
//! held ~16 KB (three 4 KiB buffers and its task), so 10,000 of them were ~155 MiB.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Idle RSS allowed for a one-shard server (the target).
const IDLE_RSS_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Budget per idle keep-alive connection: measured ~3.8 KB; held buffers would be ~16 KB.
const IDLE_CONNECTION_BYTES_MAX: u64 = 4 * 1024;

/// Connections held open at once: a shard's default and largest `max_connections`.
const CONNECTIONS: usize = 10_000;

/// How long an idle connection keeps its buffers (`limits::IDLE_BUFFERS_RELEASE_AFTER`)
/// plus room for a loaded machine.
const RELEASE_WAIT_MAX: Duration = Duration::from_secs(6);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

/// Poll RSS until it is at most `max` or `within` has passed; returns the last reading.
fn rss_settles_under(server: &Server, max: u64, within: Duration) -> u64 {
    let rss = poll_until(within, || {
        let rss = server.rss_bytes();
        ok_if(rss <= max, rss)
    });
    rss.unwrap_or_else(|rss| rss)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Sum of a metric over shards, read through `conn` (a new connection may be refused when
/// the shard is full).
fn metric_on(conn: &mut Conn, name: &str) -> u64 {
    let r = conn.request(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    metric_in(&String::from_utf8_lossy(&r.body), name)
}

/// The test process needs a descriptor per connection, and so does the server, which
/// inherits this limit: raise the soft limit to the hard one.
fn raise_nofile_limit(needed: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur as usize >= needed,
        "RLIMIT_NOFILE hard limit {} is below the {needed} descriptors this test needs",
        limit.rlim_cur
    );
}

/// Close without TIME_WAIT (RST), so that repeated runs do not use up ephemeral ports.
fn close_now(conn: Conn) {
    let stream = conn.reader.into_inner();
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}

fn start_one_shard(db: &TestDb, driver: &str) -> Server {
    Server::start_with(
        db,
        &[("EDGEAUTH_SHARDS", "1"), ("EDGEAUTH_IO_DRIVER", driver)],
    )
}

/// A one-shard server that has started, served a token and gone quiet is at most 32 MiB
/// resident.
#[test]
fn idle_one_shard_server_is_small() {
    let db = TestDb::new();
    let secret = db.add_client("idle", "read");
    let server = start_one_shard(&db, "auto");
    let r = server.token_basic("idle", &secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200);
    let rss = rss_settles_under(&server, IDLE_RSS_BYTES_MAX, Duration::from_secs(3));
    assert!(
        rss <= IDLE_RSS_BYTES_MAX,
        "idle RSS {:.1} MiB > {:.0} MiB",
        mib(rss),
        mib(IDLE_RSS_BYTES_MAX)
    );
}

/// 10,000 keep-alive connections, each having sent one request and gone idle:
///
/// - the server's RSS grows by at most 4 KiB per connection (idle connections hold no
///   buffers);
/// - the shard is full: one more connection is closed at accept;
/// - an idle connection still gets a token at once;
/// - closing them all brings `edgeauth_connections_open` back down.
fn ten_thousand_idle_connections(driver: &str) {
    raise_nofile_limit(CONNECTIONS + 100);
    let db = TestDb::new();
    let secret = db.add_client("crowd", "read");
    let server = start_one_shard(&db, driver);
    assert_eq!(
        server
            .token_basic("crowd", &secret, "grant_type=client_credentials")
            .status,
        200
    );
    let idle = rss_settles_under(&server, IDLE_RSS_BYTES_MAX, Duration::from_secs(3));
    // The start-up probes and the token request have hung up; wait until the shard has seen
    // it, so that all of ours fit under max_connections.
    let mut probe = server.connect();
    eventually("only the probe open", Duration::from_secs(10), || {
        let open = metric_on(&mut probe, "edgeauth_connections_open");
        ok_if(open <= 1, open)
    });
    close_now(probe);

    let mut conns: Vec<Conn> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    // All requests first, then all answers: the server has every connection busy at once.
    for conn in conns.iter_mut() {
        conn.send(HEALTHZ).unwrap();
    }
    for conn in conns.iter_mut() {
        assert_eq!(conn.read_response().unwrap().status, 200);
    }

    let bound = idle + CONNECTIONS as u64 * IDLE_CONNECTION_BYTES_MAX;
    let held = rss_settles_under(&server, bound, RELEASE_WAIT_MAX);
    eprintln!(
        "{driver}: idle {:.1} MiB, with {CONNECTIONS} idle connections {:.1} MiB ({} bytes each)",
        mib(idle),
        mib(held),
        held.saturating_sub(idle) / CONNECTIONS as u64
    );
    assert!(
        held <= bound,
        "RSS {:.1} MiB with {CONNECTIONS} idle connections > {:.1} MiB (idle {:.1} MiB + {} KiB each)",
        mib(held),
        mib(bound),
        mib(idle),
        IDLE_CONNECTION_BYTES_MAX / 1024
    );

    // The shard is at max_connections: the next connection is closed at accept (sending
    // nothing, so that the close is a plain EOF rather than a reset).
    let mut extra = server.connect();
    assert!(
        extra.is_closed_by_peer(Duration::from_secs(5)),
        "a connection over max_connections is refused"
    );

    // An idle connection, buffers released, still gets a token.
    let r = conns[0].request(&token_request_basic(
        "crowd",
        &secret,
        "grant_type=client_credentials",
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        metric_on(&mut conns[1], "edgeauth_connections_open"),
        CONNECTIONS as u64
    );

    let mut probe = conns.pop().unwrap();
    for conn in conns {
        close_now(conn);
    }
    eventually("all closed but the probe", Duration::from_secs(10), || {
        let open = metric_on(&mut probe, "edgeauth_connections_open");
        ok_if(open == 1, open)
    });
    close_now(probe);
}

#[test]
fn ten_thousand_idle_connections_io_uring_or_auto() {
    ten_thousand_idle_connections("auto");
}

#[test]
fn ten_thousand_idle_connections_epoll() {
    ten_thousand_idle_connections("epoll");
}

/// A connection that has released its buffers is still closed at `idle_timeout`, and
/// counted as timed out.
#[test]
fn released_connection_still_times_out() {
    let db = TestDb::new();
    let server = Server::start_with(
        &db,
        &[("EDGEAUTH_SHARDS", "1"), ("EDGEAUTH_IDLE_TIMEOUT", "2s")],
    );
    let mut conn = server.connect();
    assert_eq!(conn.request(HEALTHZ).status, 200);
    let sent = Instant::now();
    assert!(conn.is_closed_by_peer(Duration::from_secs(5)));
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "closed after {waited:?}, idle_timeout is 2s"
    );
    assert_eq!(server.metric("edgeauth_connections_timed_out_total"), 1);
}
