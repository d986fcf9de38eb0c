//! Every setting, declared once: [`SETTINGS`] holds one entry per setting — its name, unit,
//! help, how its text becomes a typed, bounded value of [`Config`], and how that value is
//! shown. Everything else follows from the table: the `--flag`, the `EDGEAUTH_<NAME>`
//! environment variable (both through clap, `cli`), the key of the TOML file, validation,
//! the default shown in `--help`, the start-up log line, and the reference table
//! ([`reference`]). Defaults are [`Config::default`], built from `limits`.
//!
//! Precedence: flags > environment > TOML file (`--config`) > defaults. Values are parsed
//! once, here, so nothing downstream parses a duration or an address again.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::limits;
use crate::log::Level;
use crate::rate::Rate;

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

/// Which monoio driver the shards run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDriver {
    /// io_uring when the kernel allows it, epoll otherwise.
    Auto,
    IoUring,
    Epoll,
}

/// The validated configuration. `Debug` shows no secret.
#[derive(Clone)]
pub struct Config {
    /// Unset: the commands that need a database say so.
    pub database_url: Option<String>,
    /// Where token rows are written; unset: `database_url`.
    pub tokens_database_url: Option<String>,
    pub listen: SocketAddr,
    /// When set, `/metrics` and `/admin/*` are served here only (404 on `listen`).
    pub admin_listen: Option<SocketAddr>,
    /// With `tls_key`: `listen` speaks TLS with this PEM chain.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Roots of `tls_client_auth` clients' certificates.
    pub tls_client_ca: Option<PathBuf>,
    /// The secret session tickets are sealed with, shared by instances; unset: random.
    pub tls_ticket_key_file: Option<PathBuf>,
    /// A plain-HTTP listener beside a TLS `listen`, for a trusted proxy in front.
    pub plain_listen: Option<SocketAddr>,
    pub shards: usize,
    /// Unset: `http://<listen>`, or `https://<listen>` with TLS.
    pub issuer: String,
    /// Unset: the issuer.
    pub audience: String,
    pub token_ttl: Duration,
    /// The first signs; all are published. Empty: `<data_dir>/signing-key.pem`, generated
    /// on first start.
    pub signing_keys: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub admin_token: Option<String>,
    /// Where `admin_token` was read from, if from a file.
    pub admin_token_file: Option<PathBuf>,
    pub log_level: Level,
    pub io_driver: IoDriver,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Client cache entry lifetime.
    pub cache_ttl: Duration,
    /// Clients cached per shard; 0 turns the cache off (every request looks the client up).
    pub cache_capacity: usize,
    /// Revoked tokens remembered per shard; beyond it introspection asks the table.
    pub revocation_cache_capacity: usize,
    /// Tokens per batch write.
    pub batch_size: usize,
    /// Longest a token waits in the buffer before its batch is written.
    pub flush_interval: Duration,
    /// Tokens per shard buffered or in flight before the token endpoint answers 503.
    pub max_pending: usize,
    pub durability: Durability,
    /// How often shard 0 prunes expired rows of `tokens` and `revoked_tokens`; `None`: the
    /// server never does (operators who run `edgeauth prune` from cron, or another instance
    /// that prunes the shared database).
    pub prune_interval: Option<Duration>,
    /// Longest a client's own assertion may be valid ahead (`exp` - now).
    pub assertion_max_age: Duration,
    /// DPoP proofs must carry a nonce this server issued.
    pub dpop_nonce: bool,
    /// Failed authentications per source address, and per client id, per minute and shard
    /// before every attempt is refused for the rest of the minute; 0: no bound.
    pub auth_failures_per_address: u32,
    pub auth_failures_per_client: u32,
    /// Peers whose PROXY protocol headers name the real client address.
    pub trusted_proxies: Vec<Cidr>,
    /// Where audit events go; `None`: stderr, marked `"audit":true`.
    pub audit_log: Option<PathBuf>,
    /// The token rate of clients registered without one; `None`: unlimited.
    pub client_rate_default: Option<Rate>,
    /// Workload-identity issuers (TOML only: `[[trusted_issuers]]`).
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?}: an address or a CIDR such as 10.0.0.0/8");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }

    /// Is `ip` in the range? An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) counts as
    /// the IPv4 one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A platform whose tokens (a Kubernetes service-account token, a SPIFFE JWT-SVID) are
/// accepted as client assertions of the clients registered `--federated ISSUER SUBJECT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// Its public JWKS, read at start-up and on SIGHUP.
    pub jwks_file: PathBuf,
    /// What its tokens' `aud` must contain to be meant for us.
    pub audience: String,
    /// Longest lifetime (`exp` - `iat`) of a token accepted from it.
    pub max_token_age: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: None,
            tokens_database_url: None,
            listen: limits::LISTEN_DEFAULT,
            admin_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_ticket_key_file: None,
            plain_listen: None,
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            issuer: format!("http://{}", limits::LISTEN_DEFAULT),
            audience: format!("http://{}", limits::LISTEN_DEFAULT),
            token_ttl: limits::TOKEN_TTL_DEFAULT,
            signing_keys: Vec::new(),
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            admin_token: None,
            admin_token_file: None,
            log_level: Level::Info,
            io_driver: IoDriver::Auto,
            idle_timeout: limits::IDLE_TIMEOUT_DEFAULT,
            header_timeout: limits::HEADER_TIMEOUT_DEFAULT,
            max_connections: limits::CONNECTIONS_PER_SHARD_MAX,
            cache_ttl: limits::CACHE_TTL_DEFAULT,
            cache_capacity: limits::CACHE_CAPACITY_DEFAULT,
            revocation_cache_capacity: limits::REVOCATION_CACHE_CAPACITY_DEFAULT,
            batch_size: limits::BATCH_SIZE_DEFAULT,
            flush_interval: limits::FLUSH_INTERVAL_DEFAULT,
            max_pending: limits::MAX_PENDING_DEFAULT,
            durability: Durability::Async,
            prune_interval: Some(limits::PRUNE_INTERVAL_DEFAULT),
            assertion_max_age: limits::ASSERTION_MAX_AGE_DEFAULT,
            dpop_nonce: false,
            client_rate_default: None,
            audit_log: None,
            trusted_proxies: Vec::new(),
            auth_failures_per_address: limits::FAILED_AUTH_PER_SOURCE_DEFAULT,
            auth_failures_per_client: limits::FAILED_AUTH_PER_CLIENT_DEFAULT,
            trusted_issuers: Vec::new(),
        }
    }
}

const DATA_DIR_DEFAULT: &str = "./edgeauth-data";

/// One setting: everything about it in one place.
pub struct Setting {
    /// The TOML key; the flag is `--` and the name with `-`, the environment variable
    /// `EDGEAUTH_` and the name in capitals.
    pub name: &'static str,
    /// The unit or form of its value, for `--help` and the reference.
    pub unit: &'static str,
    pub help: &'static str,
    /// Hidden from the process list's environment display (clap) and masked in logs.
    pub secret: bool,
    /// Parse, check the bound, and store into the configuration.
    set: fn(&mut Config, &str) -> Result<(), String>,
    /// The value as the log line and the reference show it (secrets masked).
    show: fn(&Config) -> String,
}

impl Setting {
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }

    pub fn env(&self) -> String {
        format!("EDGEAUTH_{}", self.name.to_ascii_uppercase())
    }

    /// The default, as shown in `--help` and the reference.
    pub fn default_shown(&self) -> String {
        (self.show)(&Config::default())
    }
}

/// The settings, in the order `--help` and the log line show them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "database_url",
        unit: "URL or key=value",
        help: "The main PostgreSQL (clients, revocations, notifications, and token rows unless tokens_database_url is set): postgres://user:pass@host:port/db or host=/socket/dir port=5432 user=u dbname=d, with libpq's TLS and authentication parameters (sslmode, sslrootcert, sslcert, sslkey, channel_binding, require_auth). Without a password in it, the password comes from PGPASSFILE (else ~/.pgpass, mode 0600), as libpq reads it.",
        secret: true,
        set: |c, v| set(&mut c.database_url, Some(v.to_owned())),
        show: |c| match &c.database_url {
            Some(url) => redact_url(url),
            None => "unset".to_owned(),
        },
    },
    Setting {
        name: "tokens_database_url",
        unit: "URL or key=value",
        help: "A PostgreSQL of its own for token rows (a dedicated or distributed one), over one more session per shard; clients, revocations and notifications stay on database_url. edgeauth migrate migrates both, and /readyz needs both.",
        secret: true,
        set: |c, v| set(&mut c.tokens_database_url, Some(v.to_owned())),
        show: |c| match &c.tokens_database_url {
            Some(url) => redact_url(url),
            None => "database_url".to_owned(),
        },
    },
    Setting {
        name: "listen",
        unit: "address:port",
        help: "Address every shard binds with SO_REUSEPORT; a second server on an address and port already in use is refused at start.",
        secret: false,
        set: |c, v| set(&mut c.listen, v.parse().map_err(|e| format!("{v:?}: {e}"))?),
        show: |c| c.listen.to_string(),
    },
    Setting {
        name: "admin_listen",
        unit: "address:port",
        help: "When set, /metrics and /admin/* are served on this address only (with /healthz and /readyz) and answer 404 on listen; put it on a private address.",
        secret: false,
        set: |c, v| {
            set(
                &mut c.admin_listen,
                Some(v.parse().map_err(|e| format!("{v:?}: {e}"))?),
            )
        },
        show: |c| c.admin_listen.map_or("unset".to_owned(), |a| a.to_string()),
    },
    Setting {
        name: "tls_cert",
        unit: "PEM file",
        help: "PEM certificate chain, leaf first; with tls_key, listen speaks TLS 1.3 and 1.2 (ALPN http/1.1) and the default issuer is https://. Re-read on SIGHUP with the signing keys.",
        secret: false,
        set: |c, v| set(&mut c.tls_cert, Some(PathBuf::from(v))),
        show: |c| show_path(&c.tls_cert),
    },
    Setting {
        name: "tls_key",
        unit: "PEM file",
        help: "The private key of tls_cert's first certificate; refused if other users can read it (mode 600 or 640).",
        secret: false,
        set: |c, v| set(&mut c.tls_key, Some(PathBuf::from(v))),
        show: |c| show_path(&c.tls_key),
    },
    Setting {
        name: "tls_client_ca",
        unit: "PEM file",
        help: "PEM CA certificates that tls_client_auth clients' certificates must chain to; re-read on SIGHUP with tls_cert.",
        secret: false,
        set: |c, v| set(&mut c.tls_client_ca, Some(PathBuf::from(v))),
        show: |c| show_path(&c.tls_client_ca),
    },
    Setting {
        name: "tls_ticket_key_file",
        unit: "path",
        help: "32 or more random bytes (mode 600) that seal TLS session tickets, so instances given the same file resume each other's sessions; unset: a random secret per process. Re-read on SIGHUP.",
        secret: false,
        set: |c, v| set(&mut c.tls_ticket_key_file, Some(PathBuf::from(v))),
        show: |c| show_path(&c.tls_ticket_key_file),
    },
    Setting {
        name: "plain_listen",
        unit: "address:port",
        help: "An extra plain-HTTP listener beside a TLS listen, with the same endpoints, for a trusted proxy in front.",
        secret: false,
        set: |c, v| {
            set(
                &mut c.plain_listen,
                Some(v.parse().map_err(|e| format!("{v:?}: {e}"))?),
            )
        },
        show: |c| c.plain_listen.map_or("unset".to_owned(), |a| a.to_string()),
    },
    Setting {
        name: "shards",
        unit: "count",
        help: "Shard threads, each pinned to a core; default: one per core available to the process.",
        secret: false,
        set: |c, v| set(&mut c.shards, count(v, 1, limits::SHARDS_MAX)?),
        show: |c| c.shards.to_string(),
    },
    Setting {
        name: "issuer",
        unit: "URL",
        help: "The iss claim and the metadata issuer; default: http://<listen>, or https://<listen> with TLS.",
        secret: false,
        set: |c, v| set(&mut c.issuer, issuer(v)?),
        show: |c| c.issuer.clone(),
    },
    Setting {
        name: "audience",
        unit: "string",
        help: "The default aud claim; default: the issuer. A client may have its own.",
        secret: false,
        set: |c, v| set(&mut c.audience, v.to_owned()),
        show: |c| c.audience.clone(),
    },
    Setting {
        name: "token_ttl",
        unit: "duration",
        help: "Access-token lifetime, 1s to 24h; a client may have its own.",
        secret: false,
        set: |c, v| {
            let d = duration_between(v, limits::TOKEN_TTL_MIN, limits::TOKEN_TTL_MAX)?;
            set(&mut c.token_ttl, d)
        },
        show: |c| show_duration(c.token_ttl),
    },
    Setting {
        name: "signing_keys",
        unit: "PEM files, comma-separated",
        help: "PEM files, comma-separated (a list in TOML): the first signs, all are published in the JWKS; re-read on SIGHUP. Unset: <data_dir>/signing-key.pem, created as an ES256 key (mode 0600) on first start, so instances sharing the directory share the key.",
        secret: false,
        set: |c, v| set(&mut c.signing_keys, path_list(v)),
        show: |c| {
            let paths: Vec<String> = c
                .signing_key_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            paths.join(",")
        },
    },
    Setting {
        name: "data_dir",
        unit: "path",
        help: "Where generated keys (and the dev PostgreSQL cluster of scripts/run.sh) live.",
        secret: false,
        set: |c, v| set(&mut c.data_dir, PathBuf::from(v)),
        show: |c| c.data_dir.display().to_string(),
    },
    Setting {
        name: "admin_token",
        unit: "string",
        help: "Bearer token for /admin/*, at least 32 characters; without it (or admin_token_file) the admin API answers 404. Given as a flag it shows in the process list, and the server warns.",
        secret: true,
        set: |c, v| set(&mut c.admin_token, Some(admin_token(v)?)),
        show: |c| {
            if c.admin_token.is_some() {
                "set"
            } else {
                "unset"
            }
            .to_owned()
        },
    },
    Setting {
        name: "admin_token_file",
        unit: "path",
        help: "A file holding the admin token (trimmed), preferred: nothing secret in flags or the environment. Not together with admin_token.",
        secret: false,
        set: |c, v| {
            let text = std::fs::read_to_string(v).map_err(|e| format!("{v}: {e}"))?;
            c.admin_token_file = Some(PathBuf::from(v));
            set(&mut c.admin_token, Some(admin_token(text.trim())?))
        },
        show: |c| show_path(&c.admin_token_file),
    },
    Setting {
        name: "log_level",
        unit: "error|warn|info|debug",
        help: "error, warn, info or debug: JSON log lines on stderr from this level up, never a secret.",
        secret: false,
        set: |c, v| set(&mut c.log_level, v.parse()?),
        show: |c| c.log_level.as_str().to_owned(),
    },
    Setting {
        name: "io_driver",
        unit: "auto|io_uring|epoll",
        help: "The shards' I/O driver: io_uring, epoll, or auto (io_uring where the kernel allows it, else epoll; io_uring measured faster).",
        secret: false,
        set: |c, v| {
            let driver = match v.to_ascii_lowercase().as_str() {
                "auto" => IoDriver::Auto,
                "io_uring" | "iouring" | "uring" => IoDriver::IoUring,
                "epoll" | "legacy" => IoDriver::Epoll,
                _ => return Err(format!("{v:?}: use io_uring, epoll or auto")),
            };
            set(&mut c.io_driver, driver)
        },
        show: |c| c.io_driver.as_str().to_owned(),
    },
    Setting {
        name: "idle_timeout",
        unit: "duration",
        help: "A connection must deliver each whole request, and take its responses, within this time (100ms to 1h), else it is closed.",
        secret: false,
        set: |c, v| set(&mut c.idle_timeout, connection_timeout(v)?),
        show: |c| show_duration(c.idle_timeout),
    },
    Setting {
        name: "header_timeout",
        unit: "duration",
        help: "A request head must arrive whole within this time of its first byte (100ms to 1h), else 408 and close.",
        secret: false,
        set: |c, v| set(&mut c.header_timeout, connection_timeout(v)?),
        show: |c| show_duration(c.header_timeout),
    },
    Setting {
        name: "max_connections",
        unit: "count",
        help: "Connections per shard; more are closed at accept.",
        secret: false,
        set: |c, v| {
            set(
                &mut c.max_connections,
                count(v, 1, limits::CONNECTIONS_PER_SHARD_MAX)?,
            )
        },
        show: |c| c.max_connections.to_string(),
    },
    Setting {
        name: "cache_ttl",
        unit: "duration",
        help: "Client cache entry lifetime; unknown clients are remembered as absent for 5 s at most.",
        secret: false,
        set: |c, v| {
            set(
                &mut c.cache_ttl,
                duration_between(v, limits::CACHE_TTL_MIN, Duration::MAX)?,
            )
        },
        show: |c| show_duration(c.cache_ttl),
    },
    Setting {
        name: "cache_capacity",
        unit: "count",
        help: "Clients cached per shard, least recently used evicted beyond; 0 turns the cache off.",
        secret: false,
        set: |c, v| {
            set(
                &mut c.cache_capacity,
                count(v, 0, limits::CACHE_CAPACITY_MAX)?,
            )
        },
        show: |c| c.cache_capacity.to_string(),
    },
    Setting {
        name: "revocation_cache_capacity",
        unit: "count",
        help: "Revoked tokens remembered per shard (about 40 bytes each). When full, introspection asks revoked_tokens for a jti it does not hold, so no client can make others' tokens inactive by filling it.",
        secret: false,
        set: |c, v| {
            let n = count(v, 1, limits::REVOCATION_CACHE_CAPACITY_MAX)?;
            set(&mut c.revocation_cache_capacity, n)
        },
        show: |c| c.revocation_cache_capacity.to_string(),
    },
    Setting {
        name: "batch_size",
        unit: "count",
        help: "Tokens per batch write.",
        secret: false,
        set: |c, v| set(&mut c.batch_size, count(v, 1, limits::BATCH_SIZE_MAX)?),
        show: |c| c.batch_size.to_string(),
    },
    Setting {
        name: "flush_interval",
        unit: "duration",
        help: "Longest a token waits in the buffer before its batch is written (1ms to 60s).",
        secret: false,
        set: |c, v| {
            let d = duration_between(v, limits::FLUSH_INTERVAL_MIN, limits::FLUSH_INTERVAL_MAX)?;
            set(&mut c.flush_interval, d)
        },
        show: |c| show_duration(c.flush_interval),
    },
    Setting {
        name: "max_pending",
        unit: "count",
        help: "Unrecorded tokens per shard (buffered, in flight, awaiting retry) before the token endpoint answers 503; at least batch_size.",
        secret: false,
        set: |c, v| set(&mut c.max_pending, count(v, 1, limits::PENDING_TOKENS_MAX)?),
        show: |c| c.max_pending.to_string(),
    },
    Setting {
        name: "durability",
        unit: "async|commit",
        help: "async: answer before the token's batch commits (a crash loses the rows not yet committed); commit: answer after it commits (group commit; use a short flush_interval such as 2ms).",
        secret: false,
        set: |c, v| {
            let durability = match v.to_ascii_lowercase().as_str() {
                "async" => Durability::Async,
                "commit" => Durability::Commit,
                _ => return Err(format!("{v:?}: use async or commit")),
            };
            set(&mut c.durability, durability)
        },
        show: |c| c.durability.as_str().to_owned(),
    },
    Setting {
        name: "prune_interval",
        unit: "duration, or 0/off",
        help: "How often shard 0 drops the expired partitions of tokens and deletes expired revocations; 0 or off: never (run edgeauth prune instead), at least 100ms otherwise.",
        secret: false,
        set: |c, v| set(&mut c.prune_interval, prune_interval(v)?),
        show: |c| c.prune_interval.map_or("off".to_owned(), show_duration),
    },
    Setting {
        name: "assertion_max_age",
        unit: "duration",
        help: "How far ahead a client's own assertion (private_key_jwt) may expire, 10s to 1h; its jti is remembered that long to refuse replays.",
        secret: false,
        set: |c, v| {
            let d = duration_between(
                v,
                limits::ASSERTION_MAX_AGE_MIN,
                limits::ASSERTION_MAX_AGE_MAX,
            )?;
            set(&mut c.assertion_max_age, d)
        },
        show: |c| show_duration(c.assertion_max_age),
    },
    Setting {
        name: "dpop_nonce",
        unit: "true or false",
        help: "true: DPoP proofs must carry a server nonce (RFC 9449 §8); a proof without the current one is answered use_dpop_nonce with a DPoP-Nonce header.",
        secret: false,
        set: |c, v| set(&mut c.dpop_nonce, boolean(v)?),
        show: |c| c.dpop_nonce.to_string(),
    },
    Setting {
        name: "client_rate_default",
        unit: "N/s [burst M], or off",
        help: "Token rate of clients registered without one: N/s (or /m, /h), optionally followed by burst M (default: a second's worth), or off. Each shard enforces an even share.",
        secret: false,
        set: |c, v| set(&mut c.client_rate_default, client_rate(v)?),
        show: |c| {
            c.client_rate_default
                .map_or("off".to_owned(), |r| r.to_string())
        },
    },
    Setting {
        name: "trusted_proxies",
        unit: "CIDRs, comma-separated",
        help: "CIDRs (comma-separated; a list in TOML) of load balancers whose PROXY protocol v1/v2 header names the client's address; from anyone else such a header is a bad request.",
        secret: false,
        set: |c, v| {
            let cidrs = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Cidr::parse)
                .collect::<Result<_, _>>()?;
            set(&mut c.trusted_proxies, cidrs)
        },
        show: |c| {
            let shown: Vec<String> = c.trusted_proxies.iter().map(Cidr::to_string).collect();
            if shown.is_empty() {
                "none".to_owned()
            } else {
                shown.join(",")
            }
        },
    },
    Setting {
        name: "audit_log",
        unit: "path",
        help: "File audit events are appended to, one JSON line each (created mode 0640); unset: stderr, beside the log lines, marked \"audit\":true.",
        secret: false,
        set: |c, v| set(&mut c.audit_log, Some(PathBuf::from(v))),
        show: |c| show_path(&c.audit_log),
    },
    Setting {
        name: "auth_failures_per_address",
        unit: "count per minute, 0 = off",
        help: "Failed client authentications from one source address per minute, per shard, before every attempt from it is refused for the rest of the minute; 0: no bound.",
        secret: false,
        set: |c, v| {
            let n = count(v, 0, limits::FAILED_AUTH_BOUND_MAX)?;
            set(&mut c.auth_failures_per_address, n as u32)
        },
        show: |c| c.auth_failures_per_address.to_string(),
    },
    Setting {
        name: "auth_failures_per_client",
        unit: "count per minute, 0 = off",
        help: "Failed authentications for one client id, from any address, per minute and shard, before every attempt for it is refused for the rest of the minute; 0: no bound.",
        secret: false,
        set: |c, v| {
            let n = count(v, 0, limits::FAILED_AUTH_BOUND_MAX)?;
            set(&mut c.auth_failures_per_client, n as u32)
        },
        show: |c| c.auth_failures_per_client.to_string(),
    },
];

/// `off`, or `N/s` (also `/m`, `/h`) optionally followed by `burst M`.
fn client_rate(v: &str) -> Result<Option<Rate>, String> {
    if v == "off" {
        return Ok(None);
    }
    let (rate, burst) = match v.split_once(" burst ") {
        Some((rate, burst)) => {
            let burst = burst
                .trim()
                .parse()
                .map_err(|_| format!("{burst:?}: not a count"))?;
            (rate, Some(burst))
        }
        None => (v, None),
    };
    Rate::parse(rate, burst).map(Some)
}

fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{v:?}: true or false")),
    }
}

/// Store a parsed value; `Ok` so that an entry's `set` is one expression.
fn set<T>(slot: &mut T, value: T) -> Result<(), String> {
    *slot = value;
    Ok(())
}

/// What the user wrote, before validation: flags and environment (through clap), and the
/// path of the TOML file. `cli` fills it; a SIGHUP resolves it again.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// TOML file with settings (lowest precedence but the defaults).
    pub file: Option<PathBuf>,
    /// Setting name -> text, for the settings a flag or the environment gave.
    pub given: BTreeMap<&'static str, String>,
    /// The settings given as command-line flags (visible to anyone in the process list).
    pub on_command_line: Vec<&'static str>,
}

impl Settings {
    /// Settings given as `(name, value)` pairs, as if by flags (for tests and tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let mut settings = Settings::default();
        for (name, value) in pairs {
            let setting = find(name).ok_or_else(|| format!("unknown setting {name:?}"))?;
            settings.given.insert(setting.name, (*value).to_owned());
        }
        Ok(settings)
    }
}

impl Settings {
    /// Secrets given as flags, which every user of the machine can read in the process
    /// list: the caller warns about each.
    pub fn exposed_secrets(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.on_command_line
            .iter()
            .copied()
            .filter(|name| find(name).is_some_and(|s| s.secret))
    }
}

fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

impl Config {
    /// Validate what was given, over the file, over the defaults.
    pub fn resolve(settings: &Settings) -> Result<Config, String> {
        let (mut values, trusted_issuers) = match &settings.file {
            Some(path) => read_file(path)?,
            None => (BTreeMap::new(), Vec::new()),
        };
        values.extend(settings.given.iter().map(|(k, v)| (*k, v.clone())));
        let mut config = Config {
            trusted_issuers,
            ..Config::default()
        };
        for setting in SETTINGS {
            if let Some(text) = values.get(setting.name) {
                (setting.set)(&mut config, text.trim())
                    .map_err(|e| format!("{}: {e}", setting.name))?;
            }
        }
        if config.admin_listen == Some(config.listen) {
            return Err("admin_listen must differ from listen".to_owned());
        }
        if config.plain_listen.is_some()
            && (config.plain_listen == Some(config.listen)
                || config.plain_listen == config.admin_listen)
        {
            return Err("plain_listen must differ from listen and admin_listen".to_owned());
        }
        if values.contains_key("admin_token") && values.contains_key("admin_token_file") {
            return Err("give admin_token or admin_token_file, not both".to_owned());
        }
        // Defaults that follow other settings.
        if !values.contains_key("issuer") {
            let scheme = if config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            config.issuer = format!("{scheme}://{}", config.listen);
        }
        if !values.contains_key("audience") {
            config.audience = config.issuer.clone();
        }
        if config.max_pending < config.batch_size {
            return Err(format!(
                "max_pending ({}) must be at least batch_size ({})",
                config.max_pending, config.batch_size
            ));
        }
        Ok(config)
    }

    /// The certificate and key of a TLS `listen`; `None`: `listen` is plain.
    pub fn tls_files(&self) -> Result<Option<(&Path, &Path)>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) if self.plain_listen.is_some() => Err(
                "plain_listen is an extra listener beside a TLS listen: set tls_cert and tls_key"
                    .to_owned(),
            ),
            (None, None) if self.tls_ticket_key_file.is_some() => Err(
                "tls_ticket_key_file seals TLS session tickets: set tls_cert and tls_key".to_owned(),
            ),
            (None, None) if self.tls_client_ca.is_some() => Err(
                "tls_client_ca is for client certificates on a TLS listen: set tls_cert and tls_key"
                    .to_owned(),
            ),
            (None, None) => Ok(None),
            (Some(_), None) => Err("tls_cert is set but tls_key is not".to_owned()),
            (None, Some(_)) => Err("tls_key is set but tls_cert is not".to_owned()),
        }
    }

    /// The key files to load: the configured ones, or the generated default.
    pub fn signing_key_paths(&self) -> Vec<PathBuf> {
        if self.signing_keys.is_empty() {
            vec![self.default_signing_key_path()]
        } else {
            self.signing_keys.clone()
        }
    }

    pub fn default_signing_key_path(&self) -> PathBuf {
        self.data_dir.join("signing-key.pem")
    }

    /// Every setting as the log line shows it (secrets masked), in declaration order.
    pub fn shown(&self) -> Vec<(&'static str, String)> {
        SETTINGS.iter().map(|s| (s.name, (s.show)(self))).collect()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.shown() {
            map.entry(&name, &value);
        }
        map.finish()
    }
}

/// One row per setting (name, flag, environment variable, default, unit, help), for the
/// configuration reference (docs/CONFIGURATION.md). The default is the same on every
/// machine: where `default_shown` depends on the machine or on another setting, the row
/// says what it follows instead.
pub fn reference() -> Vec<[String; 6]> {
    SETTINGS
        .iter()
        .map(|s| {
            let default = match s.name {
                "shards" => "cores available".to_owned(),
                "issuer" => "http://<listen>".to_owned(),
                "audience" => "the issuer".to_owned(),
                _ => s.default_shown(),
            };
            [
                s.name.to_owned(),
                format!("--{}", s.flag()),
                s.env(),
                default,
                s.unit.to_owned(),
                s.help.to_owned(),
            ]
        })
        .collect()
}

/// What a TOML file says: the settings as text, and the `[[trusted_issuers]]` tables.
type FileSettings = (BTreeMap<&'static str, String>, Vec<TrustedIssuer>);

/// The file's settings as text. Unknown keys are refused (a typo must not silently fall
/// back to a default); values are strings, integers, or arrays of strings (joined by `,`).
fn read_file(path: &Path) -> Result<FileSettings, String> {
    let where_ = |e: &dyn fmt::Display| format!("config file {}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| where_(&e))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| where_(&e))?;
    let issuers = match table.remove("trusted_issuers") {
        Some(value) => trusted_issuers(value).map_err(|e| where_(&e))?,
        None => Vec::new(),
    };
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let setting = find(&key).ok_or_else(|| where_(&format!("unknown setting {key:?}")))?;
        let text = match value {
            toml::Value::String(v) => v,
            toml::Value::Integer(v) => v.to_string(),
            toml::Value::Boolean(v) => v.to_string(),
            toml::Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .into_iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect();
                strings
                    .ok_or_else(|| where_(&format!("{key} must list strings")))?
                    .join(",")
            }
            _ => {
                return Err(where_(&format!(
                    "{key} must be a string, a number or a boolean"
                )));
            }
        };
        values.insert(setting.name, text);
    }
    Ok((values, issuers))
}

/// `[[trusted_issuers]]`: each with `issuer`, `jwks_file` and `audience`, and optionally
/// `max_token_age`; every issuer once, nothing else in the table.
fn trusted_issuers(value: toml::Value) -> Result<Vec<TrustedIssuer>, String> {
    let toml::Value::Array(tables) = value else {
        return Err("trusted_issuers must be an array of tables ([[trusted_issuers]])".to_owned());
    };
    if tables.len() > limits::TRUSTED_ISSUERS_MAX {
        return Err(format!(
            "at most {} trusted_issuers",
            limits::TRUSTED_ISSUERS_MAX
        ));
    }
    let mut issuers: Vec<TrustedIssuer> = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let issuer = trusted_issuer(table).map_err(|e| format!("trusted_issuers[{i}]: {e}"))?;
        if issuers.iter().any(|other| other.issuer == issuer.issuer) {
            return Err(format!(
                "trusted_issuers: {:?} is listed twice",
                issuer.issuer
            ));
        }
        issuers.push(issuer);
    }
    Ok(issuers)
}

fn trusted_issuer(table: toml::Value) -> Result<TrustedIssuer, String> {
    let toml::Value::Table(mut table) = table else {
        return Err("must be a table".to_owned());
    };
    let mut take = |key: &str| match table.remove(key) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(format!("{key} must be a non-empty string")),
        None => Ok(None),
    };
    let required = |v: Option<String>, key: &str| v.ok_or(format!("{key} is required"));
    let issuer = required(take("issuer")?, "issuer")?;
    let jwks_file = PathBuf::from(required(take("jwks_file")?, "jwks_file")?);
    let audience = required(take("audience")?, "audience")?;
    let max_token_age = match take("max_token_age")? {
        Some(v) => duration_between(&v, Duration::from_secs(60), limits::FEDERATED_TOKEN_AGE_MAX)
            .map_err(|e| format!("max_token_age: {e}"))?,
        None => limits::FEDERATED_TOKEN_AGE_DEFAULT,
    };
    if let Some(key) = table.keys().next() {
        return Err(format!(
            "unknown key {key:?} (issuer, jwks_file, audience, max_token_age)"
        ));
    }
    if !issuer.contains("://") {
        return Err(format!("issuer {issuer:?} must be a URL"));
    }
    Ok(TrustedIssuer {
        issuer,
        jwks_file,
        audience,
        max_token_age,
    })
}

fn count(v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|_| format!("{v:?}: not a number"))?;
    if n < min || n > max {
        return Err(format!("{n}: must be between {min} and {max}"));
    }
    Ok(n)
}

fn duration_between(v: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = duration(v)?;
    if d < min || d > max {
        let max = if max == Duration::MAX {
            "no limit".to_owned()
        } else {
            show_duration(max)
        };
        return Err(format!(
            "{v}: must be at least {} and at most {max}",
            show_duration(min)
        ));
    }
    Ok(d)
}

fn admin_token(v: &str) -> Result<String, String> {
    if v.len() < limits::ADMIN_TOKEN_BYTES_MIN {
        return Err(format!(
            "use at least {} characters",
            limits::ADMIN_TOKEN_BYTES_MIN
        ));
    }
    Ok(v.to_owned())
}

fn connection_timeout(v: &str) -> Result<Duration, String> {
    duration_between(
        v,
        limits::CONNECTION_TIMEOUT_MIN,
        limits::CONNECTION_TIMEOUT_MAX,
    )
}

fn issuer(v: &str) -> Result<String, String> {
    let v = v.trim_end_matches('/');
    if !(v.starts_with("https://") || v.starts_with("http://")) {
        return Err(format!("{v:?}: must be an http(s) URL"));
    }
    Ok(v.to_owned())
}

fn path_list(v: &str) -> Vec<PathBuf> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn prune_interval(v: &str) -> Result<Option<Duration>, String> {
    if v == "0" || v == "off" {
        return Ok(None);
    }
    match duration(v)? {
        d if d.is_zero() => Ok(None),
        d if d < limits::PRUNE_INTERVAL_MIN => Err(format!(
            "must be at least {}, or 0/off to disable",
            show_duration(limits::PRUNE_INTERVAL_MIN)
        )),
        d => Ok(Some(d)),
    }
}

/// `5ms`, `200ms`, `5s`, `10m`, `1h`, `1d`.
pub fn duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{v:?}: expected a number and a unit, like 5s"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => return Err(format!("{v:?}: unit must be ms, s, m, h or d")),
    };
    Ok(d)
}

fn show_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("unset".to_owned(), |p| p.display().to_string())
}

/// The shortest exact form: `10m`, `1h`, `200ms`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// A database URL with its password masked: `user:pass@` in the URL form, and any
/// `password=` (a URL query parameter or a key=value pair).
fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out = format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            );
        }
    }
    let mut from = 0;
    while let Some(at) = out[from..].to_ascii_lowercase().find("password=") {
        let value_start = from + at + "password=".len();
        let value_end = out[value_start..]
            .find(['&', ' '])
            .map_or(out.len(), |e| value_start + e);
        out.replace_range(value_start..value_end, "***");
        from = value_start + 3;
    }
    out
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Async => "async",
            Durability::Commit => "commit",
        }
    }
}

impl IoDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            IoDriver::Auto => "auto",
            IoDriver::IoUring => "io_uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, String> {
        Config::resolve(&Settings::from_pairs(pairs)?)
    }

    #[test]
    fn durations() {
        assert_eq!(duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("5").is_err());
        assert!(duration("s").is_err());
        assert!(duration("5 parsecs").is_err());
        for text in ["5ms", "200ms", "5s", "10m", "1h", "2d", "90s"] {
            assert_eq!(show_duration(duration(text).unwrap()), text);
        }
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.audience, c.issuer);
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
        assert_eq!(
            c.signing_key_paths(),
            vec![PathBuf::from("./edgeauth-data/signing-key.pem")]
        );
        assert!(c.shards >= 1);
        assert_eq!(c.prune_interval, Some(Duration::from_secs(600)));
        assert_eq!(
            (c.cache_capacity, c.batch_size, c.max_pending),
            (5000, 1000, 100_000)
        );
    }

    #[test]
    fn issuer_and_audience_follow_listen() {
        let c = with(&[("listen", "127.0.0.1:9000")]).unwrap();
        assert_eq!(
            (c.issuer.as_str(), c.audience.as_str()),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000")
        );
        let c = with(&[
            ("issuer", "https://auth.example/"),
            ("listen", "127.0.0.1:9000"),
        ])
        .unwrap();
        assert_eq!(
            (c.issuer.as_str(), c.audience.as_str()),
            ("https://auth.example", "https://auth.example")
        );
    }

    #[test]
    fn prune_interval_forms() {
        let p = |v: &str| with(&[("prune_interval", v)]).map(|c| c.prune_interval);
        assert_eq!(p("200ms"), Ok(Some(Duration::from_millis(200))));
        assert_eq!(p("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(p("0"), Ok(None));
        assert_eq!(p("off"), Ok(None));
        assert_eq!(p("0s"), Ok(None));
        assert!(p("10ms").is_err(), "below the minimum");
        assert!(p("sometimes").is_err());
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("edgeauth-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("edgeauth.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    #[test]
    fn file_fills_only_what_flags_left_unset() {
        let file = temp_file(
            "fill",
            "listen = \"127.0.0.1:9000\"\nshards = 3\ntoken_ttl = \"5m\"\nprune_interval = \"off\"\nsigning_keys = [\"a.pem\", \"b.pem\"]\n",
        );
        let mut settings = Settings::from_pairs(&[("shards", "2")]).unwrap();
        settings.file = Some(file.clone());
        let c = Config::resolve(&settings).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.shards, 2, "the flag wins over the file");
        assert_eq!(c.token_ttl, Duration::from_secs(300));
        assert_eq!(c.prune_interval, None);
        assert_eq!(
            c.signing_keys,
            vec![PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );

        std::fs::write(&file, "lissten = \"x\"\n").unwrap();
        let settings = Settings {
            file: Some(file),
            ..Settings::default()
        };
        assert!(
            Config::resolve(&settings)
                .unwrap_err()
                .contains("unknown setting")
        );
    }

    /// Every declared setting is reachable the same way through each source: its flag and
    /// variable names follow from its name, and a value given in the file is applied.
    #[test]
    fn every_setting_round_trips_through_the_file_and_its_names() {
        for setting in SETTINGS {
            assert_eq!(setting.flag(), setting.name.replace('_', "-"));
            assert_eq!(
                setting.env(),
                format!("EDGEAUTH_{}", setting.name.to_uppercase())
            );
            let default = Config::default();
            let shown = (setting.show)(&default);
            // A value the setting accepts, different from the default where one exists.
            let value = sample_value(setting.name);
            let file = temp_file(setting.name, &format!("{} = \"{value}\"\n", setting.name));
            let from_file = Config::resolve(&Settings {
                file: Some(file),
                ..Settings::default()
            })
            .unwrap_or_else(|e| panic!("{}: {e}", setting.name));
            let from_flag = with(&[(setting.name, value)]).unwrap();
            assert_eq!(
                (setting.show)(&from_file),
                (setting.show)(&from_flag),
                "{}",
                setting.name
            );
            if !setting.secret {
                assert_ne!(
                    (setting.show)(&from_flag),
                    shown,
                    "{} was not applied",
                    setting.name
                );
            }
        }
    }

    fn sample_value(name: &str) -> &'static str {
        match name {
            "database_url" => "postgres://u:secret@db:5432/x",
            "tokens_database_url" => "postgres://u:secret@tokens-db:5432/t",
            "listen" => "127.0.0.1:9999",
            "admin_listen" => "127.0.0.1:9998",
            "tls_cert" => "/etc/edgeauth/chain.pem",
            "tls_key" => "/etc/edgeauth/key.pem",
            "tls_client_ca" => "/etc/edgeauth/clients-ca.pem",
            "tls_ticket_key_file" => "/etc/edgeauth/ticket-key",
            "plain_listen" => "127.0.0.1:9997",
            "shards" => "3",
            "issuer" => "https://issuer.example",
            "audience" => "https://api.example",
            "token_ttl" => "15m",
            "signing_keys" => "a.pem,b.pem",
            "data_dir" => "/var/lib/edgeauth",
            "admin_token" => "0123456789abcdef0123456789abcdef",
            "admin_token_file" => {
                let path = std::env::temp_dir()
                    .join(format!("edgeauth-admin-token-{}", std::process::id()));
                std::fs::write(&path, "a-token-from-a-file-0123456789abcdef\n").unwrap();
                path.display().to_string().leak()
            }
            "log_level" => "debug",
            "io_driver" => "epoll",
            "idle_timeout" => "30s",
            "header_timeout" => "2s",
            "max_connections" => "100",
            "cache_ttl" => "1m",
            "cache_capacity" => "7",
            "revocation_cache_capacity" => "3",
            "batch_size" => "50",
            "flush_interval" => "5ms",
            "max_pending" => "5000",
            "durability" => "commit",
            "prune_interval" => "1h",
            "assertion_max_age" => "1m",
            "dpop_nonce" => "true",
            "client_rate_default" => "50/s burst 100",
            "auth_failures_per_address" => "0",
            "audit_log" => "/var/log/edgeauth/audit.log",
            "trusted_proxies" => "10.0.0.0/8,2001:db8::/32,192.0.2.7",
            "auth_failures_per_client" => "1000",
            other => panic!("add a sample value for the new setting {other}"),
        }
    }

    #[test]
    fn trusted_issuers_come_from_the_file_only() {
        let file = |name: &str, text: &str| {
            Config::resolve(&Settings {
                file: Some(temp_file(name, text)),
                ..Settings::default()
            })
        };
        let two = r#"
            log_level = "debug"
            [[trusted_issuers]]
            issuer = "https://kubernetes.default.svc"
            jwks_file = "/etc/edgeauth/k8s-jwks.json"
            audience = "edgeauth"
            [[trusted_issuers]]
            issuer = "spiffe://example.org"
            jwks_file = "/etc/edgeauth/spire.json"
            audience = "https://auth.example"
            max_token_age = "1h"
        "#;
        let c = file("issuers-ok", two).unwrap();
        assert_eq!(
            c.log_level,
            Level::Debug,
            "settings beside the tables still apply"
        );
        assert_eq!(c.trusted_issuers.len(), 2);
        assert_eq!(c.trusted_issuers[0].audience, "edgeauth");
        assert_eq!(
            c.trusted_issuers[0].max_token_age,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            c.trusted_issuers[1].max_token_age,
            Duration::from_secs(3600)
        );
        assert!(with(&[]).unwrap().trusted_issuers.is_empty());

        let table = |extra: &str| {
            format!("[[trusted_issuers]]\nissuer = \"https://i\"\njwks_file = \"j.json\"\n{extra}")
        };
        for (bad, says) in [
            (table(""), "audience is required"),
            (table("audience = \"a\"\nkid = \"x\""), "unknown key"),
            (table("audience = \"\""), "non-empty"),
            (
                table("audience = \"a\"\nmax_token_age = \"30d\""),
                "max_token_age",
            ),
            (
                format!("{0}audience = \"a\"\n{0}audience = \"b\"", table("")),
                "twice",
            ),
            (
                "trusted_issuers = \"https://i\"".to_owned(),
                "array of tables",
            ),
        ] {
            let e = file("issuers-bad", &bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn cidrs_contain_their_addresses() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.1.1.1".parse().unwrap()),
            "v4-mapped"
        );
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "::/129", "nowhere", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_values() {
        for (name, value) in [
            ("listen", "nowhere"),
            ("shards", "0"),
            ("token_ttl", "0s"),
            ("token_ttl", "2d"),
            ("io_driver", "kqueue"),
            ("admin_token", "short"),
            ("issuer", "ftp://x"),
            ("durability", "eventually"),
            ("batch_size", "0"),
            ("flush_interval", "0ms"),
            ("cache_ttl", "1ms"),
            ("idle_timeout", "100000000000d"),
            ("header_timeout", "0s"),
        ] {
            let e = with(&[(name, value)]).unwrap_err();
            assert!(e.starts_with(name), "{name}={value}: {e}");
        }
        assert!(
            with(&[("max_pending", "10")]).is_err(),
            "max_pending below batch_size"
        );
    }

    #[test]
    fn the_admin_token_comes_from_a_file_or_a_setting_not_both() {
        let path = std::env::temp_dir().join(format!("edgeauth-token-file-{}", std::process::id()));
        std::fs::write(&path, "  file-token-0123456789abcdef0123456789\n").unwrap();
        let file = path.display().to_string();
        let c = with(&[("admin_token_file", &file)]).unwrap();
        assert_eq!(
            c.admin_token.as_deref(),
            Some("file-token-0123456789abcdef0123456789")
        );
        let both = with(&[
            ("admin_token_file", &file),
            ("admin_token", "x".repeat(40).as_str()),
        ]);
        assert!(both.unwrap_err().contains("not both"));
        std::fs::write(&path, "short\n").unwrap();
        assert!(
            with(&[("admin_token_file", &file)])
                .unwrap_err()
                .starts_with("admin_token_file")
        );
        assert!(with(&[("admin_token_file", "/no/such/file")]).is_err());
    }

    #[test]
    fn secrets_never_show() {
        let c = with(&[
            (
                "database_url",
                "postgres://app:hunter2@db/x?password=hunter3&sslmode=require",
            ),
            ("admin_token", "a-very-secret-admin-token-of-32-chars"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        for secret in [
            "hunter2",
            "hunter3",
            "a-very-secret-admin-token-of-32-chars",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(
            redact_url("host=/tmp user=x password=s dbname=y"),
            "host=/tmp user=x password=*** dbname=y"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
    }

    #[test]
    fn the_reference_lists_every_setting() {
        let rows = reference();
        assert_eq!(rows.len(), SETTINGS.len());
        let cache_ttl = rows.iter().find(|r| r[0] == "cache_ttl").unwrap();
        assert_eq!(
            cache_ttl[1..4],
            [
                "--cache-ttl".to_owned(),
                "EDGEAUTH_CACHE_TTL".to_owned(),
                "10m".to_owned()
            ]
        );
    }
}
