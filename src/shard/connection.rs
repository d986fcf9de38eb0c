//! One HTTP/1.1 connection, from accept to close.
//!
//! The connection owns one read buffer and one write buffer while it is busy (monoio's
//! rent-style I/O moves them into each operation and back). Every complete request already
//! in the read buffer is answered before the next read, and all their responses go out in
//! one write — so pipelined requests are answered in order and cost one syscall per batch.
//!
//! A connection on a TLS listener reads records instead (`Link`): they go through its
//! `tls::Session`, whose plaintext lands in the same read buffer, and its responses are
//! sealed into records on the way out. The handshake counts as part of the first request's
//! head: it must finish within `header_timeout` of the accept.
//!
//! Memory: a connection that has sent nothing for [`limits::IDLE_BUFFERS_RELEASE_AFTER`]
//! gives its buffers back and waits for readability with none (one poll, only then), so
//! thousands of idle keep-alive connections cost little more than their tasks. A buffer
//! that one large request grew is shrunk again once that request is answered.

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;

use crate::endpoint;
use crate::endpoint::route::Surface;
use crate::http::REQUEST_BYTES_MAX;
use crate::http::request::{self, ParseError};
use crate::http::response;
use crate::limits;
use crate::shard::Shard;
use crate::shard::proxy;
use crate::tls;

/// Why a connection ends; only for counting.
enum Close {
    /// The peer closed, asked to close, or sent something we cannot continue after.
    Done,
    TimedOut,
}

/// Serve one connection that came in on `surface` until it ends; `secure`: the listener
/// speaks TLS.
pub async fn serve(
    shard: Rc<Shard>,
    stream: TcpStream,
    source: IpAddr,
    surface: Surface,
    secure: bool,
) {
    // Boxed, and only behind a load balancer: the header's buffer and wait are not part of
    // every connection's task.
    let source = match shard.ctx.config.trusted_proxies.is_empty() {
        true => source,
        false => match Box::pin(proxy::client_address(&shard, &stream, source)).await {
            Some(source) => source,
            None => return,
        },
    };
    let tls = match secure {
        false => None,
        true => match shard.tls_session() {
            Some((session, roots)) => Some(Box::new(TlsLink::new(session, roots))),
            None => return,
        },
    };
    let mut link = Link {
        stream,
        tls,
        source,
    };
    // A new connection's request is usually on its way: the read buffer is needed at once,
    // the others when a request has arrived (`Buffers::ready`).
    let mut buffers = Buffers {
        read: Vec::with_capacity(limits::READ_BUFFER_BYTES_INITIAL),
        write: Vec::new(),
        scratch: Vec::new(),
    };
    let close = run(&shard, &mut link, &mut buffers, surface).await;
    let stats = shard.ctx.stats();
    if let Close::TimedOut = close {
        stats.connections_timed_out.bump();
    }
    if link.handshaking() {
        stats.tls_handshakes_failed.bump();
    }
    // A closing connection holds no buffer while its shutdown is in flight.
    drop(buffers);
    link.close(&shard, close).await;
}

/// The connection's byte stream: plain TCP, or TLS over it.
struct Link {
    stream: TcpStream,
    tls: Option<Box<TlsLink>>,
    /// The peer's address, as accepted.
    source: IpAddr,
}

struct TlsLink {
    session: tls::Session,
    /// Records read from the socket, handed to the session at once.
    records_in: Vec<u8>,
    /// Records to write: sealed responses, handshake messages, tickets, alerts.
    records_out: Vec<u8>,
    /// Nothing has arrived yet: the first bytes tell TLS from a plain request.
    first_read: bool,
    /// What a client certificate is checked against, until the handshake ends.
    roots: Option<Rc<tls::ClientRoots>>,
    /// The client's certificate, from the end of the handshake (RFC 8705 clients).
    peer: Option<tls::PeerCert>,
}

impl TlsLink {
    fn new(session: tls::Session, roots: Rc<tls::ClientRoots>) -> TlsLink {
        TlsLink {
            session,
            records_in: Vec::with_capacity(limits::TLS_READ_BYTES),
            records_out: Vec::new(),
            first_read: true,
            roots: Some(roots),
            peer: None,
        }
    }

    /// The handshake is over: count it, and keep the client's certificate.
    fn handshake_done(&mut self, shard: &Shard) {
        let stats = shard.ctx.stats();
        match self.session.resumed() {
            true => stats.tls_handshakes_resumed.bump(),
            false => stats.tls_handshakes_full.bump(),
        }
        let roots = self.roots.take();
        self.peer = self
            .session
            .peer_chain()
            .zip(roots)
            .and_then(|(chain, roots)| tls::PeerCert::new(chain, roots));
    }
}

impl Link {
    fn handshaking(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.session.is_handshaking())
    }

    fn peer(&self) -> Option<&tls::PeerCert> {
        self.tls.as_ref()?.peer.as_ref()
    }

    fn caller(&self) -> endpoint::Caller<'_> {
        endpoint::Caller {
            source: self.source,
            certificate: self.peer(),
        }
    }

    /// Append what the peer sends next (plaintext) to `read_buf`; see [`read_more`].
    async fn read_more(
        &mut self,
        shard: &Shard,
        read_buf: &mut Vec<u8>,
        deadlines: Deadlines,
    ) -> Read {
        match &mut self.tls {
            None => read_more(shard, &mut self.stream, read_buf, deadlines).await,
            Some(tls) => read_records(shard, &mut self.stream, tls, read_buf, deadlines).await,
        }
    }

    /// Write the responses in `write_buf` out (sealed, over TLS); see [`write_out`].
    async fn write_out(&mut self, shard: &Shard, write_buf: &mut Vec<u8>) -> Result<(), Close> {
        match &mut self.tls {
            None => write_out(shard, &mut self.stream, write_buf).await,
            Some(tls) => {
                tls.session.seal(write_buf, &mut tls.records_out);
                write_buf.clear();
                write_out(shard, &mut self.stream, &mut tls.records_out).await
            }
        }
    }

    /// Free the record buffers of an idle connection, and trim what a burst grew.
    fn release(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.records_in = Vec::new();
            tls.records_out = Vec::new();
        }
    }

    fn trim(&mut self) {
        if let Some(tls) = &mut self.tls
            && tls.records_out.capacity() > limits::BUFFER_BYTES_RETAINED_MAX
        {
            tls.records_out = Vec::new();
        }
    }

    /// Say goodbye: close_notify over TLS (unless the peer stopped taking what we send),
    /// then the TCP shutdown.
    async fn close(mut self, shard: &Shard, close: Close) {
        if let Some(tls) = &mut self.tls
            && !tls.session.is_handshaking()
            && !matches!(close, Close::TimedOut)
        {
            tls.session.close();
            tls.session.seal_pending(&mut tls.records_out);
            let _ = write_out(shard, &mut self.stream, &mut tls.records_out).await;
        }
        self.tls = None;
        let _ = self.stream.shutdown().await;
    }
}

/// A connection's buffers. Each is either unallocated (capacity 0: the connection is new or
/// idle) or between its initial size and what one request needs.
struct Buffers {
    /// Bytes received and not yet answered; read into in place.
    read: Vec<u8>,
    /// Responses to the requests of one read, written out together.
    write: Vec<u8>,
    /// The endpoint's body buffer (`endpoint::handle`), held across its awaits.
    scratch: Vec<u8>,
}

impl Buffers {
    /// Allocate the response buffers of a connection that is about to answer: one branch
    /// per read on the busy path, an allocation only after `release`.
    fn ready(&mut self) {
        if self.write.capacity() == 0 {
            self.write = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
            self.scratch = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
        }
    }

    /// Free every buffer of an idle connection (nothing buffered, nothing to write).
    fn release(&mut self) {
        debug_assert!(self.read.is_empty() && self.write.is_empty());
        *self = Buffers {
            read: Vec::new(),
            write: Vec::new(),
            scratch: Vec::new(),
        };
    }

    /// Shrink what a large request or a large batch of responses grew, once it is answered,
    /// so that a connection keeps at most `BUFFER_BYTES_RETAINED_MAX` per buffer. Normal
    /// traffic (pipelined batches included) stays under it and never reallocates here.
    fn trim(&mut self) {
        if self.read.capacity() > limits::BUFFER_BYTES_RETAINED_MAX
            && self.read.len() <= limits::READ_BUFFER_BYTES_INITIAL
        {
            self.read.shrink_to(limits::READ_BUFFER_BYTES_INITIAL);
        }
        if self.write.capacity() > limits::BUFFER_BYTES_RETAINED_MAX {
            debug_assert!(self.write.is_empty());
            self.write = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
        }
        if self.scratch.capacity() > limits::BUFFER_BYTES_RETAINED_MAX {
            self.scratch = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
        }
    }
}

async fn run(shard: &Shard, link: &mut Link, buffers: &mut Buffers, surface: Surface) -> Close {
    // A request must arrive whole within idle_timeout of the previous response (or of the
    // accept), and its head within header_timeout of its first byte (of the accept, for a
    // TLS handshake): a slow sender cannot hold the connection by trickling bytes.
    let mut last_activity = Instant::now();
    let mut head_started: Option<Instant> = link.tls.is_some().then_some(last_activity);
    // The whole head of the request at the front of the read buffer has been looked at for
    // `Expect: 100-continue` (once per request).
    let mut head_checked = false;
    loop {
        let answered = answer_boxed(shard, buffers, surface, link.caller()).await;
        if answered.consumed > 0 {
            buffers.read.drain(..answered.consumed);
            last_activity = Instant::now();
            head_started = (!buffers.read.is_empty()).then_some(last_activity);
            head_checked = false;
        }
        // What is left unanswered is one incomplete request (unless output stopped us).
        let incomplete = !answered.close && !answered.output_full && !buffers.read.is_empty();
        if incomplete && !head_checked && request::has_whole_head(&buffers.read) {
            head_checked = true;
            if request::awaits_continue(&buffers.read) {
                buffers.write.extend_from_slice(response::CONTINUE);
            }
        }
        if !buffers.write.is_empty()
            && let Err(close) = link.write_out(shard, &mut buffers.write).await
        {
            return close;
        }
        if answered.close || (shard.shutdown.is_fired() && buffers.read.is_empty()) {
            return Close::Done;
        }
        if answered.output_full {
            // Write before answering more: what is still buffered is answered next.
            continue;
        }
        if answered.consumed > 0 {
            buffers.trim();
            link.trim();
        }
        let deadlines = Deadlines::of(shard, link, &buffers.read, last_activity, head_started);
        match link.read_more(shard, &mut buffers.read, deadlines).await {
            // Progress, or a finished handshake (no plaintext yet): the head clock starts
            // with the first byte of the request.
            Read::Data if buffers.read.is_empty() => head_started = None,
            Read::Data => {
                head_started.get_or_insert_with(Instant::now);
            }
            Read::Eof => return Close::Done,
            Read::TimedOut => return Close::TimedOut,
            Read::HeadTimedOut => return refuse_slow_head(shard, link, buffers).await,
            Read::NotTls => return refuse_plain_http(shard, link, buffers).await,
            Read::Idle => {
                buffers.release();
                link.release();
                match wait_readable(shard, &link.stream, deadlines.first()).await {
                    Read::Data => buffers.read.reserve(limits::READ_BUFFER_BYTES_INITIAL),
                    Read::TimedOut => return Close::TimedOut,
                    Read::HeadTimedOut => return refuse_slow_head(shard, link, buffers).await,
                    _ => return Close::Done,
                }
            }
        }
    }
}

/// What one pass over the read buffer did.
struct Answered {
    /// Bytes of the read buffer answered (whole requests).
    consumed: usize,
    /// The connection ends after the write: the client asked, or the stream is untrusted.
    close: bool,
    /// Stopped at `PENDING_OUTPUT_BYTES_MAX` of responses: write them, then go on.
    output_full: bool,
}

impl Answered {
    const NOTHING: Answered = Answered {
        consumed: 0,
        close: false,
        output_full: false,
    };
}

/// [`answer_buffered`], its state boxed for the one pass: the endpoints' awaits (every
/// future of `endpoint::handle`) are not part of the connection's task, whose size is what
/// an idle connection costs. A few hundred bytes more in the task move it up a mimalloc size
/// class, where it shares pages with the 4 KiB read buffers and keeps them resident after
/// they are released (`tests/memory.rs`). One allocation per read that brought bytes.
async fn answer_boxed(
    shard: &Shard,
    buffers: &mut Buffers,
    surface: Surface,
    caller: endpoint::Caller<'_>,
) -> Answered {
    if buffers.read.is_empty() {
        return Answered::NOTHING;
    }
    buffers.ready();
    Box::pin(answer_buffered(shard, buffers, surface, caller)).await
}

/// Answer every complete request in the read buffer, in order, into the write buffer, until
/// the responses waiting to be written reach `PENDING_OUTPUT_BYTES_MAX`.
async fn answer_buffered(
    shard: &Shard,
    buffers: &mut Buffers,
    surface: Surface,
    caller: endpoint::Caller<'_>,
) -> Answered {
    let Buffers {
        read,
        write,
        scratch,
    } = buffers;
    let mut answered = Answered {
        consumed: 0,
        close: false,
        output_full: false,
    };
    while write.len() < limits::PENDING_OUTPUT_BYTES_MAX {
        match request::parse(&read[answered.consumed..]) {
            Ok(Some(req)) => {
                let keep_alive = req.keep_alive && !shard.shutdown.is_fired();
                let conn = endpoint::Connection {
                    surface,
                    keep_alive,
                    caller,
                };
                endpoint::handle(&shard.ctx, &req, conn, write, scratch).await;
                answered.consumed += req.len;
                if !keep_alive {
                    answered.close = true;
                    return answered;
                }
            }
            Ok(None) => return answered,
            Err(e) => {
                // The byte stream can no longer be trusted: answer and close.
                endpoint::refuse_malformed(&shard.ctx, &e, write);
                answered.close = true;
                return answered;
            }
        }
    }
    answered.output_full = true;
    answered
}

/// Write the responses out. A peer that does not take them within `idle_timeout` (it
/// stopped reading) is closed: a write holds the buffer, so it must not wait for ever.
/// A write given up on is dropped; monoio keeps its buffer until the kernel lets go.
async fn write_out(
    shard: &Shard,
    stream: &mut TcpStream,
    write_buf: &mut Vec<u8>,
) -> Result<(), Close> {
    let write = stream.write_all(std::mem::take(write_buf));
    match monoio::time::timeout(shard.ctx.config.idle_timeout, write).await {
        Ok((Ok(_), mut buf)) => {
            buf.clear();
            *write_buf = buf;
            Ok(())
        }
        Ok((Err(_), _)) => Err(Close::Done),
        Err(_) => Err(Close::TimedOut),
    }
}

/// The head did not arrive within `header_timeout`: 408, and close. A handshake that did
/// not finish gets no answer: there is no session to answer in.
async fn refuse_slow_head(shard: &Shard, link: &mut Link, buffers: &mut Buffers) -> Close {
    if !link.handshaking() {
        buffers.ready();
        buffers.write.clear();
        endpoint::refuse_malformed(&shard.ctx, &ParseError::HeadTimeout, &mut buffers.write);
        let _ = link.write_out(shard, &mut buffers.write).await;
    }
    Close::TimedOut
}

/// A plain HTTP request on the TLS port: a readable 400, in plain text, and close.
async fn refuse_plain_http(shard: &Shard, link: &mut Link, buffers: &mut Buffers) -> Close {
    buffers.ready();
    buffers.write.clear();
    endpoint::refuse_malformed(
        &shard.ctx,
        &ParseError::PlainHttpOnTlsPort,
        &mut buffers.write,
    );
    let _ = write_out(shard, &mut link.stream, &mut buffers.write).await;
    Close::Done
}

/// When a read gives up.
#[derive(Clone, Copy)]
struct Deadlines {
    /// When a connection with nothing buffered gives its buffers back.
    release: Instant,
    /// `idle_timeout` after the last answered request (or the accept).
    idle: Instant,
    /// `header_timeout` after the first byte of a head still incomplete.
    head: Option<Instant>,
}

impl Deadlines {
    fn of(
        shard: &Shard,
        link: &Link,
        read_buf: &[u8],
        last_activity: Instant,
        head_started: Option<Instant>,
    ) -> Deadlines {
        let config = &shard.ctx.config;
        let head_incomplete = !read_buf.is_empty() && !request::has_whole_head(read_buf);
        let head = head_started
            .filter(|_| head_incomplete || link.handshaking())
            .map(|started| started + config.header_timeout);
        Deadlines {
            release: last_activity + limits::IDLE_BUFFERS_RELEASE_AFTER,
            idle: last_activity + config.idle_timeout,
            head,
        }
    }

    /// The earlier deadline, and what passing it means.
    fn first(&self) -> (Instant, Read) {
        match self.head {
            Some(head) if head < self.idle => (head, Read::HeadTimedOut),
            _ => (self.idle, Read::TimedOut),
        }
    }
}

enum Read {
    Data,
    Eof,
    TimedOut,
    /// A request head is still incomplete `header_timeout` after its first byte.
    HeadTimedOut,
    /// Nothing arrived for `IDLE_BUFFERS_RELEASE_AFTER` between two requests; the read is
    /// cancelled and the (empty) buffer is back.
    Idle,
    /// The first bytes on a TLS port are a plain HTTP request.
    NotTls,
}

/// Append what the peer sends next to `read_buf`, growing it within what one request may
/// need; see [`read_socket`].
async fn read_more(
    shard: &Shard,
    stream: &mut TcpStream,
    read_buf: &mut Vec<u8>,
    deadlines: Deadlines,
) -> Read {
    // Bound what one request may occupy: the parser rejects a head over HEADER_BYTES_MAX and a
    // body over BODY_BYTES_MAX, so the buffer never needs more than both. Doubling, but
    // exact: `reserve` could round a nearly full buffer up past the bound.
    if read_buf.capacity() - read_buf.len() < 1024 {
        let wanted = (read_buf.capacity() * 2).min(REQUEST_BYTES_MAX + 1024);
        read_buf.reserve_exact(wanted.saturating_sub(read_buf.len()).max(1024));
    }
    let idle = read_buf.is_empty();
    read_socket(shard, stream, read_buf, deadlines, idle).await
}

/// Read TLS records until they give plaintext (appended to `plain`) or finish the
/// handshake. Handshake replies, tickets and alerts are written as they come; a session
/// error ends the connection once its alert is out. `plain` grows by at most a read of
/// records (`TLS_READ_BYTES`) per call beyond the one request it holds.
async fn read_records(
    shard: &Shard,
    stream: &mut TcpStream,
    tls: &mut TlsLink,
    plain: &mut Vec<u8>,
    deadlines: Deadlines,
) -> Read {
    loop {
        tls.records_in.clear();
        tls.records_in.reserve_exact(limits::TLS_READ_BYTES);
        let idle = plain.is_empty();
        match read_socket(shard, stream, &mut tls.records_in, deadlines, idle).await {
            Read::Data => {}
            other => return other,
        }
        if std::mem::take(&mut tls.first_read) && tls::session::is_plain_http(&tls.records_in) {
            return Read::NotTls;
        }
        let was_handshaking = tls.session.is_handshaking();
        let received_from = plain.len();
        let received = tls.session.receive(&tls.records_in, plain);
        tls.session.seal_pending(&mut tls.records_out);
        if !tls.records_out.is_empty()
            && let Err(close) = write_out(shard, stream, &mut tls.records_out).await
        {
            return match close {
                Close::TimedOut => Read::TimedOut,
                Close::Done => Read::Eof,
            };
        }
        let Ok(peer_closed) = received else {
            return Read::Eof;
        };
        let handshake_done = was_handshaking && !tls.session.is_handshaking();
        if handshake_done {
            tls.handshake_done(shard);
        }
        if handshake_done || plain.len() > received_from {
            return Read::Data;
        }
        if peer_closed {
            return Read::Eof;
        }
    }
}

/// Read what the peer sends next into the spare capacity of `buf`, or give up at the first
/// of `deadlines` or, for a connection between requests (`idle`), at shutdown or when it
/// has been idle long enough to release its buffers ([`Read::Idle`]).
///
/// A dropped io_uring read is not cancelled at once and would keep the socket alive (and
/// the kernel could still write into the buffer), so a read given up on is cancelled
/// explicitly and then still awaited.
async fn read_socket(
    shard: &Shard,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadlines: Deadlines,
    idle: bool,
) -> Read {
    let (deadline, timed_out) = deadlines.first();
    let len = buf.len();
    let cap = buf.capacity();
    // One timer either way: the busy path pays nothing for the release.
    let releasing = idle && deadlines.release < deadline;
    let wake_at = if releasing {
        deadlines.release
    } else {
        deadline
    };
    let canceller = Canceller::new();
    let read = stream.cancelable_read(std::mem::take(buf).slice_mut(len..cap), canceller.handle());
    let mut read = std::pin::pin!(read);
    let mut gave_up = None;
    let (result, slice) = monoio::select! {
        r = &mut read => r,
        _ = monoio::time::sleep_until(wake_at.into()) => {
            gave_up = Some(if releasing { Read::Idle } else { timed_out });
            canceller.cancel();
            read.await
        }
        _ = shard.shutdown.wait(), if idle => {
            gave_up = Some(Read::Eof);
            canceller.cancel();
            read.await
        }
    };
    *buf = slice.into_inner();
    match result {
        Ok(0) => Read::Eof,
        // Data that raced the cancellation is served as usual.
        Ok(_) => Read::Data,
        Err(_) => gave_up.unwrap_or(Read::Eof),
    }
}

/// Wait, holding no buffer, until the peer sends something (or closes), the deadline
/// passes (answered with `timed_out`), or the shard shuts down. One poll operation per
/// idle period, never per request. A readiness wait given up on is dropped, which cancels
/// it (monoio's `async-cancel`).
async fn wait_readable(
    shard: &Shard,
    stream: &TcpStream,
    (deadline, timed_out): (Instant, Read),
) -> Read {
    monoio::select! {
        r = stream.readable(false) => match r {
            Ok(()) => Read::Data,
            Err(_) => Read::Eof,
        },
        _ = monoio::time::sleep_until(deadline.into()) => timed_out,
        _ = shard.shutdown.wait() => Read::Eof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers(read: usize, write: usize, scratch: usize) -> Buffers {
        Buffers {
            read: Vec::with_capacity(read),
            write: Vec::with_capacity(write),
            scratch: Vec::with_capacity(scratch),
        }
    }

    #[test]
    fn trim_shrinks_only_what_a_large_request_grew() {
        // Grown by pipelining, within the bound: kept, so that the next batch does not
        // reallocate.
        let retained = limits::BUFFER_BYTES_RETAINED_MAX;
        let mut b = buffers(retained, retained, limits::WRITE_BUFFER_BYTES_INITIAL);
        b.trim();
        assert!(b.read.capacity() >= retained && b.write.capacity() >= retained);

        // Grown by a request at the size limits: back to the initial sizes, unread bytes kept.

        let large = REQUEST_BYTES_MAX + 1024;
        let mut b = buffers(large, 2 * large, 2 * large);
        b.read.extend_from_slice(b"GET / HTTP/1.1\r\n");
        b.trim();
        assert!(b.read.capacity() <= limits::BUFFER_BYTES_RETAINED_MAX);
        assert_eq!(b.read, b"GET / HTTP/1.1\r\n");
        assert!(b.write.capacity() <= limits::BUFFER_BYTES_RETAINED_MAX);
        assert!(b.scratch.capacity() <= limits::BUFFER_BYTES_RETAINED_MAX);
    }

    #[test]
    fn released_buffers_hold_nothing_until_ready() {
        let mut b = buffers(limits::READ_BUFFER_BYTES_INITIAL, 100, 100);
        b.release();
        assert_eq!(
            (b.read.capacity(), b.write.capacity(), b.scratch.capacity()),
            (0, 0, 0)
        );
        b.ready();
        assert!(b.write.capacity() >= limits::WRITE_BUFFER_BYTES_INITIAL);
        assert!(b.scratch.capacity() >= limits::WRITE_BUFFER_BYTES_INITIAL);
    }
}
