//! The `pg` client against a real PostgreSQL (never a mock).
//!
//! Run through `scripts/test.sh`, which starts a throwaway cluster with `scripts/pg.sh` and
//! exports `EDGEAUTH_TEST_DATABASE_URL` (superuser over the unix socket) and
//! `EDGEAUTH_TEST_PG_PORT` (its TCP port on 127.0.0.1). Every test makes its own roles,
//! tables and channels under unique names, so tests run in parallel and repeatedly.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{block_on, unique_name};
use edgeauth::pg::{Client, ErrorKind, Host, PgConfig, Session, SessionEvent, Statement};
use monoio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn superuser() -> PgConfig {
    let url = std::env::var("EDGEAUTH_TEST_DATABASE_URL").expect(
        "EDGEAUTH_TEST_DATABASE_URL is not set: run the tests via scripts/test.sh, which starts a \
         throwaway PostgreSQL and exports it (and EDGEAUTH_TEST_PG_PORT)",
    );
    PgConfig::parse(&url).expect("EDGEAUTH_TEST_DATABASE_URL does not parse")
}

fn tcp_port() -> u16 {
    std::env::var("EDGEAUTH_TEST_PG_PORT")
        .expect(
            "EDGEAUTH_TEST_PG_PORT is not set: run the tests via scripts/test.sh, which starts a \
             throwaway PostgreSQL and exports it (and EDGEAUTH_TEST_DATABASE_URL)",
        )
        .parse()
        .expect("EDGEAUTH_TEST_PG_PORT is not a port number")
}

fn tcp(user: &str, password: Option<&str>) -> PgConfig {
    superuser()
        .with_host(Host::Tcp("127.0.0.1".into(), tcp_port()))
        .with_user(user, password)
}

fn run_uring<F: Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(f)
}

/// Statements are `&'static` by design (they are compile-time constants in the server);
/// tests that need per-run SQL leak a few bytes.
fn stmt(name: &str, sql: String) -> &'static Statement {
    Box::leak(Box::new(Statement::new(
        Box::leak(unique_name(name).into_boxed_str()),
        Box::leak(sql.into_boxed_str()),
        &[],
    )))
}

const ECHO: Statement = Statement::new("t_echo", "SELECT $1::int * 2, $1::text", &[0]);
const PID: Statement = Statement::new("t_pid", "SELECT pg_backend_pid()", &[]);

async fn connect() -> Client {
    timeout(WAIT, Client::connect(&superuser()))
        .await
        .expect("connect timed out")
        .expect("connect")
}

async fn one_str(c: &Client, s: &Statement, params: &[Option<&[u8]>]) -> Option<String> {
    let rows = c.query(s, params).await.expect("query");
    rows.row(0).get_str(0).map(str::to_owned)
}

/// Creates (once) a login role that must use `method` over TCP, with password `pw`.
async fn ensure_role(c: &Client, role: &str, pw: &str, md5: bool) {
    let enc = if md5 { "md5" } else { "scram-sha-256" };
    c.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE {role} LOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         SET password_encryption = '{enc}'; ALTER ROLE {role} PASSWORD '{pw}'; RESET password_encryption;"
    ))
    .await
    .expect("create role");
}

#[test]
fn unix_socket_connect_and_query() {
    block_on(async {
        let c = connect().await;
        let pid = one_str(&c, &PID, &[]).await.unwrap();
        assert_eq!(pid, c.process_id().to_string());
        let rows = c.query(&ECHO, &[Some(b"21")]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.row(0).get_str(0), Some("42"));
        assert_eq!(rows.row(0).get(1), Some(&b"21"[..]));
        c.close().await;
        assert!(c.is_closed());
        assert_eq!(
            c.query(&ECHO, &[Some(b"1")]).await.unwrap_err().kind(),
            ErrorKind::Closed
        );
    });
}

#[test]
fn tcp_trust_connect() {
    block_on(async {
        let c = Client::connect(&tcp(&superuser().user, None))
            .await
            .expect("tcp connect");
        assert_eq!(
            one_str(&c, &ECHO, &[Some(b"5")]).await.as_deref(),
            Some("10")
        );
    });
}

#[test]
fn unknown_database_is_a_db_error() {
    block_on(async {
        let e = Client::connect(&superuser().with_dbname(&unique_name("nodb")))
            .await
            .err()
            .expect("must fail");
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some("3D000"));
    });
}

/// Each password method, right and wrong password, over TCP as pg.sh's pg_hba.conf demands.
#[test]
fn password_methods_scram_md5_cleartext() {
    block_on(async {
        let su = connect().await;
        for (role, md5) in [
            ("edgeauth_scram", false),
            ("edgeauth_md5", true),
            ("edgeauth_clear", false),
        ] {
            ensure_role(&su, role, "s3cret pw", md5).await;
            let c = Client::connect(&tcp(role, Some("s3cret pw")))
                .await
                .unwrap_or_else(|e| panic!("{role}: {e}"));
            let who = Statement::new("t_who", "SELECT current_user", &[]);
            assert_eq!(one_str(&c, &who, &[]).await.as_deref(), Some(role));

            let e = Client::connect(&tcp(role, Some("wrong")))
                .await
                .err()
                .expect("wrong password accepted");
            assert_eq!(e.kind(), ErrorKind::Auth, "{role}: {e}");
            assert_eq!(e.code(), Some("28P01"), "{role}: {e}");
            let e = Client::connect(&tcp(role, None))
                .await
                .err()
                .expect("no password accepted");
            assert_eq!(e.kind(), ErrorKind::Auth, "{role}: {e}");
        }
    });
}

async fn pipeline_of_1000() {
    let c = connect().await;
    let mut handles = Vec::with_capacity(1000);
    for i in 0..1000u32 {
        let c = c.clone();
        handles.push(monoio::spawn(async move {
            let p = i.to_string();
            let rows = c.query(&ECHO, &[Some(p.as_bytes())]).await.expect("query");
            (
                i,
                rows.row(0).get_str(0).map(str::to_owned),
                rows.row(0).get_str(1).map(str::to_owned),
            )
        }));
    }
    // Let every task enqueue before anything is answered: they share one write.
    monoio::time::sleep(Duration::from_millis(1)).await;
    for h in handles {
        let (i, doubled, text) = h.await;
        assert_eq!(doubled, Some((i * 2).to_string()));
        assert_eq!(text, Some(i.to_string()));
    }
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn pipelined_1000_concurrent_queries_each_get_their_answer() {
    block_on(pipeline_of_1000());
}

#[test]
fn pipelined_1000_on_io_uring() {
    run_uring(pipeline_of_1000());
}

#[test]
fn failing_request_fails_only_its_own_waiter() {
    block_on(async {
        let c = connect().await;
        let div = Statement::new("t_div", "SELECT 10 / $1::int", &[]);
        let a = monoio::spawn({
            let c = c.clone();
            async move { c.query(&div, &[Some(b"2")]).await }
        });
        let b = monoio::spawn({
            let c = c.clone();
            async move { c.query(&div, &[Some(b"0")]).await }
        });
        let d = monoio::spawn({
            let c = c.clone();
            async move { c.query(&div, &[Some(b"5")]).await }
        });
        assert_eq!(a.await.unwrap().row(0).get_str(0), Some("5"));
        let e = b.await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some("22012"));
        assert!(e.to_string().contains("division by zero"), "{e}");
        assert_eq!(d.await.unwrap().row(0).get_str(0), Some("2"));
        assert!(!c.is_closed());
    });
}

#[test]
fn nulls_in_params_and_results() {
    block_on(async {
        let c = connect().await;
        let s = Statement::new(
            "t_nulls",
            "SELECT $1::text, NULL::int, ''::text, $1::text IS NULL",
            &[25],
        );
        let rows = c.query(&s, &[None]).await.unwrap();
        let r = rows.row(0);
        assert_eq!(r.len(), 4);
        assert_eq!(r.get(0), None);
        assert!(r.is_null(1));
        assert_eq!(r.get(2), Some(&b""[..]));
        assert_eq!(r.get_str(3), Some("t"));
    });
}

/// Parse goes out once per connection; a failed Parse is forgotten and retried.
#[test]
fn lazy_prepare_reused_reprepared_and_forgotten_on_failure() {
    block_on(async {
        let table = unique_name("t_lazy");
        let count_prepared = Statement::new(
            "t_count_prepared",
            "SELECT count(*) FROM pg_prepared_statements WHERE name = $1",
            &[],
        );
        let s = stmt("t_sel", format!("SELECT count(*) FROM {table}"));
        let c = connect().await;
        let e = c.query(s, &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("42P01"));
        c.batch_execute(&format!(
            "CREATE TABLE {table} (x int); INSERT INTO {table} VALUES (1), (2)"
        ))
        .await
        .unwrap();
        // Parse failed, so the statement must be prepared again now.
        assert_eq!(one_str(&c, s, &[]).await.as_deref(), Some("2"));
        assert_eq!(one_str(&c, s, &[]).await.as_deref(), Some("2"));
        assert_eq!(
            one_str(&c, &count_prepared, &[Some(s.name.as_bytes())])
                .await
                .as_deref(),
            Some("1")
        );
        // A new connection prepares it for itself.
        let c2 = connect().await;
        assert_eq!(one_str(&c2, s, &[]).await.as_deref(), Some("2"));
        let ins = stmt(
            "t_ins",
            format!("INSERT INTO {table} SELECT generate_series(1, $1::int)"),
        );
        assert_eq!(c2.execute(ins, &[Some(b"3")]).await.unwrap(), 3);
        c.batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    });
}

#[test]
fn listen_notify_arrives_on_notifications() {
    block_on(async {
        let chan = unique_name("t_chan");
        let listener = connect().await;
        let mut notes = listener.notifications().expect("receiver");
        assert!(
            listener.notifications().is_none(),
            "the receiver is handed out once"
        );
        listener
            .batch_execute(&format!("LISTEN {chan}"))
            .await
            .unwrap();
        let sender = connect().await;
        let notify = Statement::new("t_notify", "SELECT pg_notify($1, $2)", &[]);
        sender
            .query(&notify, &[Some(chan.as_bytes()), Some(b"client-7")])
            .await
            .unwrap();
        let n = timeout(WAIT, notes.recv())
            .await
            .expect("notification timed out")
            .expect("stream ended");
        assert_eq!(n.channel, chan);
        assert_eq!(n.payload, "client-7");
        assert_eq!(n.process_id, sender.process_id());
        // Requests keep working after an asynchronous message arrived.
        assert_eq!(
            one_str(&listener, &ECHO, &[Some(b"4")]).await.as_deref(),
            Some("8")
        );
        listener.close().await;
        assert!(
            timeout(WAIT, notes.recv()).await.unwrap().is_none(),
            "stream ends on close"
        );
    });
}

/// pg_terminate_backend mid-pipeline: every waiter fails with Closed, at once.
#[test]
fn terminated_backend_fails_every_waiter_with_closed() {
    block_on(async {
        let victim = connect().await;
        let killer = connect().await;
        let sleep = Statement::new("t_sleep", "SELECT pg_sleep(30)", &[]);
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let c = victim.clone();
                monoio::spawn(async move { c.query(&sleep, &[]).await })
            })
            .collect();
        monoio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(victim.in_flight(), 10);
        let kill = Statement::new("t_kill", "SELECT pg_terminate_backend($1::int)", &[]);
        let pid = victim.process_id().to_string();
        assert_eq!(
            one_str(&killer, &kill, &[Some(pid.as_bytes())])
                .await
                .as_deref(),
            Some("t")
        );
        for h in handles {
            let e = timeout(WAIT, h).await.expect("waiter hung").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
        }
        assert!(victim.is_closed());
        assert_eq!(victim.in_flight(), 0);
        let e = victim.query(&ECHO, &[Some(b"1")]).await.unwrap_err();
        assert!(e.is_closed());
    });
}

async fn next_event(events: &mut local_sync::mpsc::unbounded::Rx<SessionEvent>) -> SessionEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("no session event")
        .expect("event stream ended")
}

/// The session reconnects by itself after its backend is killed, says so, and re-LISTENs.
#[test]
fn session_reconnects_and_relistens() {
    block_on(async {
        let chan: &'static str = Box::leak(unique_name("t_sess").into_boxed_str());
        let channels: &'static [&'static str] = Box::leak(Box::new([chan]));
        let session = Session::start(superuser(), channels);
        let mut events = session.events().expect("events");
        session.wait_connected(WAIT).await.unwrap();
        assert_eq!(next_event(&mut events).await, SessionEvent::Connected);
        assert_eq!(session.reconnects(), 0);
        assert_eq!(
            one_str(&session.client().unwrap(), &ECHO, &[Some(b"3")])
                .await
                .as_deref(),
            Some("6")
        );

        let killer = connect().await;
        let kill = Statement::new("t_kill", "SELECT pg_terminate_backend($1::int)", &[]);
        let pid = session.client().unwrap().process_id().to_string();
        killer.query(&kill, &[Some(pid.as_bytes())]).await.unwrap();
        match next_event(&mut events).await {
            // The server's own word for it (57P01), not the EOF that followed.
            SessionEvent::Disconnected { cause } => {
                assert!(cause.contains("terminating connection"), "{cause}")
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert_eq!(next_event(&mut events).await, SessionEvent::Connected);
        assert_eq!(session.reconnects(), 1);
        assert_ne!(session.client().unwrap().process_id().to_string(), pid);
        assert_eq!(session.execute(&ECHO, &[Some(b"1")]).await.unwrap(), 1);

        let notify = Statement::new("t_notify", "SELECT pg_notify($1, $2)", &[]);
        killer
            .query(&notify, &[Some(chan.as_bytes()), Some(b"*")])
            .await
            .unwrap();
        match next_event(&mut events).await {
            SessionEvent::Notification(n) => {
                assert_eq!((n.channel.as_str(), n.payload.as_str()), (chan, "*"))
            }
            other => panic!("expected a notification, got {other:?}"),
        }
        session.shutdown().await;
        assert!(!session.is_connected());
        assert!(
            session
                .query(&ECHO, &[Some(b"1")])
                .await
                .unwrap_err()
                .is_closed()
        );
    });
}

/// With the database unreachable, calls fail at once instead of waiting.
#[test]
fn session_against_unreachable_db_fails_fast_with_closed() {
    block_on(async {
        // Port 1 on localhost: nothing listens there.
        let cfg = superuser().with_host(Host::Tcp("127.0.0.1".into(), 1));
        let session = Session::start(cfg, &[]);
        let started = std::time::Instant::now();
        let e = session.query(&ECHO, &[Some(b"1")]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        let e = session
            .wait_connected(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(e.is_closed());
        assert!(session.client().is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!session.is_connected());
        session.shutdown().await;
    });
}

/// close() lets queued requests finish, then terminates.
#[test]
fn close_waits_for_queued_requests() {
    block_on(async {
        let c = connect().await;
        let handles: Vec<_> = (0..50u32)
            .map(|i| {
                let c = c.clone();
                monoio::spawn(async move {
                    let p = i.to_string();
                    c.query(&ECHO, &[Some(p.as_bytes())])
                        .await
                        .map(|r| r.row(0).get_str(0).map(str::to_owned))
                })
            })
            .collect();
        monoio::time::sleep(Duration::from_millis(1)).await;
        timeout(WAIT, c.close()).await.expect("close hung");
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), Some((i * 2).to_string()));
        }
        assert!(c.is_closed());
    });
}

/// Dropping every Session handle (without `shutdown`) stops the supervisor and ends the
/// connection: nothing leaks.
#[test]
fn dropped_session_closes_its_connection() {
    block_on(async {
        let app = unique_name("t_drop");
        let session = Session::start(superuser().with_application_name(&app), &[]);
        session.wait_connected(WAIT).await.unwrap();
        let watcher = connect().await;
        let count = Statement::new(
            "t_count_app",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[],
        );
        assert_eq!(
            one_str(&watcher, &count, &[Some(app.as_bytes())])
                .await
                .as_deref(),
            Some("1")
        );
        drop(session);
        let started = std::time::Instant::now();
        loop {
            if one_str(&watcher, &count, &[Some(app.as_bytes())])
                .await
                .as_deref()
                == Some("0")
            {
                break;
            }
            assert!(
                started.elapsed() < WAIT,
                "the dropped session's connection is still open"
            );
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// A session that cannot connect says why, at every attempt, and keeps trying.
#[test]
fn session_reports_why_it_cannot_connect() {
    block_on(async {
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("postgres://nobody@127.0.0.1:{closed_port}/none");
        let session = Session::start(PgConfig::parse(&url).unwrap(), &[]);
        let mut events = session.events().expect("events");
        for _ in 0..2 {
            match next_event(&mut events).await {
                SessionEvent::ConnectFailed { cause } => {
                    assert!(cause.contains("connect"), "{cause}")
                }
                other => panic!("expected ConnectFailed, got {other:?}"),
            }
        }
        assert!(!session.is_connected());
        session.shutdown().await;
    });
}
