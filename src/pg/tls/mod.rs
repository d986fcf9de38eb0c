//! TLS to PostgreSQL, as libpq negotiates it: SSLRequest, one byte of answer ('S' or 'N'),
//! then a rustls handshake and the normal start-up inside it.
//!
//! * `settings`: `sslmode`, `sslrootcert`, `sslcert`, `sslkey` as parsed values.
//! * `trust`: the rustls configuration: roots, verifiers per mode, the client certificate.
//! * `stream`: the TLS stream over a monoio socket, splittable into reader and writer.
//! * `end_point`: `tls-server-end-point` channel binding data for SCRAM-SHA-256-PLUS.

mod end_point;
mod settings;
mod stream;
mod trust;

pub use settings::{RootCert, SslMode, SslSettings};
use stream::TlsStream;

use bytes::{Buf, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Splitable};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use rustls::pki_types::ServerName;

use super::codec::fill;
use super::connect::{recv, send};
use super::error::{DbError, Error};

/// What the negotiation left us with.
pub(crate) enum Negotiated<S: Splitable> {
    /// `sslmode=disable`, or a server that declined and a mode that allows that.
    Plain(S),
    Tls(TlsStream<S::OwnedRead, S::OwnedWrite>),
}

/// Asks the server for TLS on a fresh TCP connection (unless `sslmode=disable`) and does
/// the handshake; `host` is the name the certificate must carry under `verify-full`.
/// Any bytes the server sent after a plain-text 'N' stay in `rbuf` for start-up.
pub(crate) async fn negotiate<S>(
    mut stream: S,
    ssl: &SslSettings,
    host: &str,
    rbuf: &mut BytesMut,
) -> Result<Negotiated<S>, Error>
where
    S: Splitable + AsyncReadRent + AsyncWriteRent,
    S::OwnedRead: AsyncReadRent,
    S::OwnedWrite: AsyncWriteRent,
{
    if ssl.mode == SslMode::Disable {
        return Ok(Negotiated::Plain(stream));
    }
    // Files first: a missing root certificate should not cost a round trip to find out.
    let config = trust::client_config(ssl)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::config_cause("host is not a valid TLS server name", Box::new(e)))?;
    let mut request = BytesMut::with_capacity(8);
    frontend::ssl_request(&mut request);
    let (res, _) = send(&mut stream, request).await;
    res?;
    while rbuf.is_empty() {
        let (res, buf) = fill(&mut stream, std::mem::take(rbuf)).await;
        *rbuf = buf;
        res?;
    }
    match rbuf[0] {
        b'S' => {
            // Bytes after 'S' arrived before any encryption: whoever sent them could be a
            // man in the middle injecting answers into the TLS session (CVE-2021-23222).
            if rbuf.len() > 1 {
                return Err(Error::protocol(
                    "the server sent unencrypted bytes after agreeing to TLS",
                ));
            }
            rbuf.clear();
        }
        b'N' => {
            rbuf.advance(1);
            if ssl.mode.demands_tls() {
                return Err(Error::auth_detail(
                    "the server does not offer TLS",
                    format!("sslmode={} demands it", ssl.mode),
                ));
            }
            return Ok(Negotiated::Plain(stream));
        }
        b'E' => return Err(refusal(&mut stream, rbuf).await),
        _ => return Err(Error::protocol("unexpected answer to SSLRequest")),
    }
    let stream = stream::handshake(stream, config, name).await?;
    Ok(Negotiated::Tls(stream))
}

/// A server that cannot take the connection at all (too many clients, starting up) may
/// answer SSLRequest with an ErrorResponse; its message is the useful error.
async fn refusal<S: AsyncReadRent>(stream: &mut S, rbuf: &mut BytesMut) -> Error {
    match recv(stream, rbuf).await {
        Ok(Message::ErrorResponse(body)) => match DbError::parse(body.fields()) {
            Ok(db) => Error::db(db),
            Err(e) => Error::protocol_io("malformed ErrorResponse", e),
        },
        Ok(_) => Error::protocol("unexpected answer to SSLRequest"),
        Err(e) => e,
    }
}
