//! The files in `deploy/` and the documents: the systemd unit passes `systemd-analyze
//! verify` without a single warning and keeps the settings the server relies on;
//! `edgeauth.toml.example`, uncommented, is accepted by the real binary and names exactly the
//! declared settings; `docs/CONFIGURATION.md` is what `config::reference()` renders
//! (`EDGEAUTH_BLESS=1` rewrites it); every relative link of the README and `docs/` resolves.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, TestDb, output_text, unique_name};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
        output_text(&out)
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
        output_text(&out)
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
        output_text(&out)
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

/// The names in the settings table of docs/CONFIGURATION.md.
fn documented_settings() -> BTreeSet<String> {
    let page = read(CONFIGURATION);
    let table = page
        .split("\n## Settings\n")
        .nth(1)
        .expect("docs/CONFIGURATION.md has a Settings section");
    let table = table.split("\n## ").next().unwrap();
    table
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

    let declared: BTreeSet<String> = edgeauth::config::SETTINGS
        .iter()
        .map(|s| s.name.to_owned())
        .collect();
    assert_eq!(
        keys, declared,
        "deploy/edgeauth.toml.example names exactly the settings config::SETTINGS declares"
    );
    assert_eq!(
        documented_settings(),
        declared,
        "docs/CONFIGURATION.md's table lists exactly the settings config::SETTINGS declares \
         (EDGEAUTH_BLESS=1 cargo test --test deploy renders it again)"
    );

    // The database URL comes from the file alone; every other setting is validated too.
    let out = client_list_with(&config);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deploy-check"),
        "client list read the file's database: {}",
        output_text(&out)
    );

    // An unknown key is refused, so the acceptance above means every key is a real setting.
    let out = client_list_with(&format!("{config}no_such_setting = 1\n"));
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_such_setting"),
        "{}",
        output_text(&out)
    );
}

const CONFIGURATION: &str = "docs/CONFIGURATION.md";

/// What docs/CONFIGURATION.md says before its table: where settings come from, how values
/// are written, what a reload reads, and the one setting that has no flag.
const CONFIGURATION_HEAD: &str = r#"# Configuration reference

Generated from `config::SETTINGS` by `EDGEAUTH_BLESS=1 cargo test --test deploy`; do not edit.
Each setting is declared once, in `src/config.rs`: its flag, its environment variable, its
TOML key, its validation, its `--help` line, its field in the start-up log line and its row
below all follow from that entry, so they cannot disagree.

## Where settings come from

Each setting can be given three ways. The first that gives it wins:

1. a flag: `--cache-ttl 1s`;
2. an environment variable, `EDGEAUTH_` and the name in capitals: `EDGEAUTH_CACHE_TTL=1s`;
3. the TOML file named by `--config FILE` or `EDGEAUTH_CONFIG=FILE`: `cache_ttl = "1s"`.

A setting none of them gives has the default below. An unknown key in the file is an error,
so a misspelt setting never falls back to its default unnoticed. Flags are visible to every
user of the machine in the process list: give secrets (`database_url` with a password,
`admin_token`) in the environment, the file, or `admin_token_file`.

At start-up the server logs one line, `"msg":"edgeauth listening"`, with every setting as it
was resolved (the database password masked, the admin token as `set` or `unset`); see
[Metrics and logs](OPERATIONS.md#metrics-and-logs).

**Durations** are a whole number and a unit: `5ms`, `200ms`, `5s`, `10m`, `1h`, `1d`.
**Lists** (`signing_keys`, `trusted_proxies`) are comma-separated in a flag or a variable,
and arrays of strings in the file. In the file, numbers and booleans may be written bare
(`cache_capacity = 5000`, `dpop_nonce = true`) or as strings.

**Reloading.** SIGHUP (`systemctl reload edgeauth`) reads `signing_keys` and
`trusted_issuers` from the configuration again, and re-reads every file they name and the
files of `tls_cert`, `tls_key`, `tls_client_ca` and `tls_ticket_key_file`, all or nothing
([Rotating signing keys](OPERATIONS.md#rotating-signing-keys)). Every other setting needs a
restart.

## trusted_issuers (TOML only)

Workload-identity platforms are tables in the TOML file, one per platform; no flag or
variable sets them ([Workload identity](CLIENTS.md#workload-identity)):

```toml
[[trusted_issuers]]
issuer = "https://kubernetes.default.svc.cluster.local"   # the iss of its tokens (a URL)
jwks_file = "/etc/edgeauth/k8s-jwks.json"                  # its public keys, re-read on SIGHUP
audience = "edgeauth"                                      # what its tokens' aud must contain
# max_token_age = "24h"                                    # longest exp - iat accepted (1m to 7d)
```

`issuer`, `jwks_file` and `audience` are required, `max_token_age` defaults to `24h`, and no
other key is accepted. At most 32 issuers, each listed once.

## Settings

| setting | flag | environment variable | default | unit | meaning |
|---|---|---|---|---|---|
"#;

/// Text for a table cell: no `|` to end the cell early, no `<...>` taken for HTML, no `*`
/// taken for emphasis.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('*', "\\*")
}

/// docs/CONFIGURATION.md as `config::reference()` renders it.
fn rendered_configuration() -> String {
    let mut page = CONFIGURATION_HEAD.to_owned();
    for [name, flag, env, default, unit, help] in edgeauth::config::reference() {
        let default = if default.contains(' ') {
            cell(&default)
        } else {
            format!("`{default}`")
        };
        page.push_str(&format!(
            "| `{name}` | `{flag}` | `{env}` | {default} | {} | {} |\n",
            cell(&unit),
            cell(&help)
        ));
    }
    page
}

/// The reference is generated, so it cannot drift from the declarations: the file on disk
/// must be exactly what they render. `EDGEAUTH_BLESS=1` writes it instead.
#[test]
fn configuration_reference_is_generated() {
    let rendered = rendered_configuration();
    let path = Path::new(ROOT).join(CONFIGURATION);
    if std::env::var("EDGEAUTH_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("{CONFIGURATION}: {e}"));
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != rendered {
        let first_difference = on_disk
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(on_disk.lines().count().min(rendered.lines().count()));
        panic!(
            "{CONFIGURATION} is not what config::SETTINGS renders (first difference at line {}); \
             run `EDGEAUTH_BLESS=1 cargo test --test deploy` and commit the file",
            first_difference + 1
        );
    }
}

/// GitHub's anchor for a heading: lowercase, spaces to `-`, punctuation but `-` and `_`
/// dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The lines of a markdown file outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            out.push((i + 1, line));
        }
    }
    out
}

/// Every anchor a markdown file's headings give, numbered as GitHub numbers repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of a line's markdown links (`[text](target)`, images too), outside inline
/// code.
fn link_targets(line: &str) -> Vec<String> {
    let mut prose = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            prose.push_str(part);
        }
    }
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        targets.push(rest[..end].trim().to_owned());
        rest = &rest[end..];
    }
    targets
}

/// Every relative link in README.md and docs/*.md names a file that exists, and every
/// `#anchor` a heading of the file it points into.
#[test]
fn docs_links_resolve() {
    let root = Path::new(ROOT);
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let shown = page.strip_prefix(root).unwrap().display().to_string();
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(path)
                };
                if !file.exists() {
                    problems.push(format!("{shown}:{number}: {target}: no such file"));
                    continue;
                }
                if anchor.is_empty() {
                    continue;
                }
                let is_markdown = file.extension().is_some_and(|e| e == "md");
                let found = is_markdown
                    && anchors(&std::fs::read_to_string(&file).unwrap()).contains(anchor);
                if !found {
                    problems.push(format!("{shown}:{number}: {target}: no such heading"));
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no relative link was found: the scan is broken"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Behind a load balancer: PROXY protocol"),
        "behind-a-load-balancer-proxy-protocol"
    );
    assert_eq!(
        slug("Clients without secrets: private_key_jwt and workload identity"),
        "clients-without-secrets-private_key_jwt-and-workload-identity"
    );
    assert_eq!(
        slug("The `tokens` table (schema 12)"),
        "the-tokens-table-schema-12"
    );
    let repeated = anchors("# A\n## Notes\n```\n# not a heading\n```\n## Notes\n");
    assert!(repeated.contains("notes") && repeated.contains("notes-1"));
    assert!(!repeated.contains("not-a-heading"));
}
