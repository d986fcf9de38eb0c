//! The per-shard batch token writer: issuing a token never waits for its own INSERT.
//!
//! # Protocol
//!
//! * **Buffer.** `TokenWriter::push` encodes the row straight into the open batch, whose
//!   five buffers are the binary array parameters of the insert (`encode::ArrayRows`), and
//!   counts it pending. No allocation per row; batch buffers go round for the writer's life.
//! * **Flush.** The open batch is sealed when it holds `batch_size` rows (by `push`), or
//!   when its oldest row has waited `flush_interval` and no sealed batch is waiting for a
//!   writer (by the timer task). Sealed batches queue for `in_flight_batches_max` writer
//!   tasks, which send them over the shard's one pipelined connection at once: several
//!   batches are in flight while the shard keeps serving.
//! * **Write.** A batch is one `INSERT ... SELECT * FROM unnest($1::uuid[], ...)`
//!   (`store::tokens::INSERT`): one statement, one transaction, all or nothing. It records
//!   its first row's jti in `token_writes` in the same statement and inserts only if that
//!   record is new, so a retry of a batch whose commit may have happened writes nothing
//!   twice and counts its rows as settled (`rows_already_present`), not lost.
//! * **Failure.** Connection loss, server errors that are not about the rows (shutdown,
//!   disk full, missing table or privilege, no partition yet for a row's expiry): the
//!   batch goes back to the front of the queue and writers pause with exponential backoff
//!   (50 ms to 2 s, and until the session has reconnected). Rows are never dropped for
//!   these, however long they last.
//! * **Poison rows.** A data or integrity error (SQLSTATE class 22 or 23, but for the
//!   check violation that means a missing partition) is about some row: the range is split
//!   in halves and each retried, down to single rows. A single row the server still
//!   refuses is logged (jti, client_id, SQLSTATE), counted in `rows_rejected`, reported
//!   `NotCommitted::Rejected` to a `Committed` waiter, and dropped;
//!   ~2·log2(batch_size) extra statements isolate it.
//! * **Back-pressure.** `pending` counts rows accepted and not settled (open + queued + in
//!   flight + awaiting retry); at `max_pending`, `push` refuses (`Backpressure` → 503) and
//!   accepts again as soon as writes settle rows.
//! * **Durability.** `Async` answers at once; `Commit` hands out a `Committed` future per row
//!   that resolves when the row's whole batch is settled (group commit).
//! * **Shutdown.** `shutdown(deadline)` seals the open batch, waits for the queue, the
//!   in-flight batches and their retries, and stops; rows still unsettled at the deadline are
//!   logged and returned as a count. Shut the writer down before the session: it needs
//!   the connection to flush.
//! * **Shared connection.** Every write relies on the implicit transaction of one extended
//!   query ended by Sync; nothing else on the shard's connection may leave a transaction
//!   open (`BEGIN` without `COMMIT` in one message), or batches would join it.
//!
//! # Write method
//!
//! `INSERT ... SELECT * FROM unnest($1::uuid[], ...)` with the five columns as binary
//! arrays: faster than binary COPY, and as fast as a multi-row VALUES insert without
//! needing one prepared statement per row count (figures: docs/MEASUREMENTS.md).
//!
//! # Files
//!
//! * `encode`: `TokenRow`, a batch's five array buffers, the arrays of a range of it.
//! * `retry`: retry-and-bisect and backoff, as pure state machines with unit tests.
//! * `writer`: `TokenWriter` and its tasks, which drive `retry` (the statement they send
//!   lives in `store::tokens`).
//! * `stats`: `WriterStats`, the counters `/metrics` reads.

pub mod encode;
pub mod retry;
pub mod stats;
pub mod writer;

pub use crate::config::Durability;
pub use encode::TokenRow;
pub use stats::WriterStats;
pub use writer::{Backpressure, Committed, Health, NotCommitted, TokenWriter, WriterConfig};
