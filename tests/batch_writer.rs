//! The batch token writer against a real PostgreSQL (never a mock).
//!
//! Run through `scripts/test.sh`, which starts a throwaway cluster and exports
//! `EDGEAUTH_TEST_DATABASE_URL` (superuser over the unix socket) and `EDGEAUTH_TEST_PG_PORT`.
//! Every test migrates its own database with the real binary (`TestDb::new`), builds its
//! own monoio runtime, drives a `TokenWriter` over a real `Session`, and checks the
//! `tokens` table with `psql`, not with the client under test.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestDb, block_on, eventually_async, free_port, ok_if};
use edgeauth::batch::encode::{ArrayRows, PG_EPOCH_OFFSET_US};
use edgeauth::batch::{
    Backpressure, Durability, NotCommitted, TokenRow, TokenWriter, WriterConfig, WriterStats,
};
use edgeauth::pg::{Host, PgConfig, Session, Statement};
use edgeauth::store::tokens::INSERT;

const WAIT: Duration = Duration::from_secs(30);

/// Counts this thread's allocations, to check that the hot path makes none.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator; the counter is a const-initialised
// thread-local `Cell` with no destructor, so touching it cannot allocate or re-enter.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(|n| n.get())
}
/// This run's start, in whole seconds plus .123456 (sub-second digits check precision), in
/// unix microseconds: rows expire an hour later, within the partitions `tokens` has.
fn issued_at_unix_us() -> i64 {
    static AT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_secs() as i64 * 1_000_000 + 123_456
    })
}

fn pg_config(db: &TestDb) -> PgConfig {
    PgConfig::parse(&db.url).expect("the test database URL parses")
}

/// A session to `db`, connected.
async fn session(db: &TestDb) -> Session {
    let session = Session::start(pg_config(db), &[]);
    session.wait_connected(WAIT).await.expect("connects");
    session
}

/// A writer over a fresh session, with its own counters.
async fn writer(db: &TestDb, config: WriterConfig) -> (Session, TokenWriter, Arc<WriterStats>) {
    let stats = Arc::new(WriterStats::default());
    let session = session(db).await;
    let w = TokenWriter::start(session.clone(), config, stats.clone());
    (session, w, stats)
}

fn config(batch_size: usize, flush_interval: Duration) -> WriterConfig {
    WriterConfig {
        batch_size,
        flush_interval,
        ..WriterConfig::from_config(&edgeauth::config::Config::default())
    }
}

/// Distinct, deterministic jti for row `i` (never the nil UUID).
fn jti(i: u64) -> [u8; 16] {
    (0xed6e_u128 << 64 | (i as u128 + 1)).to_be_bytes()
}

fn jti_text(i: u64) -> String {
    uuid::Uuid::from_bytes(jti(i)).hyphenated().to_string()
}

fn row(i: u64) -> TokenRow<'static> {
    TokenRow {
        jti: jti(i),
        client_id: "svc-batch",
        scope: "read write",
        issued_at_unix_us: issued_at_unix_us(),
        expires_at_unix_us: issued_at_unix_us() + 3_600_000_000,
    }
}

/// Polls the table (psql blocks this thread briefly; the sleeps let the writer run).
async fn wait_rows(db: &TestDb, rows: i64) {
    eventually_async(&format!("{rows} rows in tokens"), WAIT, || {
        let n = db.token_rows();
        ok_if(n == rows, n)
    })
    .await;
}

/// The table can show a batch before the writer has read its acknowledgement.
async fn wait_pending(w: &TokenWriter, pending: usize) {
    eventually_async(&format!("{pending} rows pending"), WAIT, || {
        ok_if(w.pending() == pending, w.pending())
    })
    .await;
}

fn deadline() -> Instant {
    Instant::now() + WAIT
}

/// A full batch is written without waiting for the flush interval; the partial one waits.
#[test]
fn size_triggered_flush() {
    let db = TestDb::new();
    block_on(async {
        let (session, w, stats) = writer(&db, config(100, Duration::from_secs(3600))).await;
        for i in 0..250 {
            assert!(w.push(&row(i)).unwrap().is_none(), "Async durability");
        }
        wait_rows(&db, 200).await;
        wait_pending(&w, 50).await;
        assert_eq!(stats.pending.get(), 50);
        assert_eq!(stats.batches_written.get(), 2);
        assert_eq!(stats.rows_written.get(), 200);
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        assert_eq!(db.token_rows(), 250);
        assert_eq!(stats.failures.get(), 0);
        assert!(stats.flush_latency_us_max.get() > 0);
    });
}

/// Once the writer has been through a few batches, filling and sealing a batch allocates
/// nothing: the buffers go round.
#[test]
fn push_and_seal_allocate_nothing_in_steady_state() {
    let db = TestDb::new();
    block_on(async {
        let (session, w, _) = writer(&db, config(1000, Duration::from_secs(3600))).await;
        let mut next = 0;
        for _ in 0..8 {
            for _ in 0..1000 {
                w.push(&row(next)).unwrap();
                next += 1;
            }
            wait_pending(&w, 0).await;
        }
        let before = allocations();
        for _ in 0..1000 {
            w.push(&row(next)).unwrap();
            next += 1;
        }
        assert_eq!(allocations() - before, 0, "push or seal allocated");
        assert_eq!(w.shutdown(deadline()).await, 0);
        assert_eq!(db.token_rows(), next as i64);
        session.shutdown().await;
    });
}

/// A partial batch is written once its oldest row has waited the flush interval, and the
/// row round-trips exactly (timestamps to the microsecond).
#[test]
fn time_triggered_flush() {
    let db = TestDb::new();
    block_on(async {
        let (session, w, _) = writer(&db, config(1000, Duration::from_millis(1000))).await;
        let pushed_at = Instant::now();
        for i in 0..10 {
            w.push(&row(i)).unwrap();
        }
        monoio::time::sleep(Duration::from_millis(50)).await;
        // A full second of margin: psql itself is slow to start on a busy machine.
        assert_eq!(db.token_rows(), 0, "flushed before the interval");
        wait_rows(&db, 10).await;
        assert!(pushed_at.elapsed() >= Duration::from_millis(1000));
        // psql blocks this thread, so the writer may not have seen its answer yet.
        while w.pending() > 0 {
            assert!(
                pushed_at.elapsed() < Duration::from_secs(10),
                "rows still pending"
            );
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        let got = db.psql(&format!(
            "SELECT client_id, scope, (extract(epoch FROM issued_at) * 1000000)::bigint,
                    expires_at - issued_at
             FROM tokens WHERE jti = '{}'",
            jti_text(3)
        ));
        assert_eq!(
            got,
            format!("svc-batch|read write|{}|01:00:00", issued_at_unix_us())
        );
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
    });
}

/// 50,000 rows pushed in one go, then shutdown: exactly those jti are in the table.
#[test]
fn fifty_thousand_rows_then_shutdown() {
    let db = TestDb::new();
    block_on(async {
        let stats = Arc::new(WriterStats::default());
        let session = session(&db).await;
        let w = TokenWriter::start(
            session.clone(),
            WriterConfig::from_config(&edgeauth::config::Config::default()),
            stats.clone(),
        );
        let n = 50_000;
        for i in 0..n {
            w.push(&row(i)).unwrap();
        }
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        assert_eq!(w.pending(), 0);
        let expected: HashSet<String> = (0..n).map(jti_text).collect();
        assert_eq!(db.recorded_jtis(), expected);
        assert_eq!(stats.rows_written.get(), n);
        assert_eq!(stats.batches_written.get(), n / 1000);
        assert_eq!(stats.batches_in_flight.get(), 0);
        // After stop, nothing more is accepted.
        assert_eq!(w.push(&row(n)).unwrap_err(), Backpressure);
    });
}

/// `Durability::Commit`: the future resolves only once the row is in the table, and rows
/// pushed together share one commit.
#[test]
fn commit_durability_resolves_after_the_row_is_in_the_table() {
    let db = TestDb::new();
    block_on(async {
        let stats = Arc::new(WriterStats::default());
        let cfg = WriterConfig {
            durability: Durability::Commit,
            ..config(1000, Duration::from_millis(300))
        };
        let session = session(&db).await;
        let w = TokenWriter::start(session.clone(), cfg, stats.clone());
        let first = w
            .push(&row(0))
            .unwrap()
            .expect("Commit durability gives a future");
        let second = w
            .push(&row(1))
            .unwrap()
            .expect("Commit durability gives a future");
        assert_eq!(db.token_rows(), 0);
        first.await.expect("committed");
        // Resolved, so the row must be visible to any other connection now.
        assert_eq!(
            db.psql(&format!(
                "SELECT count(*) FROM tokens WHERE jti = '{}'",
                jti_text(0)
            )),
            "1"
        );
        second.await.expect("committed");
        assert_eq!(stats.batches_written.get(), 1, "one group commit for both");
        // Many futures, several batches.
        let futures: Vec<_> = (2..2500)
            .map(|i| w.push(&row(i)).unwrap().unwrap())
            .collect();
        for f in futures {
            f.await.expect("committed");
        }
        assert_eq!(db.token_rows(), 2500);
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
    });
}

/// Forwards TCP connections from `listen` to the test cluster's port: a database that can
/// be made to appear.
fn start_proxy(listen: u16) {
    let target: u16 = std::env::var("EDGEAUTH_TEST_PG_PORT")
        .expect("EDGEAUTH_TEST_PG_PORT is not set: run the tests with scripts/test.sh")
        .parse()
        .unwrap();
    let listener = TcpListener::bind(("127.0.0.1", listen)).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// With the database unreachable, `push` refuses at `max_pending`; when it becomes
/// reachable, the backlog is written and `push` accepts again, by itself.
#[test]
fn backpressure_at_max_pending_and_recovery() {
    let db = TestDb::new();
    let port = free_port();
    block_on(async {
        let cfg = pg_config(&db).with_host(Host::Tcp("127.0.0.1".into(), port));
        let session = Session::start(cfg, &[]);
        let stats = Arc::new(WriterStats::default());
        let w = TokenWriter::start(
            session.clone(),
            WriterConfig {
                max_pending: 100,
                ..config(10, Duration::from_millis(20))
            },
            stats.clone(),
        );
        for i in 0..100 {
            w.push(&row(i)).unwrap();
        }
        assert_eq!(w.push(&row(100)).unwrap_err(), Backpressure);
        monoio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(w.push(&row(100)).unwrap_err(), Backpressure, "still down");
        assert_eq!(stats.pending.get(), 100);
        assert!(stats.failures.get() > 0, "writes were attempted and failed");

        start_proxy(port);
        let started = Instant::now();
        while w.pending() > 0 {
            assert!(
                started.elapsed() < WAIT,
                "backlog not written after the database returned"
            );
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(db.token_rows(), 100);
        for i in 100..150 {
            w.push(&row(i)).expect("accepting again");
        }
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        let expected: HashSet<String> = (0..150).map(jti_text).collect();
        assert_eq!(db.recorded_jtis(), expected);
        assert!(stats.retries.get() > 0);
    });
}

/// A shutdown whose deadline passes with the database unreachable reports the rows it
/// could not write, and their `Committed` futures fail: those tokens are never handed out.
#[test]
fn shutdown_deadline_with_the_database_down_reports_unwritten_rows() {
    let db = TestDb::new();
    let port = free_port();
    block_on(async {
        let cfg = pg_config(&db).with_host(Host::Tcp("127.0.0.1".into(), port));
        let session = Session::start(cfg, &[]);
        let stats = Arc::new(WriterStats::default());
        let w = TokenWriter::start(
            session.clone(),
            WriterConfig {
                durability: Durability::Commit,
                ..config(10, Duration::from_millis(5))
            },
            stats.clone(),
        );
        let waiters: Vec<_> = (0..25).map(|i| w.push(&row(i)).unwrap().unwrap()).collect();
        let started = Instant::now();
        let left = w
            .shutdown(Instant::now() + Duration::from_millis(300))
            .await;
        assert_eq!(left, 25);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "shutdown overran its deadline"
        );
        for f in waiters {
            assert_eq!(f.await, Err(NotCommitted::ShutDown));
        }
        assert_eq!(w.push(&row(99)).unwrap_err(), Backpressure);
        session.shutdown().await;
    });
}

/// The writer's backend is killed (`pg_terminate_backend`) several times while rows stream
/// in: every row lands exactly once.
#[test]
fn connection_killed_mid_stream_loses_and_duplicates_nothing() {
    let db = TestDb::new();
    block_on(async {
        let (session, w, stats) = writer(&db, config(200, Duration::from_millis(10))).await;
        let killer_db = db.name.clone();
        let admin = common::admin_url();
        let killer = std::thread::spawn(move || {
            let mut killed = 0;
            for _ in 0..4 {
                std::thread::sleep(Duration::from_millis(150));
                let n = common::psql(
                    &admin,
                    &format!(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE datname = '{killer_db}' AND pid <> pg_backend_pid()"
                    ),
                );
                killed += n.parse::<u32>().unwrap();
            }
            killed
        });
        let n = 40_000;
        for i in 0..n {
            while w.push(&row(i)).is_err() {
                monoio::time::sleep(Duration::from_millis(5)).await;
            }
            if i % 100 == 99 {
                monoio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let killed = killer.join().unwrap();
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        assert!(killed > 0, "the writer's backend was never found to kill");
        assert!(
            stats.failures.get() > 0,
            "no write failed: the kills missed the stream"
        );
        assert_eq!(db.token_rows(), n as i64, "duplicates or losses");
        let expected: HashSet<String> = (0..n).map(jti_text).collect();
        assert_eq!(db.recorded_jtis(), expected);
        assert_eq!(stats.rows_rejected.get(), 0);
        assert_eq!(
            stats.rows_written.get() + stats.rows_already_present.get(),
            n
        );
    });
}

/// A write whose first attempt committed with its answer lost (here: its record and its
/// rows already in place) inserts nothing the second time: no row twice, none lost, and the
/// rows count as present.
#[test]
fn a_write_committed_before_is_not_written_twice() {
    let db = TestDb::new();
    db.psql(&format!(
        "INSERT INTO token_writes (first_jti) VALUES ('{}');
         INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
         SELECT ('{}'::text)::uuid, 'earlier', '', now(), now() + interval '1 hour'",
        jti_text(0),
        jti_text(0)
    ));
    block_on(async {
        let (session, w, stats) = writer(&db, config(100, Duration::from_secs(3600))).await;
        for i in 0..100 {
            w.push(&row(i)).unwrap();
        }
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        assert_eq!(
            db.token_rows(),
            1,
            "the batch was recorded as written before"
        );
        assert_eq!(stats.rows_written.get(), 0);
        assert_eq!(stats.rows_already_present.get(), 100);
        assert_eq!(stats.rows_rejected.get(), 0);
        assert_eq!(stats.failures.get(), 0);
    });
}

/// A row the server rejects on its own (a trigger raising a data exception) is isolated by
/// bisection, logged, counted and reported to its waiter; every other row lands.
#[test]
fn poison_row_is_isolated_and_the_rest_land() {
    let db = TestDb::new();
    db.psql(
        "CREATE FUNCTION no_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF NEW.client_id = 'poison' THEN RAISE EXCEPTION 'poison' USING ERRCODE = '22023'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER no_poison BEFORE INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION no_poison();",
    );
    block_on(async {
        let stats = Arc::new(WriterStats::default());
        let cfg = WriterConfig {
            durability: Durability::Commit,
            ..config(1000, Duration::from_millis(50))
        };
        let session = session(&db).await;
        let w = TokenWriter::start(session.clone(), cfg, stats.clone());
        let poison = 437;
        let mut waiters = Vec::new();
        for i in 0..1000 {
            let mut r = row(i);
            if i == poison {
                r.client_id = "poison";
            }
            waiters.push(w.push(&r).unwrap().unwrap());
        }
        for (i, f) in waiters.into_iter().enumerate() {
            let expected = if i as u64 == poison {
                Err(NotCommitted::Rejected)
            } else {
                Ok(())
            };
            assert_eq!(f.await, expected, "row {i}");
        }
        assert_eq!(w.shutdown(deadline()).await, 0);
        session.shutdown().await;
        let expected: HashSet<String> = (0..1000).filter(|&i| i != poison).map(jti_text).collect();
        assert_eq!(db.recorded_jtis(), expected);
        assert_eq!(stats.rows_rejected.get(), 1);
        assert_eq!(stats.rows_written.get(), 999);
        // COPY, then ~2 statements per halving down to one row.
        assert!(stats.failures.get() <= 12, "{}", stats.failures.get());
    });
}

/// Write-method throughput: binary COPY vs `unnest` INSERT vs multi-row VALUES INSERT,
/// 1000-row batches, 4 batches in flight on one pipelined connection. Prints rows/s.
/// `EDGEAUTH_BENCH_ROWS` overrides the 1,000,000 rows, `EDGEAUTH_BENCH_ROUNDS` the 2 rounds,
/// `EDGEAUTH_BENCH_METHODS` the methods (comma-separated: unnest, the server's statement,
/// and values; binary COPY was measured too, at commit 3eb0872, see docs/MEASUREMENTS.md).
/// Run with:
/// `cargo test --release --test batch_writer write_method -- --ignored --nocapture`
#[test]
#[ignore = "measurement, not a test: prints rows/s for each write method"]
fn write_method_throughput() {
    let rows: u64 = std::env::var("EDGEAUTH_BENCH_ROWS")
        .map(|v| v.parse().unwrap())
        .unwrap_or(1_000_000);
    let rounds: u32 = std::env::var("EDGEAUTH_BENCH_ROUNDS")
        .map(|v| v.parse().unwrap())
        .unwrap_or(2);
    let methods =
        std::env::var("EDGEAUTH_BENCH_METHODS").unwrap_or_else(|_| "unnest,values".into());
    let batch = 1000;
    let db = TestDb::new();
    let values = values_statement(batch, "bench_values", "");
    block_on(async {
        let session = session(&db).await;
        for round in 0..rounds {
            for method in methods.split(',') {
                db.psql("TRUNCATE tokens, token_writes");
                db.psql("CHECKPOINT");
                let started = Instant::now();
                let stmt = match method {
                    "values" => values,
                    _ => &INSERT,
                };
                write_all(&session, method, stmt, rows, batch).await;
                let secs = started.elapsed().as_secs_f64();
                assert_eq!(db.token_rows(), rows as i64);
                println!(
                    "round {round} {method:>9}: {rows} rows in {secs:.2} s = {:.0} rows/s",
                    rows as f64 / secs
                );
            }
        }
        session.shutdown().await;
    });
}

fn values_statement(batch: usize, name: &'static str, suffix: &str) -> &'static Statement {
    let mut sql =
        String::from("INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at) VALUES ");
    for r in 0..batch {
        let p = r * 5;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}::uuid,${}::text,${}::text,${}::timestamptz,${}::timestamptz)",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        ));
    }
    sql.push_str(suffix);
    Box::leak(Box::new(Statement::new(
        name,
        Box::leak(sql.into_boxed_str()),
        &[],
    )))
}

/// One field of a row, as binary parameters carry it.
fn row_fields(r: &TokenRow<'_>) -> [Vec<u8>; 5] {
    [
        r.jti.to_vec(),
        r.client_id.as_bytes().to_vec(),
        r.scope.as_bytes().to_vec(),
        (r.issued_at_unix_us - PG_EPOCH_OFFSET_US)
            .to_be_bytes()
            .to_vec(),
        (r.expires_at_unix_us - PG_EPOCH_OFFSET_US)
            .to_be_bytes()
            .to_vec(),
    ]
}

/// Encodes and writes `rows` rows with `method`, at most 4 batches in flight. Encoding is
/// inside the timing for every method, as it would be in the server.
async fn write_all(
    session: &Session,
    method: &str,
    stmt: &'static Statement,
    rows: u64,
    batch: usize,
) {
    let mut in_flight = Vec::new();
    let mut next = 0u64;
    while next < rows {
        while in_flight.len() < 4 && next < rows {
            let end = (next + batch as u64).min(rows);
            let range = next..end;
            next = end;
            let session = session.clone();
            let method = method.to_owned();
            in_flight.push(monoio::spawn(async move {
                let n = match method.as_str() {
                    "unnest" => {
                        let mut arrays = ArrayRows::with_capacity(batch, 32);
                        for i in range.clone() {
                            arrays.push(&row(i));
                        }
                        arrays.seal();
                        let [a, b, c, d, e] = arrays.params();
                        let first = jti(range.start);
                        let params = [a, b, c, d, e, Some(&first[..])];
                        session.execute_binary(stmt, &params).await
                    }
                    _ => {
                        let fields: Vec<[Vec<u8>; 5]> =
                            range.clone().map(|i| row_fields(&row(i))).collect();
                        let params: Vec<Option<&[u8]>> =
                            fields.iter().flatten().map(|f| Some(&f[..])).collect();
                        session.execute_binary(stmt, &params).await
                    }
                };
                assert_eq!(n.expect("write succeeds"), range.end - range.start);
            }));
        }
        in_flight.remove(0).await;
    }
    for t in in_flight {
        t.await;
    }
}

#[test]
fn pg_epoch_offset_is_2000_01_01() {
    assert_eq!(PG_EPOCH_OFFSET_US, 946_684_800 * 1_000_000);
}
