//! Shared test harness: a real PostgreSQL (started by scripts/test.sh), the real `edgeauth`
//! binary, and raw HTTP over real sockets.
//!
//! Every test gets its own database (so tests run in parallel and repeatedly), its own data
//! directory and its own port. PostgreSQL is set up and inspected with `psql`, not with the
//! client under test.

#![allow(dead_code)]

pub mod jose;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_edgeauth");

/// Run a command that must succeed; its output, or a failure that shows its stderr.
pub fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// How often `eventually` looks again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Look until `check` answers `Ok`, at most `limit`; then fail, saying what was awaited and
/// the last thing `check` saw (its `Err`). With `poll_until`, the one poll loop of the suite.
pub fn eventually<T, E: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    check: impl FnMut() -> Result<T, E>,
) -> T {
    poll_until(limit, check)
        .unwrap_or_else(|last| panic!("{what}: not within {limit:?}; last seen: {last:?}"))
}

/// Look until `check` answers `Ok`, at most `limit`; its last answer either way.
pub fn poll_until<T, E>(limit: Duration, mut check: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Err(_) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
            answer => return answer,
        }
    }
}

/// `eventually` for a test running on a monoio runtime (`block_on`): it sleeps on the
/// runtime's timer, so the library's tasks run while it waits.
pub async fn eventually_async<T, E: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(done) => return done,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last seen: {last:?}")
            }
            Err(_) => monoio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// `Ok` when `condition` holds, else `Err` with what was seen: for `eventually`.
pub fn ok_if<T: std::fmt::Debug>(condition: bool, seen: T) -> Result<T, T> {
    if condition { Ok(seen) } else { Err(seen) }
}

/// A server's log file, read only when a failure prints it.
pub struct LogOf<'a>(pub &'a Path);

impl std::fmt::Debug for LogOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&std::fs::read_to_string(self.0).unwrap_or_default())
    }
}

/// Run a future on a small monoio runtime (epoll), for tests that drive the library's own
/// async code (the Postgres client, the batch writer).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    edgeauth::pg::block_on(f)
}

/// The sum over every sample of the Prometheus family `name` (all shards, all labels) in a
/// `/metrics` page.
pub fn metric_in(page: &str, name: &str) -> u64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let family = series.split('{').next()?;
            (family == name).then(|| value.parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

/// The superuser connection string of the test cluster.
pub fn admin_url() -> String {
    std::env::var("EDGEAUTH_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("EDGEAUTH_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
    })
}

pub fn psql_bin() -> PathBuf {
    match std::env::var("EDGEAUTH_TEST_PG_BINDIR") {
        Ok(dir) => Path::new(&dir).join("psql"),
        Err(_) => PathBuf::from("psql"),
    }
}

/// Run SQL with psql; returns unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new(psql_bin())
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-tA", "-d", url, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, migrated database.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let db = TestDb::empty();
        let out = db.edgeauth(&["migrate"]);
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db
    }

    pub fn empty() -> TestDb {
        let name = unique_name("edgeauth_t");
        psql(&admin_url(), &format!("CREATE DATABASE {name}"));
        let url = replace_dbname(&admin_url(), &name);
        TestDb { name, url }
    }

    pub fn psql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }

    /// Run an `edgeauth` subcommand against this database.
    pub fn edgeauth(&self, args: &[&str]) -> Output {
        self.edgeauth_with(args, &[])
    }

    /// `edgeauth` against this database, with more settings in its environment.
    pub fn edgeauth_with(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("EDGEAUTH_DATABASE_URL", &self.url)
            .env("EDGEAUTH_LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .output()
            .expect("edgeauth runs")
    }

    /// `edgeauth client add`; returns the secret.
    pub fn add_client(&self, id: &str, scopes: &str) -> String {
        self.add_client_with(id, &["--scopes", scopes])
    }

    pub fn add_client_with(&self, id: &str, extra: &[&str]) -> String {
        let mut args = vec!["client", "add", id];
        args.extend_from_slice(extra);
        let out = self.edgeauth(&args);
        assert!(
            out.status.success(),
            "client add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("client add prints JSON");
        assert_eq!(v["client_id"], id);
        v["client_secret"].as_str().unwrap().to_owned()
    }

    /// `edgeauth client add ARGS...` (the id first); its JSON output.
    pub fn add_client_raw(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["client", "add"];
        all.extend_from_slice(args);
        let out = self.edgeauth(&all);
        assert!(
            out.status.success(),
            "client add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("client add prints JSON")
    }

    /// Every jti in `tokens`.
    pub fn recorded_jtis(&self) -> std::collections::HashSet<String> {
        self.psql("SELECT jti FROM tokens")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The issued jti that are not in `tokens`.
    pub fn unrecorded<'a>(&self, issued: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
        let recorded = self.recorded_jtis();
        issued
            .into_iter()
            .filter(|j| !recorded.contains(*j))
            .collect()
    }

    pub fn token_rows(&self) -> i64 {
        self.psql("SELECT count(*) FROM tokens").parse().unwrap()
    }

    /// Tokens are written in batches after the response (durability = async): wait until
    /// `expected` rows are there, and no more appear.
    pub fn wait_token_rows(&self, expected: i64) -> i64 {
        let rows = poll_until(Duration::from_secs(10), || {
            let rows = self.token_rows();
            ok_if(rows >= expected, rows)
        });
        rows.unwrap_or_else(|rows| rows)
    }
}

fn replace_dbname(url: &str, db: &str) -> String {
    let mut parts: Vec<String> = url
        .split_whitespace()
        .filter(|p| !p.starts_with("dbname="))
        .map(str::to_owned)
        .collect();
    parts.push(format!("dbname={db}"));
    parts.join(" ")
}

/// A throwaway cluster of a test's own (scripts/pg.sh), for tests that stop and start
/// PostgreSQL or need a second one; stopped and removed when dropped.
pub struct OwnCluster {
    dir: PathBuf,
    port: u16,
}

impl OwnCluster {
    pub fn start() -> OwnCluster {
        let dir = std::env::temp_dir().join(unique_name("edgeauth-own-pg"));
        let cluster = OwnCluster {
            dir,
            port: free_port(),
        };
        cluster.pg(&[
            "start",
            cluster.dir.to_str().unwrap(),
            &cluster.port.to_string(),
        ]);
        cluster
    }

    fn pg(&self, args: &[&str]) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh");
        let out = Command::new(script).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pg.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn stop(&self) {
        self.pg(&["stop", self.dir.to_str().unwrap()]);
    }

    pub fn restart(&self) {
        self.pg(&["start", self.dir.to_str().unwrap(), &self.port.to_string()]);
    }

    /// A fresh, migrated database of this cluster.
    pub fn db(&self) -> TestDb {
        let db = self.empty_db();
        assert!(db.edgeauth(&["migrate"]).status.success());
        db
    }

    /// A fresh database of this cluster, not migrated.
    pub fn empty_db(&self) -> TestDb {
        let admin = self.pg(&["url", self.dir.to_str().unwrap(), &self.port.to_string()]);
        let name = unique_name("edgeauth_o");
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = admin.replace("dbname=postgres", &format!("dbname={name}"));
        TestDb { name, url }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Python of the venv scripts/test.sh prepares (`EDGEAUTH_TEST_PYTHON`, with the
/// packages of tests/interop/requirements.txt); a test that needs it fails without it.
/// A finished command's exit status and both streams, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stdout of a command that must have succeeded; `context` joins the failure message.
pub fn stdout_of(out: Output, context: &str) -> String {
    assert!(out.status.success(), "{}\n{context}", output_text(&out));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

pub fn test_python() -> Command {
    let python = std::env::var("EDGEAUTH_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("EDGEAUTH_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs tests/interop/requirements.txt")
    });
    Command::new(python)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `edgeauth serve`.
pub struct Server {
    pub child: Child,
    /// The plain listener: `listen`, or `plain_listen` when `listen` speaks TLS.
    pub addr: SocketAddr,
    /// `listen` when it speaks TLS.
    pub tls_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
}

impl Server {
    pub fn start(db: &TestDb) -> Server {
        Server::start_with(db, &[])
    }

    /// Start with extra `EDGEAUTH_*` settings; waits until every shard answers /healthz.
    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Server::spawn(db, env, None)
    }

    /// Start with `listen` speaking TLS with `cert` (and a `plain_listen` for `addr`).
    pub fn start_tls(db: &TestDb, cert: &tls::CertFiles, env: &[(&str, &str)]) -> Server {
        let tls_addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cert_path = cert.cert.to_str().unwrap();
        let key_path = cert.key.to_str().unwrap();
        let mut env = env.to_vec();
        env.extend([
            ("EDGEAUTH_TLS_CERT", cert_path),
            ("EDGEAUTH_TLS_KEY", key_path),
        ]);
        Server::spawn(db, &env, Some(tls_addr))
    }

    /// The default issuer: `http://` and `listen`, or `https://` with TLS.
    pub fn issuer(&self) -> String {
        match self.tls_addr {
            Some(addr) => format!("https://{addr}"),
            None => format!("http://{}", self.addr),
        }
    }

    fn spawn(db: &TestDb, env: &[(&str, &str)], tls_addr: Option<SocketAddr>) -> Server {
        let data_dir = std::env::temp_dir().join(unique_name("edgeauth-data"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log_path = data_dir.join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("EDGEAUTH_DATABASE_URL", &db.url)
            .env("EDGEAUTH_LISTEN", tls_addr.unwrap_or(addr).to_string())
            .env("EDGEAUTH_DATA_DIR", &data_dir)
            .env("EDGEAUTH_SHARDS", "2")
            // Batches go out quickly, so tests need not wait 5 s for their rows.
            .env("EDGEAUTH_FLUSH_INTERVAL", "20ms")
            .env("EDGEAUTH_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if tls_addr.is_some() {
            cmd.env("EDGEAUTH_PLAIN_LISTEN", addr.to_string());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("edgeauth serve starts");
        let mut server = Server {
            child,
            addr,
            tls_addr,
            data_dir,
            log_path,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let addr = self.addr;
        let child = &mut self.child;
        let log_path = &self.log_path;
        eventually("server healthy", Duration::from_secs(30), || {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                panic!("edgeauth exited early ({status}): {log}");
            }
            let healthz = try_request(addr, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
            match healthz {
                Ok(r) if r.status == 200 => Ok(()),
                _ => Err(LogOf(log_path)),
            }
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn signal(&self, signal: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = &mut self.child;
        let log = LogOf(&self.log_path);
        let status = eventually("server exit", limit, || {
            child.try_wait().unwrap().ok_or(&log)
        });
        status.code()
    }

    pub fn request(&self, raw: &[u8]) -> Response {
        try_request(self.addr, raw)
            .unwrap_or_else(|e| panic!("request failed: {e}\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
    }

    /// POST /oauth/token with HTTP Basic and a form body.
    pub fn token_basic(&self, id: &str, secret: &str, form: &str) -> Response {
        self.request(&token_request_basic(id, secret, form))
    }

    pub fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }

    /// The server process's resident memory, from `/proc`.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    /// `metric_in` over this server's `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        metric_in(&String::from_utf8_lossy(&r.body), name)
    }

    /// A token for the client (Basic, client_credentials), or the refusal's status.
    pub fn access_token(&self, id: &str, secret: &str) -> Result<String, u16> {
        let r = self.token_basic(id, secret, "grant_type=client_credentials");
        match r.status {
            200 => Ok(r.json()["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned()),
            status => Err(status),
        }
    }

    /// The JWKS, for verifying tokens as a resource server would.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        let r = self.get("/.well-known/jwks.json");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).expect("JWKS parses")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

pub fn token_request_basic(id: &str, secret: &str, form: &str) -> Vec<u8> {
    format!(
        "POST /oauth/token HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        basic_auth(id, secret),
        form.len()
    )
    .into_bytes()
}

/// A token request with this form body and no Authorization header.
pub fn token_form(body: &str) -> Vec<u8> {
    post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        body,
        "",
    )
}

pub fn post(path: &str, content_type: &str, body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\n{extra_headers}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

pub fn try_request(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Response> {
    let mut conn = Conn::try_new(addr)?;
    conn.send(raw)?;
    conn.read_response()
}

/// A keep-alive connection speaking raw bytes.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn::try_new(addr).expect("connect")
    }

    pub fn try_new(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    pub fn send(&mut self, raw: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(raw)
    }

    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw).expect("send");
        self.read_response().expect("response")
    }

    pub fn read_response(&mut self) -> std::io::Result<Response> {
        read_response_from(&mut self.reader)
    }

    /// True when the server has closed the connection (EOF within the timeout).
    pub fn is_closed_by_peer(&mut self, within: Duration) -> bool {
        self.reader
            .get_ref()
            .set_read_timeout(Some(within))
            .unwrap();
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0))
            || matches!(self.reader.read(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }
}

/// One response from `reader`: status line, headers, and a `Content-Length` body.
pub fn read_response_from(reader: &mut impl BufRead) -> std::io::Result<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| std::io::Error::other("bad header"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Verify an access token against the server's JWKS, as a resource server would.
pub fn verify(
    server: &Server,
    token: &str,
    audience: &str,
) -> jsonwebtoken::TokenData<serde_json::Value> {
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.clone().expect("kid");
    let jwks = server.jwks();
    let jwk = jwks.find(&kid).expect("the kid is published in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("JWK to key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[server.issuer()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    jsonwebtoken::decode(token, &key, &validation).expect("token verifies")
}

/// The `jti` of a token response (read without verifying: the test only needs the id).
pub fn jti_of(r: &Response) -> String {
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    claims["jti"].as_str().unwrap().to_owned()
}
