//! `TokenWriter`: one shard's batch writer. See the `batch` module docs for the protocol.
//!
//! Single-threaded like everything a shard owns: `Rc`, `Cell`, `RefCell`; no `RefCell`
//! borrow is held across an `.await`. Three kinds of task share `Shared`:
//! * the caller of `push` (the token endpoint), which appends to the open batch and seals
//!   it when it reaches `batch_size`;
//! * one timer task, which seals the open batch once its oldest row has waited
//!   `flush_interval` and no sealed batch is waiting for a writer;
//! * `in_flight_batches_max` writer tasks, each taking one sealed batch at a time and
//!   writing it over the shard's pipelined session until every row is settled.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use crate::config::{Config, Durability};
use crate::limits;
use crate::log;
use crate::pg::{self, Session};
use crate::store::tokens::INSERT;
use crate::wake::{Event, Ticket};

use super::encode::{ArrayRows, TokenRow, UnnestParams};
use super::retry::{Backoff, Progress, Verdict};
use super::stats::WriterStats;
/// Bytes of `client_id` + `scope` a batch buffer is first sized for, per row; a buffer
/// grows past it once if rows are longer and keeps that capacity.
const ROW_VARIABLE_BYTES_TYPICAL: usize = 64;
/// Spare commit outcomes kept for reuse (`Durability::Commit`): enough for the batches in
/// flight plus the open one, with room for responses still being written.
const OUTCOMES_SPARE_MAX: usize = 32;
/// How long `shutdown` waits, after stopping, for a task still inside a write.
const TASK_EXIT_GRACE: Duration = Duration::from_secs(1);

/// The writer's limits (`WriterConfig::from_config`).
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Rows per batch: a batch is sealed and handed to a writer as soon as it has this many.
    pub batch_size: usize,
    /// Longest a row waits in the open batch before it is sealed (when a writer is free).
    pub flush_interval: Duration,
    /// Rows accepted and not yet settled, beyond which `push` answers `Backpressure`.
    pub max_pending: usize,
    pub durability: Durability,
    /// Batches written concurrently over the one pipelined connection (= writer tasks).
    pub in_flight_batches_max: usize,
}

impl WriterConfig {
    /// The writer's settings from the configuration (which validated them).
    pub fn from_config(config: &Config) -> WriterConfig {
        WriterConfig {
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            max_pending: config.max_pending,
            durability: config.durability,
            in_flight_batches_max: limits::BATCHES_IN_FLIGHT_PER_SHARD,
        }
    }
}

/// `push` refused the row: `max_pending` rows are unsettled (the database is down or slow),
/// or the writer has stopped. Answer 503 with `Retry-After` and do not hand out the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backpressure;

impl fmt::Display for Backpressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("token writer is at max_pending or stopped")
    }
}

impl std::error::Error for Backpressure {}

/// Why a `Committed` future failed. Either way the token must not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCommitted {
    /// The database rejected this row on its own (a poison row); it was logged and dropped.
    Rejected,
    /// The writer stopped (shutdown deadline) before the row's batch was settled. The row
    /// may or may not be in the table.
    ShutDown,
}

impl fmt::Display for NotCommitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotCommitted::Rejected => "the database rejected the token row",
            NotCommitted::ShutDown => "the token writer stopped before the row was committed",
        })
    }
}

impl std::error::Error for NotCommitted {}

/// Whether a row pushed now would be recorded without waiting on a failure (`/readyz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No write has failed since the last one that succeeded.
    Writing,
    /// The last write failed and none has succeeded since: rows wait for a retry. The
    /// session may well be connected: a database that refuses writes (a read-only standby
    /// after a fail-over, a distributed database with a node down) looks like this.
    Failing,
    /// `max_pending` rows wait (or the writer has stopped): `push` refuses more.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Pending,
    /// Every row of the batch is settled; rows in `rejected` were dropped.
    Done,
    Abandoned,
}

/// The fate of one batch, shared by the `Committed` futures of its rows. One per batch,
/// reused once no future holds it, so group commit allocates nothing per row or per batch.
struct Outcome {
    settled: Cell<Settled>,
    /// Row indexes the database rejected (rare: almost always empty).
    rejected: RefCell<Vec<u32>>,
    /// Notified when `settled` leaves `Pending`.
    changed: Event,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            settled: Cell::new(Settled::Pending),
            rejected: RefCell::new(Vec::new()),
            changed: Event::new(),
        }
    }

    fn settle(&self, settled: Settled) {
        self.settled.set(settled);
        self.changed.notify();
    }
}

/// Resolves when the batch holding one row has committed (`Durability::Commit`).
#[must_use = "the token may be handed out only after this resolves to Ok"]
pub struct Committed {
    outcome: Rc<Outcome>,
    row: u32,
    /// Made with the future, so a settle before its first poll is not missed.
    ticket: Ticket,
}

impl fmt::Debug for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Committed").field("row", &self.row).finish()
    }
}

impl Future for Committed {
    type Output = Result<(), NotCommitted>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let rejected = || self.outcome.rejected.borrow().contains(&self.row);
        match self.outcome.settled.get() {
            Settled::Pending => {
                // Settling notifies, so the ticket is ready by the time `settled` changes.
                let _ = self.outcome.changed.poll_ticket(&self.ticket, cx);
                Poll::Pending
            }
            Settled::Done | Settled::Abandoned if rejected() => {
                Poll::Ready(Err(NotCommitted::Rejected))
            }
            Settled::Done => Poll::Ready(Ok(())),
            Settled::Abandoned => Poll::Ready(Err(NotCommitted::ShutDown)),
        }
    }
}

impl Drop for Committed {
    fn drop(&mut self) {
        self.outcome.changed.forget(&self.ticket);
    }
}

/// One batch: its rows and how far writing them has got.
struct Batch {
    rows: ArrayRows,
    /// Which rows are settled, and which statement comes next (`batch::retry`).
    progress: Progress,
    /// When the first row was pushed: the time flush is due `flush_interval` later.
    opened_at: Instant,
    sealed_at: Instant,
    /// `Durability::Commit` only.
    outcome: Option<Rc<Outcome>>,
}

impl Batch {
    fn new(batch_size: usize) -> Batch {
        let now = Instant::now();
        Batch {
            rows: ArrayRows::with_capacity(batch_size, ROW_VARIABLE_BYTES_TYPICAL),
            progress: Progress::with_capacity(32),
            opened_at: now,
            sealed_at: now,
            outcome: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// `shutdown` is flushing: pushes are still accepted (requests in progress finish).
    Draining,
    /// Pushes are refused; idle tasks exit; batches still queued are abandoned.
    Stopped,
}

struct Shared {
    config: WriterConfig,
    stats: Arc<WriterStats>,
    session: Session,
    state: Cell<State>,
    /// The batch `push` appends to. Never sealed while it sits here.
    open: RefCell<Batch>,
    /// Sealed batches waiting for a writer task, oldest first; failed batches go back to
    /// the front. Bounded by `max_pending` rows.
    ready: RefCell<VecDeque<Batch>>,
    /// Settled batches, cleared, for reuse; at most `free_batches_max`.
    free: RefCell<Vec<Batch>>,
    free_batches_max: usize,
    outcomes_spare: RefCell<Vec<Rc<Outcome>>>,
    /// Rows accepted and not settled: open + ready + in flight. Never above `max_pending`.
    pending: Cell<usize>,
    /// When writers may write again after failures (`batch::retry`).
    backoff: RefCell<Backoff>,
    /// Writer tasks waiting for a sealed batch (or for stop).
    workers: Event,
    /// The timer waiting for a first row, for the ready queue to drain, or for stop.
    timer: Event,
    /// `shutdown` waiting for `pending` to fall, and for the tasks to exit.
    progress: Event,
    /// Writer and timer tasks still running: `shutdown` waits for them so that none
    /// outlives the writer (a task dropped with its runtime must not hold the session).
    tasks_alive: Cell<usize>,
}

/// One shard's batch writer. Cheap to clone (an `Rc`); single-threaded.
#[derive(Clone)]
pub struct TokenWriter(Rc<Shared>);

impl TokenWriter {
    /// Spawns the timer task and `in_flight_batches_max` writer tasks on the current monoio
    /// runtime. They run until `shutdown`. The bounds are `config`'s to check.
    pub fn start(session: Session, config: WriterConfig, stats: Arc<WriterStats>) -> TokenWriter {
        assert!(config.batch_size >= 1 && config.batch_size <= limits::BATCH_SIZE_MAX);
        assert!(config.max_pending >= config.batch_size && config.in_flight_batches_max >= 1);
        // Every batch that can be alive at once: full ones up to max_pending, plus one
        // partial per writer and the open one. Beyond that a settled batch is freed.
        let free_batches_max =
            config.max_pending.div_ceil(config.batch_size) + config.in_flight_batches_max + 1;
        let shared = Rc::new(Shared {
            open: RefCell::new(Batch::new(config.batch_size)),
            ready: RefCell::new(VecDeque::with_capacity(free_batches_max)),
            free: RefCell::new(Vec::with_capacity(free_batches_max)),
            free_batches_max,
            outcomes_spare: RefCell::new(Vec::new()),
            config,
            stats,
            session,
            state: Cell::new(State::Running),
            pending: Cell::new(0),
            backoff: RefCell::new(Backoff::default()),
            workers: Event::new(),
            timer: Event::new(),
            progress: Event::new(),
            tasks_alive: Cell::new(0),
        });
        let outcome = shared.new_outcome();
        shared.open.borrow_mut().outcome = outcome;
        for _ in 0..shared.config.in_flight_batches_max {
            shared.tasks_alive.set(shared.tasks_alive.get() + 1);
            monoio::spawn(writer_task(shared.clone()));
        }
        shared.tasks_alive.set(shared.tasks_alive.get() + 1);
        monoio::spawn(timer_task(shared.clone()));
        TokenWriter(shared)
    }

    /// Appends the row to the open batch (already in its wire form) and counts it pending.
    /// `Ok(None)` with `Durability::Async`; with `Durability::Commit`, a future to await
    /// before answering. `Err(Backpressure)` at `max_pending` or after shutdown: nothing
    /// was recorded, so the token must not be handed out.
    pub fn push(&self, row: &TokenRow<'_>) -> Result<Option<Committed>, Backpressure> {
        let s = &*self.0;
        debug_assert!(row.is_well_formed(), "malformed token row: {row:?}");
        if s.pending.get() >= s.config.max_pending || s.state.get() == State::Stopped {
            return Err(Backpressure);
        }
        let mut open = s.open.borrow_mut();
        if open.rows.is_empty() {
            open.opened_at = Instant::now();
            s.timer.notify();
        }
        let index = open.rows.len() as u32;
        open.rows.push(row);
        let committed = open.outcome.as_ref().map(|outcome| Committed {
            outcome: outcome.clone(),
            row: index,
            ticket: outcome.changed.ticket(),
        });
        let full = open.rows.len() >= s.config.batch_size;
        drop(open);
        s.set_pending(s.pending.get() + 1);
        if full {
            s.seal_open();
        }
        Ok(committed)
    }

    /// Rows accepted and not yet settled (buffered + in flight + awaiting retry).
    pub fn pending(&self) -> usize {
        self.0.pending.get()
    }

    pub fn health(&self) -> Health {
        let s = &*self.0;
        if s.pending.get() >= s.config.max_pending || s.state.get() == State::Stopped {
            Health::Full
        } else if s.backoff.borrow().not_before().is_some() {
            Health::Failing
        } else {
            Health::Writing
        }
    }

    /// Seals the open batch, waits until every pending row is settled or `deadline` passes,
    /// then stops: later pushes are refused and batches still queued are abandoned (their
    /// `Committed` futures fail with `ShutDown`). Returns the rows left unsettled (0 on a
    /// clean stop) and logs them if any. Rows pushed while this runs are flushed too.
    /// Returns once the writer's tasks have exited, or `TASK_EXIT_GRACE` after stopping
    /// if a write past the deadline is still outstanding (its task ends when the write
    /// returns). The session is not closed: it belongs to the shard.
    pub async fn shutdown(&self, deadline: Instant) -> usize {
        let s = &*self.0;
        if s.state.get() == State::Running {
            s.state.set(State::Draining);
        }
        while s.state.get() == State::Draining {
            if !s.open.borrow().rows.is_empty() {
                s.seal_open();
            }
            let now = Instant::now();
            if s.pending.get() == 0 || now >= deadline {
                break;
            }
            let progress = s.progress.wait();
            let _ = monoio::time::timeout(deadline - now, progress).await;
        }
        let left = s.stop();
        let grace = Instant::now() + TASK_EXIT_GRACE;
        while s.tasks_alive.get() > 0 {
            let now = Instant::now();
            if now >= grace {
                break;
            }
            let exited = s.progress.wait();
            let _ = monoio::time::timeout(grace - now, exited).await;
        }
        left
    }
}

impl Shared {
    fn set_pending(&self, pending: usize) {
        debug_assert!(
            pending <= self.config.max_pending,
            "pending {pending} above max_pending"
        );
        self.pending.set(pending);
        self.stats.pending.set(pending as u64);
    }

    /// Rows leave `pending`: written, found present, rejected.
    fn settle_rows(&self, rows: usize) {
        debug_assert!(rows <= self.pending.get());
        self.set_pending(self.pending.get() - rows);
        self.progress.notify();
    }

    fn new_outcome(&self) -> Option<Rc<Outcome>> {
        if self.config.durability == Durability::Async {
            return None;
        }
        let mut spare = self.outcomes_spare.borrow_mut();
        // Reusable once no `Committed` future holds it any more.
        if let Some(i) = spare.iter().position(|o| Rc::strong_count(o) == 1) {
            let outcome = spare.swap_remove(i);
            outcome.settled.set(Settled::Pending);
            outcome.rejected.borrow_mut().clear();
            return Some(outcome);
        }
        Some(Rc::new(Outcome::new()))
    }

    /// Hands the open batch to the writers and opens an empty one.
    fn seal_open(&self) {
        let mut next = self
            .free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Batch::new(self.config.batch_size));
        next.outcome = self.new_outcome();
        let mut batch = std::mem::replace(&mut *self.open.borrow_mut(), next);
        if batch.rows.is_empty() {
            self.recycle(batch);
            return;
        }
        debug_assert!(batch.rows.len() <= self.config.batch_size);
        batch.rows.seal();
        batch.progress.start(batch.rows.len() as u32);
        batch.sealed_at = Instant::now();
        self.ready.borrow_mut().push_back(batch);
        self.workers.notify();
    }

    fn take_ready(&self) -> Option<Batch> {
        let mut ready = self.ready.borrow_mut();
        let batch = ready.pop_front()?;
        if ready.is_empty() {
            // The timer may be holding back an overdue open batch until a writer is free.
            self.timer.notify();
        }
        Some(batch)
    }

    fn recycle(&self, mut batch: Batch) {
        if let Some(outcome) = batch.outcome.take() {
            let mut spare = self.outcomes_spare.borrow_mut();
            if spare.len() < OUTCOMES_SPARE_MAX {
                spare.push(outcome);
            }
        }
        batch.rows.clear();
        let mut free = self.free.borrow_mut();
        if free.len() < self.free_batches_max {
            free.push(batch);
        }
    }

    fn finish(&self, batch: Batch) {
        debug_assert!(batch.progress.is_done());
        let latency_us = batch.sealed_at.elapsed().as_micros() as u64;
        self.stats.record_flush_latency(latency_us);
        self.stats.batches_written.bump();
        if let Some(outcome) = &batch.outcome {
            outcome.settle(Settled::Done);
        }
        self.recycle(batch);
    }

    fn abandon(&self, batch: Batch) {
        if let Some(outcome) = &batch.outcome {
            outcome.settle(Settled::Abandoned);
        }
        self.recycle(batch);
    }

    /// A failed batch goes back to the front of the queue, or is abandoned after stop.
    fn requeue(&self, batch: Batch) {
        if self.state.get() == State::Stopped {
            self.abandon(batch);
        } else {
            self.ready.borrow_mut().push_front(batch);
            self.workers.notify();
        }
    }

    fn task_exited(&self) {
        self.tasks_alive.set(self.tasks_alive.get() - 1);
        self.progress.notify();
    }

    fn stop(&self) -> usize {
        self.state.set(State::Stopped);
        let left = self.pending.get();
        let queued: Vec<Batch> = self.ready.borrow_mut().drain(..).collect();
        for batch in queued {
            self.abandon(batch);
        }
        let open = std::mem::replace(&mut *self.open.borrow_mut(), Batch::new(1));
        self.abandon(open);
        self.workers.notify();
        self.timer.notify();
        if left > 0 {
            log::error(
                "token writer stopped with rows not written",
                &[("rows", &left)],
            );
        }
        left
    }
}

/// Seals the open batch once its oldest row has waited `flush_interval` — but only when no
/// sealed batch is waiting for a writer: sealing then would not write anything sooner, and
/// holding back keeps batches full while the database is slow or down (and so bounds the
/// number of batch buffers by `max_pending / batch_size`).
async fn timer_task(s: Rc<Shared>) {
    timer_loop(&s).await;
    s.task_exited();
}

async fn timer_loop(s: &Shared) {
    while s.state.get() != State::Stopped {
        let due = {
            let open = s.open.borrow();
            (!open.rows.is_empty()).then(|| open.opened_at + s.config.flush_interval)
        };
        let Some(due) = due else {
            s.timer.wait().await;
            continue;
        };
        let now = Instant::now();
        if now < due {
            // Woken early by stop (or a first row, harmlessly): re-check.
            let _ = monoio::time::timeout(due - now, s.timer.wait()).await;
        } else if s.ready.borrow().is_empty() {
            s.seal_open();
        } else {
            s.timer.wait().await;
        }
    }
}

/// What one write statement did to a batch.
enum Step {
    /// The batch has rows left to settle: write again at once.
    Continue,
    /// Every row is settled.
    Finished,
    /// The write failed for a reason that may pass (connection, server state): requeue
    /// the batch and back off.
    Failed,
}

/// Takes one sealed batch at a time and writes it until every row is settled or a failure
/// sends it back to the queue. Several of these run at once; the connection pipelines them.
async fn writer_task(s: Rc<Shared>) {
    writer_loop(&s).await;
    s.task_exited();
}

async fn writer_loop(s: &Shared) {
    // Reused for every partial retry this task sends: no allocation per retry in steady state.
    let mut params = UnnestParams::default();
    loop {
        if s.state.get() == State::Stopped {
            return;
        }
        let not_before = s.backoff.borrow().not_before();
        if let Some(t) = not_before {
            let now = Instant::now();
            if now < t {
                // Cut short by stop; a new batch does not end a backoff.
                let _ = monoio::time::timeout(t - now, s.workers.wait()).await;
                continue;
            }
            if !s.session.is_connected() {
                // Write as soon as the session reconnects, or try again after a backoff.
                let delay = s.backoff.borrow().delay();
                monoio::select! {
                    _ = s.session.wait_connected(delay) => {}
                    _ = s.workers.wait() => {}
                }
            }
        }
        let Some(mut batch) = s.take_ready() else {
            if s.state.get() == State::Stopped {
                return;
            }
            s.workers.wait().await;
            continue;
        };
        s.stats.batches_in_flight.bump();
        loop {
            match write_once(s, &mut batch, &mut params).await {
                Step::Continue => continue,
                Step::Finished => {
                    s.finish(batch);
                    break;
                }
                Step::Failed => {
                    s.backoff.borrow_mut().failed(Instant::now());
                    s.requeue(batch);
                    break;
                }
            }
        }
        s.stats.batches_in_flight.sub(1);
    }
}

/// Sends one statement for the batch (the one its `Progress` asks for) and carries out the
/// verdict on the answer: count, settle, reject, or hand the batch back for a backoff.
async fn write_once(s: &Shared, batch: &mut Batch, params: &mut UnnestParams) -> Step {
    let write = batch.progress.next_write();
    if write.retry {
        s.stats.retries.bump();
    }
    let whole = write.rows.len() == batch.rows.len();
    let first_jti = batch.rows.jti(write.rows.start as usize);
    let result = if whole {
        let [a, b, c, d, e] = batch.rows.params();
        let params = [a, b, c, d, e, Some(first_jti)];
        s.session.execute_binary(&INSERT, &params).await
    } else {
        params.encode(
            &batch.rows,
            write.rows.start as usize..write.rows.end as usize,
        );
        let [a, b, c, d, e] = params.params();
        let params = [a, b, c, d, e, Some(first_jti)];
        s.session.execute_binary(&INSERT, &params).await
    };
    let error = match result {
        Ok(inserted) => {
            let settled = batch.progress.succeeded(inserted);
            s.stats.rows_written.add(settled.inserted as u64);
            s.stats
                .rows_already_present
                .add((settled.rows - settled.inserted) as u64);
            s.settle_rows(settled.rows);
            s.backoff.borrow_mut().succeeded();
            return next_step(batch);
        }
        Err(e) => e,
    };
    s.stats.failures.bump();
    let sqlstate = (error.kind() == pg::ErrorKind::Db)
        .then(|| error.code())
        .flatten();
    match batch.progress.failed(sqlstate) {
        Verdict::Bisected => {}
        Verdict::Rejected { row } => {
            reject_row(s, batch, row, &error);
            s.settle_rows(1);
        }
        Verdict::BackOff => {
            log::warn(
                "token batch write failed; will retry",
                &[
                    ("rows", &write.rows.len()),
                    ("attempt", &batch.progress.attempts()),
                    ("error", &error),
                ],
            );
            return Step::Failed;
        }
    }
    next_step(batch)
}

fn next_step(batch: &Batch) -> Step {
    if batch.progress.is_done() {
        Step::Finished
    } else {
        Step::Continue
    }
}

/// A poison row: the server refuses it alone, so it can never be written. It is logged
/// (jti and client_id only; no secret is in a row), counted, reported to its `Committed`
/// future, and dropped so that the rest of its batch and every later batch can land.
fn reject_row(s: &Shared, batch: &Batch, row: u32, error: &pg::Error) {
    let (jti, client_id) = batch.rows.row_ids(row as usize);
    let jti = uuid::Uuid::from_bytes(jti);
    log::error(
        "token row rejected by the database; not recorded",
        &[
            ("jti", &jti.hyphenated()),
            ("client_id", &client_id),
            ("sqlstate", &error.code().unwrap_or("")),
            ("error", &error.db_message().unwrap_or("")),
        ],
    );
    s.stats.rows_rejected.bump();
    if let Some(outcome) = &batch.outcome {
        outcome.rejected.borrow_mut().push(row);
    }
}
