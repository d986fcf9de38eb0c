//! Cheap checks over `src/` that keep the house in order (TigerBeetle's `tidy.zig` is the
//! model): they read the source as text and fail with the file and line to fix.
//!
//! * Layers point one way: a module imports only modules of a lower layer ([`LAYERS`]),
//!   never one above it or beside it.
//! * No two files import each other (within a module, too).
//! * No function grows past [`FUNCTION_LINES_MAX`] lines unless [`LONG_FUNCTIONS`] names it
//!   and says why.
//! * A comment that names a document names one that is in this repository.
//! * A short ban list ([`BANNED`]): the wall clock is read in `clock` only, counters are
//!   `counter::Counter`, no locks, no `dbg!`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import modules of lower layers only; modules in
/// one layer do not import each other. Each entry says what the layer knows.
const LAYERS: &[&[&str]] = &[
    // Leaves: bounds, the wall clock, counters, wake-ups, the shutdown latch, the
    // form-urlencoded codec, token rates. They import nothing of the crate.
    &["limits", "clock", "counter", "wake", "form", "rate"],
    &["log", "shutdown"],
    // Settings, declared once; knows no database, no HTTP. Audit events.
    &["config", "audit"],
    // TLS for the listeners: certificates, ticket keys, sessions without I/O.
    &["tls"],
    // The Postgres wire client.
    &["pg"],
    // The client and revocation caches; signing keys and tokens, others' keys and JWS;
    // single-use ids across shards.
    &["cache", "jwt", "replay"],
    // Credentials and secrets; client assertions and DPoP proofs, verified with `jwt`;
    // workload-identity issuers.
    &["auth"],
    // Every SQL statement, channel and NOTIFY payload.
    &["store"],
    // The token batch writer.
    &["batch"],
    // HTTP/1.1 protocol only.
    &["http"],
    // OAuth semantics over a narrow context.
    &["endpoint"],
    // The connection loop, per-shard state, background tasks.
    &["shard"],
    // Start-up and signals.
    &["server"],
    // The command line: its parser and the subcommands besides `serve`.
    &["cli"],
];

/// Longest function, in lines from its signature to its closing brace.
const FUNCTION_LINES_MAX: usize = 70;

/// Functions allowed past [`FUNCTION_LINES_MAX`]: (file, function, why). Keep it short.
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[];

#[test]
fn layers_point_one_way() {
    let rank = layer_ranks();
    let mut problems = Vec::new();
    for file in source_files() {
        let module = top_module(&file);
        let Some(&own) = rank.get(module.as_str()) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer (tests/tidy.rs LAYERS)",
                file.display()
            ));
            continue;
        };
        for (line, path) in crate_paths(&file) {
            let target = path.first().cloned().unwrap_or_default();
            if target == module {
                continue;
            }
            match rank.get(target.as_str()) {
                Some(&theirs) if theirs < own => {}
                Some(_) => problems.push(format!(
                    "{}:{line}: `{module}` imports `{target}`, which is not below it",
                    file.display()
                )),
                None => problems.push(format!(
                    "{}:{line}: `{target}` is in no layer (tests/tidy.rs LAYERS)",
                    file.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn no_two_files_import_each_other() {
    let files = source_files();
    let mut imports: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for file in &files {
        for (_, path) in crate_paths(file) {
            let target = resolve(&path);
            if &target != file {
                if std::env::var_os("TIDY_DEBUG").is_some() {
                    eprintln!(
                        "{} -> {} via {}",
                        file.display(),
                        target.display(),
                        path.join("::")
                    );
                }
                imports.entry(file.clone()).or_default().insert(target);
            }
        }
    }
    let mut problems = Vec::new();
    for (a, targets) in &imports {
        for b in targets {
            if a < b && imports.get(b).is_some_and(|back| back.contains(a)) {
                problems.push(format!(
                    "{} and {} import each other",
                    a.display(),
                    b.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn functions_fit_on_a_screen() {
    let mut problems = Vec::new();
    let mut exempt_used = BTreeSet::new();
    for file in source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (name, first_line, lines) in functions(&text) {
            if lines <= FUNCTION_LINES_MAX {
                continue;
            }
            let rel = file.to_string_lossy().replace('\\', "/");
            let exempt = LONG_FUNCTIONS
                .iter()
                .find(|(f, n, _)| rel.ends_with(f) && *n == name);
            match exempt {
                Some(entry) => {
                    exempt_used.insert(entry.1);
                }
                None => problems.push(format!(
                    "{}:{first_line}: fn {name} is {lines} lines (at most {FUNCTION_LINES_MAX}, or an entry in LONG_FUNCTIONS)",
                    file.display()
                )),
            }
        }
    }
    for (file, name, _) in LONG_FUNCTIONS {
        if !exempt_used.contains(name) {
            problems.push(format!("LONG_FUNCTIONS names {file}::{name}, which is short now (or gone): remove the entry"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// What `src/` must not say, where not, and what to say instead (TigerBeetle's ban list).
const BANNED: &[(&str, &str, &str)] = &[
    (
        "SystemTime::now",
        "src/clock.rs",
        "crate::clock::unix_now()",
    ),
    // rustls's clock reads the wall clock too.
    (
        "UnixTime::now",
        "src/clock.rs",
        "UnixTime::since_unix_epoch(crate::clock::unix_now())",
    ),
    ("AtomicU64", "src/counter.rs", "crate::counter::Counter"),
    (
        "Mutex",
        "",
        "shard-owned state (no locks: one shard, one thread)",
    ),
    (
        "RwLock",
        "",
        "shard-owned state (no locks: one shard, one thread)",
    ),
    ("dbg!(", "", "nothing, or log::debug"),
];

#[test]
fn banned_names() {
    let mut problems = Vec::new();
    for file in source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = strip_comments_and_strings(&text);
        for (i, line) in code.lines().enumerate() {
            for (banned, allowed_in, instead) in BANNED {
                let its_place = !allowed_in.is_empty() && file.ends_with(allowed_in);
                if line.contains(banned) && !its_place {
                    problems.push(format!(
                        "{}:{}: `{banned}`: use {instead}",
                        file.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn comments_name_documents_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Documents outside this repository that a comment must not send a reader to.
    const ELSEWHERE: &[&str] = &["SPEC", "STYLE", "PERF-NOTES", "PG-WIRE-NOTES"];
    let mut problems = Vec::new();
    for file in source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let Some(at) = line.find("//") else { continue };
            let comment = &line[at..];
            for word in comment.split(|c: char| c.is_whitespace() || "`()[],;'\"".contains(c)) {
                let word = word.trim_end_matches([':', '.']);
                let bare = word.trim_end_matches(".md");
                if ELSEWHERE.contains(&bare) {
                    problems.push(format!(
                        "{}:{}: `{word}` is not in this repository",
                        file.display(),
                        i + 1
                    ));
                    continue;
                }
                let is_document = [".md", ".sh", ".py", ".lua", ".svg"]
                    .iter()
                    .any(|e| word.ends_with(e));
                if is_document && !document_exists(root, word) {
                    problems.push(format!(
                        "{}:{}: `{word}` does not exist",
                        file.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// A path relative to the repository, or a bare file name found anywhere in it.
fn document_exists(root: &Path, name: &str) -> bool {
    if name.contains('/') {
        return root.join(name).exists();
    }
    ["", "docs", "scripts", "deploy", "tests", "benches"]
        .iter()
        .any(|dir| root.join(dir).join(name).exists())
}

fn layer_ranks() -> BTreeMap<&'static str, usize> {
    let mut rank = BTreeMap::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            rank.insert(*module, i);
        }
    }
    rank
}

fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.retain(|f| !f.ends_with("src/lib.rs") && !f.ends_with("src/main.rs"));
    files.sort();
    files
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module a file belongs to: `src/pg/client.rs` and `src/pg/mod.rs` are `pg`.
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src_dir()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The module path of a file: `src/pg/client.rs` is `[pg, client]`, `src/pg/mod.rs` `[pg]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `crate::a::b` path the file's code names (comments and strings left out), as
/// absolute module paths: `super::x` is made absolute, a parent's `child::x` too, and
/// `use crate::a::{b, c::d}` groups are expanded. With the 1-based line.
fn crate_paths(file: &Path) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(file).unwrap();
    let own = module_path(file);
    let code = inline_supers_resolved(&strip_comments_and_strings(&text), &own);
    let mut starts: Vec<(String, Vec<String>)> = vec![("crate::".to_owned(), Vec::new())];
    // `super::` is the parent; in `src/a/b.rs` and `src/a/b/mod.rs` alike that is `a`.
    let mut parent = own.clone();
    let mut prefix = String::new();
    while parent.pop().is_some() {
        prefix.push_str("super::");
        starts.push((prefix.clone(), parent.clone()));
    }
    for line in code.lines() {
        let line = line.trim_start().trim_start_matches("pub ");
        if let Some(child) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';')) {
            let mut base = own.clone();
            base.push(child.to_owned());
            starts.push((format!("{child}::"), base));
        }
    }
    let mut paths = Vec::new();
    for (prefix, base) in &starts {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix.as_str()) {
            let at = from + at;
            from = at + prefix.len();
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            for path in use_tree(&code[from..], base.clone()) {
                if !path.is_empty() {
                    paths.push((line, path));
                }
            }
        }
    }
    paths
}

/// Inside an inline module (`mod tests { .. }`), `super::` is the file's own module: spell
/// it out, so that only the file's own `super::` means its parent.
fn inline_supers_resolved(code: &str, own: &[String]) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_inline_module(rest) {
        out.push_str(&rest[..at]);
        let body = &rest[at..];
        let mut depth = 0;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let own_path = format!("crate::{}::", own.join("::"));
        out.push_str(&body[..end].replace("super::", &own_path));
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// Where the next `mod name {` begins.
fn find_inline_module(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = code[from..].find("mod ") {
        let at = from + at;
        from = at + 4;
        let boundary = code[..at]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let after = code[from..].trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
        if boundary && after.trim_start().starts_with('{') {
            return Some(at);
        }
    }
    None
}

/// The paths a use tree names: `a::b`, `a::{b, c::d}`, `{self, x}` (whitespace allowed).
fn use_tree(s: &str, mut base: Vec<String>) -> Vec<Vec<String>> {
    let mut rest = s.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            return use_group(group, &base);
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            return vec![base];
        }
        base.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next.trim_start(),
            None => return vec![base],
        }
    }
}

/// The items of a `{..}` group (the text after its `{`), each a use tree under `base`.
fn use_group(group: &str, base: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => {
                match group[item_start..i].trim() {
                    "" => {}
                    "self" => paths.push(base.to_vec()),
                    item => paths.extend(use_tree(item, base.to_vec())),
                }
                item_start = i + 1;
                if c == '}' {
                    break;
                }
            }
            _ => {}
        }
    }
    paths
}

/// The file a module path lands in: the deepest existing module file along the path, seen
/// through `pub use sub::{..}` re-exports of a `mod.rs`.
fn resolve(path: &[String]) -> PathBuf {
    let mut dir = src_dir();
    let mut file = PathBuf::new();
    for (i, segment) in path.iter().enumerate() {
        let as_file = dir.join(format!("{segment}.rs"));
        let as_dir = dir.join(segment).join("mod.rs");
        if as_file.exists() {
            file = as_file;
            break;
        } else if as_dir.exists() {
            file = as_dir.clone();
            dir = dir.join(segment);
            // An item re-exported by this mod.rs lives in the sub-module that defines it.
            if let Some(next) = path.get(i + 1)
                && let Some(sub) = reexported_from(&as_dir, next)
            {
                let sub_file = dir.join(format!("{sub}.rs"));
                if sub_file.exists() {
                    return sub_file;
                }
            }
        } else {
            break;
        }
    }
    file
}

/// The sub-module a `mod.rs` re-exports `name` from (`pub use sub::{.., name, ..}`).
fn reexported_from(mod_rs: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(mod_rs).ok()?;
    let code = strip_comments_and_strings(&text);
    let mut statement = String::new();
    for line in code.lines() {
        if statement.is_empty() && !line.trim_start().starts_with("pub use ") {
            continue;
        }
        statement.push_str(line);
        if !line.contains(';') {
            continue;
        }
        let body = statement
            .trim_start()
            .trim_start_matches("pub use ")
            .to_owned();
        statement.clear();
        let (sub, names) = body.split_once("::")?;
        let names = names.trim_end_matches(';');
        let found = names
            .split(|c: char| "{}, ".contains(c))
            .any(|n| n == name || n.ends_with(&format!(" as {name}")));
        if found && !sub.contains(' ') {
            return Some(sub.to_owned());
        }
    }
    None
}

/// The text with comments removed and string and char literals blanked, line breaks kept.
fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.extend(rest[..end].chars().filter(|&c| c == '\n'));
            i += end;
        } else if let Some(len) = raw_string_len(rest) {
            out.extend(rest[..len].chars().filter(|&c| c == '\n'));
            out.push_str("\"\"");
            i += len;
        } else if rest.starts_with('"') || rest.starts_with("b\"") {
            let start = if rest.starts_with('b') { 2 } else { 1 };
            let mut j = start;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            let len = (j + 1).min(rest.len());
            out.extend(rest[..len].chars().filter(|&c| c == '\n'));
            out.push_str("\"\"");
            i += len;
        } else if let Some(len) = char_literal_len(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"..."`, `r#"..."#`, `br#"..."#`: the literal's length.
fn raw_string_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("br").or_else(|| s.strip_prefix('r'))?;
    let hashes = body.len() - body.trim_start_matches('#').len();
    let after = body[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = after.find(&close)?;
    Some(s.len() - after.len() + end + close.len())
}

/// `'x'`, `'\n'`, `b'{'`: the literal's length; `None` for a lifetime.
fn char_literal_len(s: &str) -> Option<usize> {
    let (prefix, body) = match s.strip_prefix("b'") {
        Some(b) => (2, b),
        None => (1, s.strip_prefix('\'')?),
    };
    if let Some(escaped) = body.strip_prefix('\\') {
        let end = escaped.find('\'')?;
        return Some(prefix + 1 + end + 1);
    }
    let c = body.chars().next()?;
    body[c.len_utf8()..]
        .starts_with('\'')
        .then(|| prefix + c.len_utf8() + 1)
}

/// Every `fn` with a body: (name, first line, lines from signature to closing brace).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = strip_comments_and_strings(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        // Find the body's opening brace (or a `;`: a declaration without a body).
        let mut depth = 0usize;
        let mut opened = false;
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            let start = if j == i { line.find("fn ").unwrap() } else { 0 };
            for c in l[start..].chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            found.push((name, i + 1, j - i + 1));
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

fn fn_name(line: &str) -> Option<String> {
    let at = line.find("fn ")?;
    let before = line[..at].trim();
    let qualifiers_only = before.split_whitespace().all(|w| {
        [
            "pub",
            "pub(crate)",
            "pub(super)",
            "async",
            "const",
            "unsafe",
            "extern",
        ]
        .contains(&w)
    });
    if !qualifiers_only {
        return None;
    }
    let name: String = line[at + 3..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}
