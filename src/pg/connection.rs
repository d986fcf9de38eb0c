//! The connection's two tasks: the writer sends what callers queued, the reader matches
//! replies to waiters. Either one failing closes the connection and fails every waiter.

use std::rc::Rc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::codec::{SEND_BYTES_INITIAL, fill, next_message};
use super::connect::send;
use super::error::{DbError, Error};
use super::rows::Rows;
use super::shared::{Notification, Response, Shared, State};

/// Sends everything queued in one write per wake-up: requests from many callers that
/// arrived while the previous write was in flight go out together (the pipelining).
pub(crate) async fn writer_task<W: AsyncWriteRent>(shared: Rc<Shared>, mut stream: W) {
    let mut spare = BytesMut::with_capacity(SEND_BYTES_INITIAL);
    loop {
        // Made before looking, so that work queued from here on wakes it.
        let woken = shared.wake.wait();
        if shared.state.get() == State::Closed {
            break;
        }
        std::mem::swap(&mut spare, &mut *shared.send.borrow_mut());
        if shared.state.get() == State::Closing
            && shared.waiters.borrow().is_empty()
            && spare.is_empty()
        {
            frontend::terminate(&mut spare);
        }
        if spare.is_empty() {
            woken.await;
            continue;
        }
        drop(woken);
        let terminating =
            shared.state.get() == State::Closing && shared.waiters.borrow().is_empty();
        let (res, buf) = send(&mut stream, spare).await;
        spare = buf;
        if let Err(e) = res {
            shared.fail(e);
            break;
        }
        if terminating {
            break;
        }
    }
    // Half-close: the server sees EOF (or our Terminate) and closes, which ends the reader.
    let _ = stream.shutdown().await;
}

/// Per-reply accumulator: what the reader has seen since the last ReadyForQuery.
#[derive(Default)]
struct Reply {
    rows: Rows,
    count: u64,
    error: Option<Error>,
    parse_complete: bool,
}

/// Reads replies until the connection ends, then fails whatever is still pending.
pub(crate) async fn reader_task<R: AsyncReadRent>(
    shared: Rc<Shared>,
    mut stream: R,
    mut buf: BytesMut,
) {
    let mut reply = Reply::default();
    // Reused for every DataRow so that splitting a row into fields allocates nothing.
    let mut ranges = Vec::with_capacity(16);
    let error = 'conn: loop {
        loop {
            match next_message(&mut buf) {
                Ok(Some(message)) => {
                    if let Err(e) = dispatch(&shared, message, &mut reply, &mut ranges) {
                        break 'conn e;
                    }
                }
                Ok(None) => break,
                Err(e) => break 'conn e,
            }
        }
        if shared.state.get() == State::Closed {
            return;
        }
        let (res, b) = fill(&mut stream, buf).await;
        buf = b;
        if let Err(e) = res {
            break e;
        }
    };
    // A server that ends the session says why first (FATAL, e.g. 57P01 for an
    // administrator's terminate): that, not the EOF after it, is the cause worth logging.
    shared.fail(reply.error.take().unwrap_or(error));
}

/// Handles one backend message. Asynchronous messages are peeled off first; everything
/// else belongs to the oldest waiter, and ReadyForQuery completes it.
fn dispatch(
    shared: &Shared,
    message: Message,
    reply: &mut Reply,
    ranges: &mut Vec<Option<std::ops::Range<usize>>>,
) -> Result<(), Error> {
    match message {
        Message::NotificationResponse(body) => {
            let bad = |e| Error::protocol_io("malformed NotificationResponse", e);
            let n = Notification {
                process_id: body.process_id(),
                channel: body.channel().map_err(bad)?.to_owned(),
                payload: body.message().map_err(bad)?.to_owned(),
            };
            if let Some(tx) = shared.notify_tx.borrow().as_ref() {
                // The receiver may have been dropped: nobody wants notifications then.
                let _ = tx.send(n);
            }
        }
        Message::NoticeResponse(_) | Message::ParameterStatus(_) => {}
        Message::ParseComplete => reply.parse_complete = true,
        Message::BindComplete
        | Message::NoData
        | Message::RowDescription(_)
        | Message::ParameterDescription(_)
        | Message::EmptyQueryResponse
        | Message::CloseComplete
        | Message::PortalSuspended
        // We wrote the copy data already; CopyOut data (COPY TO STDOUT) is not ours to keep.
        | Message::CopyInResponse(_)
        | Message::CopyOutResponse(_)
        | Message::CopyData(_)
        | Message::CopyDone => {}
        Message::DataRow(body) => {
            let collect = match shared.waiters.borrow().front() {
                Some(w) => w.collect_rows,
                None => return Err(Error::protocol("DataRow with no request waiting")),
            };
            if collect && reply.error.is_none() {
                ranges.clear();
                let mut it = body.ranges();
                while let Some(r) = it.next().map_err(|e| Error::protocol_io("malformed DataRow", e))? {
                    ranges.push(r);
                }
                if !reply.rows.push_row(body.buffer(), ranges) {
                    return Err(Error::protocol("DataRow width changed within one result"));
                }
            }
        }
        Message::CommandComplete(body) => {
            let tag = body.tag().map_err(|e| Error::protocol_io("malformed CommandComplete", e))?;
            reply.count = command_count(tag);
        }
        Message::ErrorResponse(body) => {
            let db = DbError::parse(body.fields()).map_err(|e| Error::protocol_io("malformed ErrorResponse", e))?;
            // The server skips to our Sync after an error, so the first one is the cause.
            if reply.error.is_none() {
                reply.error = Some(Error::db(db));
            }
        }
        Message::ReadyForQuery(_) => complete(shared, std::mem::take(reply))?,
        _ => return Err(Error::protocol("unexpected message from server")),
    }
    Ok(())
}

/// Hands a finished reply to the oldest waiter.
fn complete(shared: &Shared, reply: Reply) -> Result<(), Error> {
    let waiter = shared
        .waiters
        .borrow_mut()
        .pop_front()
        .ok_or_else(|| Error::protocol("ReadyForQuery with no request waiting"))?;
    let result = match reply.error {
        Some(e) => {
            if let Some(name) = waiter.parsed.filter(|_| !reply.parse_complete) {
                // Parse itself failed: the statement does not exist on the server.
                shared.prepared.borrow_mut().remove(name);
            }
            Err(e)
        }
        None => Ok(Response {
            rows: reply.rows,
            count: reply.count,
        }),
    };
    // The caller may have stopped waiting (its future dropped); that is fine.
    let _ = waiter.tx.send(result);
    if shared.state.get() == State::Closing && shared.waiters.borrow().is_empty() {
        shared.wake.notify();
    }
    Ok(())
}

/// The row count at the end of a CommandComplete tag ("INSERT 0 5", "COPY 3", "SELECT 1");
/// 0 for tags without one ("CREATE TABLE").
fn command_count(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::command_count;

    #[test]
    fn counts_come_from_the_last_word_of_the_tag() {
        assert_eq!(command_count("INSERT 0 5"), 5);
        assert_eq!(command_count("COPY 1000"), 1000);
        assert_eq!(command_count("SELECT 1"), 1);
        assert_eq!(command_count("UPDATE 0"), 0);
        assert_eq!(command_count("CREATE TABLE"), 0);
        assert_eq!(command_count(""), 0);
    }
}
