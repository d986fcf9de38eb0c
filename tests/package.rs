//! The Debian package (scripts/package.sh) installed on this machine with `dpkg -i`: its
//! files, modes, user and data directory; a reinstall; `dpkg -r`, which keeps the settings,
//! the data and the user; `dpkg --purge`, which leaves nothing behind.
//!
//! It changes the machine, so:
//! * without root or without dpkg it does nothing and says so on stderr (shown by nextest:
//!   `.config/nextest.toml`);
//! * it refuses to start where edgeauth's package, user, settings or data already exist,
//!   since its purge would take them away;
//! * it is the only test in this binary (nextest runs a binary's tests in parallel, one
//!   process each), and it holds a lock, so two suites on one machine take turns;
//! * a failing check still purges the package on the way out.
//!
//! The package is `EDGEAUTH_TEST_DEB` when that is set (to test the release package:
//! `EDGEAUTH_TEST_DEB=$(scripts/package.sh) scripts/test.sh`); otherwise scripts/package.sh
//! packages the binary the rest of the suite tests, which takes seconds, not a release build.

mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, output_text, unique_name};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Locked while the test runs: a directory every machine with dpkg has, so no lock file is
/// left behind. dpkg's own locks are fcntl locks on files inside it, which flock leaves be.
const LOCK: &str = "/var/lib/dpkg";
const CONFIG: &str = "/etc/edgeauth/edgeauth.toml";
const DATA: &str = "/var/lib/edgeauth";
const UNIT: &str = "/lib/systemd/system/edgeauth.service";

/// Straight to the process's stderr, past the test harness's capture.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "tests/package.rs: {message}");
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Why this machine cannot take the test, if it cannot.
fn unfit() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: dpkg -i needs root");
    }
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("dpkg") || !has("dpkg-deb") {
        return Some("dpkg or dpkg-deb is missing: not a Debian-family machine");
    }
    None
}

/// An exclusive lock on [`LOCK`], held until dropped.
fn lock() -> File {
    let file = File::open(LOCK).unwrap_or_else(|e| panic!("{LOCK}: {e}"));
    // SAFETY: a valid descriptor, owned by `file`, which outlives the lock.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        locked,
        0,
        "flock {LOCK}: {}",
        std::io::Error::last_os_error()
    );
    file
}

/// dpkg's view of the package: `installed`, `config-files`, ..., or `None` if unknown.
fn package_status() -> Option<String> {
    let out = run("dpkg-query", &["-W", "-f=${db:Status-Status}", "edgeauth"]);
    let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !status.is_empty() && status != "not-installed").then_some(status)
}

fn getent(database: &str, key: &str) -> Option<String> {
    let out = run("getent", &[database, key]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What of edgeauth's is on this machine already, which the purge at the end would remove.
fn already_here() -> Vec<String> {
    let mut found = Vec::new();
    if let Some(status) = package_status() {
        found.push(format!("the edgeauth package ({status})"));
    }
    for database in ["passwd", "group"] {
        if let Some(entry) = getent(database, "edgeauth") {
            found.push(format!("{database} entry {entry:?}"));
        }
    }
    for path in ["/etc/edgeauth", DATA, "/usr/bin/edgeauth", UNIT] {
        if Path::new(path).symlink_metadata().is_ok() {
            found.push(path.to_owned());
        }
    }
    found
}

/// Purges the package when dropped, and removes the package this test built, so that a
/// failed check leaves the machine as it was.
struct Installed {
    deb_dir: PathBuf,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if package_status().is_some() {
            let _ = Command::new("dpkg").args(["--purge", "edgeauth"]).output();
        }
        let _ = std::fs::remove_dir_all(&self.deb_dir);
    }
}

/// The .deb to test: `EDGEAUTH_TEST_DEB`, or the binary under test packaged into `dir`.
fn package(dir: &Path) -> PathBuf {
    if let Some(deb) = std::env::var_os("EDGEAUTH_TEST_DEB") {
        return PathBuf::from(deb);
    }
    let out = Command::new(Path::new(ROOT).join("scripts/package.sh"))
        .env("EDGEAUTH_BIN", BIN)
        .env("EDGEAUTH_DEB_DIR", dir)
        .output()
        .expect("scripts/package.sh runs");
    assert!(
        out.status.success(),
        "scripts/package.sh: {}",
        output_text(&out)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("package.sh prints the .deb"))
}

/// The control file: name, version, architecture, dependencies, the conffile.
fn check_control(deb: &Path) {
    let deb = deb.to_str().unwrap();
    let field = |name: &str| run_ok("dpkg-deb", &["-f", deb, name]).trim().to_owned();
    assert_eq!(field("Package"), "edgeauth");
    assert_eq!(field("Version"), VERSION.replacen('-', "~", 1));
    let arch = run_ok("dpkg", &["--print-architecture"]);
    assert_eq!(field("Architecture"), arch.trim());
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2."), "Depends: {depends}");
    assert!(!depends.contains("postgresql"), "Depends: {depends}");
    assert!(field("Suggests").contains("postgresql"));
    assert!(!field("Maintainer").is_empty() && !field("Description").is_empty());
    assert!(deb.ends_with(&format!(
        "edgeauth_{}_{}.deb",
        field("Version"),
        arch.trim()
    )));
}

fn mode(path: &str) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

/// `name:x:uid:gid:gecos:home:shell` as fields.
fn passwd_fields() -> Vec<String> {
    let entry = getent("passwd", "edgeauth").expect("the edgeauth user exists");
    entry.split(':').map(str::to_owned).collect()
}

/// The unit's `StateDirectoryMode=`: the data directory must have it, or systemd logs that
/// the modes differ at every start.
fn unit_state_directory_mode(unit: &str) -> u32 {
    let value = unit
        .lines()
        .find_map(|l| l.strip_prefix("StateDirectoryMode="))
        .expect("the unit sets StateDirectoryMode");
    u32::from_str_radix(value.trim(), 8).unwrap()
}

/// The installed files, user and data directory, and the binary runs as that user.
fn check_installed() {
    let status = run_ok("dpkg", &["-s", "edgeauth"]);
    assert!(status.contains("Status: install ok installed"), "{status}");
    let conffiles = run_ok("dpkg-query", &["-W", "-f=${Conffiles}", "edgeauth"]);
    assert!(conffiles.contains(CONFIG), "conffiles: {conffiles}");

    let user = passwd_fields();
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    assert!(uid < 1000, "a system user: {user:?}");
    assert_eq!(user[5], DATA, "home: {user:?}");
    assert!(user[6].ends_with("/nologin"), "no login shell: {user:?}");
    let group = getent("group", "edgeauth").expect("the edgeauth group exists");
    assert!(group.starts_with(&format!("edgeauth:x:{gid}:")), "{group}");

    assert_eq!(mode("/usr/bin/edgeauth"), (0o755, 0, 0));
    let sections = run_ok("readelf", &["-S", "-W", "/usr/bin/edgeauth"]);
    assert!(
        !sections.contains(".symtab") && !sections.contains(".debug_info"),
        "the binary is stripped: {sections}"
    );
    let version = run_ok("/usr/bin/edgeauth", &["--version"]);
    assert_eq!(version.trim(), format!("edgeauth {VERSION}"));

    // Readable by the service, which may find the database password in it; writable by root.
    assert_eq!(mode(CONFIG), (0o640, 0, gid));
    // The README and the pages it links, where its links work.
    for page in [
        "README.md",
        "docs/DEPLOYMENT.md",
        "docs/OPERATIONS.md",
        "docs/openapi.json",
    ] {
        let path = format!("/usr/share/doc/edgeauth/{page}");
        assert_eq!(mode(&path).0, 0o644, "{path}");
    }
    assert_eq!(mode(UNIT).0, 0o644);
    let unit = std::fs::read_to_string(UNIT).unwrap();
    check_unit(&unit);
    let (data_mode, data_uid, data_gid) = mode(DATA);
    assert_eq!((data_uid, data_gid), (uid, gid), "{DATA} is edgeauth's");
    assert_eq!(data_mode, unit_state_directory_mode(&unit), "{DATA}'s mode");
    assert_eq!(data_mode & 0o077, 0, "{DATA} is edgeauth's alone");

    // The service reads the settings: the packaged file parses, and names no database yet.
    let out = as_edgeauth(&["--config", CONFIG, "client", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database configured"),
        "the settings file is read, and sets no database: {}",
        output_text(&out)
    );
}

/// `/usr/bin/edgeauth ARGS` as the edgeauth user.
fn as_edgeauth(args: &[&str]) -> Output {
    let mut all = vec!["-u", "edgeauth", "--", "/usr/bin/edgeauth"];
    all.extend_from_slice(args);
    run("runuser", &all)
}

/// The service writes its data directory: the signing key is made there on first start.
fn make_signing_key() -> String {
    let key = format!("{DATA}/signing-key.pem");
    let out = as_edgeauth(&["keys", "generate", "--alg", "ES256", "--out", &key]);
    assert!(out.status.success(), "{}", output_text(&out));
    let (key_mode, uid, _) = mode(&key);
    assert_eq!((key_mode, uid), (0o600, mode(DATA).1));
    std::fs::read_to_string(&key).unwrap()
}

/// The packaged unit runs the packaged binary as edgeauth with the packaged settings, and
/// `systemd-analyze verify` has nothing to say about it (as deploy/'s in tests/deploy.rs).
fn check_unit(unit: &str) {
    for line in [
        "ExecStart=/usr/bin/edgeauth serve",
        "User=edgeauth",
        "Environment=EDGEAUTH_CONFIG=/etc/edgeauth/edgeauth.toml",
        "EnvironmentFile=-/etc/edgeauth/edgeauth.env",
        "Environment=EDGEAUTH_DATA_DIR=/var/lib/edgeauth",
    ] {
        assert!(unit.lines().any(|l| l == line), "{UNIT} has {line}");
    }
    assert!(!unit.contains("/usr/local"), "{unit}");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", UNIT])
        .output()
        .expect(
            "systemd-analyze runs (scripts/test.sh installs Debian's systemd if it is missing)",
        );
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify {UNIT}: {}",
        output_text(&out)
    );
}

/// `dpkg -r`: the program goes, the settings, the data and the user stay.
fn check_removed() {
    for path in ["/usr/bin/edgeauth", UNIT] {
        assert!(!Path::new(path).exists(), "{path} is gone");
    }
    assert_eq!(package_status().as_deref(), Some("config-files"));
    for path in [CONFIG, "/etc/edgeauth/edgeauth.env", DATA] {
        assert!(Path::new(path).exists(), "{path} stays");
    }
    assert!(Path::new(DATA).join("signing-key.pem").exists());
    assert!(getent("passwd", "edgeauth").is_some(), "the user stays");
}

fn dpkg(args: &[&str]) {
    let out = run("dpkg", args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("warning"),
        "dpkg {args:?}: {}",
        output_text(&out)
    );
}

#[test]
fn installs_checks_removes_and_purges() {
    if let Some(why) = unfit() {
        say(&format!("SKIPPED, nothing installed: {why}"));
        return;
    }
    let _lock = lock();
    let here = already_here();
    assert!(
        here.is_empty(),
        "this machine already has {here:?}; this test installs and purges the edgeauth \
         package, which would remove them. Run it on a throwaway machine, or remove them \
         (dpkg --purge edgeauth)"
    );

    let deb_dir = std::env::temp_dir().join(unique_name("edgeauth-deb"));
    let _installed = Installed {
        deb_dir: deb_dir.clone(),
    };
    let deb = package(&deb_dir);
    check_control(&deb);
    let deb = deb.to_str().unwrap();

    dpkg(&["-i", deb]);
    check_installed();
    let user = passwd_fields();
    let key = make_signing_key();
    // Again, as an upgrade would: the user, the key and the modes are kept.
    dpkg(&["-i", deb]);
    assert_eq!(passwd_fields(), user);
    check_installed();
    let kept = std::fs::read_to_string(format!("{DATA}/signing-key.pem")).unwrap();
    assert_eq!(kept, key, "the signing key survives a reinstall");

    // An environment file the admin wrote (docs/DEPLOYMENT.md): purge takes it too.
    std::fs::write(
        "/etc/edgeauth/edgeauth.env",
        "EDGEAUTH_LISTEN=127.0.0.1:8080\n",
    )
    .unwrap();
    dpkg(&["-r", "edgeauth"]);
    check_removed();

    dpkg(&["--purge", "edgeauth"]);
    let left = already_here();
    assert!(left.is_empty(), "purge left {left:?}");
    let overrides = run_ok("dpkg-statoverride", &["--list"]);
    assert!(!overrides.contains("edgeauth"), "{overrides}");
    let origin = match std::env::var_os("EDGEAUTH_TEST_DEB") {
        Some(_) => "EDGEAUTH_TEST_DEB",
        None => "scripts/package.sh of the binary under test",
    };
    say(&format!(
        "installed, checked, removed and purged {deb} ({origin})"
    ));
}
