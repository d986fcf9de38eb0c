//! The one error type of the `pg` module: a kind the caller branches on, plus the cause.
//!
//! Shaped like tokio-postgres: `Error(Box<Inner>)` keeps `Result<T, Error>` one word wide on
//! the success path, and named constructors (`Error::closed()`, `Error::db(..)`) read well at
//! call sites. Errors are cold; the box costs nothing that matters.

use std::fmt;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorFields;

/// What went wrong, coarsely: the server answers 503 on `Closed`/`Io`, logs `Db` with its
/// SQLSTATE, and refuses to start on `Config`/`Auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection string could not be understood.
    Config,
    /// The socket failed (connect refused, reset, ...).
    Io,
    /// The server rejected our credentials, asked for a method we do not speak or the
    /// settings do not allow (`require_auth`, `channel_binding`), could not prove who it is
    /// (its TLS certificate), or would not encrypt when `sslmode` demands it: problems that
    /// retrying will not fix.
    Auth,
    /// The server sent bytes we cannot make sense of; the connection is dropped.
    Protocol,
    /// The connection is gone (or being shut down); the request was not, or may not have
    /// been, executed. Fail fast and let the session reconnect.
    Closed,
    /// The server executed the request and answered with an ErrorResponse.
    Db,
}

/// The fields of a server ErrorResponse that callers and logs need.
#[derive(Debug, Clone, Default)]
pub struct DbError {
    pub severity: String,
    /// SQLSTATE, e.g. `23505` for a unique violation.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
}

impl DbError {
    /// Collects the interesting fields of an ErrorResponse/NoticeResponse.
    pub(crate) fn parse(mut fields: ErrorFields<'_>) -> std::io::Result<DbError> {
        let mut e = DbError::default();
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' if e.severity.is_empty() => e.severity = value,
                b'V' => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                _ => {}
            }
        }
        Ok(e)
    }
}

/// An error from the `pg` module.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    /// A short static description of where it happened (never contains secrets).
    context: &'static str,
    db: Option<DbError>,
    cause: Option<Box<dyn std::error::Error + 'static>>,
}

impl Error {
    fn new(
        kind: ErrorKind,
        context: &'static str,
        db: Option<DbError>,
        cause: Option<Box<dyn std::error::Error + 'static>>,
    ) -> Error {
        Error(Box::new(Inner {
            kind,
            context,
            db,
            cause,
        }))
    }

    pub(crate) fn config(context: &'static str) -> Error {
        Error::new(ErrorKind::Config, context, None, None)
    }

    pub(crate) fn config_detail(context: &'static str, detail: String) -> Error {
        Error::new(ErrorKind::Config, context, None, Some(detail.into()))
    }

    pub(crate) fn io(context: &'static str, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, context, None, Some(Box::new(e)))
    }

    pub(crate) fn auth(context: &'static str) -> Error {
        Error::new(ErrorKind::Auth, context, None, None)
    }

    pub(crate) fn auth_detail(context: &'static str, detail: String) -> Error {
        Error::new(ErrorKind::Auth, context, None, Some(detail.into()))
    }

    pub(crate) fn auth_cause(
        context: &'static str,
        cause: Box<dyn std::error::Error + 'static>,
    ) -> Error {
        Error::new(ErrorKind::Auth, context, None, Some(cause))
    }

    /// A file the settings name (a certificate, a key) could not be used.
    pub(crate) fn config_cause(
        context: &'static str,
        cause: Box<dyn std::error::Error + 'static>,
    ) -> Error {
        Error::new(ErrorKind::Config, context, None, Some(cause))
    }

    pub(crate) fn protocol_cause(
        context: &'static str,
        cause: Box<dyn std::error::Error + 'static>,
    ) -> Error {
        Error::new(ErrorKind::Protocol, context, None, Some(cause))
    }

    /// The server refused the login (wrong password, unknown role, no pg_hba entry).
    pub(crate) fn auth_db(db: DbError) -> Error {
        Error::new(ErrorKind::Auth, "authentication failed", Some(db), None)
    }

    pub(crate) fn protocol(context: &'static str) -> Error {
        Error::new(ErrorKind::Protocol, context, None, None)
    }

    pub(crate) fn protocol_io(context: &'static str, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Protocol, context, None, Some(Box::new(e)))
    }

    /// The connection is closed; nothing was (or can be known to have been) executed.
    pub fn closed() -> Error {
        Error::new(ErrorKind::Closed, "connection closed", None, None)
    }

    pub(crate) fn closed_because(context: &'static str) -> Error {
        Error::new(ErrorKind::Closed, context, None, None)
    }

    pub(crate) fn db(db: DbError) -> Error {
        Error::new(ErrorKind::Db, "database error", Some(db), None)
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The SQLSTATE of a server error (also set for `Auth` errors the server reported).
    pub fn code(&self) -> Option<&str> {
        self.0.db.as_ref().map(|db| db.code.as_str())
    }

    pub fn is_closed(&self) -> bool {
        self.0.kind == ErrorKind::Closed
    }

    /// The server's ErrorResponse, if this error carries one.
    pub fn db_error(&self) -> Option<&DbError> {
        self.0.db.as_ref()
    }

    /// The server's primary message, if this error carries one.
    pub fn db_message(&self) -> Option<&str> {
        self.0.db.as_ref().map(|db| db.message.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0.kind {
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Io => "i/o error",
            ErrorKind::Auth => "authentication error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Closed => "connection closed",
            ErrorKind::Db => "db error",
        };
        write!(f, "postgres {kind}: {}", self.0.context)?;
        if let Some(db) = &self.0.db {
            write!(f, ": {} {}: {}", db.severity, db.code, db.message)?;
            if let Some(detail) = &db.detail {
                write!(f, " (DETAIL: {detail})")?;
            }
        }
        if let Some(cause) = &self.0.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("context", &self.0.context)
            .field("db", &self.0.db)
            .field("cause", &self.0.cause)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.cause.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_sqlstate_message_and_detail() {
        let e = Error::db(DbError {
            severity: "ERROR".into(),
            code: "23505".into(),
            message: "duplicate key".into(),
            detail: Some("Key (id)=(1) already exists.".into()),
        });
        let s = e.to_string();
        assert!(
            s.contains("23505") && s.contains("duplicate key") && s.contains("(id)=(1)"),
            "{s}"
        );
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some("23505"));
        assert_eq!(e.db_message(), Some("duplicate key"));
        assert!(!e.is_closed());
        assert!(Error::closed().is_closed());
        assert_eq!(Error::closed().code(), None);
    }
}
