//! What the client accepts from the server during authentication: libpq's `require_auth`
//! and `channel_binding`. Parsed once with the connection string; `connect` consults them.

use std::fmt;

use super::error::Error;

/// One authentication method as `require_auth` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// The server let us in without asking anything (trust, peer, cert-only).
    None,
    /// A cleartext password (pg_hba `password`).
    Password,
    Md5,
    Gss,
    Sspi,
    ScramSha256,
}

impl AuthMethod {
    const ALL: [AuthMethod; 6] = [
        AuthMethod::None,
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::Gss,
        AuthMethod::Sspi,
        AuthMethod::ScramSha256,
    ];

    fn name(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::Gss => "gss",
            AuthMethod::Sspi => "sspi",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// libpq's `require_auth`: the methods the server may use. The default allows every method
/// and no authentication at all, as libpq's does, so that existing URLs keep working;
/// `require_auth=scram-sha-256` is how a deployment refuses to hand a password (or its MD5)
/// to whoever answers on the database's address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequireAuth {
    allowed: u8,
    /// Written as a `!` list: shown back that way in errors.
    negated: bool,
}

impl Default for RequireAuth {
    fn default() -> RequireAuth {
        RequireAuth {
            allowed: AuthMethod::ALL.iter().fold(0, |bits, m| bits | m.bit()),
            negated: false,
        }
    }
}

impl RequireAuth {
    /// `scram-sha-256`, `password,md5`, `!password,!md5`, `none`, `!none`: a comma list of
    /// methods, all plain (the server must use one of them) or all negated with `!` (it must
    /// use none of them). Mixing the two, naming a method twice or an unknown one is an
    /// error, as in libpq.
    pub fn parse(value: &str) -> Result<RequireAuth, Error> {
        let mut listed = 0u8;
        let mut negated = None;
        for item in value.split(',') {
            let (neg, name) = match item.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, item),
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(Error::config_detail(
                    "require_auth mixes negated and plain methods",
                    value.to_owned(),
                ));
            }
            let method = AuthMethod::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .ok_or_else(|| {
                    Error::config_detail("require_auth names an unknown method", name.to_owned())
                })?;
            if listed & method.bit() != 0 {
                return Err(Error::config_detail(
                    "require_auth names a method twice",
                    name.to_owned(),
                ));
            }
            listed |= method.bit();
        }
        let negated = negated == Some(true);
        let allowed = if negated {
            RequireAuth::default().allowed & !listed
        } else {
            listed
        };
        Ok(RequireAuth { allowed, negated })
    }

    pub fn allows(self, method: AuthMethod) -> bool {
        self.allowed & method.bit() != 0
    }

    /// A refusal that names the method and the setting, for the error's detail.
    pub(crate) fn refusal(self, method: AuthMethod) -> Result<(), Error> {
        if self.allows(method) {
            return Ok(());
        }
        let what = match method {
            AuthMethod::None => "the server let us in without authentication",
            AuthMethod::Password => "the server asked for a cleartext password",
            AuthMethod::Md5 => "the server asked for an MD5 password",
            AuthMethod::Gss => "the server asked for GSSAPI",
            AuthMethod::Sspi => "the server asked for SSPI",
            AuthMethod::ScramSha256 => "the server asked for SCRAM-SHA-256",
        };
        Err(Error::auth_detail(
            "the server's authentication method is not allowed",
            format!("{what}, but require_auth={self}"),
        ))
    }
}

impl fmt::Display for RequireAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bang, shown) = if self.negated {
            ("!", false)
        } else {
            ("", true)
        };
        let mut sep = "";
        for m in AuthMethod::ALL
            .into_iter()
            .filter(|m| self.allows(*m) == shown)
        {
            write!(f, "{sep}{bang}{}", m.name())?;
            sep = ",";
        }
        Ok(())
    }
}

impl fmt::Debug for RequireAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequireAuth({self})")
    }
}

/// libpq's `channel_binding`: whether SCRAM binds itself to the TLS connection
/// (SCRAM-SHA-256-PLUS with `tls-server-end-point`), which defeats a man in the middle who
/// terminates TLS with a certificate of his own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChannelBindingMode {
    /// Never bind, even if the server offers it.
    Disable,
    /// Bind when the connection is TLS and the server offers SCRAM-SHA-256-PLUS (libpq's
    /// default).
    #[default]
    Prefer,
    /// Authenticate with SCRAM-SHA-256-PLUS or not at all.
    Require,
}

impl ChannelBindingMode {
    pub fn parse(value: &str) -> Result<ChannelBindingMode, Error> {
        match value {
            "disable" => Ok(ChannelBindingMode::Disable),
            "prefer" => Ok(ChannelBindingMode::Prefer),
            "require" => Ok(ChannelBindingMode::Require),
            _ => Err(Error::config_detail(
                "channel_binding must be disable, prefer or require",
                value.to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_everything_including_no_authentication() {
        let d = RequireAuth::default();
        for m in AuthMethod::ALL {
            assert!(d.allows(m), "{m:?}");
        }
    }

    #[test]
    fn a_plain_list_allows_exactly_its_methods() {
        let r = RequireAuth::parse("scram-sha-256").unwrap();
        assert!(r.allows(AuthMethod::ScramSha256));
        for m in [AuthMethod::None, AuthMethod::Password, AuthMethod::Md5] {
            assert!(!r.allows(m), "{m:?}");
        }
        let r = RequireAuth::parse("password,md5").unwrap();
        assert!(r.allows(AuthMethod::Password) && r.allows(AuthMethod::Md5));
        assert!(!r.allows(AuthMethod::ScramSha256) && !r.allows(AuthMethod::None));
        assert_eq!(r.to_string(), "password,md5");
        let r = RequireAuth::parse("none").unwrap();
        assert!(r.allows(AuthMethod::None) && !r.allows(AuthMethod::ScramSha256));
    }

    #[test]
    fn a_negated_list_allows_everything_else() {
        let r = RequireAuth::parse("!password,!md5").unwrap();
        assert!(!r.allows(AuthMethod::Password) && !r.allows(AuthMethod::Md5));
        assert!(r.allows(AuthMethod::ScramSha256) && r.allows(AuthMethod::None));
        assert_eq!(r.to_string(), "!password,!md5");
        let r = RequireAuth::parse("!none").unwrap();
        assert!(!r.allows(AuthMethod::None));
        assert_eq!(r.to_string(), "!none");
        assert!(r.allows(AuthMethod::Password) && r.allows(AuthMethod::ScramSha256));
    }

    #[test]
    fn mixed_repeated_unknown_or_empty_is_a_config_error() {
        for bad in [
            "password,!md5",
            "!md5,password",
            "md5,md5",
            "!md5,!md5",
            "kerberos",
            "",
            "scram-sha-256,",
            " md5",
        ] {
            let e = RequireAuth::parse(bad).unwrap_err();
            assert_eq!(e.kind(), super::super::ErrorKind::Config, "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_method_and_the_setting() {
        let r = RequireAuth::parse("scram-sha-256").unwrap();
        let e = r.refusal(AuthMethod::Password).unwrap_err().to_string();
        assert!(
            e.contains("password") && e.contains("require_auth=scram-sha-256"),
            "{e}"
        );
        assert!(r.refusal(AuthMethod::ScramSha256).is_ok());
    }

    #[test]
    fn channel_binding_values() {
        assert_eq!(
            ChannelBindingMode::parse("require").unwrap(),
            ChannelBindingMode::Require
        );
        assert_eq!(
            ChannelBindingMode::parse("disable").unwrap(),
            ChannelBindingMode::Disable
        );
        assert_eq!(
            ChannelBindingMode::parse("prefer").unwrap(),
            ChannelBindingMode::default()
        );
        assert!(ChannelBindingMode::parse("yes").is_err());
    }
}
