//! Audit events: one JSON line per client change (through the CLI or the admin API), token
//! revocation, admin call, key reload and failed client authentication, written to
//! `audit_log` (a file, appended to, one write per line) or, unset, to stderr with the log
//! lines, told apart by `"audit":true`. Events name clients, addresses, kids and reasons;
//! never a secret, a key or a token.

use std::fmt::Display;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use crate::log;

/// The `audit_log` file, once opened; unset: stderr.
static FILE: OnceLock<File> = OnceLock::new();

/// Send the events of this process to `path` (created mode 0640, appended to), or, with
/// `None`, to stderr. Once per process; later calls change nothing.
pub fn open(path: Option<&Path>) -> std::io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("audit_log {}: {e}", path.display())))?;
    let _ = FILE.set(file);
    Ok(())
}

/// Write one event: `{"ts":..., "event": <event>, "audit": true, <fields>}`.
pub fn record(event: &str, fields: &[(&str, &dyn Display)]) {
    let mut all: Vec<(&str, &dyn Display)> = Vec::with_capacity(fields.len() + 1);
    all.push(("audit", &true));
    all.extend_from_slice(fields);
    let line = log::json_line(&[("event", event)], &all);
    let written = match FILE.get() {
        // O_APPEND and one write per line: lines from several shards never interleave.
        Some(mut file) => file.write_all(line.as_bytes()),
        None => std::io::stderr().lock().write_all(line.as_bytes()),
    };
    if let Err(e) = written {
        log::error(
            "an audit event could not be written",
            &[("event", &event), ("error", &e)],
        );
    }
}
