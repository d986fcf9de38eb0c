//! Structured logs: one JSON object per line on stderr.
//!
//! Logging is off the hot path (start-up, connection faults, database state changes), so a
//! small writer that formats into a fresh line is enough; what matters is that every line is
//! valid JSON and that no secret ever reaches it — callers pass only names, ids and errors.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            _ => Err(format!(
                "unknown log level {s:?} (error, warn, info, debug)"
            )),
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Write one log line: `{"ts":..., "level":..., "msg":..., <fields>}`.
pub fn event(level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
    if !enabled(level) {
        return;
    }
    let line = json_line(&[("level", level.as_str()), ("msg", msg)], fields);
    // One write per line so that lines from several shards do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `{"ts":"<now>", <leading strings>, <fields>}` and a newline: the shape of every log line
/// and audit event.
pub fn json_line(leading: &[(&str, &str)], fields: &[(&str, &dyn Display)]) -> String {
    let mut line = String::with_capacity(128);
    line.push_str("{\"ts\":\"");
    push_rfc3339_now(&mut line);
    line.push('"');
    for (key, value) in leading {
        line.push(',');
        push_json_string(&mut line, key);
        line.push(':');
        push_json_string(&mut line, value);
    }
    for (key, value) in fields {
        line.push(',');
        push_json_string(&mut line, key);
        line.push(':');
        let value = value.to_string();
        if looks_like_json_scalar(&value) {
            line.push_str(&value);
        } else {
            push_json_string(&mut line, &value);
        }
    }
    line.push_str("}\n");
    line
}

pub fn error(msg: &str, fields: &[(&str, &dyn Display)]) {
    event(Level::Error, msg, fields)
}
pub fn warn(msg: &str, fields: &[(&str, &dyn Display)]) {
    event(Level::Warn, msg, fields)
}
pub fn info(msg: &str, fields: &[(&str, &dyn Display)]) {
    event(Level::Info, msg, fields)
}
pub fn debug(msg: &str, fields: &[(&str, &dyn Display)]) {
    event(Level::Debug, msg, fields)
}

/// Counts, sizes and flags are logged as JSON numbers and booleans, so that log queries can
/// compare them; everything else is a string.
fn looks_like_json_scalar(v: &str) -> bool {
    v == "true"
        || v == "false"
        || (!v.is_empty()
            && v.len() <= 15
            && v.bytes().all(|b| b.is_ascii_digit())
            && (v == "0" || !v.starts_with('0')))
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping is the reference; a log line is not the hot path.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".to_owned()));
}

fn push_rfc3339_now(out: &mut String) {
    let now = crate::clock::unix_now();
    let secs = now.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let _ = std::fmt::Write::write_fmt(
        out,
        format_args!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            now.subsec_millis()
        ),
    );
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!("WARN".parse::<Level>(), Ok(Level::Warn));
        assert!("loud".parse::<Level>().is_err());
        assert!(Level::Error < Level::Debug);
    }
}
