//! One server-side TLS session without I/O: the connection loop reads records from the
//! socket into its own buffer, hands them here, and gets plaintext back; what it answers is
//! sealed here into records it writes out. rustls does the protocol; this adapter keeps the
//! loop's owned-buffer reads and writes (io_uring) and its deadlines in one place.

use std::io::{BufRead, Write};
use std::sync::Arc;

use rustls::{HandshakeKind, ServerConfig, ServerConnection};

pub struct Session {
    conn: ServerConnection,
}

/// Why a session cannot go on. rustls has already queued the alert that tells the peer
/// (see [`Session::seal_pending`]).
#[derive(Debug)]
pub struct Refused(pub rustls::Error);

impl Session {
    pub fn new(config: Arc<ServerConfig>) -> Result<Session, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // The connection loop bounds what it hands over (its pending-output bound), so a
        // second limit here would only split writes.
        conn.set_buffer_limit(None);
        Ok(Session { conn })
    }

    /// Take records read from the socket and append what they decrypt to `plain`; handshake
    /// replies, tickets and alerts wait for [`Session::seal_pending`]. Returns whether the
    /// peer has closed the session (close_notify). `plain` grows by at most `records.len()`.
    pub fn receive(&mut self, mut records: &[u8], plain: &mut Vec<u8>) -> Result<bool, Refused> {
        let mut refused_last = false;
        loop {
            // Err when rustls's buffers are full: draining below frees the plaintext one; a
            // second refusal in a row means no progress, and the session ends.
            let read = match self.conn.read_tls(&mut records) {
                Ok(n) => {
                    refused_last = false;
                    n
                }
                Err(_) if refused_last => {
                    return Err(Refused(rustls::Error::General(
                        "TLS records not consumed".to_owned(),
                    )));
                }
                Err(_) => {
                    refused_last = true;
                    1
                }
            };
            let state = self.conn.process_new_packets().map_err(Refused)?;
            let mut reader = self.conn.reader();
            while let Ok(chunk) = reader.fill_buf() {
                if chunk.is_empty() {
                    break;
                }
                let n = chunk.len();
                plain.extend_from_slice(chunk);
                reader.consume(n);
            }
            if state.peer_has_closed() {
                return Ok(true);
            }
            if read == 0 || records.is_empty() {
                return Ok(false);
            }
        }
    }

    /// Seal `plain` into records appended to `records`. Before the handshake is done rustls
    /// keeps it, and it goes out with the records after the handshake.
    pub fn seal(&mut self, plain: &[u8], records: &mut Vec<u8>) {
        // Cannot fail: the buffer limit is off.
        let _ = self.conn.writer().write_all(plain);
        self.seal_pending(records);
    }

    /// Append every record waiting to be sent (handshake, tickets, alerts, sealed data).
    pub fn seal_pending(&mut self, records: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(records).is_err() {
                return;
            }
        }
    }

    /// Queue close_notify, so the peer can tell a clean end from a truncation.
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The client's certificate chain, if it sent one (also after resuming: the ticket
    /// carries it).
    pub fn peer_chain(&self) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        let chain = self.conn.peer_certificates()?;
        (!chain.is_empty()).then(|| chain.to_vec())
    }

    /// Whether the handshake that just finished resumed an earlier session (a ticket).
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }
}

/// Whether the first bytes on a TLS port are a plain HTTP request rather than a TLS
/// record (which starts with content type 22, a handshake): worth a readable answer.
pub fn is_plain_http(first_bytes: &[u8]) -> bool {
    first_bytes.first().is_some_and(|b| b.is_ascii_uppercase())
}
