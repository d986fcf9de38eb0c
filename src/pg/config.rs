//! Connection settings, parsed once at the boundary from a URL or a libpq key=value string.

use std::fmt;
use std::path::PathBuf;

use super::error::Error;

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address and a TCP port.
    Tcp(String, u16),
    /// A socket directory and a port: the socket is `<dir>/.s.PGSQL.<port>` (libpq's rule).
    Unix(PathBuf, u16),
}

impl Host {
    /// The unix socket path, for `Host::Unix`.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match self {
            Host::Unix(dir, port) => Some(dir.join(format!(".s.PGSQL.{port}"))),
            Host::Tcp(..) => None,
        }
    }
}

/// Validated connection settings. `Debug` and `display_redacted` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    pub host: Host,
    pub user: String,
    /// Private so that it cannot leak through a careless `{:?}` of a field.
    password: Option<String>,
    pub dbname: String,
    pub application_name: String,
}

/// The raw pieces before defaults are applied.
#[derive(Default)]
struct Raw {
    host: Option<String>,
    port: Option<String>,
    user: Option<String>,
    password: Option<String>,
    dbname: Option<String>,
    application_name: Option<String>,
}

impl PgConfig {
    /// Parses `postgres://user:pass@host:port/db?application_name=x&host=/dir` (components
    /// percent-decoded; the host may be a percent-encoded socket directory) or libpq's
    /// `host=/dir port=5432 user=u dbname=d password=p` (values may be 'single quoted').
    /// A host starting with '/' is a unix socket directory. Defaults: port 5432,
    /// user = $USER, dbname = user, host = /var/run/postgresql.
    pub fn parse(s: &str) -> Result<PgConfig, Error> {
        let s = s.trim();
        let raw = if let Some(rest) = s
            .strip_prefix("postgres://")
            .or_else(|| s.strip_prefix("postgresql://"))
        {
            parse_url(rest)?
        } else {
            parse_key_value(s)?
        };
        PgConfig::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<PgConfig, Error> {
        let port = match raw.port.as_deref() {
            None | Some("") => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| Error::config("port is not a number in 1..65535"))?,
        };
        if port == 0 {
            return Err(Error::config("port is not a number in 1..65535"));
        }
        let host = match raw.host.as_deref() {
            None | Some("") => Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR), port),
            Some(h) if h.starts_with('/') => Host::Unix(PathBuf::from(h), port),
            Some(h) => Host::Tcp(h.to_owned(), port),
        };
        let user = match raw.user.filter(|u| !u.is_empty()) {
            Some(u) => u,
            None => std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| Error::config("no user given and $USER is not set"))?,
        };
        let dbname = raw
            .dbname
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        for v in [&user, &dbname] {
            if v.contains('\0') {
                return Err(Error::config("user and dbname must not contain NUL"));
            }
        }
        Ok(PgConfig {
            host,
            user,
            password: raw.password,
            dbname,
            application_name: raw
                .application_name
                .unwrap_or_else(|| "edgeauth".to_owned()),
        })
    }

    /// The same settings for another database.
    pub fn with_dbname(&self, db: &str) -> PgConfig {
        PgConfig {
            dbname: db.to_owned(),
            ..self.clone()
        }
    }

    /// The same settings with another user and password.
    pub fn with_user(&self, user: &str, password: Option<&str>) -> PgConfig {
        PgConfig {
            user: user.to_owned(),
            password: password.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same settings with another host.
    pub fn with_host(&self, host: Host) -> PgConfig {
        PgConfig {
            host,
            ..self.clone()
        }
    }

    /// The same settings reported to the server under another `application_name`.
    pub fn with_application_name(&self, name: &str) -> PgConfig {
        PgConfig {
            application_name: name.to_owned(),
            ..self.clone()
        }
    }

    /// The same settings with a password, unless one is set already.
    pub fn or_password(&self, password: Option<String>) -> PgConfig {
        PgConfig {
            password: self.password.clone().or(password),
            ..self.clone()
        }
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// For logs: everything but the password.
    pub fn display_redacted(&self) -> String {
        let pw = if self.password.is_some() { ":***" } else { "" };
        match &self.host {
            Host::Tcp(h, port) => {
                format!("postgres://{}{pw}@{h}:{port}/{}", self.user, self.dbname)
            }
            Host::Unix(dir, port) => {
                format!(
                    "postgres://{}{pw}@/{}?host={}&port={port}",
                    self.user,
                    self.dbname,
                    dir.display()
                )
            }
        }
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_redacted())
    }
}

fn parse_url(rest: &str) -> Result<Raw, Error> {
    let mut raw = Raw::default();
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.find('/') {
        Some(i) => (&main[..i], &main[i + 1..]),
        None => (main, ""),
    };
    // The password may contain '@' only percent-encoded, but be lenient: split at the last '@'.
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            match userinfo.split_once(':') {
                Some((u, p)) => {
                    raw.user = Some(percent_decode(u)?);
                    raw.password = Some(percent_decode(p)?);
                }
                None => raw.user = Some(percent_decode(userinfo)?),
            }
            hostport
        }
        None => authority,
    };
    if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| Error::config("unterminated [ipv6] host"))?;
        raw.host = Some(h.to_owned());
        if let Some(p) = after.strip_prefix(':') {
            raw.port = Some(p.to_owned());
        } else if !after.is_empty() {
            return Err(Error::config("garbage after [ipv6] host"));
        }
    } else if hostport.starts_with("%2F") || hostport.starts_with("%2f") {
        // A percent-encoded socket directory may itself not contain ':'; a port follows it.
        match hostport.rsplit_once(':') {
            Some((h, p)) => {
                raw.host = Some(percent_decode(h)?);
                raw.port = Some(p.to_owned());
            }
            None => raw.host = Some(percent_decode(hostport)?),
        }
    } else if let Some((h, p)) = hostport.split_once(':') {
        raw.host = Some(percent_decode(h)?);
        raw.port = Some(p.to_owned());
    } else if !hostport.is_empty() {
        raw.host = Some(percent_decode(hostport)?);
    }
    if !path.is_empty() {
        raw.dbname = Some(percent_decode(path)?);
    }
    for pair in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        set_param(&mut raw, &percent_decode(k)?, percent_decode(v)?)?;
    }
    Ok(raw)
}

fn parse_key_value(s: &str) -> Result<Raw, Error> {
    let mut raw = Raw::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(raw);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(Error::config_detail("expected key=value", key));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(
                        chars
                            .next()
                            .ok_or_else(|| Error::config("unterminated quoted value"))?,
                    ),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(Error::config("unterminated quoted value")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(
                        chars
                            .next()
                            .ok_or_else(|| Error::config("dangling backslash"))?,
                    );
                } else {
                    value.push(c);
                }
            }
        }
        set_param(&mut raw, &key, value)?;
    }
}

fn set_param(raw: &mut Raw, key: &str, value: String) -> Result<(), Error> {
    match key {
        "host" => raw.host = Some(value),
        "port" => raw.port = Some(value),
        "user" => raw.user = Some(value),
        "password" => raw.password = Some(value),
        "dbname" => raw.dbname = Some(value),
        "application_name" => raw.application_name = Some(value),
        // We speak plain TCP or unix sockets only; accept the modes that allow that.
        "sslmode" => match value.as_str() {
            "disable" | "allow" | "prefer" => {}
            _ => {
                return Err(Error::config_detail(
                    "sslmode not supported (no TLS)",
                    value,
                ));
            }
        },
        "connect_timeout" => {}
        _ => {
            return Err(Error::config_detail(
                "unknown connection parameter",
                key.to_owned(),
            ));
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| Error::config("truncated %-escape"))?;
            let hi = (hex[0] as char).to_digit(16);
            let lo = (hex[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(Error::config("invalid %-escape")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::config("%-decoded value is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_everything() {
        let c = PgConfig::parse(
            "postgres://al%40ice:p%3Ass@db.example:6543/my%20db?application_name=x",
        )
        .unwrap();
        assert_eq!(c.host, Host::Tcp("db.example".into(), 6543));
        assert_eq!(c.user, "al@ice");
        assert_eq!(c.password(), Some("p:ss"));
        assert_eq!(c.dbname, "my db");
        assert_eq!(c.application_name, "x");
    }

    #[test]
    fn url_with_socket_dir_and_defaults() {
        let c = PgConfig::parse("postgresql://bob@%2Ftmp%2Fpg:55433").unwrap();
        assert_eq!(c.host, Host::Unix("/tmp/pg".into(), 55433));
        assert_eq!(
            c.host.socket_path().unwrap(),
            PathBuf::from("/tmp/pg/.s.PGSQL.55433")
        );
        assert_eq!(c.dbname, "bob");
        assert_eq!(c.password(), None);
        let c = PgConfig::parse("postgres://bob@/db?host=/run/pg&port=7").unwrap();
        assert_eq!(c.host, Host::Unix("/run/pg".into(), 7));
        let c = PgConfig::parse("postgres://u@[::1]:9/d").unwrap();
        assert_eq!(c.host, Host::Tcp("::1".into(), 9));
        let c = PgConfig::parse("postgres://u@h/d").unwrap();
        assert_eq!(c.host, Host::Tcp("h".into(), 5432));
    }

    #[test]
    fn key_value_form() {
        let c = PgConfig::parse(
            "host=/tmp/x port=55433 user=postgres dbname=postgres password='a b\\'c'",
        )
        .unwrap();
        assert_eq!(c.host, Host::Unix("/tmp/x".into(), 55433));
        assert_eq!(c.user, "postgres");
        assert_eq!(c.dbname, "postgres");
        assert_eq!(c.password(), Some("a b'c"));
        let c = PgConfig::parse("user=u host = 127.0.0.1").unwrap();
        assert_eq!(c.host, Host::Tcp("127.0.0.1".into(), 5432));
        assert_eq!(c.dbname, "u");
        let c = PgConfig::parse("user=u").unwrap();
        assert_eq!(c.host, Host::Unix(DEFAULT_SOCKET_DIR.into(), 5432));
    }

    #[test]
    fn bad_input_is_a_config_error() {
        for bad in [
            "host=x port=abc user=u",
            "host=x port=0 user=u",
            "user=u bogus=1",
            "user='unterminated",
            "user",
            "postgres://u@h/d%zz",
            "postgres://u@[::1/d",
            "user=u sslmode=require",
        ] {
            let e = PgConfig::parse(bad).unwrap_err();
            assert_eq!(e.kind(), super::super::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn redaction_hides_the_password() {
        let c = PgConfig::parse("postgres://u:hunter2@h:1/d").unwrap();
        assert!(!c.display_redacted().contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.with_dbname("other").dbname, "other");
        assert_eq!(c.with_application_name("t").application_name, "t");
    }
}
