//! One HTTP/1.1 connection, from accept to close.
//!
//! The connection owns one read buffer and one write buffer for its whole life (monoio's
//! rent-style I/O moves them into each operation and back). Every complete request already
//! in the read buffer is answered before the next read, and all their responses go out in
//! one write — so pipelined requests are answered in order and cost one syscall per batch.

use std::rc::Rc;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;

use crate::endpoint;
use crate::http::{BODY_BYTES_MAX, HEADER_BYTES_MAX, request, response};
use crate::limits;
use crate::shard::Shard;
use crate::shard::metrics;
use crate::shard::stats::ShardStats;

/// Why a connection ends; only for counting.
enum Close {
    /// The peer closed, asked to close, or sent something we cannot continue after.
    Done,
    TimedOut,
}

pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream) {
    let mut read_buf: Vec<u8> = Vec::with_capacity(limits::READ_BUFFER_BYTES_INITIAL);
    let mut write_buf: Vec<u8> = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
    let mut scratch: Vec<u8> = Vec::with_capacity(limits::WRITE_BUFFER_BYTES_INITIAL);
    if let Close::TimedOut = run(
        &shard,
        &mut stream,
        &mut read_buf,
        &mut write_buf,
        &mut scratch,
    )
    .await
    {
        ShardStats::bump(&shard.stats().connections_timed_out);
    }
    let _ = stream.shutdown().await;
}

async fn run(
    shard: &Shard,
    stream: &mut TcpStream,
    read_buf: &mut Vec<u8>,
    write_buf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Close {
    // A request must arrive whole within idle_timeout of the previous response (or of the
    // accept): a slow sender cannot hold the connection by trickling bytes.
    let mut deadline = Instant::now() + shard.config.idle_timeout;
    loop {
        let mut consumed = 0;
        let mut close = false;
        loop {
            let keep_alive_allowed = !shard.shutdown.is_fired();
            match request::parse(&read_buf[consumed..]) {
                Ok(Some(req)) => {
                    let keep_alive = req.keep_alive && keep_alive_allowed;
                    endpoint::handle(shard, &req, keep_alive, write_buf, scratch).await;
                    consumed += req.len;
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The byte stream can no longer be trusted: answer and close.
                    shard
                        .stats()
                        .http
                        .record(metrics::ENDPOINT_OTHER, e.status());
                    response::write_error(write_buf, &e);
                    close = true;
                    break;
                }
            }
        }
        if consumed > 0 {
            read_buf.drain(..consumed);
            deadline = Instant::now() + shard.config.idle_timeout;
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
        match read_more(shard, stream, read_buf, deadline).await {
            Read::Data => {}
            Read::Eof => return Close::Done,
            Read::TimedOut => return Close::TimedOut,
        }
    }
}

enum Read {
    Data,
    Eof,
    TimedOut,
}

/// Append what the peer sends next to `read_buf`, or give up at `deadline` or, for a
/// connection between requests, at shutdown.
///
/// A dropped io_uring read is not cancelled at once and would keep the socket alive, so a
/// timed-out read is cancelled explicitly and then still awaited.
async fn read_more(
    shard: &Shard,
    stream: &mut TcpStream,
    read_buf: &mut Vec<u8>,
    deadline: Instant,
) -> Read {
    // Bound what one request may occupy: the parser rejects a head over HEADER_BYTES_MAX and a
    // body over BODY_BYTES_MAX, so the buffer never needs more than both.
    if read_buf.capacity() - read_buf.len() < 1024 {
        let wanted = (read_buf.capacity() * 2).min(HEADER_BYTES_MAX + BODY_BYTES_MAX + 1024);
        read_buf.reserve(wanted.saturating_sub(read_buf.len()).max(1024));
    }
    let len = read_buf.len();
    let cap = read_buf.capacity();
    let canceller = Canceller::new();
    let read = stream.cancelable_read(
        std::mem::take(read_buf).slice_mut(len..cap),
        canceller.handle(),
    );
    let mut read = std::pin::pin!(read);
    let idle = len == 0;
    let mut timed_out = false;
    let (result, slice) = monoio::select! {
        r = &mut read => r,
        _ = monoio::time::sleep_until(deadline.into()) => {
            timed_out = true;
            canceller.cancel();
            read.await
        }
        _ = shard.shutdown.wait(), if idle => {
            canceller.cancel();
            read.await
        }
    };
    *read_buf = slice.into_inner();
    match result {
        Ok(0) => Read::Eof,
        Ok(_) => Read::Data,
        Err(_) if timed_out => Read::TimedOut,
        Err(_) => Read::Eof,
    }
}
