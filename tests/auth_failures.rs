//! The bound on failed client authentications through the real binary: past it, attempts
//! from that address (or for that client id, from anywhere) are refused with exactly the
//! answer a wrong secret gets, even with the right secret, until the window passes; other
//! addresses and other clients are not affected.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;

/// A token request from the loopback address `source` (127.0.0.0/8 is all ours).
fn from(server: &Server, source: [u8; 4], id: &str, secret: &str) -> Response {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = (source, 0).into();
    socket.bind(&local.into()).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    let request = token_request_basic(id, secret, "grant_type=client_credentials");
    stream.write_all(&request).unwrap();
    read_response_from(&mut BufReader::new(stream)).unwrap()
}

const PER_SOURCE_MAX: usize = edgeauth::limits::FAILED_AUTH_PER_SOURCE_DEFAULT as usize;
const PER_CLIENT_MAX: usize = edgeauth::limits::FAILED_AUTH_PER_CLIENT_DEFAULT as usize;

#[test]
fn past_the_bound_even_the_right_secret_is_refused_like_a_wrong_one() {
    let db = TestDb::new();
    let secret = db.add_client("target", "read");
    let other = db.add_client("bystander", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    let guesser = [127, 0, 0, 2];
    let wrong = from(&server, guesser, "target", "guess");
    assert_eq!(wrong.status, 401);
    for _ in 1..PER_SOURCE_MAX {
        assert_eq!(from(&server, guesser, "target", "guess").status, 401);
    }
    // From the guesser's address: the right secret, and another client, get the same 401.
    for (id, s) in [("target", secret.as_str()), ("bystander", other.as_str())] {
        let r = from(&server, guesser, id, s);
        assert_eq!(r.status, 401, "{id}");
        assert_eq!(
            r.body, wrong.body,
            "{id}: the same answer as a wrong secret"
        );
        assert_eq!(
            r.header("WWW-Authenticate"),
            wrong.header("WWW-Authenticate")
        );
    }
    // Everyone else is served.
    assert_eq!(from(&server, [127, 0, 0, 3], "target", &secret).status, 200);
    assert_eq!(
        from(&server, [127, 0, 0, 1], "bystander", &other).status,
        200
    );
}

#[test]
fn a_client_id_guessed_from_many_addresses_is_bounded_too() {
    let db = TestDb::new();
    let secret = db.add_client("target", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    for i in 0..PER_CLIENT_MAX {
        let source = [127, 1, (i / 200) as u8, (i % 200) as u8 + 1];
        assert_eq!(from(&server, source, "target", "guess").status, 401);
    }
    assert_eq!(
        from(&server, [127, 0, 0, 9], "target", &secret).status,
        401,
        "the id is over its bound"
    );
    let bystander = db.add_client("bystander", "read");
    assert_eq!(
        from(&server, [127, 0, 0, 9], "bystander", &bystander).status,
        200
    );
}
