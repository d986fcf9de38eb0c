//! Start-up and authentication: everything before the first ReadyForQuery.
//!
//! Generic over the stream so that TCP, TLS and unix sockets share one code path. Runs once
//! per connection, so clarity beats speed here.
//!
//! The server chooses the authentication method; the client decides what it will accept.
//! Once SCRAM has begun, nothing weaker is answered and AuthenticationOk counts only after
//! the server has proved (SASLFinal) that it knows the password too, so a man in the middle
//! cannot switch a SCRAM login to cleartext or skip the end. `require_auth` and
//! `channel_binding` narrow the accepted methods further, as in libpq.

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{self, ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::{AuthenticationSaslBody, Message};
use postgres_protocol::message::frontend;

use super::auth_policy::{AuthMethod, ChannelBindingMode};
use super::codec::{fill, next_message};
use super::config::PgConfig;
use super::error::{DbError, Error};

/// What the transport under start-up offers authentication.
#[derive(Default)]
pub(crate) struct Channel {
    /// The connection is encrypted (TLS).
    pub tls: bool,
    /// `tls-server-end-point` data for SCRAM-SHA-256-PLUS: set over TLS when the server's
    /// certificate defines one.
    pub end_point: Option<Vec<u8>>,
}

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
pub(crate) async fn recv<R: AsyncReadRent>(
    stream: &mut R,
    rbuf: &mut BytesMut,
) -> Result<Message, Error> {
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
    channel: &Channel,
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
    let mut auth = Authentication {
        cfg,
        channel,
        method: None,
        scram: None,
        scram_verified: false,
        authenticated: false,
    };
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
            Message::ReadyForQuery(_) if auth.authenticated => {
                return Ok((Startup { process_id }, wbuf));
            }
            Message::ReadyForQuery(_) => {
                return Err(Error::protocol("ReadyForQuery before AuthenticationOk"));
            }
            message => auth.answer(message, &mut wbuf)?,
        }
    }
}

/// The authentication exchange: each request of the server checked against what we accept,
/// then answered into the send buffer.
struct Authentication<'a> {
    cfg: &'a PgConfig,
    channel: &'a Channel,
    /// The method the server asked for; a second request (of any method) is refused.
    method: Option<AuthMethod>,
    /// The SCRAM exchange, once the server has asked for SASL.
    scram: Option<Scram>,
    /// The server's SCRAM signature verified: it knows the password too.
    scram_verified: bool,
    /// AuthenticationOk accepted.
    authenticated: bool,
}

struct Scram {
    exchange: ScramSha256,
    /// SCRAM-SHA-256-PLUS: bound to this TLS connection's server certificate.
    bound: bool,
}

impl Authentication<'_> {
    fn answer(&mut self, message: Message, wbuf: &mut BytesMut) -> Result<(), Error> {
        let encode = |e| Error::protocol_io("encode authentication response", e);
        if self.authenticated {
            // Nothing more is owed once we are in; a password asked for now would go to
            // whoever asks.
            return Err(Error::protocol(
                "authentication message after AuthenticationOk",
            ));
        }
        match message {
            Message::AuthenticationOk => self.accept_ok()?,
            Message::AuthenticationCleartextPassword => {
                self.allow(AuthMethod::Password)?;
                frontend::password_message(password(self.cfg)?.as_bytes(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationMd5Password(body) => {
                self.allow(AuthMethod::Md5)?;
                let (user, pw) = (self.cfg.user.as_bytes(), password(self.cfg)?.as_bytes());
                let hash = md5_hash(user, pw, body.salt());
                frontend::password_message(hash.as_bytes(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationSasl(body) => {
                self.allow(AuthMethod::ScramSha256)?;
                self.start_scram(&body, wbuf)?;
            }
            Message::AuthenticationSaslContinue(body) => {
                let s = self.scram_in_progress("SASL continue without SASL start")?;
                s.exchange
                    .update(body.data())
                    .map_err(|_| Error::auth("invalid SCRAM server-first message"))?;
                frontend::sasl_response(s.exchange.message(), wbuf).map_err(encode)?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let s = self.scram_in_progress("SASL final without SASL start")?;
                // This is where the server proves it knows the password too.
                s.exchange
                    .finish(body.data())
                    .map_err(|_| Error::auth("SCRAM server signature does not verify"))?;
                self.scram_verified = true;
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

    /// Whether the server may use `method`: only one method per login (so SCRAM, once begun,
    /// cannot be swapped for a password), allowed by `require_auth`, and with channel
    /// binding if `channel_binding=require`.
    fn allow(&mut self, method: AuthMethod) -> Result<(), Error> {
        if self.method.is_some() {
            return Err(Error::auth(
                "the server asked for a second authentication method (a downgrade?)",
            ));
        }
        self.method = Some(method);
        self.cfg.require_auth.refusal(method)?;
        if self.cfg.channel_binding == ChannelBindingMode::Require
            && method != AuthMethod::ScramSha256
        {
            return Err(Error::auth(
                "channel_binding=require, but the server asked for a method without it",
            ));
        }
        Ok(())
    }

    /// AuthenticationOk ends the exchange only if it was complete: SCRAM verified if begun,
    /// bound if required, and no authentication at all only if `require_auth` allows it.
    fn accept_ok(&mut self) -> Result<(), Error> {
        match &self.scram {
            Some(_) if !self.scram_verified => {
                return Err(Error::auth(
                    "the server said AuthenticationOk before proving it knows the password (SCRAM unfinished)",
                ));
            }
            Some(s) if !s.bound && self.cfg.channel_binding == ChannelBindingMode::Require => {
                return Err(Error::auth(
                    "channel_binding=require, but SCRAM was not bound",
                ));
            }
            Some(_) => {}
            None if self.method.is_some() => {}
            None => {
                self.cfg.require_auth.refusal(AuthMethod::None)?;
                if self.cfg.channel_binding == ChannelBindingMode::Require {
                    return Err(Error::auth(
                        "channel_binding=require, but the server let us in without authentication",
                    ));
                }
            }
        }
        self.authenticated = true;
        Ok(())
    }

    /// Picks SCRAM-SHA-256-PLUS when the connection is TLS, the certificate gives binding
    /// data, the server offers it and `channel_binding` is not `disable` (libpq's choice);
    /// else plain SCRAM-SHA-256, telling the server whether we could have bound ('y') so that
    /// a stripped PLUS offer is detected.
    fn start_scram(
        &mut self,
        body: &AuthenticationSaslBody,
        wbuf: &mut BytesMut,
    ) -> Result<(), Error> {
        let (plain, plus) = mechanisms(body)?;
        let end_point = match self.cfg.channel_binding {
            ChannelBindingMode::Disable => None,
            _ => self.channel.end_point.clone(),
        };
        let could_bind = end_point.is_some();
        let (binding, mechanism) = match end_point {
            Some(hash) if plus => (
                ChannelBinding::tls_server_end_point(hash),
                sasl::SCRAM_SHA_256_PLUS,
            ),
            Some(_) if plain => (ChannelBinding::unrequested(), sasl::SCRAM_SHA_256),
            None if plain => (ChannelBinding::unsupported(), sasl::SCRAM_SHA_256),
            _ => {
                return Err(Error::auth(
                    "server offers no SASL mechanism we can use (SCRAM-SHA-256)",
                ));
            }
        };
        let bound = mechanism == sasl::SCRAM_SHA_256_PLUS;
        if !bound && self.cfg.channel_binding == ChannelBindingMode::Require {
            let why = match (self.channel.tls, could_bind) {
                (false, _) => "the connection is not TLS",
                (true, false) => "the server's certificate defines no tls-server-end-point hash",
                (true, true) => "the server does not offer SCRAM-SHA-256-PLUS",
            };
            return Err(Error::auth_detail(
                "channel_binding=require, but channel binding is not possible",
                why.to_owned(),
            ));
        }
        let exchange = ScramSha256::new(password(self.cfg)?.as_bytes(), binding);
        frontend::sasl_initial_response(mechanism, exchange.message(), wbuf)
            .map_err(|e| Error::protocol_io("encode authentication response", e))?;
        self.scram = Some(Scram { exchange, bound });
        Ok(())
    }

    fn scram_in_progress(&mut self, without_start: &'static str) -> Result<&mut Scram, Error> {
        if self.scram_verified {
            return Err(Error::protocol("SASL message after SASL final"));
        }
        self.scram
            .as_mut()
            .ok_or_else(|| Error::protocol(without_start))
    }
}

/// Which SCRAM mechanisms the server offers: (SCRAM-SHA-256, SCRAM-SHA-256-PLUS).
fn mechanisms(body: &AuthenticationSaslBody) -> Result<(bool, bool), Error> {
    let (mut plain, mut plus) = (false, false);
    let mut offered = body.mechanisms();
    while let Some(m) = fallible_iterator::FallibleIterator::next(&mut offered)
        .map_err(|e| Error::protocol_io("SASL mechanisms", e))?
    {
        plain |= m == sasl::SCRAM_SHA_256;
        plus |= m == sasl::SCRAM_SHA_256_PLUS;
    }
    Ok((plain, plus))
}

fn password(cfg: &PgConfig) -> Result<&str, Error> {
    cfg.password()
        .ok_or_else(|| Error::auth("server asks for a password and none is configured"))
}
