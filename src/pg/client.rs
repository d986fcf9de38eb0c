//! One Postgres connection, pipelined: callers append requests to a shared send buffer and
//! await their own reply; a writer task sends whatever is queued in one write, a reader
//! task cuts replies at ReadyForQuery and hands each to the oldest waiter.
//!
//! Single-threaded by design (one per shard): `Rc`, `RefCell`, `Cell`, no atomics, no locks.
//! No `RefCell` borrow is ever held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{BufMut, BytesMut};
use hashbrown::HashSet;
use local_sync::{mpsc::unbounded, oneshot};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Splitable};
use monoio::net::{TcpStream, UnixStream};
use postgres_protocol::IsNull;
use postgres_protocol::message::frontend;

use super::codec::{READ_BYTES_MIN, SEND_BYTES_INITIAL};
use super::config::{Host, PgConfig};
use super::connect::{Channel, startup};
use super::connection::{reader_task, writer_task};
use super::error::Error;
use super::rows::Rows;
use super::shared::{Notification, Response, Shared, State, Waiter};
use super::statement::Statement;
use super::tls::{Negotiated, negotiate};
use crate::wake::Event;

/// Requests one connection will queue before refusing more. Far above what a shard issues
/// in one round trip (cache misses plus a few batch writes); reaching it means the
/// database has stalled, and piling on would only grow memory. Refused requests get
/// `Closed`, which callers already answer with 503.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 65_536;

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
    /// Connects, negotiates TLS over TCP as `sslmode` says, authenticates (trust,
    /// cleartext, MD5, SCRAM-SHA-256[-PLUS], as far as `require_auth` and `channel_binding`
    /// allow), waits for ReadyForQuery, then spawns the connection's reader and writer tasks
    /// on the current monoio runtime.
    pub async fn connect(cfg: &PgConfig) -> Result<Client, Error> {
        let mut rbuf = BytesMut::with_capacity(READ_BYTES_MIN);
        match &cfg.host {
            Host::Tcp(host, port) => {
                let stream = match cfg.hostaddr {
                    Some(addr) => TcpStream::connect(SocketAddr::new(addr, *port)).await,
                    None => TcpStream::connect((host.as_str(), *port)).await,
                }
                .map_err(|e| Error::io("connect over TCP", e))?;
                // Our requests are small and latency-bound; the writer already batches.
                stream
                    .set_nodelay(true)
                    .map_err(|e| Error::io("set TCP_NODELAY", e))?;
                match negotiate(stream, &cfg.ssl, host, &mut rbuf).await? {
                    Negotiated::Plain(stream) => {
                        Client::start(stream, cfg, &Channel::default(), rbuf).await
                    }
                    Negotiated::Tls(stream) => {
                        let channel = Channel {
                            tls: true,
                            end_point: stream.server_end_point(),
                        };
                        Client::start(stream, cfg, &channel, rbuf).await
                    }
                }
            }
            // Never TLS over a unix socket, whatever sslmode says (libpq's rule too).
            Host::Unix(..) => {
                let path = cfg
                    .host
                    .socket_path()
                    .ok_or_else(|| Error::config("no socket path"))?;
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| Error::io("connect to unix socket", e))?;
                Client::start(stream, cfg, &Channel::default(), rbuf).await
            }
        }
    }

    async fn start<S>(
        mut stream: S,
        cfg: &PgConfig,
        channel: &Channel,
        mut rbuf: BytesMut,
    ) -> Result<Client, Error>
    where
        S: Splitable + AsyncReadRent + AsyncWriteRent + 'static,
        S::OwnedRead: AsyncReadRent + 'static,
        S::OwnedWrite: AsyncWriteRent + 'static,
    {
        let (info, wbuf) = startup(
            &mut stream,
            cfg,
            channel,
            &mut rbuf,
            BytesMut::with_capacity(1024),
        )
        .await?;
        let (tx, rx) = unbounded::channel();
        let shared = Rc::new(Shared {
            state: Cell::new(State::Open),
            send: RefCell::new(BytesMut::with_capacity(SEND_BYTES_INITIAL)),
            waiters: RefCell::new(VecDeque::with_capacity(1024)),
            prepared: RefCell::new(HashSet::new()),
            wake: Event::new(),
            notify_tx: RefCell::new(Some(tx)),
            notify_rx: RefCell::new(Some(rx)),
            closed_waiters: RefCell::new(Vec::new()),
            process_id: info.process_id,
            cause: RefCell::new(None),
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
        let rx = self.enqueue(stmt, params, ParamFormat::Text, true)?;
        Ok(await_reply(rx).await?.rows)
    }

    /// Like `query`, returning the affected-row count from CommandComplete.
    pub async fn execute(&self, stmt: &Statement, params: &[Option<&[u8]>]) -> Result<u64, Error> {
        let rx = self.enqueue(stmt, params, ParamFormat::Text, false)?;
        Ok(await_reply(rx).await?.count)
    }

    /// Like `execute`, with every parameter in binary format: for array parameters (the
    /// batch writer's `unnest` insert), whose text form would need quoting and parsing.
    pub async fn execute_binary(
        &self,
        stmt: &Statement,
        params: &[Option<&[u8]>],
    ) -> Result<u64, Error> {
        let rx = self.enqueue(stmt, params, ParamFormat::Binary, false)?;
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
        collect_rows: bool,
    ) -> Result<oneshot::Receiver<Result<Response, Error>>, Error> {
        let shared = self.shared();
        check_open(shared)?;
        let mut send = shared.send.borrow_mut();
        let mark = send.len();
        let parse = !shared.prepared.borrow().contains(stmt.name);
        if let Err(e) = encode_request(&mut send, stmt, params, format, parse) {
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

    /// What ended the connection (EOF, an I/O or protocol error), once it has ended.
    pub fn closed_cause(&self) -> Option<String> {
        self.shared().cause.borrow().clone()
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
    shared.wake.notify();
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
        encode_request(&mut buf, &S, &[Some(b"42"), None], ParamFormat::Text, true).unwrap();
        let tags: Vec<u8> = walk(&buf);
        assert_eq!(tags, b"PBES");
        buf.clear();
        encode_request(&mut buf, &S, &[], ParamFormat::Binary, false).unwrap();
        assert_eq!(walk(&buf), b"BES");
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
