//! A rustls client session over a monoio socket, in two halves that work at the same time:
//! the connection's reader task reads from one while its writer task writes to the other.
//!
//! The socket is split first (monoio's own halves), and the halves share the rustls session
//! through an `Rc<RefCell<..>>` that is borrowed only between awaits, never across one. Each
//! half owns one ciphertext buffer that goes round rent-style through the socket's reads or
//! writes.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, RawBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::end_point::tls_server_end_point;
use crate::pg::error::Error;

/// Ciphertext bytes one socket read asks for: a little more than one full TLS record
/// (16 KiB of plaintext plus its overhead), so a burst of replies takes few reads.
const CIPHER_READ_BYTES: usize = 32 << 10;

type Session = Rc<RefCell<ClientConnection>>;

/// The reading half: ciphertext from the socket in, plaintext out.
pub struct TlsReadHalf<R> {
    io: R,
    tls: Session,
    /// Ciphertext read from the socket; `cipher[fed..]` is not yet handed to rustls.
    cipher: Vec<u8>,
    fed: usize,
    /// The socket said EOF (and rustls was told).
    eof: bool,
}

/// The writing half: plaintext in, ciphertext to the socket.
pub struct TlsWriteHalf<W> {
    io: W,
    tls: Session,
    /// Ciphertext waiting for the socket; empty between writes.
    cipher: Vec<u8>,
}

/// A TLS connection whose handshake is done. Reads and writes while whole (start-up), then
/// splits for the connection's two tasks.
pub struct TlsStream<R, W> {
    read: TlsReadHalf<R>,
    write: TlsWriteHalf<W>,
}

fn invalid_data(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Splits `io`, runs the TLS handshake over it, and returns the stream ready for start-up.
/// Certificate problems come back as `Auth` errors that say what was wrong.
pub(crate) async fn handshake<S>(
    io: S,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> Result<TlsStream<S::OwnedRead, S::OwnedWrite>, Error>
where
    S: Splitable,
    S::OwnedRead: AsyncReadRent,
    S::OwnedWrite: AsyncWriteRent,
{
    let session = ClientConnection::new(config, name)
        .map_err(|e| Error::config_cause("cannot start a TLS session", Box::new(e)))?;
    let tls = Rc::new(RefCell::new(session));
    let (r, w) = io.into_split();
    let mut stream = TlsStream {
        read: TlsReadHalf {
            io: r,
            tls: tls.clone(),
            cipher: Vec::with_capacity(CIPHER_READ_BYTES),
            fed: 0,
            eof: false,
        },
        write: TlsWriteHalf {
            io: w,
            tls,
            cipher: Vec::new(),
        },
    };
    match stream.complete_handshake().await {
        Ok(()) => Ok(stream),
        Err(e) => Err(handshake_error(e)),
    }
}

/// A rejected certificate is the server failing to prove who it is (`Auth`, not worth
/// retrying); anything else the TLS layer refuses is a protocol failure; the rest is I/O.
fn handshake_error(e: io::Error) -> Error {
    let is_tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match is_tls {
        Some(tls @ rustls::Error::InvalidCertificate(_)) => Error::auth_cause(
            "the server's TLS certificate is not acceptable",
            Box::new(tls),
        ),
        Some(tls) => Error::protocol_cause("TLS handshake failed", Box::new(tls)),
        None => Error::io("TLS handshake", e),
    }
}

impl<R: AsyncReadRent, W: AsyncWriteRent> TlsStream<R, W> {
    async fn complete_handshake(&mut self) -> io::Result<()> {
        loop {
            self.write.flush_tls().await?;
            if !self.read.tls.borrow().is_handshaking() {
                return Ok(());
            }
            if !self.read.feed()? {
                if self.read.eof {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    ));
                }
                self.read.read_socket().await?;
            }
        }
    }

    /// The `tls-server-end-point` channel binding data of this connection (RFC 5929): a
    /// hash of the server's certificate, or None if its signature algorithm defines none.
    pub fn server_end_point(&self) -> Option<Vec<u8>> {
        let tls = self.read.tls.borrow();
        let leaf = tls.peer_certificates()?.first()?;
        tls_server_end_point(leaf.as_ref())
    }
}

impl<R: AsyncReadRent> TlsReadHalf<R> {
    /// Hands rustls the next piece of buffered ciphertext; false if there is none left.
    fn feed(&mut self) -> io::Result<bool> {
        if self.fed == self.cipher.len() {
            return Ok(false);
        }
        let mut tls = self.tls.borrow_mut();
        let mut rest = &self.cipher[self.fed..];
        let taken = tls.read_tls(&mut rest)?;
        // Nothing is taken after the server's close_notify: what follows it is dropped.
        self.fed = if taken == 0 {
            self.cipher.len()
        } else {
            self.fed + taken
        };
        tls.process_new_packets().map_err(invalid_data)?;
        Ok(true)
    }

    /// Reads more ciphertext; only called once everything buffered has been fed.
    async fn read_socket(&mut self) -> io::Result<()> {
        if self.eof {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read after the end of the TLS stream",
            ));
        }
        let mut buf = std::mem::take(&mut self.cipher);
        buf.clear();
        self.fed = 0;
        let (res, buf) = self.io.read(buf).await;
        self.cipher = buf;
        if res? == 0 {
            self.eof = true;
            // rustls turns an end without close_notify into an error on the next read.
            self.tls.borrow_mut().read_tls(&mut io::empty())?;
        }
        Ok(())
    }

    /// Copies decrypted bytes into `buf`: `Some(n)`, `Some(0)` at a clean end (close_notify),
    /// None if rustls needs more ciphertext first.
    fn deliver<T: IoBufMut>(&mut self, buf: &mut T) -> io::Result<Option<usize>> {
        let mut tls = self.tls.borrow_mut();
        let available = tls
            .process_new_packets()
            .map_err(invalid_data)?
            .plaintext_bytes_to_read();
        let read = if available == 0 {
            // Asks only whether the stream ended, cleanly or not; no byte can come back.
            tls.reader().read(&mut [0u8; 1])
        } else {
            let n = available.min(buf.bytes_total());
            // SAFETY: `write_ptr` is valid for `bytes_total` bytes; the first `n` are zeroed
            // before a slice is made over them, so the slice never covers uninitialised
            // memory, and `set_init` marks only what rustls wrote.
            let out = unsafe {
                std::ptr::write_bytes(buf.write_ptr(), 0, n);
                std::slice::from_raw_parts_mut(buf.write_ptr(), n)
            };
            tls.reader().read(out)
        };
        match read {
            Ok(n) => {
                // SAFETY: rustls initialised (wrote) the first `n` bytes just above.
                unsafe { buf.set_init(n) };
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read_plain<T: IoBufMut>(&mut self, buf: &mut T) -> io::Result<usize> {
        debug_assert!(buf.bytes_total() > 0, "an empty read would look like EOF");
        loop {
            if let Some(n) = self.deliver(buf)? {
                return Ok(n);
            }
            if !self.feed()? {
                self.read_socket().await?;
            }
        }
    }
}

impl<W: AsyncWriteRent> TlsWriteHalf<W> {
    /// Sends everything rustls has queued: our records, and any alert or key update the
    /// reading half's processing produced.
    async fn flush_tls(&mut self) -> io::Result<()> {
        loop {
            let mut out = std::mem::take(&mut self.cipher);
            out.clear();
            {
                let mut tls = self.tls.borrow_mut();
                while tls.wants_write() {
                    tls.write_tls(&mut out)?;
                }
            }
            if out.is_empty() {
                self.cipher = out;
                return Ok(());
            }
            let (res, out) = self.io.write_all(out).await;
            self.cipher = out;
            res?;
        }
    }

    async fn write_plain(&mut self, src: &[u8]) -> io::Result<usize> {
        self.flush_tls().await?;
        // rustls takes what fits its buffer limit; the caller's write_all comes back for more.
        let n = self.tls.borrow_mut().writer().write(src)?;
        self.flush_tls().await?;
        Ok(n)
    }
}

impl<R: AsyncReadRent> AsyncReadRent for TlsReadHalf<R> {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let res = self.read_plain(&mut buf).await;
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`, which outlives its use here.
        let res = match unsafe { RawBuf::new_from_iovec_mut(&mut buf) } {
            Some(mut raw) => self.read_plain(&mut raw).await,
            None => Ok(0),
        };
        if let Ok(n) = res {
            // SAFETY: `n` bytes of the first iovec were written by `read_plain`.
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }
}

impl<W: AsyncWriteRent> AsyncWriteRent for TlsWriteHalf<W> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr` is valid for `bytes_init` initialised bytes while we hold `buf`.
        let src = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = self.write_plain(src).await;
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`, which outlives its use here.
        let res = match unsafe { RawBuf::new_from_iovec(&buf) } {
            Some(raw) => self.write(raw).await.0,
            None => Ok(0),
        };
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.tls.borrow_mut().writer().flush()?;
        self.flush_tls().await?;
        self.io.flush().await
    }

    /// Says close_notify, then half-closes the socket.
    async fn shutdown(&mut self) -> io::Result<()> {
        self.tls.borrow_mut().send_close_notify();
        self.flush_tls().await?;
        self.io.shutdown().await
    }
}

impl<R: AsyncReadRent, W> AsyncReadRent for TlsStream<R, W> {
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.read.read(buf)
    }

    fn readv<T: IoVecBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.read.readv(buf)
    }
}

impl<R, W: AsyncWriteRent> AsyncWriteRent for TlsStream<R, W> {
    fn write<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.write.write(buf)
    }

    fn writev<T: IoVecBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.write.writev(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        self.write.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        self.write.shutdown()
    }
}

impl<R, W> Splitable for TlsStream<R, W> {
    type OwnedRead = TlsReadHalf<R>;
    type OwnedWrite = TlsWriteHalf<W>;

    fn into_split(self) -> (TlsReadHalf<R>, TlsWriteHalf<W>) {
        (self.read, self.write)
    }
}
