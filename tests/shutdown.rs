//! SIGTERM under load: every request in flight is finished, every shard flushes its token
//! buffer, the process exits 0, and every token that got a 200 is in `tokens`. With
//! `durability = commit`, even kill -9 loses no token that got a 200.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[test]
fn sigterm_mid_load_loses_no_issued_token() {
    let db = TestDb::new();
    let secret = db.add_client("load", "read");
    // A flush interval longer than the test: the buffered tokens are written by the
    // shutdown itself.
    let mut server = Server::start_with(&db, &[("EDGEAUTH_FLUSH_INTERVAL", "60s")]);
    let issued = Arc::new(Mutex::new(HashSet::new()));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (addr, secret, issued) = (server.addr, secret.clone(), issued.clone());
        workers.push(std::thread::spawn(move || {
            let request = token_request_basic("load", &secret, "grant_type=client_credentials");
            // Reconnect after each close until the server is gone.
            'outer: for _ in 0..1000 {
                let Ok(mut conn) = Conn::try_new(addr) else {
                    break;
                };
                loop {
                    if conn.send(&request).is_err() {
                        continue 'outer;
                    }
                    let Ok(r) = conn.read_response() else {
                        continue 'outer;
                    };
                    if r.status != 200 {
                        continue;
                    }
                    issued.lock().unwrap().insert(jti_of(&r));
                    if r.header("Connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        continue 'outer;
                    }
                }
            }
        }));
    }
    // Let the load build up, then ask the server to stop.
    eventually("300 tokens issued", Duration::from_secs(30), || {
        let n = issued.lock().unwrap().len();
        ok_if(n >= 300, n)
    });
    assert_eq!(server.stop(), Some(0), "graceful exit: {}", server.log());
    for w in workers {
        w.join().unwrap();
    }
    let issued = issued.lock().unwrap();
    let missing = db.unrecorded(issued.iter());
    assert!(
        missing.is_empty(),
        "{} of {} issued tokens are not recorded",
        missing.len(),
        issued.len()
    );
    assert!(server.log().contains("shutting down"));
}

/// An idle keep-alive connection does not hold shutdown up.
#[test]
fn idle_connections_do_not_delay_shutdown() {
    let db = TestDb::new();
    let mut server = Server::start(&db);
    let mut conns: Vec<Conn> = (0..10).map(|_| server.connect()).collect();
    for c in &mut conns {
        assert_eq!(
            c.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .status,
            200
        );
    }
    let started = std::time::Instant::now();
    assert_eq!(server.stop(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// durability = commit: a 200 is sent only after the token's batch committed, so killing the
/// process with SIGKILL under load loses none of them.
#[test]
fn kill_9_with_commit_durability_loses_no_acknowledged_token() {
    let db = TestDb::new();
    let secret = db.add_client("durable", "read");
    let mut server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_DURABILITY", "commit"),
            ("EDGEAUTH_FLUSH_INTERVAL", "2ms"),
        ],
    );
    let issued = Arc::new(Mutex::new(HashSet::new()));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (addr, secret, issued) = (server.addr, secret.clone(), issued.clone());
        workers.push(std::thread::spawn(move || {
            let request = token_request_basic("durable", &secret, "grant_type=client_credentials");
            let Ok(mut conn) = Conn::try_new(addr) else {
                return;
            };
            loop {
                if conn.send(&request).is_err() {
                    return;
                }
                let Ok(r) = conn.read_response() else { return };
                assert_eq!(r.status, 200);
                issued.lock().unwrap().insert(jti_of(&r));
            }
        }));
    }
    eventually("500 tokens issued", Duration::from_secs(30), || {
        let n = issued.lock().unwrap().len();
        ok_if(n >= 500, n)
    });
    server.signal(libc::SIGKILL);
    server.wait_exit(Duration::from_secs(10));
    for w in workers {
        w.join().unwrap();
    }
    let issued = issued.lock().unwrap();
    let missing = db.unrecorded(issued.iter()).len();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged tokens lost to kill -9",
        issued.len()
    );
}

/// durability = async: a second signal during shutdown exits at once, without waiting.
#[test]
fn second_signal_exits_at_once() {
    let db = TestDb::new();
    let mut server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    // A connection in the middle of a request holds the drain open.
    let mut conn = server.connect();
    conn.send(b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.child.try_wait().unwrap().is_none(), "still draining");
    let started = std::time::Instant::now();
    server.signal(libc::SIGTERM);
    let code = server.wait_exit(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_ne!(code, Some(0), "an interrupted shutdown is not a clean exit");
}
