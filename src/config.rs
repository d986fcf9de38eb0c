//! Validated configuration: flags > `EDGEAUTH_*` environment > TOML file > defaults.
//!
//! `cli::Settings` holds what the user wrote; `Config::resolve` turns it into typed values
//! once, at the boundary, so nothing downstream parses a duration or an address again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::batch::Durability;
use crate::cli::Settings;
use crate::limits;
use crate::log::Level;

/// Expired rows are pruned this often by default: often enough that the tables stay near
/// their live size (a round is cheap when little has expired), rarely enough to be noise.
pub const PRUNE_INTERVAL_DEFAULT: Duration = Duration::from_secs(600);

/// Shorter intervals would keep shard 0's session busy pruning; tests use 200ms.
pub const PRUNE_INTERVAL_MIN: Duration = Duration::from_millis(100);

/// Which monoio driver the shards run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDriver {
    /// io_uring when the kernel allows it, epoll otherwise.
    Auto,
    IoUring,
    Epoll,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Unset: the commands that need a database say so.
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    pub shards: usize,
    pub issuer: String,
    pub audience: String,
    pub token_ttl: Duration,
    /// The first signs; all are published. Empty: `<data_dir>/signing-key.pem`, generated
    /// on first start.
    pub signing_keys: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub admin_token: Option<String>,
    pub log_level: Level,
    pub io_driver: IoDriver,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Client cache entry lifetime.
    pub cache_ttl: Duration,
    /// Clients cached per shard; 0 turns the cache off (every request looks the client up).
    pub cache_capacity: usize,
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
}

/// The settings a TOML file may hold (the same names as the flags, with underscores).
const FILE_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "shards",
    "issuer",
    "audience",
    "token_ttl",
    "signing_keys",
    "data_dir",
    "admin_token",
    "log_level",
    "io_driver",
    "idle_timeout",
    "max_connections",
    "cache_ttl",
    "cache_capacity",
    "batch_size",
    "flush_interval",
    "max_pending",
    "durability",
    "prune_interval",
];

impl Config {
    pub fn resolve(settings: &Settings) -> Result<Config, String> {
        let mut s = settings.clone();
        if let Some(path) = &settings.config {
            fill_from_file(&mut s, path)?;
        }
        let listen: SocketAddr = match &s.listen {
            Some(v) => v.parse().map_err(|e| format!("listen {v:?}: {e}"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let shards = match &s.shards {
            Some(v) => parse_count("shards", v, 1, 1024)?,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let issuer = match &s.issuer {
            Some(v) => {
                let v = v.trim_end_matches('/');
                if !(v.starts_with("https://") || v.starts_with("http://")) {
                    return Err(format!("issuer {v:?}: must be an http(s) URL"));
                }
                v.to_owned()
            }
            None => format!("http://{listen}"),
        };
        let audience = s.audience.clone().unwrap_or_else(|| issuer.clone());
        let token_ttl = match &s.token_ttl {
            Some(v) => parse_duration(v).map_err(|e| format!("token_ttl: {e}"))?,
            None => Duration::from_secs(3600),
        };
        if token_ttl < Duration::from_secs(1) || token_ttl > limits::TOKEN_TTL_MAX {
            return Err("token_ttl: must be between 1s and 24h".to_owned());
        }
        let data_dir = s
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./edgeauth-data"));
        let signing_keys = match &s.signing_keys {
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            None => Vec::new(),
        };
        let admin_token = match &s.admin_token {
            Some(t) if t.len() < 16 => {
                return Err("admin_token: use at least 16 characters".to_owned());
            }
            other => other.clone(),
        };
        let log_level = match &s.log_level {
            Some(v) => v.parse()?,
            None => Level::Info,
        };
        let io_driver = match s
            .io_driver
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => IoDriver::Auto,
            Some("io_uring") | Some("iouring") | Some("uring") => IoDriver::IoUring,
            Some("epoll") | Some("legacy") => IoDriver::Epoll,
            Some(other) => return Err(format!("io_driver {other:?}: use io_uring, epoll or auto")),
        };
        let idle_timeout = match &s.idle_timeout {
            Some(v) => parse_duration(v).map_err(|e| format!("idle_timeout: {e}"))?,
            None => limits::IDLE_TIMEOUT_DEFAULT,
        };
        let max_connections = match &s.max_connections {
            Some(v) => parse_count("max_connections", v, 1, limits::CONNECTIONS_PER_SHARD_MAX)?,
            None => limits::CONNECTIONS_PER_SHARD_MAX,
        };
        let cache_ttl = match &s.cache_ttl {
            Some(v) => parse_duration(v).map_err(|e| format!("cache_ttl: {e}"))?,
            None => Duration::from_secs(600),
        };
        if cache_ttl < Duration::from_millis(10) {
            return Err("cache_ttl: must be at least 10ms".to_owned());
        }
        let cache_capacity = match &s.cache_capacity {
            Some(v) => parse_count("cache_capacity", v, 0, limits::CACHE_CAPACITY_MAX)?,
            None => 5000,
        };
        let batch_size = match &s.batch_size {
            Some(v) => parse_count("batch_size", v, 1, limits::BATCH_SIZE_MAX)?,
            None => 1000,
        };
        let flush_interval = match &s.flush_interval {
            Some(v) => parse_duration(v).map_err(|e| format!("flush_interval: {e}"))?,
            None => Duration::from_secs(5),
        };
        if flush_interval < Duration::from_millis(1) || flush_interval > Duration::from_secs(60) {
            return Err("flush_interval: must be between 1ms and 60s".to_owned());
        }
        let max_pending = match &s.max_pending {
            Some(v) => parse_count("max_pending", v, 1, limits::PENDING_TOKENS_MAX)?,
            None => 100_000,
        };
        if max_pending < batch_size {
            return Err(format!(
                "max_pending ({max_pending}) must be at least batch_size ({batch_size})"
            ));
        }
        let durability = match s
            .durability
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("async") => Durability::Async,
            Some("commit") => Durability::Commit,
            Some(other) => return Err(format!("durability {other:?}: use async or commit")),
        };
        let prune_interval = match s.prune_interval.as_deref().map(str::trim) {
            None => Some(PRUNE_INTERVAL_DEFAULT),
            Some("0") | Some("off") => None,
            Some(v) => match parse_duration(v).map_err(|e| format!("prune_interval: {e}"))? {
                d if d.is_zero() => None,
                d if d < PRUNE_INTERVAL_MIN => {
                    return Err(format!(
                        "prune_interval: must be at least {}ms, or 0/off to disable",
                        PRUNE_INTERVAL_MIN.as_millis()
                    ));
                }
                d => Some(d),
            },
        };
        Ok(Config {
            database_url: s.database_url.clone(),
            listen,
            shards,
            issuer,
            audience,
            token_ttl,
            signing_keys,
            data_dir,
            admin_token,
            log_level,
            io_driver,
            idle_timeout,
            max_connections,
            cache_ttl,
            cache_capacity,
            batch_size,
            flush_interval,
            max_pending,
            durability,
            prune_interval,
        })
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
}

fn fill_from_file(s: &mut Settings, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    for (key, value) in &table {
        if !FILE_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "config file {}: unknown setting {key:?}",
                path.display()
            ));
        }
        let text = match value {
            toml::Value::String(v) => v.clone(),
            toml::Value::Integer(v) => v.to_string(),
            toml::Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(v) => parts.push(v.clone()),
                        _ => return Err(format!("config file: {key} must list strings")),
                    }
                }
                parts.join(",")
            }
            _ => return Err(format!("config file: {key} must be a string or a number")),
        };
        let slot = match key.as_str() {
            "database_url" => &mut s.database_url,
            "listen" => &mut s.listen,
            "shards" => &mut s.shards,
            "issuer" => &mut s.issuer,
            "audience" => &mut s.audience,
            "token_ttl" => &mut s.token_ttl,
            "signing_keys" => &mut s.signing_keys,
            "admin_token" => &mut s.admin_token,
            "log_level" => &mut s.log_level,
            "io_driver" => &mut s.io_driver,
            "idle_timeout" => &mut s.idle_timeout,
            "cache_ttl" => &mut s.cache_ttl,
            "cache_capacity" => &mut s.cache_capacity,
            "batch_size" => &mut s.batch_size,
            "flush_interval" => &mut s.flush_interval,
            "max_pending" => &mut s.max_pending,
            "durability" => &mut s.durability,
            "prune_interval" => &mut s.prune_interval,
            "max_connections" => &mut s.max_connections,
            "data_dir" => {
                if s.data_dir.is_none() {
                    s.data_dir = Some(PathBuf::from(text));
                }
                continue;
            }
            _ => unreachable!("FILE_KEYS lists every key matched here"),
        };
        // Flags and environment win: the file only fills what they left unset.
        if slot.is_none() {
            *slot = Some(text);
        }
    }
    Ok(())
}

fn parse_count(name: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v
        .trim()
        .parse()
        .map_err(|_| format!("{name} {v:?}: not a number"))?;
    if n < min || n > max {
        return Err(format!("{name} {n}: must be between {min} and {max}"));
    }
    Ok(n)
}

/// `5ms`, `200ms`, `5s`, `10m`, `1h`, `1d`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(&Settings::default()).unwrap();
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
    }

    #[test]
    fn prune_interval() {
        let with = |v: &str| {
            Config::resolve(&Settings {
                prune_interval: Some(v.into()),
                ..Settings::default()
            })
            .map(|c| c.prune_interval)
        };
        assert_eq!(with("200ms"), Ok(Some(Duration::from_millis(200))));
        assert_eq!(with("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(with("0"), Ok(None));
        assert_eq!(with("off"), Ok(None));
        assert_eq!(with("0s"), Ok(None));
        assert!(with("10ms").is_err(), "below the minimum");
        assert!(with("sometimes").is_err());
    }

    #[test]
    fn file_fills_only_what_flags_left_unset() {
        let dir = std::env::temp_dir().join(format!("edgeauth-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("edgeauth.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nshards = 3\ntoken_ttl = \"5m\"\nprune_interval = \"off\"\nsigning_keys = [\"a.pem\", \"b.pem\"]\n",
        )
        .unwrap();
        let settings = Settings {
            config: Some(file.clone()),
            shards: Some("2".into()),
            ..Settings::default()
        };
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
        let err = Config::resolve(&Settings {
            config: Some(file),
            ..Settings::default()
        });
        assert!(err.unwrap_err().contains("unknown setting"));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |f: fn(&mut Settings)| {
            let mut s = Settings::default();
            f(&mut s);
            Config::resolve(&s).is_err()
        };
        assert!(bad(|s| s.listen = Some("nowhere".into())));
        assert!(bad(|s| s.shards = Some("0".into())));
        assert!(bad(|s| s.token_ttl = Some("0s".into())));
        assert!(bad(|s| s.io_driver = Some("kqueue".into())));
        assert!(bad(|s| s.admin_token = Some("short".into())));
        assert!(bad(|s| s.issuer = Some("ftp://x".into())));
        assert!(bad(|s| s.durability = Some("eventually".into())));
        assert!(bad(|s| s.batch_size = Some("0".into())));
        assert!(
            bad(|s| s.max_pending = Some("10".into())),
            "max_pending below batch_size"
        );
        assert!(bad(|s| s.flush_interval = Some("0ms".into())));
    }
}
