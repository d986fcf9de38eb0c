//! The `pg` client over TLS, against a real PostgreSQL that demands it, and against small
//! fake servers that misbehave on purpose.
//!
//! `TlsCluster` is a throwaway cluster of this file's own (initdb as `postgres` when run as
//! root, as scripts/pg.sh does): `ssl=on` with a server certificate for `localhost` and
//! 127.0.0.1 from a throwaway CA (rcgen), and a pg_hba.conf that takes TCP over TLS only
//! (`hostssl` lines, `hostnossl ... reject`). Its scenarios run one after another in one
//! test, since a cluster costs seconds to start. The `sslmode=require`-against-plain test
//! uses the suite's own cluster (scripts/test.sh), which has `ssl=off`.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, TestDb, block_on, free_port, unique_name};
use edgeauth::pg::{Client, Error, ErrorKind, PgConfig, Statement};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const WAIT: Duration = Duration::from_secs(20);
const WHO: Statement = Statement::new("t_who", "SELECT current_user", &[]);
const SSL_IN_USE: Statement = Statement::new(
    "t_ssl",
    "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    &[],
);
const ECHO: Statement = Statement::new("t_echo", "SELECT $1::text", &[0]);
const TLS_VERSION: Statement = Statement::new(
    "t_tls_version",
    "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    &[],
);
/// The certificate and key Citus 13 made for a node it set up (`citus.node_conninfo` asks
/// for `sslmode=require`): X.509 v1, valid from one second to the same second. A test key,
/// nothing else ever trusted it.
const CITUS_CERT: &str = include_str!("data/citus-auto-ssl.crt");
const CITUS_KEY: &str = include_str!("data/citus-auto-ssl.key");

/// A CA that signs, and where its certificate is written.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A leaf certificate and its key (PEM) for `names` (subject alternative names) and a
    /// common name, for server or client use.
    fn leaf(&self, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The superuser of a fresh cluster: `postgres` when initdb runs as that user (we are
/// root), else whoever we are.
fn superuser() -> String {
    if running_as_root() {
        "postgres".to_owned()
    } else {
        std::env::var("USER").expect("USER is set")
    }
}

fn pg_bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("EDGEAUTH_TEST_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
        .arg("bindir")
        .output()
        .expect("scripts/pg.sh runs");
    assert!(out.status.success(), "scripts/pg.sh bindir failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs a PostgreSQL program as the cluster's owner.
fn as_owner(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).output().expect("a PostgreSQL program runs")
}

fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A cluster of our own that speaks TLS only, and the client-side files to reach it.
struct TlsCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The CA that signed the server's certificate (and the client's).
    ca_file: PathBuf,
    /// A CA that signed nothing the server shows.
    other_ca_file: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

const HBA: &str = "\
local     all tls_scram              scram-sha-256
local     all all                    trust
hostssl   all tls_cert  127.0.0.1/32 cert
hostssl   all tls_clear 127.0.0.1/32 password
hostssl   all all       127.0.0.1/32 scram-sha-256
hostnossl all all       127.0.0.1/32 reject
";

impl TlsCluster {
    fn start() -> TlsCluster {
        let dir = std::env::temp_dir().join(unique_name("edgeauth-tls-pg"));
        let client_dir = dir.join("client");
        std::fs::create_dir_all(&client_dir).unwrap();
        let cluster = TlsCluster {
            port: free_port(),
            bin: pg_bindir(),
            ca_file: client_dir.join("ca.crt"),
            other_ca_file: client_dir.join("other-ca.crt"),
            client_cert: client_dir.join("client.crt"),
            client_key: client_dir.join("client.key"),
            dir,
        };
        if running_as_root() {
            let chown = Command::new("chown")
                .args(["postgres:postgres", cluster.dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let data = cluster.data();
        let out = as_owner(
            &cluster.bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                &superuser(),
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        cluster.write_certificates();
        cluster.write_settings();
        let out = as_owner(
            &cluster.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                cluster.dir.join("postgres.log").to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}\n{}",
            cluster.log()
        );
        cluster.create_roles();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// Server files go into the data directory, owned by the server's user; client files
    /// into `client/`, the key 0600 (libpq's rule, which the client enforces).
    fn write_certificates(&self) {
        let ca = Ca::new("edgeauth test CA");
        let other = Ca::new("some other CA");
        let (server_cert, server_key) = ca.leaf(
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            ca.leaf(&[], "tls_cert", ExtendedKeyUsagePurpose::ClientAuth);
        let data = self.data();
        write_file(&data.join("server.crt"), &server_cert, 0o644);
        write_file(&data.join("server.key"), &server_key, 0o600);
        write_file(&data.join("client-ca.crt"), &ca.pem, 0o644);
        write_file(&self.ca_file, &ca.pem, 0o644);
        write_file(&self.other_ca_file, &other.pem, 0o644);
        write_file(&self.client_cert, &client_cert, 0o644);
        write_file(&self.client_key, &client_key, 0o600);
        if running_as_root() {
            for f in ["server.crt", "server.key", "client-ca.crt"] {
                let path = data.join(f);
                let ok = Command::new("chown")
                    .args(["postgres:postgres", path.to_str().unwrap()])
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
    }

    fn write_settings(&self) {
        let conf = format!(
            "listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{dir}'\n\
             max_connections = 20\n\
             shared_buffers = 16MB\n\
             fsync = off\n\
             password_encryption = 'scram-sha-256'\n\
             ssl = on\n\
             ssl_cert_file = 'server.crt'\n\
             ssl_key_file = 'server.key'\n\
             ssl_ca_file = 'client-ca.crt'\n",
            port = self.port,
            dir = self.dir.display(),
        );
        let path = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
        std::fs::write(self.data().join("pg_hba.conf"), HBA).unwrap();
    }

    fn create_roles(&self) {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.unix_url(&superuser()),
            ])
            .args([
                "-c",
                "CREATE ROLE tls_scram LOGIN PASSWORD 'scram pw'",
                "-c",
                "CREATE ROLE tls_clear LOGIN PASSWORD 'clear pw'",
                "-c",
                "CREATE ROLE tls_cert LOGIN",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "create roles: {out:?}");
    }

    /// Runs SQL over the unix socket as the superuser (trust); unaligned, tuples only.
    fn psql_as_superuser(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    fn psql_in(&self, dbname: &str, sql: &str) -> String {
        let url = format!(
            "host={} port={} user={} dbname={dbname}",
            self.dir.display(),
            self.port,
            superuser()
        );
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-tA"])
            .args(["-d", &url, "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn unix_url(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// A TCP connection string for `user` with `extra` parameters (key=value form).
    fn tcp(&self, user: &str, password: Option<&str>, extra: &str) -> PgConfig {
        let pw = password
            .map(|p| format!(" password='{p}'"))
            .unwrap_or_default();
        PgConfig::parse(&format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres{pw} {extra}",
            self.port
        ))
        .unwrap()
    }

    fn ca(&self) -> String {
        format!("sslrootcert={}", self.ca_file.display())
    }

    /// The server's certificate and key files and its highest TLS version, as they were.
    fn tls_setup(&self) -> (String, String, String) {
        let read = |f: &str| std::fs::read_to_string(self.data().join(f)).unwrap();
        let version = self.psql_as_superuser("SHOW ssl_max_protocol_version");
        (read("server.crt"), read("server.key"), version)
    }

    /// Makes the server show `cert` (with `key`) and offer TLS up to `max_version` ('' for
    /// no limit) to connections made from now on.
    fn set_tls_setup(&self, (cert, key, max_version): (&str, &str, &str)) {
        let data = self.data();
        write_file(&data.join("server.crt"), cert, 0o644);
        write_file(&data.join("server.key"), key, 0o600);
        if running_as_root() {
            for f in ["server.crt", "server.key"] {
                let ok = Command::new("chown")
                    .args(["postgres:postgres", data.join(f).to_str().unwrap()])
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
        self.psql_as_superuser(&format!(
            "ALTER SYSTEM SET ssl_max_protocol_version = '{max_version}'"
        ));
        self.psql_as_superuser("SELECT pg_reload_conf()");
        // The postmaster reloads the settings and the certificate together, before it
        // starts the next backend: once a new session sees the setting, it has both.
        let seen = common::poll_until(WAIT, || {
            let now = self.psql_as_superuser("SHOW ssl_max_protocol_version");
            common::ok_if(now == max_version, now)
        });
        assert_eq!(seen.as_deref(), Ok(max_version), "{}", self.log());
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = as_owner(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn connect(cfg: &PgConfig) -> Result<Client, Error> {
    monoio::time::timeout(WAIT, Client::connect(cfg))
        .await
        .expect("connect timed out")
}

async fn who(cfg: &PgConfig) -> String {
    let c = connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    let rows = c.query(&WHO, &[]).await.expect("query");
    let user = rows.row(0).get_str(0).unwrap().to_owned();
    c.close().await;
    user
}

async fn refused(cfg: &PgConfig) -> Error {
    match connect(cfg).await {
        Ok(_) => panic!("{cfg:?} connected, but should not have"),
        Err(e) => e,
    }
}

fn assert_says(e: &Error, kind: ErrorKind, words: &[&str]) {
    let text = e.to_string();
    assert_eq!(e.kind(), kind, "{text}");
    for w in words {
        assert!(text.contains(w), "{text:?} does not say {w:?}");
    }
}

/// One cluster, every scenario in turn (each a function named for what it shows).
#[test]
fn against_a_server_that_demands_tls() {
    let cluster = TlsCluster::start();
    block_on(async {
        verify_full_over_tcp(&cluster).await;
        the_tls_stream_carries_large_and_pipelined_traffic(&cluster).await;
        wrong_host_name_fails_verify_full_only(&cluster).await;
        another_ca_is_not_trusted(&cluster).await;
        no_tls_is_refused_by_the_server(&cluster).await;
        channel_binding(&cluster).await;
        client_certificate(&cluster).await;
        require_auth(&cluster).await;
        a_terminated_backend_closes_the_tls_connection(&cluster).await;
        a_certificate_only_libpq_would_accept(&cluster).await;
    });
    // The shards run on io_uring: the TLS halves must work on that driver as well.
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("an io_uring runtime")
        .block_on(the_tls_stream_carries_large_and_pipelined_traffic(&cluster));
    edgeauth_itself_connects_over_tls(&cluster);
}

/// The `database_url` setting carries the TLS and authentication parameters to every
/// connection edgeauth makes: `migrate` and `client add` (the CLI) and `serve` (start-up
/// check and every shard), which then issues a token whose row lands over TLS.
fn edgeauth_itself_connects_over_tls(cluster: &TlsCluster) {
    cluster.psql_as_superuser("CREATE DATABASE edgeauth_tls OWNER tls_scram");
    let url = format!(
        "postgres://tls_scram:scram%20pw@127.0.0.1:{}/edgeauth_tls?sslmode=verify-full\
         &sslrootcert={}&channel_binding=require&require_auth=scram-sha-256",
        cluster.port,
        cluster.ca_file.display()
    );
    let db = TestDb {
        name: "edgeauth_tls".to_owned(),
        url,
    };
    let out = db.edgeauth(&["migrate"]);
    assert!(out.status.success(), "migrate: {out:?}");
    let secret = db.add_client("over-tls", "read");
    let server = Server::start_with(&db, &[("EDGEAUTH_SHARDS", "1")]);
    assert!(
        server.access_token("over-tls", &secret).is_ok(),
        "{}",
        server.log()
    );
    let tls_sessions = cluster.psql_as_superuser(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND datname = 'edgeauth_tls' AND application_name = 'edgeauth'",
    );
    assert_ne!(tls_sessions, "0", "no shard connection uses TLS");
    let plain_sessions = cluster.psql_as_superuser(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE NOT ssl AND datname = 'edgeauth_tls'",
    );
    assert_eq!(plain_sessions, "0");
    let rows = common::poll_until(WAIT, || {
        let n = cluster.psql_in("edgeauth_tls", "SELECT count(*) FROM tokens");
        common::ok_if(n == "1", n)
    });
    assert_eq!(rows.as_deref(), Ok("1"), "{}", server.log());

    // A root file that cannot be read is not a database that is away: `serve` stops at
    // once with the reason, rather than serving 503 for ever.
    let broken = db.url.replace(
        &format!("sslrootcert={}", cluster.ca_file.display()),
        "sslrootcert=/nonexistent/root.crt",
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new(common::BIN)
        .arg("serve")
        .env("EDGEAUTH_DATABASE_URL", &broken)
        .env(
            "EDGEAUTH_LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env(
            "EDGEAUTH_DATA_DIR",
            std::env::temp_dir().join(common::unique_name("pgtls-data")),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("/nonexistent/root.crt"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// verify-full to 127.0.0.1 (an IP in the certificate) and to `localhost` (a DNS name) via
/// hostaddr; the server agrees that the session is encrypted.
async fn verify_full_over_tcp(cluster: &TlsCluster) {
    let full = format!("sslmode=verify-full {}", cluster.ca());
    let cfg = cluster.tcp("tls_scram", Some("scram pw"), &full);
    let c = connect(&cfg).await.expect("verify-full");
    let rows = c.query(&SSL_IN_USE, &[]).await.expect("pg_stat_ssl");
    assert_eq!(rows.row(0).get_str(0), Some("true"));
    c.close().await;
    let by_name = format!("{full} host=localhost hostaddr=127.0.0.1");
    let cfg = cluster.tcp("tls_scram", Some("scram pw"), &by_name);
    assert_eq!(who(&cfg).await, "tls_scram");
    // The default mode (prefer) takes TLS when offered; require without roots checks nothing.
    assert_eq!(
        who(&cluster.tcp("tls_scram", Some("scram pw"), "")).await,
        "tls_scram"
    );
    let cfg = cluster.tcp("tls_scram", Some("scram pw"), "sslmode=require");
    assert_eq!(who(&cfg).await, "tls_scram");
}

/// Results bigger than a TLS record, parameters bigger than rustls's send buffer, and many
/// requests in flight at once: the reader and writer halves work side by side.
async fn the_tls_stream_carries_large_and_pipelined_traffic(cluster: &TlsCluster) {
    let cfg = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        &format!("sslmode=verify-full {}", cluster.ca()),
    );
    let c = connect(&cfg).await.expect("connect");
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let rows = c.query(&ECHO, &[Some(big.as_bytes())]).await.expect("echo");
    assert_eq!(rows.row(0).get_str(0), Some(big.as_str()));
    let mut handles = Vec::new();
    for i in 0..500u32 {
        let c = c.clone();
        handles.push(monoio::spawn(async move {
            let p = i.to_string();
            let rows = c.query(&ECHO, &[Some(p.as_bytes())]).await.expect("query");
            (p, rows.row(0).get_str(0).map(str::to_owned))
        }));
    }
    for h in handles {
        let (sent, got) = h.await;
        assert_eq!(Some(sent), got);
    }
    c.close().await;
}

/// The server ends the session (an administrator's pg_terminate_backend): its FATAL
/// arrives through TLS, and the connection reports it as the cause of closing.
async fn a_terminated_backend_closes_the_tls_connection(cluster: &TlsCluster) {
    const PID: Statement = Statement::new("t_pid", "SELECT pg_backend_pid()::text", &[]);
    let cfg = cluster.tcp("tls_scram", Some("scram pw"), "sslmode=require");
    let c = connect(&cfg).await.expect("connect");
    let rows = c.query(&PID, &[]).await.expect("pid");
    let pid = rows.row(0).get_str(0).unwrap().to_owned();
    let out = Command::new(cluster.bin.join("psql"))
        .args(["-X", "-tA", "-d", &cluster.unix_url(&superuser())])
        .args(["-c", &format!("SELECT pg_terminate_backend({pid})")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let closed = monoio::time::timeout(WAIT, async {
        while !c.is_closed() {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection did not notice the termination"
    );
    let cause = c.closed_cause().unwrap_or_default();
    assert!(cause.contains("57P01"), "{cause}");
    let Err(e) = c.query(&PID, &[]).await else {
        panic!("a closed connection answered");
    };
    assert!(e.is_closed(), "{e}");
}

/// A certificate for `localhost` and 127.0.0.1 reached as `wrong.example`: verify-full
/// refuses it and says why; verify-ca checks the chain only and connects.
async fn wrong_host_name_fails_verify_full_only(cluster: &TlsCluster) {
    let wrong = "host=wrong.example hostaddr=127.0.0.1";
    let cfg = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        &format!("sslmode=verify-full {} {wrong}", cluster.ca()),
    );
    let e = refused(&cfg).await;
    assert_says(&e, ErrorKind::Auth, &["certificate", "wrong.example"]);
    let cfg = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        &format!("sslmode=verify-ca {} {wrong}", cluster.ca()),
    );
    assert_eq!(who(&cfg).await, "tls_scram");
}

/// Roots from another CA: verify-ca refuses, and so does require (a root file present makes
/// require check the chain, as in libpq). verify-ca without any root is a setting error.
async fn another_ca_is_not_trusted(cluster: &TlsCluster) {
    let other = format!("sslrootcert={}", cluster.other_ca_file.display());
    for mode in ["verify-ca", "verify-full", "require"] {
        let cfg = cluster.tcp(
            "tls_scram",
            Some("scram pw"),
            &format!("sslmode={mode} {other}"),
        );
        let e = refused(&cfg).await;
        assert_says(&e, ErrorKind::Auth, &["certificate", "UnknownIssuer"]);
    }
    let missing = "sslmode=verify-ca sslrootcert=/nonexistent/root.crt";
    let e = refused(&cluster.tcp("tls_scram", Some("scram pw"), missing)).await;
    assert_says(
        &e,
        ErrorKind::Config,
        &["sslrootcert=/nonexistent/root.crt"],
    );
}

/// `require` without roots takes any certificate, as libpq does, even one webpki will not
/// parse as an end-entity's: the one Citus makes for every node (`CITUS_CERT`). The
/// handshake signature is still checked with its key, over TLS 1.3 and TLS 1.2, and channel
/// binding to it works. `verify-ca` refuses it.
async fn a_certificate_only_libpq_would_accept(cluster: &TlsCluster) {
    let (cert, key, max_version) = cluster.tls_setup();
    let require = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        "sslmode=require channel_binding=require",
    );
    for version in ["TLSv1.3", "TLSv1.2"] {
        cluster.set_tls_setup((CITUS_CERT, CITUS_KEY, version));
        let c = connect(&require)
            .await
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        let rows = c.query(&TLS_VERSION, &[]).await.expect("pg_stat_ssl");
        assert_eq!(rows.row(0).get_str(0), Some(version));
        c.close().await;
    }
    let verify_ca = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        &format!("sslmode=verify-ca {}", cluster.ca()),
    );
    let e = refused(&verify_ca).await;
    assert_says(&e, ErrorKind::Auth, &["certificate"]);
    cluster.set_tls_setup((&cert, &key, &max_version));
    assert_eq!(who(&require).await, "tls_scram");
}

/// sslmode=disable reaches only the `hostnossl ... reject` line: the server's refusal says so.
async fn no_tls_is_refused_by_the_server(cluster: &TlsCluster) {
    let cfg = cluster.tcp("tls_scram", Some("scram pw"), "sslmode=disable");
    let e = refused(&cfg).await;
    assert_says(&e, ErrorKind::Auth, &["no encryption"]);
    assert_eq!(e.code(), Some("28000"));
}

/// channel_binding=require: SCRAM-SHA-256-PLUS over TLS works (the server checks the
/// binding against its own certificate); over the unix socket, where there is no TLS, it is
/// refused before a password is sent. channel_binding=disable over TLS uses plain SCRAM.
async fn channel_binding(cluster: &TlsCluster) {
    let cfg = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        &format!(
            "sslmode=verify-full {} channel_binding=require",
            cluster.ca()
        ),
    );
    assert_eq!(who(&cfg).await, "tls_scram");
    let cfg = cluster.tcp(
        "tls_scram",
        Some("scram pw"),
        "sslmode=require channel_binding=disable",
    );
    assert_eq!(who(&cfg).await, "tls_scram");
    let wrong = cluster.tcp("tls_scram", Some("wrong"), "channel_binding=require");
    assert_eq!(refused(&wrong).await.code(), Some("28P01"));
    let unix = PgConfig::parse(&format!(
        "{} password='scram pw' channel_binding=require",
        cluster.unix_url("tls_scram")
    ))
    .unwrap();
    let e = refused(&unix).await;
    assert_says(&e, ErrorKind::Auth, &["channel_binding=require", "not TLS"]);
    // Without the requirement the same socket login works (plain SCRAM).
    let unix = PgConfig::parse(&format!(
        "{} password='scram pw'",
        cluster.unix_url("tls_scram")
    ))
    .unwrap();
    assert_eq!(who(&unix).await, "tls_scram");
}

/// pg_hba `cert`: the client certificate (CN=tls_cert) is the login; without it the server
/// refuses.
async fn client_certificate(cluster: &TlsCluster) {
    let with_cert = format!(
        "sslmode=verify-full {} sslcert={} sslkey={}",
        cluster.ca(),
        cluster.client_cert.display(),
        cluster.client_key.display()
    );
    assert_eq!(
        who(&cluster.tcp("tls_cert", None, &with_cert)).await,
        "tls_cert"
    );
    let without = format!("sslmode=verify-full {}", cluster.ca());
    let e = refused(&cluster.tcp("tls_cert", None, &without)).await;
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert_eq!(e.code(), Some("28000"), "{e}");
    let no_key = format!(
        "sslcert={} sslkey=/nonexistent.key",
        cluster.client_cert.display()
    );
    let e = refused(&cluster.tcp("tls_cert", None, &no_key)).await;
    assert_says(&e, ErrorKind::Config, &["sslkey=/nonexistent.key"]);
}

/// require_auth: a `password` hba line is refused under scram-sha-256 (before the password
/// leaves us) and under !password, accepted by default and under password; trust over the
/// unix socket is refused when `none` is not allowed.
async fn require_auth(cluster: &TlsCluster) {
    let clear = |extra: &str| cluster.tcp("tls_clear", Some("clear pw"), extra);
    for setting in [
        "require_auth=scram-sha-256",
        "require_auth=!password",
        "require_auth=md5,none",
    ] {
        let e = refused(&clear(setting)).await;
        assert_says(&e, ErrorKind::Auth, &["require_auth", "password"]);
    }
    assert_eq!(who(&clear("")).await, "tls_clear");
    assert_eq!(who(&clear("require_auth=password")).await, "tls_clear");
    assert_eq!(
        who(&cluster.tcp("tls_scram", Some("scram pw"), "require_auth=scram-sha-256")).await,
        "tls_scram"
    );
    let su = superuser();
    let trust =
        |extra: &str| PgConfig::parse(&format!("{} {extra}", cluster.unix_url(&su))).unwrap();
    let e = refused(&trust("require_auth=scram-sha-256")).await;
    assert_says(
        &e,
        ErrorKind::Auth,
        &["without authentication", "require_auth=scram-sha-256"],
    );
    assert_eq!(who(&trust("require_auth=!password")).await, su);
}

/// The suite's own cluster runs with `ssl=off`: `sslmode=require` is refused with an error
/// that names the setting, `prefer` falls back to plain, as libpq does.
#[test]
fn require_against_a_server_without_tls() {
    let port: u16 = std::env::var("EDGEAUTH_TEST_PG_PORT")
        .expect("EDGEAUTH_TEST_PG_PORT is not set: run the tests via scripts/test.sh")
        .parse()
        .unwrap();
    let url = |mode: &str| {
        PgConfig::parse(&format!(
            "host=127.0.0.1 port={port} user={} dbname=postgres sslmode={mode}",
            superuser()
        ))
        .unwrap()
    };
    block_on(async {
        let e = refused(&url("require")).await;
        assert_says(
            &e,
            ErrorKind::Auth,
            &["does not offer TLS", "sslmode=require"],
        );
        let e = refused(&url("verify-full")).await;
        // verify-full wants a root certificate before it asks the server anything.
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let c = connect(&url("prefer"))
            .await
            .expect("prefer falls back to plain");
        let rows = c.query(&SSL_IN_USE, &[]).await.expect("pg_stat_ssl");
        assert_eq!(rows.row(0).get_str(0), Some("false"));
        c.close().await;
    });
}

/// A fake server on 127.0.0.1 that plays `script` against the first connection: it reads
/// what the client sends (until `expect_bytes` arrived) and writes each answer in one write.
/// Returns everything it read, after the client has gone.
fn fake_server(script: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut seen = Vec::new();
        for answer in script {
            // Each step answers one client message (SSLRequest, StartupMessage, SASL ...).
            read_message(&mut sock, &mut seen);
            sock.write_all(&answer).unwrap();
        }
        // Whatever else the client sends until it closes.
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest);
        seen.extend(rest);
        seen
    });
    (port, handle)
}

/// Reads one frontend message: untagged (SSLRequest, StartupMessage) if it starts with a
/// zero length byte, else tag + length.
fn read_message(sock: &mut std::net::TcpStream, seen: &mut Vec<u8>) {
    let mut head = [0u8; 5];
    sock.read_exact(&mut head[..4]).unwrap();
    let (len, header) = if head[0] == 0 {
        (
            u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize,
            4,
        )
    } else {
        sock.read_exact(&mut head[4..]).unwrap();
        (
            u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize + 1,
            5,
        )
    };
    let mut body = vec![0u8; len - header];
    sock.read_exact(&mut body).unwrap();
    seen.extend_from_slice(&head[..header]);
    seen.extend(body);
}

/// An Authentication message ('R') with its code and payload.
fn auth(code: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![b'R'];
    m.extend(((8 + payload.len()) as u32).to_be_bytes());
    m.extend(code.to_be_bytes());
    m.extend(payload);
    m
}

const SASL: u32 = 10;
const CLEARTEXT: u32 = 3;
const OK: u32 = 0;

fn fake_config(port: u16, extra: &str) -> PgConfig {
    PgConfig::parse(&format!(
        "host=127.0.0.1 port={port} user=u dbname=d password=hunter2 {extra}"
    ))
    .unwrap()
}

/// Bytes after the server's 'S' came before any encryption: someone may be injecting them,
/// so the client refuses to start TLS over them (CVE-2021-23222).
#[test]
fn bytes_after_the_tls_yes_are_refused() {
    let (port, server) = fake_server(vec![b"SRfake".to_vec()]);
    let e = block_on(refused(&fake_config(port, "sslmode=require")));
    assert_says(
        &e,
        ErrorKind::Protocol,
        &["unencrypted bytes after agreeing to TLS"],
    );
    let seen = server.join().unwrap();
    assert_eq!(
        &seen[..8],
        &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
        "SSLRequest"
    );
    assert_eq!(
        seen.len(),
        8,
        "the client sent nothing after the SSLRequest"
    );
}

/// A server that starts SCRAM and then asks for the cleartext password (a man in the
/// middle's downgrade) gets no password.
#[test]
fn scram_cannot_be_downgraded_to_a_cleartext_password() {
    let sasl = auth(SASL, b"SCRAM-SHA-256\0\0");
    let (port, server) = fake_server(vec![sasl, auth(CLEARTEXT, b"")]);
    let e = block_on(refused(&fake_config(port, "sslmode=disable")));
    assert_says(&e, ErrorKind::Auth, &["second authentication method"]);
    let seen = server.join().unwrap();
    assert!(
        !seen.windows(7).any(|w| w == b"hunter2"),
        "the password went out: {:?}",
        String::from_utf8_lossy(&seen)
    );
}

/// A server that starts SCRAM and then says AuthenticationOk without SASLFinal has not
/// proved it knows the password: refused.
#[test]
fn authentication_ok_before_scram_finishes_is_refused() {
    let sasl = auth(SASL, b"SCRAM-SHA-256\0\0");
    let (port, server) = fake_server(vec![sasl, auth(OK, b"")]);
    let e = block_on(refused(&fake_config(port, "sslmode=disable")));
    assert_says(&e, ErrorKind::Auth, &["SCRAM unfinished"]);
    server.join().unwrap();
}

/// The cleartext request alone, when require_auth does not list `password`: refused, and
/// the password stays home.
#[test]
fn require_auth_keeps_the_password_from_a_cleartext_request() {
    let (port, server) = fake_server(vec![auth(CLEARTEXT, b"")]);
    let e = block_on(refused(&fake_config(
        port,
        "sslmode=disable require_auth=scram-sha-256",
    )));
    assert_says(&e, ErrorKind::Auth, &["require_auth=scram-sha-256"]);
    let seen = server.join().unwrap();
    assert!(!seen.windows(7).any(|w| w == b"hunter2"));
}

/// A server (or someone in between) that lets us in and then asks for the password anyway
/// gets nothing: authentication is over at AuthenticationOk.
#[test]
fn no_password_after_authentication_ok() {
    let answer = [auth(OK, b""), auth(CLEARTEXT, b"")].concat();
    let (port, server) = fake_server(vec![answer]);
    let e = block_on(refused(&fake_config(port, "sslmode=disable")));
    assert_says(&e, ErrorKind::Protocol, &["after AuthenticationOk"]);
    let seen = server.join().unwrap();
    assert!(!seen.windows(7).any(|w| w == b"hunter2"));
}
