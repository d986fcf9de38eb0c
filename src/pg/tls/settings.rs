//! libpq's TLS settings as the connection string gives them: `sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`. Pure values; the files are read when a connection is made (as libpq
//! does), so a renewed certificate is picked up by the next reconnect.

use std::fmt;
use std::path::PathBuf;

use crate::pg::error::Error;

/// libpq's `sslmode`, with libpq's meaning. Over a unix socket none of them encrypts (libpq
/// does the same: the socket never leaves the machine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// libpq tries plain first and TLS second; we treat it as `prefer` (TLS first), which
    /// reaches the same servers except one that refuses TLS connections in pg_hba.conf.
    Allow,
    /// TLS if the server offers it, plain if it answers 'N' (libpq's default).
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is checked only if a root certificate is at hand
    /// (`sslrootcert`, or `~/.postgresql/root.crt`), and then as `verify-ca`.
    Require,
    /// TLS, and the server's chain must lead to a root in `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host we connect to.
    VerifyFull,
}

impl SslMode {
    pub fn parse(value: &str) -> Result<SslMode, Error> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(Error::config_detail(
                    "sslmode must be disable, allow, prefer, require, verify-ca or verify-full",
                    value.to_owned(),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a server that answers 'N' to SSLRequest must be refused.
    pub fn demands_tls(self) -> bool {
        self >= SslMode::Require
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the trusted roots for the server's certificate come from (`sslrootcert`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RootCert {
    /// Not given: `~/.postgresql/root.crt` if it exists, else no verification (libpq's rule).
    #[default]
    Default,
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's CA bundle; implies `verify-full`.
    System,
}

/// Everything TLS the connection string says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SslSettings {
    pub mode: SslMode,
    pub rootcert: RootCert,
    /// The client certificate chain (PEM); default `~/.postgresql/postgresql.crt` if it
    /// exists.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM, unencrypted); default `~/.postgresql/postgresql.key`.
    pub key: Option<PathBuf>,
}

impl SslSettings {
    /// Combines the raw parameters with libpq's rules: `sslrootcert=system` makes the default
    /// mode `verify-full` and any weaker mode an error (the system roots vouch for names,
    /// not for a private CA's chains).
    pub fn new(
        mode: Option<&str>,
        rootcert: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<SslSettings, Error> {
        let rootcert = match rootcert {
            None | Some("") => RootCert::Default,
            Some("system") => RootCert::System,
            Some(path) => RootCert::File(PathBuf::from(path)),
        };
        let mode = match (mode, &rootcert) {
            (None, RootCert::System) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
            (Some(m), _) => SslMode::parse(m)?,
        };
        if rootcert == RootCert::System && mode != SslMode::VerifyFull {
            return Err(Error::config_detail(
                "sslrootcert=system needs sslmode=verify-full",
                format!("sslmode={mode}"),
            ));
        }
        let path = |p: Option<&str>| p.filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(SslSettings {
            mode,
            rootcert,
            cert: path(cert),
            key: path(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::ErrorKind;

    #[test]
    fn every_mode_parses_and_prints_back() {
        for name in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(name).unwrap().name(), name);
        }
        assert_eq!(SslMode::parse("on").unwrap_err().kind(), ErrorKind::Config);
        assert!(!SslMode::Prefer.demands_tls() && !SslMode::Allow.demands_tls());
        assert!(SslMode::Require.demands_tls() && SslMode::VerifyCa.demands_tls());
    }

    #[test]
    fn defaults_are_libpqs() {
        let s = SslSettings::new(None, None, None, None).unwrap();
        assert_eq!(s, SslSettings::default());
        assert_eq!(s.mode, SslMode::Prefer);
        assert_eq!(s.rootcert, RootCert::Default);
        let s = SslSettings::new(None, Some("system"), None, None).unwrap();
        assert_eq!(
            (s.mode, s.rootcert),
            (SslMode::VerifyFull, RootCert::System)
        );
    }

    #[test]
    fn system_roots_refuse_a_weaker_mode() {
        let e = SslSettings::new(Some("require"), Some("system"), None, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("sslmode=require"), "{e}");
        assert!(SslSettings::new(Some("verify-full"), Some("system"), None, None).is_ok());
    }

    #[test]
    fn files_are_kept_as_paths() {
        let s = SslSettings::new(
            Some("verify-ca"),
            Some("/etc/pg/ca.pem"),
            Some("/etc/pg/me.pem"),
            Some("/etc/pg/me.key"),
        )
        .unwrap();
        assert_eq!(s.mode, SslMode::VerifyCa);
        assert_eq!(s.rootcert, RootCert::File("/etc/pg/ca.pem".into()));
        assert_eq!(s.cert, Some("/etc/pg/me.pem".into()));
        assert_eq!(s.key, Some("/etc/pg/me.key".into()));
    }
}
