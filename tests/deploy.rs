//! The files in `deploy/`: the systemd unit passes `systemd-analyze verify` without a single
//! warning and keeps the settings the server relies on; `edgeauth.toml.example`, uncommented,
//! is accepted by the real binary and names exactly the settings of the README's table.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, TestDb, unique_name};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `key=value` lines of the unit's `[Service]` section (a key may repeat).
fn service_settings(unit: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// `systemd-analyze verify` on a copy of the unit whose ExecStart is the binary under test
/// (verify checks that the command exists and is executable). Verify exits 0 on unknown keys
/// and unparsable values, only printing a warning, so any output at all fails the test.
fn verify(unit_text: &str) -> Output {
    let dir = temp_dir("edgeauth-unit");
    let bin = dir.join("edgeauth");
    std::os::unix::fs::symlink(BIN, &bin).unwrap();
    let copy = unit_text.replace("/usr/local/bin/edgeauth", bin.to_str().unwrap());
    assert!(
        !copy.contains("/usr/local/bin/"),
        "every path was redirected"
    );
    let unit = dir.join("edgeauth.service");
    std::fs::write(&unit, copy).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect(
            "systemd-analyze runs (scripts/test.sh installs Debian's systemd if it is missing)",
        );
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn systemd_unit_verifies_cleanly() {
    let unit = read("deploy/edgeauth.service");
    let out = verify(&unit);
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify deploy/edgeauth.service:\n{}",
        text(&out)
    );

    // The check above does catch mistakes: a misspelt key and a bad boolean are reported.
    let broken = unit.replace(
        "NoNewPrivileges=yes",
        "NoNewPrivileges=yess\nLimitNOFILES=1",
    );
    let out = verify(&broken);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LimitNOFILES") && stderr.contains("yess"),
        "verify reports the broken copy:\n{}",
        text(&out)
    );
}

#[test]
fn systemd_unit_keeps_what_the_server_needs() {
    let settings = service_settings(&read("deploy/edgeauth.service"));
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| -> &str {
        let v = get(key);
        assert_eq!(v.len(), 1, "{key} is set exactly once: {v:?}");
        v[0]
    };
    assert_eq!(one("ExecStart"), "/usr/local/bin/edgeauth serve");
    assert_eq!(one("User"), "edgeauth");
    assert_eq!(one("Group"), "edgeauth");
    assert_eq!(one("DynamicUser"), "no");
    assert_eq!(one("EnvironmentFile"), "-/etc/edgeauth/edgeauth.env");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("KillSignal"), "SIGTERM");
    assert_eq!(one("StateDirectory"), "edgeauth");
    assert!(get("Environment").contains(&"EDGEAUTH_DATA_DIR=/var/lib/edgeauth"));
    assert!(one("LimitNOFILE").parse::<u64>().unwrap() >= 1 << 20);
    assert_eq!(one("LimitMEMLOCK"), "infinity");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("NoNewPrivileges"), "yes");

    // systemd must not SIGKILL the server while it still flushes its token buffers.
    let stop: u64 = one("TimeoutStopSec").parse().unwrap();
    let flush = edgeauth::limits::SHUTDOWN_FLUSH_MAX.as_secs();
    assert!(
        stop >= flush + 10,
        "TimeoutStopSec={stop} leaves the {flush} s flush no margin"
    );

    // The syscall filter must keep io_uring and CPU pinning: @system-service contains @aio
    // (io_uring_*) and @resources (sched_setaffinity) on systemd >= 252.
    let filters = get("SystemCallFilter");
    assert!(filters.contains(&"@system-service"), "{filters:?}");
    for f in &filters {
        assert!(
            !f.contains("@aio") && !f.contains("@resources") && !f.contains("io_uring"),
            "the filter {f:?} would break io_uring or pinning"
        );
    }
    let out = Command::new("systemd-analyze")
        .args(["syscall-filter", "@system-service"])
        .output()
        .expect("systemd-analyze runs");
    let groups = String::from_utf8_lossy(&out.stdout);
    assert!(
        groups.contains("@aio") && groups.contains("@resources"),
        "{}",
        text(&out)
    );
}

/// The example with every `# key = value` line uncommented and the test database's URL.
fn uncommented_example(database_url: &str) -> (String, BTreeSet<String>) {
    let mut keys = BTreeSet::new();
    let mut out = String::new();
    for line in read("deploy/edgeauth.toml.example").lines() {
        let setting = line.strip_prefix("# ").and_then(|rest| {
            let (key, _) = rest.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then_some((key, rest))
        });
        match setting {
            Some((key, rest)) => {
                assert!(keys.insert(key.to_owned()), "{key} appears twice");
                if key == "database_url" {
                    out.push_str(&format!("database_url = {database_url:?}\n"));
                } else if key == "admin_token_file" {
                    // An alternative to admin_token: the two are not given together.
                } else {
                    out.push_str(rest);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    (out, keys)
}

/// The names in the README's configuration table.
fn readme_settings() -> BTreeSet<String> {
    let readme = read("README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a Configuration section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.split('`').next().unwrap().to_owned())
        .collect()
}

/// `edgeauth --config FILE client list`, with no `EDGEAUTH_*` variable from outside.
fn client_list_with(config: &str) -> Output {
    let dir = temp_dir("edgeauth-config");
    let path = dir.join("edgeauth.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&path).args(["client", "list"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("EDGEAUTH_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("edgeauth runs");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn toml_example_is_accepted_and_complete() {
    let db = TestDb::new();
    db.add_client("deploy-check", "read");
    let (config, keys) = uncommented_example(&db.url);

    assert_eq!(
        keys,
        readme_settings(),
        "deploy/edgeauth.toml.example names exactly the README's settings"
    );
    let declared: BTreeSet<String> = edgeauth::config::SETTINGS
        .iter()
        .map(|s| s.name.to_owned())
        .collect();
    assert_eq!(
        readme_settings(),
        declared,
        "the README's table lists exactly the settings config::SETTINGS declares"
    );

    // The database URL comes from the file alone; every other setting is validated too.
    let out = client_list_with(&config);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deploy-check"),
        "client list read the file's database: {}",
        text(&out)
    );

    // An unknown key is refused, so the acceptance above means every key is a real setting.
    let out = client_list_with(&format!("{config}no_such_setting = 1\n"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_such_setting"),
        "{}",
        text(&out)
    );
}
