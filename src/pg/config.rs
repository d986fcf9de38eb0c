//! Connection settings, parsed once at the boundary from a URL or a libpq key=value string.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use super::auth_policy::{ChannelBindingMode, RequireAuth};
use super::error::Error;
use super::tls::{SslMode, SslSettings};

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
    /// libpq's `hostaddr`: the IP address to connect to, while `host` stays the name the
    /// server's certificate must carry (`verify-full`) and the password file is searched for.
    pub hostaddr: Option<IpAddr>,
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`.
    pub ssl: SslSettings,
    pub channel_binding: ChannelBindingMode,
    pub require_auth: RequireAuth,
}

/// The raw pieces before defaults are applied.
#[derive(Default)]
struct Raw {
    host: Option<String>,
    hostaddr: Option<String>,
    port: Option<String>,
    user: Option<String>,
    password: Option<String>,
    dbname: Option<String>,
    application_name: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    channel_binding: Option<String>,
    require_auth: Option<String>,
}

impl PgConfig {
    /// Parses `postgres://user:pass@host:port/db?application_name=x&host=/dir` (components
    /// percent-decoded; the host may be a percent-encoded socket directory) or libpq's
    /// `host=/dir port=5432 user=u dbname=d password=p` (values may be 'single quoted').
    /// A host starting with '/' is a unix socket directory. Defaults: port 5432,
    /// user = $USER, dbname = user, host = /var/run/postgresql.
    ///
    /// TLS and authentication parameters follow libpq: `sslmode` (default `prefer`),
    /// `sslrootcert` (a file or `system`), `sslcert`, `sslkey`, `channel_binding`
    /// (`disable`, `prefer`, `require`), `require_auth` (e.g. `scram-sha-256`, `!password`)
    /// and `hostaddr`.
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
        let hostaddr = match raw.hostaddr.as_deref() {
            None | Some("") => None,
            Some(a) => Some(a.parse::<IpAddr>().map_err(|_| {
                Error::config_detail("hostaddr is not a numeric IP address", a.to_owned())
            })?),
        };
        let host = match (raw.host.as_deref(), hostaddr) {
            (None | Some(""), Some(addr)) => Host::Tcp(addr.to_string(), port),
            (None | Some(""), None) => Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR), port),
            (Some(h), Some(_)) if h.starts_with('/') => {
                return Err(Error::config(
                    "hostaddr goes with a host name, not a socket directory",
                ));
            }
            (Some(h), _) if h.starts_with('/') => Host::Unix(PathBuf::from(h), port),
            (Some(h), _) => Host::Tcp(h.to_owned(), port),
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
            hostaddr,
            ssl: SslSettings::new(
                raw.sslmode.as_deref(),
                raw.sslrootcert.as_deref(),
                raw.sslcert.as_deref(),
                raw.sslkey.as_deref(),
            )?,
            channel_binding: match raw.channel_binding.as_deref() {
                None | Some("") => ChannelBindingMode::default(),
                Some(v) => ChannelBindingMode::parse(v)?,
            },
            require_auth: match raw.require_auth.as_deref() {
                None | Some("") => RequireAuth::default(),
                Some(v) => RequireAuth::parse(v)?,
            },
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

    /// The same settings with another `sslmode`.
    pub fn with_sslmode(&self, mode: SslMode) -> PgConfig {
        let mut cfg = self.clone();
        cfg.ssl.mode = mode;
        cfg
    }

    /// For logs: everything but the password (and, over TCP, a `sslmode` other than the
    /// default).
    pub fn display_redacted(&self) -> String {
        let pw = if self.password.is_some() { ":***" } else { "" };
        match &self.host {
            Host::Tcp(h, port) => {
                let mode = self.ssl.mode;
                let query = if mode == SslMode::default() {
                    String::new()
                } else {
                    format!("?sslmode={mode}")
                };
                format!(
                    "postgres://{}{pw}@{h}:{port}/{}{query}",
                    self.user, self.dbname
                )
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
        "hostaddr" => raw.hostaddr = Some(value),
        "port" => raw.port = Some(value),
        "user" => raw.user = Some(value),
        "password" => raw.password = Some(value),
        "dbname" => raw.dbname = Some(value),
        "application_name" => raw.application_name = Some(value),
        "sslmode" => raw.sslmode = Some(value),
        "sslrootcert" => raw.sslrootcert = Some(value),
        "sslcert" => raw.sslcert = Some(value),
        "sslkey" => raw.sslkey = Some(value),
        "channel_binding" => raw.channel_binding = Some(value),
        "require_auth" => raw.require_auth = Some(value),
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
            "user=u sslmode=on",
            "user=u sslmode=verify",
            "user=u sslrootcert=system sslmode=require",
            "user=u channel_binding=maybe",
            "user=u require_auth=password,!md5",
            "user=u require_auth=md5,md5",
            "user=u require_auth=kerberos",
            "user=u hostaddr=db.example",
            "host=/tmp hostaddr=127.0.0.1 user=u",
        ] {
            let e = PgConfig::parse(bad).unwrap_err();
            assert_eq!(e.kind(), super::super::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn tls_parameters_from_a_url() {
        use crate::pg::tls::RootCert;
        use crate::pg::{AuthMethod, ChannelBindingMode};
        let c = PgConfig::parse(
            "postgres://u@db.example/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem\
             &sslcert=/c.pem&sslkey=/c.key&channel_binding=require&require_auth=scram-sha-256",
        )
        .unwrap();
        assert_eq!(c.ssl.mode, SslMode::VerifyFull);
        assert_eq!(c.ssl.rootcert, RootCert::File("/etc/ca.pem".into()));
        assert_eq!(c.ssl.cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.ssl.key, Some(PathBuf::from("/c.key")));
        assert_eq!(c.channel_binding, ChannelBindingMode::Require);
        assert!(c.require_auth.allows(AuthMethod::ScramSha256));
        assert!(!c.require_auth.allows(AuthMethod::Password));
        assert!(!c.require_auth.allows(AuthMethod::None));
        assert_eq!(
            c.display_redacted(),
            "postgres://u@db.example:5432/d?sslmode=verify-full"
        );
    }

    #[test]
    fn tls_parameters_from_key_values_and_their_defaults() {
        use crate::pg::tls::RootCert;
        use crate::pg::{AuthMethod, ChannelBindingMode};
        let c = PgConfig::parse("host=h user=u").unwrap();
        assert_eq!(c.ssl.mode, SslMode::Prefer);
        assert_eq!(c.ssl.rootcert, RootCert::Default);
        assert_eq!((c.ssl.cert.clone(), c.ssl.key.clone()), (None, None));
        assert_eq!(c.channel_binding, ChannelBindingMode::Prefer);
        assert!(c.require_auth.allows(AuthMethod::Password));
        assert!(c.require_auth.allows(AuthMethod::None));
        assert_eq!(c.hostaddr, None);
        let c = PgConfig::parse(
            "host=h user=u sslmode=require sslrootcert=system sslmode=verify-full \
             channel_binding=disable require_auth='!password,!md5'",
        )
        .unwrap();
        assert_eq!(c.ssl.mode, SslMode::VerifyFull);
        assert_eq!(c.ssl.rootcert, RootCert::System);
        assert_eq!(c.channel_binding, ChannelBindingMode::Disable);
        assert!(!c.require_auth.allows(AuthMethod::Md5));
        assert!(c.require_auth.allows(AuthMethod::None));
        // sslrootcert=system alone means verify-full, as in libpq.
        let c = PgConfig::parse("host=h user=u sslrootcert=system").unwrap();
        assert_eq!(c.ssl.mode, SslMode::VerifyFull);
        for mode in ["disable", "allow", "prefer", "require", "verify-ca"] {
            let c = PgConfig::parse(&format!("host=h user=u sslmode={mode}")).unwrap();
            assert_eq!(c.ssl.mode.name(), mode);
            assert_eq!(c.with_sslmode(SslMode::Disable).ssl.mode, SslMode::Disable);
        }
    }

    #[test]
    fn hostaddr_is_where_to_connect_and_host_the_name_to_verify() {
        let c = PgConfig::parse("host=db.example hostaddr=127.0.0.1 port=7 user=u").unwrap();
        assert_eq!(c.host, Host::Tcp("db.example".into(), 7));
        assert_eq!(c.hostaddr, Some("127.0.0.1".parse().unwrap()));
        let c = PgConfig::parse("postgres://u@/d?hostaddr=::1").unwrap();
        assert_eq!(c.host, Host::Tcp("::1".into(), 5432));
        assert_eq!(c.hostaddr, Some("::1".parse().unwrap()));
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
