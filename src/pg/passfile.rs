//! Passwords from a password file, as libpq reads `PGPASSFILE` (default `~/.pgpass`): lines
//! `hostname:port:database:username:password`, `*` matching anything, `\:` and `\\`
//! escaping, the first matching line winning. A password in a file stays out of the
//! process list and out of the configuration.

use std::path::Path;

use super::config::{Host, PgConfig};

/// The password the file at `path` holds for `cfg`, if any. A file that cannot be read,
/// or that others may read (libpq ignores those too), yields `Err` with the reason.
pub fn lookup(path: &Path, cfg: &PgConfig) -> Result<Option<String>, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: readable by group or others; chmod 0600 it (ignored until then)",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (host, port) = match &cfg.host {
        Host::Tcp(host, port) => (host.as_str(), *port),
        // libpq matches a socket connection against `localhost`.
        Host::Unix(_, port) => ("localhost", *port),
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), cfg.dbname.as_str(), cfg.user.as_str()];
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(fields)
        .find(|f| f.len() == 5 && f[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w))
        .map(|mut f| f.swap_remove(4)))
}

/// A line's `:`-separated fields, with `\:` and `\\` unescaped.
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn file(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("edgeauth-pgpass-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let cfg = PgConfig::parse("postgres://app@db.example:6432/tokens").unwrap();
        let path = file(
            "match",
            "# comment\nother:6432:tokens:app:no\ndb.example:6432:*:app:pa\\:ss\\\\w\n*:*:*:*:later\n",
            0o600,
        );
        assert_eq!(lookup(&path, &cfg), Ok(Some("pa:ss\\w".to_owned())));
        let other_user = PgConfig::parse("postgres://nobody@db.example:6432/tokens").unwrap();
        assert_eq!(lookup(&path, &other_user), Ok(Some("later".to_owned())));
        let socket = PgConfig::parse("host=/run/postgresql port=5432 user=app dbname=x").unwrap();
        let path = file("socket", "localhost:5432:x:app:sock\n", 0o600);
        assert_eq!(lookup(&path, &socket), Ok(Some("sock".to_owned())));
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let cfg = PgConfig::parse("postgres://app@db/x").unwrap();
        let path = file("open", "*:*:*:*:pw\n", 0o644);
        assert!(lookup(&path, &cfg).unwrap_err().contains("chmod 0600"));
        let path = file("none", "db:5432:x:someone:pw\n", 0o600);
        assert_eq!(lookup(&path, &cfg), Ok(None));
    }
}
