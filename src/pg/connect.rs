//! Start-up and authentication: everything before the first ReadyForQuery.
//!
//! Generic over the stream so that TCP and unix sockets share one code path. Runs once per
//! connection, so clarity beats speed here.

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{self, ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::{AuthenticationSaslBody, Message};
use postgres_protocol::message::frontend;

use super::codec::{fill, next_message};
use super::config::PgConfig;
use super::error::{DbError, Error};

/// What start-up learned about the session.
pub(crate) struct Startup {
    /// The backend's process id (what `pg_backend_pid()` returns), for logs and tests.
    pub process_id: i32,
}

/// Writes all of `buf` and hands it back cleared (rent-style).
pub(crate) async fn send<W: AsyncWriteRent>(
    stream: &mut W,
    buf: BytesMut,
) -> (Result<(), Error>, BytesMut) {
    let (res, mut buf) = stream.write_all(buf).await;
    buf.clear();
    (
        res.map(drop).map_err(|e| Error::io("write to server", e)),
        buf,
    )
}

/// Reads the next message, reading from the socket as often as needed.
async fn recv<R: AsyncReadRent>(stream: &mut R, rbuf: &mut BytesMut) -> Result<Message, Error> {
    loop {
        if let Some(m) = next_message(rbuf)? {
            return Ok(m);
        }
        let (res, buf) = fill(stream, std::mem::take(rbuf)).await;
        *rbuf = buf;
        res?;
    }
}

/// Sends StartupMessage, authenticates, and reads up to ReadyForQuery. Leftover bytes
/// (there should be none) stay in `rbuf` for the connection's reader.
pub(crate) async fn startup<S: AsyncReadRent + AsyncWriteRent>(
    stream: &mut S,
    cfg: &PgConfig,
    rbuf: &mut BytesMut,
    mut wbuf: BytesMut,
) -> Result<(Startup, BytesMut), Error> {
    let params = [
        ("user", cfg.user.as_str()),
        ("database", cfg.dbname.as_str()),
        ("application_name", cfg.application_name.as_str()),
        ("client_encoding", "UTF8"),
    ];
    frontend::startup_message(params.iter().copied(), &mut wbuf)
        .map_err(|e| Error::protocol_io("encode startup message", e))?;
    let mut auth = Authentication { scram: None };
    let mut process_id = 0;
    loop {
        if !wbuf.is_empty() {
            let (res, buf) = send(stream, wbuf).await;
            wbuf = buf;
            res?;
        }
        match recv(stream, rbuf).await? {
            Message::BackendKeyData(body) => process_id = body.process_id(),
            Message::ParameterStatus(_) | Message::NoticeResponse(_) => {}
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())
                    .map_err(|e| Error::protocol_io("malformed ErrorResponse", e))?;
                // Class 28 is "invalid authorization specification" (wrong password,
                // unknown role, no pg_hba.conf entry).
                return Err(if db.code.starts_with("28") {
                    Error::auth_db(db)
                } else {
                    Error::db(db)
                });
            }
            Message::ReadyForQuery(_) => return Ok((Startup { process_id }, wbuf)),
            message => auth.answer(message, cfg, &mut wbuf)?,
        }
    }
}

/// The authentication exchange: each request of the server answered into the send buffer.
struct Authentication {
    /// The SCRAM exchange, once the server has asked for SASL.
    scram: Option<ScramSha256>,
}

impl Authentication {
    fn answer(
        &mut self,
        message: Message,
        cfg: &PgConfig,
        wbuf: &mut BytesMut,
    ) -> Result<(), Error> {
        let encode = |e| Error::protocol_io("encode authentication response", e);
        match message {
            Message::AuthenticationOk => {}
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(password(cfg)?.as_bytes(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationMd5Password(body) => {
                let hash = md5_hash(cfg.user.as_bytes(), password(cfg)?.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationSasl(body) => {
                require_scram(&body)?;
                // No TLS, so no channel binding: "unsupported" is the honest answer.
                let s = ScramSha256::new(password(cfg)?.as_bytes(), ChannelBinding::unsupported());
                frontend::sasl_initial_response(sasl::SCRAM_SHA_256, s.message(), wbuf)
                    .map_err(encode)?;
                self.scram = Some(s);
            }
            Message::AuthenticationSaslContinue(body) => {
                let s = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("SASL continue without SASL start"))?;
                s.update(body.data())
                    .map_err(|_| Error::auth("invalid SCRAM server-first message"))?;
                frontend::sasl_response(s.message(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let s = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("SASL final without SASL start"))?;
                // This is where the server proves it knows the password too.
                s.finish(body.data())
                    .map_err(|_| Error::auth("SCRAM server signature does not verify"))?;
            }
            Message::AuthenticationGss
            | Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationSspi
            | Message::AuthenticationGssContinue(_) => {
                return Err(Error::auth(
                    "server asks for an authentication method we do not speak",
                ));
            }
            _ => return Err(Error::protocol("unexpected message during start-up")),
        }
        Ok(())
    }
}

/// The server must offer SCRAM-SHA-256, the one SASL mechanism we speak.
fn require_scram(body: &AuthenticationSaslBody) -> Result<(), Error> {
    let mut mechanisms = body.mechanisms();
    while let Some(m) = fallible_iterator::FallibleIterator::next(&mut mechanisms)
        .map_err(|e| Error::protocol_io("SASL mechanisms", e))?
    {
        if m == sasl::SCRAM_SHA_256 {
            return Ok(());
        }
    }
    Err(Error::auth(
        "server offers no SASL mechanism we speak (SCRAM-SHA-256)",
    ))
}

fn password(cfg: &PgConfig) -> Result<&str, Error> {
    cfg.password()
        .ok_or_else(|| Error::auth("server asks for a password and none is configured"))
}
