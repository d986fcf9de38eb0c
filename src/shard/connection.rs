//! One HTTP/1.1 connection, from accept to close.
//!
//! The connection owns one read buffer and one write buffer while it is busy (monoio's
//! rent-style I/O moves them into each operation and back). Every complete request already
//! in the read buffer is answered before the next read, and all their responses go out in
//! one write — so pipelined requests are answered in order and cost one syscall per batch.
//!
//! Memory: a connection that has sent nothing for [`limits::IDLE_BUFFERS_RELEASE_AFTER`]
//! gives its buffers back and waits for readability with none (one poll, only then), so
//! thousands of idle keep-alive connections cost little more than their tasks. A buffer
//! that one large request grew is shrunk again once that request is answered.

use std::rc::Rc;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;

use crate::endpoint;
use crate::endpoint::route::Surface;
use crate::http::REQUEST_BYTES_MAX;
use crate::http::request::{self, ParseError};
use crate::limits;
use crate::shard::Shard;

/// Why a connection ends; only for counting.
enum Close {
    /// The peer closed, asked to close, or sent something we cannot continue after.
    Done,
    TimedOut,
}

/// Serve one connection that came in on `surface` until it ends.
pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream, surface: Surface) {
    // A new connection's request is usually on its way: the read buffer is needed at once,
    // the others when a request has arrived (`Buffers::ready`).
    let mut buffers = Buffers {
        read: Vec::with_capacity(limits::READ_BUFFER_BYTES_INITIAL),
        write: Vec::new(),
        scratch: Vec::new(),
    };
    if let Close::TimedOut = run(&shard, &mut stream, &mut buffers, surface).await {
        shard.ctx.stats().connections_timed_out.bump();
    }
    // A closing connection holds no buffer while its shutdown is in flight.
    drop(buffers);
    let _ = stream.shutdown().await;
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

async fn run(
    shard: &Shard,
    stream: &mut TcpStream,
    buffers: &mut Buffers,
    surface: Surface,
) -> Close {
    // A request must arrive whole within idle_timeout of the previous response (or of the
    // accept), and its head within header_timeout of its first byte: a slow sender cannot
    // hold the connection by trickling bytes.
    let mut last_activity = Instant::now();
    let mut head_started: Option<Instant> = None;
    loop {
        if !buffers.read.is_empty() {
            buffers.ready();
        }
        let answered = answer_buffered(shard, buffers, surface).await;
        if answered.consumed > 0 {
            buffers.read.drain(..answered.consumed);
            last_activity = Instant::now();
            head_started = (!buffers.read.is_empty()).then_some(last_activity);
        }
        if !buffers.write.is_empty()
            && let Err(close) = write_out(shard, stream, &mut buffers.write).await
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
        }
        let deadlines = Deadlines::of(shard, &buffers.read, last_activity, head_started);
        match read_more(shard, stream, &mut buffers.read, deadlines).await {
            Read::Data => {
                head_started.get_or_insert_with(Instant::now);
            }
            Read::Eof => return Close::Done,
            Read::TimedOut => return Close::TimedOut,
            Read::HeadTimedOut => return refuse_slow_head(shard, stream, buffers).await,
            Read::Idle => {
                buffers.release();
                match wait_readable(shard, stream, deadlines.idle).await {
                    Read::Data => buffers.read.reserve(limits::READ_BUFFER_BYTES_INITIAL),
                    Read::TimedOut => return Close::TimedOut,
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

/// Answer every complete request in the read buffer, in order, into the write buffer, until
/// the responses waiting to be written reach `PENDING_OUTPUT_BYTES_MAX`.
async fn answer_buffered(shard: &Shard, buffers: &mut Buffers, surface: Surface) -> Answered {
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
                endpoint::handle(&shard.ctx, &req, surface, keep_alive, write, scratch).await;
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

/// The head did not arrive within `header_timeout`: 408, and close.
async fn refuse_slow_head(shard: &Shard, stream: &mut TcpStream, buffers: &mut Buffers) -> Close {
    buffers.ready();
    buffers.write.clear();
    endpoint::refuse_malformed(&shard.ctx, &ParseError::HeadTimeout, &mut buffers.write);
    let _ = write_out(shard, stream, &mut buffers.write).await;
    Close::TimedOut
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
        read_buf: &[u8],
        last_activity: Instant,
        head_started: Option<Instant>,
    ) -> Deadlines {
        let config = &shard.ctx.config;
        let head = head_started
            .filter(|_| !read_buf.is_empty() && !request::has_whole_head(read_buf))
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
}

/// Append what the peer sends next to `read_buf`, or give up at the first of `deadlines`
/// or, for a connection between requests, at shutdown or when it has been idle long
/// enough to release its buffers ([`Read::Idle`]).
///
/// A dropped io_uring read is not cancelled at once and would keep the socket alive (and
/// the kernel could still write into the buffer), so a read given up on is cancelled
/// explicitly and then still awaited.
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
    let (deadline, timed_out) = deadlines.first();
    let len = read_buf.len();
    let cap = read_buf.capacity();
    let idle = len == 0;
    // One timer either way: the busy path pays nothing for the release.
    let releasing = idle && deadlines.release < deadline;
    let wake_at = if releasing {
        deadlines.release
    } else {
        deadline
    };
    let canceller = Canceller::new();
    let read = stream.cancelable_read(
        std::mem::take(read_buf).slice_mut(len..cap),
        canceller.handle(),
    );
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
    *read_buf = slice.into_inner();
    match result {
        Ok(0) => Read::Eof,
        // Data that raced the cancellation is served as usual.
        Ok(_) => Read::Data,
        Err(_) => gave_up.unwrap_or(Read::Eof),
    }
}

/// Wait, holding no buffer, until the peer sends something (or closes), the deadline
/// passes, or the shard shuts down. One poll operation per idle period, never per request.
/// A readiness wait given up on is dropped, which cancels it (monoio's `async-cancel`).
async fn wait_readable(shard: &Shard, stream: &TcpStream, deadline: Instant) -> Read {
    monoio::select! {
        r = stream.readable(false) => match r {
            Ok(()) => Read::Data,
            Err(_) => Read::Eof,
        },
        _ = monoio::time::sleep_until(deadline.into()) => Read::TimedOut,
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
