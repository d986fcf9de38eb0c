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
use crate::http::{REQUEST_BYTES_MAX, request};
use crate::limits;
use crate::shard::Shard;

/// Why a connection ends; only for counting.
enum Close {
    /// The peer closed, asked to close, or sent something we cannot continue after.
    Done,
    TimedOut,
}

pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream) {
    // A new connection's request is usually on its way: the read buffer is needed at once,
    // the others when a request has arrived (`Buffers::ready`).
    let mut buffers = Buffers {
        read: Vec::with_capacity(limits::READ_BUFFER_BYTES_INITIAL),
        write: Vec::new(),
        scratch: Vec::new(),
    };
    if let Close::TimedOut = run(&shard, &mut stream, &mut buffers).await {
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

async fn run(shard: &Shard, stream: &mut TcpStream, buffers: &mut Buffers) -> Close {
    // A request must arrive whole within idle_timeout of the previous response (or of the
    // accept): a slow sender cannot hold the connection by trickling bytes.
    let mut last_activity = Instant::now();
    loop {
        let mut consumed = 0;
        let mut close = false;
        if !buffers.read.is_empty() {
            buffers.ready();
        }
        let Buffers {
            read: read_buf,
            write: write_buf,
            scratch,
        } = buffers;
        loop {
            let keep_alive_allowed = !shard.shutdown.is_fired();
            match request::parse(&read_buf[consumed..]) {
                Ok(Some(req)) => {
                    let keep_alive = req.keep_alive && keep_alive_allowed;
                    endpoint::handle(&shard.ctx, &req, keep_alive, write_buf, scratch).await;
                    consumed += req.len;
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The byte stream can no longer be trusted: answer and close.
                    endpoint::refuse_malformed(&shard.ctx, &e, write_buf);
                    close = true;
                    break;
                }
            }
        }
        if consumed > 0 {
            read_buf.drain(..consumed);
            last_activity = Instant::now();
        }
        if !write_buf.is_empty() {
            let (result, buf) = stream.write_all(std::mem::take(write_buf)).await;
            *write_buf = buf;
            write_buf.clear();
            if result.is_err() {
                return Close::Done;
            }
        }
        if close || (shard.shutdown.is_fired() && read_buf.is_empty()) {
            return Close::Done;
        }
        if consumed > 0 {
            buffers.trim();
        }
        match read_more(shard, stream, &mut buffers.read, last_activity).await {
            Read::Data => {}
            Read::Eof => return Close::Done,
            Read::TimedOut => return Close::TimedOut,
            Read::Idle => {
                buffers.release();
                let deadline = last_activity + shard.ctx.config.idle_timeout;
                match wait_readable(shard, stream, deadline).await {
                    Read::Data => buffers.read.reserve(limits::READ_BUFFER_BYTES_INITIAL),
                    Read::TimedOut => return Close::TimedOut,
                    Read::Eof | Read::Idle => return Close::Done,
                }
            }
        }
    }
}

enum Read {
    Data,
    Eof,
    TimedOut,
    /// Nothing arrived for `IDLE_BUFFERS_RELEASE_AFTER` between two requests; the read is
    /// cancelled and the (empty) buffer is back.
    Idle,
}

/// Append what the peer sends next to `read_buf`, or give up at the deadline
/// (`last_activity + idle_timeout`) or, for a connection between requests, at shutdown or
/// when it has been idle long enough to release its buffers ([`Read::Idle`]).
///
/// A dropped io_uring read is not cancelled at once and would keep the socket alive (and
/// the kernel could still write into the buffer), so a read given up on is cancelled
/// explicitly and then still awaited.
async fn read_more(
    shard: &Shard,
    stream: &mut TcpStream,
    read_buf: &mut Vec<u8>,
    last_activity: Instant,
) -> Read {
    // Bound what one request may occupy: the parser rejects a head over HEADER_BYTES_MAX and a
    // body over BODY_BYTES_MAX, so the buffer never needs more than both. Doubling, but
    // exact: `reserve` could round a nearly full buffer up past the bound.
    if read_buf.capacity() - read_buf.len() < 1024 {
        let wanted = (read_buf.capacity() * 2).min(REQUEST_BYTES_MAX + 1024);
        read_buf.reserve_exact(wanted.saturating_sub(read_buf.len()).max(1024));
    }
    let deadline = last_activity + shard.ctx.config.idle_timeout;
    let len = read_buf.len();
    let cap = read_buf.capacity();
    let idle = len == 0;
    // One timer either way: the busy path pays nothing for the release.
    let release_at = last_activity + limits::IDLE_BUFFERS_RELEASE_AFTER;
    let releasing = idle && release_at < deadline;
    let wake_at = if releasing { release_at } else { deadline };
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
            gave_up = Some(if releasing { Read::Idle } else { Read::TimedOut });
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
