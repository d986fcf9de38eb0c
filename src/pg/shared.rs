//! The state one connection's handles (`client`) and its two I/O tasks (`connection`)
//! share, in a file of its own so that neither of those imports the other.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use bytes::BytesMut;
use hashbrown::HashSet;
use local_sync::{mpsc::unbounded, oneshot};

use super::error::Error;
use super::rows::Rows;
use crate::wake::Event;

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
    /// Notified when the writer has work: queued requests, or a close to carry out.
    pub wake: Event,
    /// Taken (dropped) when the connection closes, which ends the receiver's stream.
    pub notify_tx: RefCell<Option<unbounded::Tx<Notification>>>,
    pub notify_rx: RefCell<Option<unbounded::Rx<Notification>>>,
    /// `close()` callers waiting for the reader to see the end.
    pub closed_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    pub process_id: i32,
    /// What ended the connection, for the logs of whoever watches it (`Session`).
    pub cause: RefCell<Option<String>>,
}

impl Shared {
    /// Marks the connection dead and fails every pending waiter at once. Idempotent.
    pub(crate) fn fail(&self, error: Error) {
        if self.state.replace(State::Closed) == State::Closed {
            return;
        }
        // The cause (EOF, I/O or protocol error) is what the connection died of, kept for
        // the logs; every waiter only learns `Closed`, since whether its request ran is
        // unknowable now.
        *self.cause.borrow_mut() = Some(error.to_string());
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            let _ = w.tx.send(Err(Error::closed()));
        }
        self.send.borrow_mut().clear();
        self.notify_tx.borrow_mut().take();
        for tx in self.closed_waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
        self.wake.notify();
    }

    pub(crate) fn begin_close(&self) {
        if self.state.get() == State::Open {
            self.state.set(State::Closing);
            self.wake.notify();
        }
    }
}
