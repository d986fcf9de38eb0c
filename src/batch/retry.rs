//! The batch writer's retry-and-bisect logic as pure state machines: no I/O, no clock (the
//! caller passes `now`), no database. `writer` drives them: it sends the write a batch's
//! [`Progress`] asks for, feeds the answer back, and carries out the [`Verdict`].
//!
//! One batch's protocol (module docs of `batch` tell the whole story):
//! * the first write of a sealed batch inserts every row;
//! * a data or integrity error means a poison row: the range is split in two and each half
//!   written on its own (first half first), down to the single row the server refuses,
//!   which is rejected so the rest can land;
//! * any other failure (connection, server state, no partition yet for a row) keeps every
//!   row: the batch goes back to the queue and the writers back off ([`Backoff`]).
//!
//! After a failure without an answer the failed statement may have committed (the
//! acknowledgement lost); every write is idempotent (`store::tokens::INSERT`), so the same
//! range is simply written again.

use std::ops::Range;
use std::time::{Duration, Instant};

/// The next statement for a batch: which insert, over which rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub rows: Range<u32>,
    /// The batch has been written before (counted as a retry).
    pub retry: bool,
}

/// What a successful write settled: `rows` rows, `inserted` of them written now, the rest
/// already present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub rows: usize,
    pub inserted: usize,
}

/// What a failed write means for the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A poison range was split in two; its first half is written next.
    Bisected,
    /// The single row `row` is poison: reject it (log, count, tell its future). It is
    /// settled.
    Rejected { row: u32 },
    /// A failure that may pass: keep every row, requeue the batch and back off.
    BackOff,
}

/// How the database refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A data exception (class 22) or integrity violation (class 23): some row in the
    /// range is poison.
    Poison,
    /// Anything else (connection lost, server shutting down, out of disk, a missing table
    /// or privilege, no partition yet for a row's expiry): not a property of the rows, so
    /// never a reason to drop them.
    Transient,
}

impl Failure {
    /// Classify a failed write: `sqlstate` is the server's code, `None` when the server
    /// did not answer (connection lost).
    pub fn classify(sqlstate: Option<&str>) -> Failure {
        match sqlstate {
            None => Failure::Transient,
            // A check violation on `tokens`, which has no CHECK: no partition for the row
            // (yet). The partition keeper makes it; the rows wait.
            Some("23514") => Failure::Transient,
            Some(code) if code.starts_with("22") || code.starts_with("23") => Failure::Poison,
            Some(_) => Failure::Transient,
        }
    }
}

/// How far writing one batch has got.
#[derive(Debug, Default)]
pub struct Progress {
    /// Row ranges not yet settled; the last one is written next. Sealing sets it to the
    /// whole batch; a poison range is split in two.
    todo: Vec<Range<u32>>,
    /// Statements sent for this batch so far (the first is not a retry).
    attempts: u32,
    rows: u32,
}

impl Progress {
    pub fn with_capacity(ranges: usize) -> Progress {
        Progress {
            todo: Vec::with_capacity(ranges),
            ..Progress::default()
        }
    }

    /// A sealed batch of `rows` rows: nothing written yet.
    pub fn start(&mut self, rows: u32) {
        debug_assert!(rows > 0, "an empty batch is never sealed");
        self.todo.clear();
        self.todo.push(0..rows);
        self.attempts = 0;
        self.rows = rows;
    }

    /// Every row is settled.
    pub fn is_done(&self) -> bool {
        self.todo.is_empty()
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The statement to send next (counted as an attempt). Panics on a finished batch.
    pub fn next_write(&mut self) -> Write {
        let rows = self
            .todo
            .last()
            .cloned()
            .expect("a batch being written has rows to settle");
        let retry = self.attempts > 0;
        self.attempts += 1;
        Write { rows, retry }
    }

    /// The write of [`Progress::next_write`] succeeded and inserted `inserted` rows.
    pub fn succeeded(&mut self, inserted: u64) -> Settled {
        let range = self.todo.pop().expect("a write was outstanding");
        let rows = range.len();
        let inserted = usize::try_from(inserted).unwrap_or(usize::MAX).min(rows);
        debug_assert_eq!(inserted as u64, inserted.min(rows) as u64);
        Settled { rows, inserted }
    }

    /// The write of [`Progress::next_write`] failed with `sqlstate` (`None`: no answer).
    pub fn failed(&mut self, sqlstate: Option<&str>) -> Verdict {
        let range = self.todo.last().cloned().expect("a write was outstanding");
        match Failure::classify(sqlstate) {
            Failure::Poison if range.len() == 1 => {
                self.todo.pop();
                Verdict::Rejected { row: range.start }
            }
            Failure::Poison => {
                self.todo.pop();
                let mid = range.start + range.len() as u32 / 2;
                // The first half is written next (`todo` is a stack).
                self.todo.push(mid..range.end);
                self.todo.push(range.start..mid);
                Verdict::Bisected
            }
            Failure::Transient => Verdict::BackOff,
        }
    }
}

/// First pause after a failed write; doubled per consecutive failure up to `BACKOFF_MAX`,
/// and back to the minimum after any success.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Short enough that a returning database is used within a second or two even if the
/// session's `Connected` wake-up were missed; long enough not to spin during an outage.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// When the writers may write again after failures.
#[derive(Debug)]
pub struct Backoff {
    /// The pause after the next failure.
    delay: Duration,
    /// No write before this instant (set by a failure, cleared by a success).
    not_before: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: BACKOFF_MIN,
            not_before: None,
        }
    }
}

impl Backoff {
    /// A write failed at `now`. The batches in flight when a connection dies all fail at
    /// once; only the first failure of such a burst doubles the delay.
    pub fn failed(&mut self, now: Instant) {
        if self.not_before.is_some_and(|t| t > now) {
            return;
        }
        self.not_before = Some(now + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }

    pub fn succeeded(&mut self) {
        self.delay = BACKOFF_MIN;
        self.not_before = None;
    }

    /// The instant before which no write may start, if any failure set one.
    pub fn not_before(&self) -> Option<Instant> {
        self.not_before
    }

    /// The pause the next failure will impose.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(rows: u32) -> Progress {
        let mut p = Progress::default();
        p.start(rows);
        p
    }

    #[test]
    fn a_fresh_batch_is_written_once() {
        let mut p = started(1000);
        let w = p.next_write();
        assert_eq!((w.rows, w.retry), (0..1000, false));
        assert_eq!(
            p.succeeded(1000),
            Settled {
                rows: 1000,
                inserted: 1000
            }
        );
        assert!(p.is_done());
        assert_eq!(p.attempts(), 1);
    }

    #[test]
    fn a_missing_partition_keeps_the_rows() {
        let mut p = started(10);
        p.next_write();
        assert_eq!(p.failed(Some("23514")), Verdict::BackOff);
        assert_eq!(p.next_write().rows, 0..10);
    }

    #[test]
    fn a_poison_row_is_bisected_down_to_itself_and_the_rest_land() {
        let poison = 5u32;
        let mut p = started(8);
        let mut settled = 0;
        let mut rejected = Vec::new();
        let mut writes = 0;
        while !p.is_done() {
            let w = p.next_write();
            writes += 1;
            assert!(writes <= 16, "bisection must end");
            if w.rows.contains(&poison) {
                match p.failed(Some("22P02")) {
                    Verdict::Rejected { row } => rejected.push(row),
                    Verdict::Bisected => {}
                    other => panic!("{other:?}"),
                }
            } else {
                settled += p.succeeded(w.rows.len() as u64).rows;
            }
        }
        assert_eq!(rejected, [poison]);
        assert_eq!(settled, 7, "every other row is written");
        // 8 -> 4+4 -> 2+2 -> 1+1: the plain insert, then three splits and the four halves.
        assert_eq!(writes, 7);
    }

    #[test]
    fn halves_are_written_first_half_first() {
        let mut p = started(10);
        p.next_write();
        assert_eq!(p.failed(Some("23502")), Verdict::Bisected);
        assert_eq!(p.next_write().rows, 0..5);
        p.succeeded(5);
        assert_eq!(p.next_write().rows, 5..10);
    }

    #[test]
    fn a_lost_connection_keeps_every_row_and_writes_the_same_range_again() {
        let mut p = started(100);
        p.next_write();
        assert_eq!(p.failed(None), Verdict::BackOff);
        assert_eq!(p.failed(Some("57P01")), Verdict::BackOff, "admin shutdown");
        assert!(!p.is_done());
        let w = p.next_write();
        assert_eq!((w.rows, w.retry), (0..100, true));
        // The failed statement had committed after all: nothing is inserted twice.
        assert_eq!(
            p.succeeded(0),
            Settled {
                rows: 100,
                inserted: 0
            }
        );
    }

    #[test]
    fn failures_classify_by_sqlstate() {
        use Failure::*;
        assert_eq!(Failure::classify(Some("23505")), Poison);
        assert_eq!(Failure::classify(Some("22007")), Poison);
        assert_eq!(Failure::classify(Some("23502")), Poison);
        assert_eq!(Failure::classify(Some("23514")), Transient, "no partition");
        assert_eq!(Failure::classify(Some("53100")), Transient, "disk full");
        assert_eq!(Failure::classify(Some("42P01")), Transient, "missing table");
        assert_eq!(Failure::classify(None), Transient);
    }

    #[test]
    fn backoff_doubles_per_burst_up_to_the_cap_and_resets_on_success() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.not_before(), None);
        b.failed(t0);
        assert_eq!(b.not_before(), Some(t0 + BACKOFF_MIN));
        // The rest of the burst (other batches in flight on the same dead connection).
        b.failed(t0 + Duration::from_millis(1));
        assert_eq!(b.delay(), BACKOFF_MIN * 2, "one doubling per burst");
        let mut now = t0;
        for _ in 0..10 {
            now = b.not_before().unwrap();
            b.failed(now);
        }
        assert_eq!(b.delay(), BACKOFF_MAX);
        assert!(b.not_before().unwrap() <= now + BACKOFF_MAX);
        b.succeeded();
        assert_eq!((b.delay(), b.not_before()), (BACKOFF_MIN, None));
    }
}
