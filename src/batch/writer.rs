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
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::log;
use crate::pg::{self, Session};

use super::encode::{ArrayRows, TokenRow, UnnestParams};
use super::sql::{INSERT_FRESH, INSERT_IDEMPOTENT};
use super::stats::WriterStats;

/// First pause after a failed write; doubled per consecutive failure up to `BACKOFF_MAX`,
/// and back to the minimum after any success.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Short enough that a returning database is used within a second or two even if the
/// session's `Connected` wake-up were missed; long enough not to spin during an outage.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Bytes of `client_id` + `scope` a batch buffer is first sized for, per row; a buffer
/// grows past it once if rows are longer and keeps that capacity.
const ROW_VARIABLE_BYTES_TYPICAL: usize = 64;
/// Spare commit outcomes kept for reuse (`Durability::Commit`): enough for the batches in
/// flight plus the open one, with room for responses still being written.
const OUTCOMES_SPARE_MAX: usize = 32;
/// How long `shutdown` waits, after stopping, for a task still inside a write.
const TASK_EXIT_GRACE: Duration = Duration::from_secs(1);

/// When a token request is answered relative to the write of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Answer at once; the row is written within `flush_interval`. A crash loses the rows
    /// not yet committed (their tokens are valid JWTs nobody can introspect or revoke).
    Async,
    /// Answer only after the batch holding the row has committed (group commit): no token
    /// that got a 200 can be lost to a crash, at the price of up to `flush_interval` (plus
    /// a commit) of latency per request. Use a flush interval of a few milliseconds.
    Commit,
}

/// The writer's limits. `WriterConfig::default()` is the SPEC's defaults.
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

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: 1000,
            flush_interval: Duration::from_secs(5),
            max_pending: 100_000,
            durability: Durability::Async,
            in_flight_batches_max: 4,
        }
    }
}

impl WriterConfig {
    /// The checks `start` asserts; the configuration layer calls this to refuse a bad
    /// configuration with a message instead.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1");
        }
        // Row offsets in a batch are u32, and a Bind of a retry carries the whole batch.
        if self.batch_size > 1_000_000 {
            return Err("batch_size must be at most 1000000");
        }
        if self.max_pending < self.batch_size {
            return Err("max_pending must be at least batch_size");
        }
        if self.flush_interval.is_zero() {
            return Err("flush_interval must be positive");
        }
        if self.in_flight_batches_max == 0 || self.in_flight_batches_max > 64 {
            return Err("in_flight_batches_max must be between 1 and 64");
        }
        Ok(())
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Pending,
    /// Every row of the batch is settled; rows in `rejected` were dropped.
    Done,
    Abandoned,
}

/// The fate of one batch, shared by the `Committed` futures of its rows. One per batch,
/// reused once no future holds it, so group commit allocates nothing per row or per batch.
#[derive(Debug)]
struct Outcome {
    settled: Cell<Settled>,
    /// Row indexes the database rejected (rare: almost always empty).
    rejected: RefCell<Vec<u32>>,
    wakers: RefCell<Vec<Waker>>,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            settled: Cell::new(Settled::Pending),
            rejected: RefCell::new(Vec::new()),
            wakers: RefCell::new(Vec::new()),
        }
    }

    fn settle(&self, settled: Settled) {
        self.settled.set(settled);
        wake_every(&self.wakers);
    }
}

/// Resolves when the batch holding one row has committed (`Durability::Commit`).
#[derive(Debug)]
#[must_use = "the token may be handed out only after this resolves to Ok"]
pub struct Committed {
    outcome: Rc<Outcome>,
    row: u32,
}

impl Future for Committed {
    type Output = Result<(), NotCommitted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let rejected = || self.outcome.rejected.borrow().contains(&self.row);
        match self.outcome.settled.get() {
            Settled::Pending => {
                self.outcome.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
            Settled::Done if rejected() => Poll::Ready(Err(NotCommitted::Rejected)),
            Settled::Done => Poll::Ready(Ok(())),
            Settled::Abandoned if rejected() => Poll::Ready(Err(NotCommitted::Rejected)),
            Settled::Abandoned => Poll::Ready(Err(NotCommitted::ShutDown)),
        }
    }
}

/// Wakes and removes every waker in `wakers`, keeping the vector's capacity (a
/// `mem::take` would make the next registration allocate, once per batch). The borrow is
/// released before each wake, in case a waker touches the list.
fn wake_every(wakers: &RefCell<Vec<Waker>>) {
    loop {
        let Some(waker) = wakers.borrow_mut().pop() else {
            return;
        };
        waker.wake();
    }
}

/// Wakes every task waiting on one condition. A generation counter makes a wake between
/// creating the wait and its first poll count, so no wake-up is lost.
#[derive(Default)]
struct WakeList {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl WakeList {
    fn wake_all(&self) {
        self.generation.set(self.generation.get() + 1);
        wake_every(&self.wakers);
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        let seen = self.generation.get();
        std::future::poll_fn(move |cx| {
            if self.generation.get() != seen {
                Poll::Ready(())
            } else {
                self.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// One batch: its rows and how far writing them has got.
struct Batch {
    rows: ArrayRows,
    /// Row ranges not yet settled; the last one is written next. Sealing sets it to the
    /// whole batch; a poison-row error splits a range in two.
    todo: Vec<Range<u32>>,
    /// True until the first write attempt fails: only then is the plain insert (no ON
    /// CONFLICT) used. After any failure the outcome may be unknown, so retries use the
    /// idempotent insert.
    fresh: bool,
    /// Statements sent for this batch so far (the first is not a retry).
    attempts: u32,
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
            todo: Vec::with_capacity(32),
            fresh: true,
            attempts: 0,
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
    /// Delay after the next failure; reset by any success.
    backoff: Cell<Duration>,
    /// Writers take no batch before this instant (set by a failure).
    not_before: Cell<Option<Instant>>,
    /// Writer tasks waiting for a sealed batch (or for stop).
    workers: WakeList,
    /// The timer waiting for a first row, for the ready queue to drain, or for stop.
    timer: WakeList,
    /// `shutdown` waiting for `pending` to fall, and for the tasks to exit.
    progress: WakeList,
    /// Writer and timer tasks still running: `shutdown` waits for them so that none
    /// outlives the writer (a task dropped with its runtime must not hold the session).
    tasks_alive: Cell<usize>,
}

/// One shard's batch writer. Cheap to clone (an `Rc`); single-threaded.
#[derive(Clone)]
pub struct TokenWriter(Rc<Shared>);

impl TokenWriter {
    /// Spawns the timer task and `in_flight_batches_max` writer tasks on the current monoio
    /// runtime. They run until `shutdown`. Panics on an invalid configuration (validate it
    /// first with `WriterConfig::validate`).
    pub fn start(session: Session, config: WriterConfig, stats: Arc<WriterStats>) -> TokenWriter {
        if let Err(e) = config.validate() {
            panic!("invalid batch writer configuration: {e}");
        }
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
            backoff: Cell::new(BACKOFF_MIN),
            not_before: Cell::new(None),
            workers: WakeList::default(),
            timer: WakeList::default(),
            progress: WakeList::default(),
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
            s.timer.wake_all();
        }
        let index = open.rows.len() as u32;
        open.rows.push(row);
        let committed = open.outcome.as_ref().map(|outcome| Committed {
            outcome: outcome.clone(),
            row: index,
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
        WriterStats::set(&self.stats.pending, pending as u64);
    }

    /// Rows leave `pending`: written, found present, rejected.
    fn settle_rows(&self, rows: usize) {
        debug_assert!(rows <= self.pending.get());
        self.set_pending(self.pending.get() - rows);
        self.progress.wake_all();
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
            outcome.wakers.borrow_mut().clear();
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
        batch.todo.clear();
        batch.todo.push(0..batch.rows.len() as u32);
        batch.fresh = true;
        batch.attempts = 0;
        batch.sealed_at = Instant::now();
        self.ready.borrow_mut().push_back(batch);
        self.workers.wake_all();
    }

    fn take_ready(&self) -> Option<Batch> {
        let mut ready = self.ready.borrow_mut();
        let batch = ready.pop_front()?;
        if ready.is_empty() {
            // The timer may be holding back an overdue open batch until a writer is free.
            self.timer.wake_all();
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
        batch.todo.clear();
        let mut free = self.free.borrow_mut();
        if free.len() < self.free_batches_max {
            free.push(batch);
        }
    }

    fn finish(&self, batch: Batch) {
        debug_assert!(batch.todo.is_empty());
        let latency_us = batch.sealed_at.elapsed().as_micros() as u64;
        self.stats.record_flush_latency(latency_us);
        WriterStats::add(&self.stats.batches_written, 1);
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
            self.workers.wake_all();
        }
    }

    /// Pauses every writer. The batches in flight when a connection dies all fail at
    /// once; only the first failure of such a burst doubles the backoff.
    fn back_off(&self) {
        let now = Instant::now();
        if self.not_before.get().is_some_and(|t| t > now) {
            return;
        }
        let backoff = self.backoff.get();
        self.not_before.set(Some(now + backoff));
        self.backoff.set((backoff * 2).min(BACKOFF_MAX));
    }

    fn task_exited(&self) {
        self.tasks_alive.set(self.tasks_alive.get() - 1);
        self.progress.wake_all();
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
        self.workers.wake_all();
        self.timer.wake_all();
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

/// Waits for whichever of two futures finishes first (the other is dropped).
async fn either<A: Future, B: Future>(a: A, b: B) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
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
        if let Some(t) = s.not_before.get() {
            let now = Instant::now();
            if now < t {
                // Cut short by stop; a new batch does not end a backoff.
                let _ = monoio::time::timeout(t - now, s.workers.wait()).await;
                continue;
            }
            if !s.session.is_connected() {
                // Write as soon as the session reconnects, or try again after a backoff.
                either(s.session.wait_connected(s.backoff.get()), s.workers.wait()).await;
            }
        }
        let Some(mut batch) = s.take_ready() else {
            if s.state.get() == State::Stopped {
                return;
            }
            s.workers.wait().await;
            continue;
        };
        WriterStats::add(&s.stats.batches_in_flight, 1);
        loop {
            match write_once(s, &mut batch, &mut params).await {
                Step::Continue => continue,
                Step::Finished => {
                    s.finish(batch);
                    break;
                }
                Step::Failed => {
                    s.back_off();
                    s.requeue(batch);
                    break;
                }
            }
        }
        s.stats
            .batches_in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How the writer treats a failed write statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// 23505 on the plain insert: some jti is already in the table (it was there before,
    /// or another writer put it there). Retry at once with the idempotent insert.
    Conflict,
    /// A data exception (class 22) or integrity violation (class 23) that ON CONFLICT does
    /// not cover: some row in the range is poison. Bisect.
    Poison,
    /// Anything else (connection lost, server shutting down, out of disk, a missing table
    /// or privilege): not a property of the rows, so never a reason to drop them. Retry
    /// the same range after a backoff, until it works or shutdown gives up.
    Transient,
}

fn classify(e: &pg::Error, fresh: bool) -> Failure {
    if e.kind() != pg::ErrorKind::Db {
        return Failure::Transient;
    }
    match e.code().unwrap_or("") {
        "23505" if fresh => Failure::Conflict,
        code if code.starts_with("22") || code.starts_with("23") => Failure::Poison,
        _ => Failure::Transient,
    }
}

/// Sends one statement for the batch's next range and settles what it can.
async fn write_once(s: &Shared, batch: &mut Batch, params: &mut UnnestParams) -> Step {
    let range = batch
        .todo
        .last()
        .cloned()
        .expect("a batch being written has rows to settle");
    let rows = range.len();
    if batch.attempts > 0 {
        WriterStats::add(&s.stats.retries, 1);
    }
    batch.attempts += 1;
    let whole = rows == batch.rows.len();
    let result = if batch.fresh {
        debug_assert!(whole);
        s.session
            .execute_binary(&INSERT_FRESH, &batch.rows.params())
            .await
    } else if whole {
        s.session
            .execute_binary(&INSERT_IDEMPOTENT, &batch.rows.params())
            .await
    } else {
        params.encode(&batch.rows, range.start as usize..range.end as usize);
        s.session
            .execute_binary(&INSERT_IDEMPOTENT, &params.params())
            .await
    };
    let error = match result {
        Ok(inserted) => {
            let inserted = inserted as usize;
            debug_assert!(inserted <= rows, "{inserted} rows inserted from {rows}");
            WriterStats::add(&s.stats.rows_written, inserted as u64);
            WriterStats::add(
                &s.stats.rows_already_present,
                (rows - inserted.min(rows)) as u64,
            );
            batch.todo.pop();
            s.settle_rows(rows);
            s.backoff.set(BACKOFF_MIN);
            s.not_before.set(None);
            return if batch.todo.is_empty() {
                Step::Finished
            } else {
                Step::Continue
            };
        }
        Err(e) => e,
    };
    WriterStats::add(&s.stats.failures, 1);
    let failure = classify(&error, batch.fresh);
    batch.fresh = false;
    match failure {
        Failure::Conflict => Step::Continue,
        Failure::Poison if rows == 1 => {
            reject_row(s, batch, range.start, &error);
            batch.todo.pop();
            s.settle_rows(1);
            if batch.todo.is_empty() {
                Step::Finished
            } else {
                Step::Continue
            }
        }
        Failure::Poison => {
            batch.todo.pop();
            let mid = range.start + range.len() as u32 / 2;
            // The first half is written next (`todo` is a stack).
            batch.todo.push(mid..range.end);
            batch.todo.push(range.start..mid);
            Step::Continue
        }
        Failure::Transient => {
            log::warn(
                "token batch write failed; will retry",
                &[
                    ("rows", &rows),
                    ("attempt", &batch.attempts),
                    ("error", &error),
                ],
            );
            Step::Failed
        }
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
    WriterStats::add(&s.stats.rows_rejected, 1);
    if let Some(outcome) = &batch.outcome {
        outcome.rejected.borrow_mut().push(row);
    }
}
