//! One Postgres connection, pipelined: callers append requests to a shared send buffer and
//! await their own reply; a writer task sends whatever is queued in one write, a reader
//! task cuts replies at ReadyForQuery and hands each to the oldest waiter.
//!
//! Single-threaded by design (one per shard): `Rc`, `RefCell`, `Cell`, no atomics, no locks.
//! No `RefCell` borrow is ever held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::{BufMut, BytesMut};
use hashbrown::HashSet;
use local_sync::{mpsc::unbounded, oneshot};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Splitable};
use monoio::net::{TcpStream, UnixStream};
use postgres_protocol::IsNull;
use postgres_protocol::message::frontend;

use super::codec::{READ_BYTES_MIN, SEND_BYTES_INITIAL};
use super::config::{Host, PgConfig};
use super::connect::startup;
use super::connection::{reader_task, writer_task};
use super::error::Error;
use super::rows::Rows;
use super::statement::Statement;

/// Bytes of `copy_in` data per CopyData message: large enough that the 5-byte header is
/// noise, small enough that the server's per-message buffer stays modest.
const COPY_CHUNK_BYTES: usize = 32 << 10;

/// Requests one connection will queue before refusing more. Far above what a shard issues
/// in one round trip (cache misses plus a few batch writes); reaching it means the
/// database has stalled, and piling on would only grow memory. Refused requests get
/// `Closed`, which callers already answer with 503.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 65_536;

/// An asynchronous NOTIFY delivered to this connection (it must have run LISTEN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub process_id: i32,
    pub channel: String,
    pub payload: String,
}

/// What a waiter receives: the rows (empty unless asked for) and CommandComplete's count.
pub(crate) struct Response {
    pub rows: Rows,
    pub count: u64,
}

/// One request written (or about to be) and not yet answered.
pub(crate) struct Waiter {
    pub tx: oneshot::Sender<Result<Response, Error>>,
    /// The statement this request's Parse prepared, so that a failed Parse is forgotten
    /// and the next use prepares it again.
    pub parsed: Option<&'static str>,
    /// Copy DataRows into the response (`query`), or skip them (`execute`, simple queries).
    pub collect_rows: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// `close()` was called or every handle dropped: no new requests; Terminate goes out
    /// once every queued request has been answered.
    Closing,
    Closed,
}

/// Wakes the writer task. Single-threaded, so a flag and a stored waker suffice.
#[derive(Default)]
pub(crate) struct WriterWake {
    pending: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl WriterWake {
    pub(crate) fn wake(&self) {
        self.pending.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            if self.pending.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// State shared by the handles and the two I/O tasks.
pub(crate) struct Shared {
    pub state: Cell<State>,
    /// Requests encoded but not yet handed to the writer. The writer swaps it with its own
    /// spare buffer, so the two buffers go round for the connection's whole life.
    pub send: RefCell<BytesMut>,
    /// FIFO of requests awaiting their ReadyForQuery, in the order they were encoded.
    pub waiters: RefCell<VecDeque<Waiter>>,
    /// Statement names this connection has sent Parse for (and not seen fail).
    pub prepared: RefCell<HashSet<&'static str>>,
    pub writer_wake: WriterWake,
    /// Taken (dropped) when the connection closes, which ends the receiver's stream.
    pub notify_tx: RefCell<Option<unbounded::Tx<Notification>>>,
    notify_rx: RefCell<Option<unbounded::Rx<Notification>>>,
    /// `close()` callers waiting for the reader to see the end.
    pub closed_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    process_id: i32,
}

impl Shared {
    /// Marks the connection dead and fails every pending waiter at once. Idempotent.
    pub(crate) fn fail(&self, error: Error) {
        if self.state.replace(State::Closed) == State::Closed {
            return;
        }
        // The cause (EOF, I/O or protocol error) is what the connection died of; every
        // waiter only learns `Closed`, since whether its request ran is unknowable now.
        drop(error);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            let _ = w.tx.send(Err(Error::closed()));
        }
        self.send.borrow_mut().clear();
        self.notify_tx.borrow_mut().take();
        for tx in self.closed_waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
        self.writer_wake.wake();
    }

    fn begin_close(&self) {
        if self.state.get() == State::Open {
            self.state.set(State::Closing);
            self.writer_wake.wake();
        }
    }
}

/// Dropping the last `Client` clone closes the connection gracefully.
struct Handle(Rc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.begin_close();
    }
}

/// One pipelined connection. Cheap to clone; all clones share the connection.
#[derive(Clone)]
pub struct Client(Rc<Handle>);

impl Client {
    /// Connects, authenticates (trust, cleartext, MD5, SCRAM-SHA-256), waits for
    /// ReadyForQuery, then spawns the connection's reader and writer tasks on the current
    /// monoio runtime.
    pub async fn connect(cfg: &PgConfig) -> Result<Client, Error> {
        match &cfg.host {
            Host::Tcp(host, port) => {
                let stream = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| Error::io("connect over TCP", e))?;
                // Our requests are small and latency-bound; the writer already batches.
                stream
                    .set_nodelay(true)
                    .map_err(|e| Error::io("set TCP_NODELAY", e))?;
                Client::start(stream, cfg).await
            }
            Host::Unix(..) => {
                let path = cfg
                    .host
                    .socket_path()
                    .ok_or_else(|| Error::config("no socket path"))?;
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| Error::io("connect to unix socket", e))?;
                Client::start(stream, cfg).await
            }
        }
    }

    async fn start<S>(mut stream: S, cfg: &PgConfig) -> Result<Client, Error>
    where
        S: Splitable + AsyncReadRent + AsyncWriteRent + 'static,
        S::OwnedRead: AsyncReadRent + 'static,
        S::OwnedWrite: AsyncWriteRent + 'static,
    {
        let mut rbuf = BytesMut::with_capacity(READ_BYTES_MIN);
        let (info, wbuf) =
            startup(&mut stream, cfg, &mut rbuf, BytesMut::with_capacity(1024)).await?;
        let (tx, rx) = unbounded::channel();
        let shared = Rc::new(Shared {
            state: Cell::new(State::Open),
            send: RefCell::new(BytesMut::with_capacity(SEND_BYTES_INITIAL)),
            waiters: RefCell::new(VecDeque::with_capacity(1024)),
            prepared: RefCell::new(HashSet::new()),
            writer_wake: WriterWake::default(),
            notify_tx: RefCell::new(Some(tx)),
            notify_rx: RefCell::new(Some(rx)),
            closed_waiters: RefCell::new(Vec::new()),
            process_id: info.process_id,
        });
        drop(wbuf);
        let (read_half, write_half) = stream.into_split();
        monoio::spawn(reader_task(shared.clone(), read_half, rbuf));
        monoio::spawn(writer_task(shared.clone(), write_half));
        Ok(Client(Rc::new(Handle(shared))))
    }

    fn shared(&self) -> &Shared {
        &self.0.0
    }

    /// Extended protocol, pipelined: [Parse on first use] Bind Execute Sync. Parameters in
    /// text format (None = NULL); results in text format.
    pub async fn query(&self, stmt: &Statement, params: &[Option<&[u8]>]) -> Result<Rows, Error> {
        let rx = self.enqueue(stmt, params, ParamFormat::Text, None, true)?;
        Ok(await_reply(rx).await?.rows)
    }

    /// Like `query`, returning the affected-row count from CommandComplete.
    pub async fn execute(&self, stmt: &Statement, params: &[Option<&[u8]>]) -> Result<u64, Error> {
        let rx = self.enqueue(stmt, params, ParamFormat::Text, None, false)?;
        Ok(await_reply(rx).await?.count)
    }

    /// Like `execute`, with every parameter in binary format: for array parameters (the
    /// batch writer's `unnest` insert), whose text form would need quoting and parsing.
    pub async fn execute_binary(
        &self,
        stmt: &Statement,
        params: &[Option<&[u8]>],
    ) -> Result<u64, Error> {
        let rx = self.enqueue(stmt, params, ParamFormat::Binary, None, false)?;
        Ok(await_reply(rx).await?.count)
    }

    /// `COPY ... FROM STDIN` written in one go without waiting for CopyInResponse:
    /// [Parse] Bind Execute CopyData... CopyDone Sync. The server ignores Sync during
    /// copy-in and, if the COPY fails, discards the copy messages up to our Sync, so a
    /// failure stays with this request. Returns the rows copied.
    pub async fn copy_in(&self, stmt: &Statement, data: &[u8]) -> Result<u64, Error> {
        let rx = self.enqueue(stmt, &[], ParamFormat::Text, Some(data), false)?;
        Ok(await_reply(rx).await?.count)
    }

    /// Simple query protocol (several statements allowed, no parameters): migrations,
    /// LISTEN, DDL. Result rows are discarded.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let shared = self.shared();
        check_open(shared)?;
        let rx = {
            let mut send = shared.send.borrow_mut();
            let mark = send.len();
            if let Err(e) = frontend::query(sql, &mut send) {
                send.truncate(mark);
                return Err(Error::protocol_io(
                    "encode simple query (does the SQL contain NUL?)",
                    e,
                ));
            }
            push_waiter(shared, None, false)
        };
        await_reply(rx).await.map(drop)
    }

    /// Encodes one request into the send buffer and queues its waiter, in one step with no
    /// await in between, so the FIFO order equals the wire order.
    fn enqueue(
        &self,
        stmt: &Statement,
        params: &[Option<&[u8]>],
        format: ParamFormat,
        copy: Option<&[u8]>,
        collect_rows: bool,
    ) -> Result<oneshot::Receiver<Result<Response, Error>>, Error> {
        let shared = self.shared();
        check_open(shared)?;
        let mut send = shared.send.borrow_mut();
        let mark = send.len();
        let parse = !shared.prepared.borrow().contains(stmt.name);
        if let Err(e) = encode_request(&mut send, stmt, params, format, copy, parse) {
            // Leave no half-written request behind for the writer.
            send.truncate(mark);
            return Err(e);
        }
        if parse {
            shared.prepared.borrow_mut().insert(stmt.name);
        }
        drop(send);
        Ok(push_waiter(
            shared,
            parse.then_some(stmt.name),
            collect_rows,
        ))
    }

    /// Asynchronous NOTIFY messages for this connection. The receiver exists once: the
    /// first call takes it, later calls get None. Its stream ends when the connection closes.
    pub fn notifications(&self) -> Option<unbounded::Rx<Notification>> {
        self.shared().notify_rx.borrow_mut().take()
    }

    pub fn is_closed(&self) -> bool {
        self.shared().state.get() != State::Open
    }

    /// The backend's process id (`pg_backend_pid()` on this connection).
    pub fn process_id(&self) -> i32 {
        self.shared().process_id
    }

    /// Sends Terminate after every queued request has been answered, then waits until the
    /// server has closed the socket.
    pub async fn close(&self) {
        let shared = self.shared();
        shared.begin_close();
        if shared.state.get() == State::Closed {
            return;
        }
        let (tx, rx) = oneshot::channel();
        shared.closed_waiters.borrow_mut().push(tx);
        let _ = rx.await;
    }

    /// Requests written (or queued to be written) and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.shared().waiters.borrow().len()
    }
}

/// Refuses new work on a closed, closing or saturated connection.
fn check_open(shared: &Shared) -> Result<(), Error> {
    if shared.state.get() != State::Open {
        return Err(Error::closed());
    }
    if shared.waiters.borrow().len() >= REQUESTS_IN_FLIGHT_MAX {
        return Err(Error::closed_because("too many requests in flight"));
    }
    Ok(())
}

fn push_waiter(
    shared: &Shared,
    parsed: Option<&'static str>,
    collect_rows: bool,
) -> oneshot::Receiver<Result<Response, Error>> {
    let (tx, rx) = oneshot::channel();
    shared.waiters.borrow_mut().push_back(Waiter {
        tx,
        parsed,
        collect_rows,
    });
    shared.writer_wake.wake();
    rx
}

async fn await_reply(rx: oneshot::Receiver<Result<Response, Error>>) -> Result<Response, Error> {
    // A dropped sender means the connection went away without answering.
    rx.await.unwrap_or_else(|_| Err(Error::closed()))
}

/// How a request's parameters are sent (one format code covers them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamFormat {
    Text = 0,
    Binary = 1,
}

/// The bytes of one request. Pure: appends to `buf`, which the caller rolls back on error.
pub(crate) fn encode_request(
    buf: &mut BytesMut,
    stmt: &Statement,
    params: &[Option<&[u8]>],
    format: ParamFormat,
    copy: Option<&[u8]>,
    parse: bool,
) -> Result<(), Error> {
    if parse {
        frontend::parse(stmt.name, stmt.sql, stmt.param_types.iter().copied(), buf)
            .map_err(|e| Error::protocol_io("encode Parse (NUL in SQL?)", e))?;
    }
    // One format code applies to every parameter; results are always text (0).
    frontend::bind(
        "",
        stmt.name,
        Some(format as i16),
        params.iter(),
        |p, buf| match p {
            Some(bytes) => {
                buf.put_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        },
        Some(0),
        buf,
    )
    .map_err(|_| Error::protocol("encode Bind (too many or too large parameters)"))?;
    frontend::execute("", 0, buf).map_err(|e| Error::protocol_io("encode Execute", e))?;
    if let Some(data) = copy {
        for chunk in data.chunks(COPY_CHUNK_BYTES) {
            frontend::CopyData::new(chunk)
                .map_err(|e| Error::protocol_io("encode CopyData", e))?
                .write(buf);
        }
        frontend::copy_done(buf);
    }
    frontend::sync(buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Statement = Statement::new("s1", "SELECT $1::int", &[0]);

    #[test]
    fn request_bytes_are_parse_bind_execute_sync() {
        let mut buf = BytesMut::new();
        encode_request(
            &mut buf,
            &S,
            &[Some(b"42"), None],
            ParamFormat::Text,
            None,
            true,
        )
        .unwrap();
        let tags: Vec<u8> = walk(&buf);
        assert_eq!(tags, b"PBES");
        buf.clear();
        encode_request(
            &mut buf,
            &S,
            &[],
            ParamFormat::Text,
            Some(&vec![7u8; COPY_CHUNK_BYTES + 1]),
            false,
        )
        .unwrap();
        assert_eq!(walk(&buf), b"BEddcS");
    }

    /// The message tags in `buf`, checking every length on the way.
    fn walk(mut buf: &[u8]) -> Vec<u8> {
        let mut tags = Vec::new();
        while !buf.is_empty() {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            tags.push(buf[0]);
            buf = &buf[1 + len..];
        }
        tags
    }
}
