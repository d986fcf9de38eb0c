//! SIGTERM under load: every request in flight is finished, the process exits 0, and every
//! token that got a 200 is in `tokens`.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[test]
fn sigterm_mid_load_loses_no_issued_token() {
    let db = TestDb::new();
    let secret = db.add_client("load", "read");
    let mut server = Server::start(&db);
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
                    let token = r.json()["access_token"].as_str().unwrap().to_owned();
                    let claims =
                        jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
                            .unwrap()
                            .claims;
                    issued
                        .lock()
                        .unwrap()
                        .insert(claims["jti"].as_str().unwrap().to_owned());
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
    while issued.lock().unwrap().len() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.stop(), Some(0), "graceful exit: {}", server.log());
    for w in workers {
        w.join().unwrap();
    }
    let issued = issued.lock().unwrap();
    let recorded: HashSet<String> = db
        .psql("SELECT jti FROM tokens")
        .lines()
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = issued.iter().filter(|j| !recorded.contains(*j)).collect();
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
