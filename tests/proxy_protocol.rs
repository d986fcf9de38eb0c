//! PROXY protocol v1 and v2 through the real binary: from `trusted_proxies` the header's
//! client address is the one failed authentications are counted against and audit events
//! name; from anyone else a PROXY header is a bad request; a broken header from a proxy
//! closes the connection.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 10.0.0.1 55555 443\r\n").into_bytes()
}

fn v2(client: [u8; 4]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend_from_slice(&[0x21, 0x11, 0, 12]);
    out.extend_from_slice(&client);
    out.extend_from_slice(&[10, 0, 0, 1, 0xD9, 0x03, 0x01, 0xBB]);
    out
}

/// `header`, then a token request, on a fresh connection; the answer.
fn through(server: &Server, header: &[u8], id: &str, secret: &str) -> Response {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(header).unwrap();
    stream
        .write_all(&token_request_basic(
            id,
            secret,
            "grant_type=client_credentials",
        ))
        .unwrap();
    read_response_from(&mut BufReader::new(stream)).unwrap()
}

fn audited_sources(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "client.authentication_failed")
        .map(|e| e["source"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_trusted_proxy_names_the_client() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let log = std::env::temp_dir().join(unique_name("proxy-audit"));
    let server = Server::start_with(
        &db,
        &[
            ("EDGEAUTH_TRUSTED_PROXIES", "127.0.0.0/8"),
            ("EDGEAUTH_AUDIT_LOG", log.to_str().unwrap()),
            ("EDGEAUTH_SHARDS", "1"),
        ],
    );
    assert_eq!(
        through(&server, &v1("203.0.113.7"), "svc", "wrong").status,
        401
    );
    assert_eq!(
        through(&server, &v2([198, 51, 100, 9]), "svc", "wrong").status,
        401
    );
    assert_eq!(
        through(&server, b"", "svc", "wrong").status,
        401,
        "no header: the peer"
    );
    assert_eq!(
        through(&server, &v1("203.0.113.7"), "svc", &secret).status,
        200
    );
    assert_eq!(
        audited_sources(&log),
        ["203.0.113.7", "198.51.100.9", "127.0.0.1"]
    );

    // The failure bound counts the real client: one guesser behind the proxy is stopped,
    // another client behind the same proxy is not.
    for _ in 0..edgeauth::limits::FAILED_AUTH_PER_SOURCE_DEFAULT {
        through(&server, &v1("203.0.113.66"), "svc", "guess");
    }
    assert_eq!(
        through(&server, &v1("203.0.113.66"), "svc", &secret).status,
        401
    );
    assert_eq!(
        through(&server, &v1("203.0.113.67"), "svc", &secret).status,
        200
    );

    // A broken header from a proxy ends the connection without an answer.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"PROXY TCP4 not-an-address\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

#[test]
fn from_anyone_else_a_proxy_header_is_a_bad_request() {
    let db = TestDb::new();
    let secret = db.add_client("svc", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_TRUSTED_PROXIES", "10.0.0.0/8")]);
    assert_eq!(
        through(&server, &v1("203.0.113.7"), "svc", &secret).status,
        400
    );
    let r = through(&server, &v2([198, 51, 100, 9]), "svc", &secret);
    assert_eq!(r.status, 400);
    assert_eq!(through(&server, b"", "svc", &secret).status, 200);
}
