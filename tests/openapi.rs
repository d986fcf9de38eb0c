//! The OpenAPI document of the admin API (`docs/openapi.json`) against the real binary:
//!
//! - the server serves the file as it is, and it is a valid OpenAPI 3.1 document
//!   (`openapi-spec-validator`, through `EDGEAUTH_TEST_PYTHON`) whose examples fit their
//!   schemas;
//! - every documented call, made as documented, answers a documented status with a body of
//!   the documented shape, and every status documented for a call is one the server gives it
//!   (the 503s with the database gone);
//! - every admin route the server has is documented, with every method its router accepts
//!   (HEAD aside, which comes with GET): any other method gets 405 with the token, and
//!   401 without it, like every admin call.
//!
//! scripts/test.sh prepares the Python environment.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use common::*;

const ADMIN: &str = "openapi-admin-token-0123456789abcdef0123";

/// The admin routes of `src/endpoint/route.rs`, each with a method it accepts (HEAD aside).
const ROUTES: [(&str, &str); 12] = [
    ("GET", "/admin/cache/stats"),
    ("POST", "/admin/cache/invalidate"),
    ("GET", "/admin/keys"),
    ("GET", "/admin/clients"),
    ("POST", "/admin/clients"),
    ("GET", "/admin/clients/{id}"),
    ("PATCH", "/admin/clients/{id}"),
    ("DELETE", "/admin/clients/{id}"),
    ("POST", "/admin/clients/{id}/rotate-secret"),
    ("POST", "/admin/clients/{id}/revoke-tokens"),
    ("POST", "/admin/revocations"),
    ("GET", "/admin/openapi.json"),
];

/// The keys of an OpenAPI path item that are operations.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

fn document() -> Value {
    let text = std::fs::read(document_path()).expect("docs/openapi.json");
    serde_json::from_slice(&text).expect("docs/openapi.json is JSON")
}

/// Every operation of the document: (METHOD, path template, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for (key, op) in item.as_object().expect("a path item") {
            if OPERATION_KEYS.contains(&key.as_str()) {
                ops.push((key.to_ascii_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

/// Follow `$ref`s within the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r.strip_prefix('#').expect("a local $ref");
            resolve(
                doc,
                doc.pointer(target)
                    .unwrap_or_else(|| panic!("{r} resolves")),
            )
        }
        None => v,
    }
}

/// The response an operation documents for `status`, if any.
fn documented<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    op["responses"]
        .get(status.to_string())
        .map(|r| resolve(doc, r))
}

fn documented_statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|s| s.parse().expect("a status code"))
        .collect()
}

/// Run a Python script with `args` through `$EDGEAUTH_TEST_PYTHON`; its stdout, once it has
/// exited successfully.
fn run_python(script: &str, args: &[&Path]) -> String {
    let out = test_python().arg("-c").arg(script).args(args).output();
    stdout_of(out.expect("python runs"), "")
}

/// The document is valid OpenAPI, and every example fits its schema.
const VALIDATE_DOCUMENT: &str = r##"
import json, sys
from openapi_spec_validator import validate
from openapi_schema_validator import OAS31Validator

with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
validate(doc)

def check(schema, value, where):
    validator = OAS31Validator({**schema, "components": doc["components"]})
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, f"the example at {where} does not fit its schema: {errors}"

examples = 0
def walk(node, where):
    global examples
    if isinstance(node, dict):
        if "schema" in node and "example" in node:
            check(node["schema"], node["example"], where)
            examples += 1
        for key, value in node.items():
            walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            walk(value, f"{where}/{i}")

walk(doc, "#")
for name, schema in doc["components"]["schemas"].items():
    for example in schema.get("examples", []):
        check({"$ref": f"#/components/schemas/{name}"}, example, name)
        examples += 1
print(f"valid, {examples} examples")
"##;

/// Every answer of `cases` (`[{"label", "schema", "body"}]`) fits its documented schema.
const VALIDATE_ANSWERS: &str = r#"
import json, sys
from openapi_schema_validator import OAS31Validator

with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
with open(sys.argv[2], encoding="utf-8") as f:
    cases = json.load(f)
wrong = []
for case in cases:
    validator = OAS31Validator({**case["schema"], "components": doc["components"]})
    wrong += [f"{case['label']}: {e.message}" for e in validator.iter_errors(case["body"])]
assert not wrong, "\n".join(wrong)
print(f"{len(cases)} answers fit")
"#;

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(unique_name(name));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn the_served_document_is_docs_openapi_json_and_valid_openapi_3_1() {
    let db = TestDb::new();
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let r = server.request(
        format!(
            "GET /admin/openapi.json HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let file = std::fs::read(document_path()).unwrap();
    assert!(
        r.body == file,
        "the served document is not docs/openapi.json byte for byte"
    );

    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operationId {id:?}"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}: a summary"
        );
    }

    let served = temp_file("openapi-served.json", &r.body);
    let out = run_python(VALIDATE_DOCUMENT, &[&served]);
    assert!(out.starts_with("valid"), "{out}");
    let _ = std::fs::remove_file(served);
}

/// One request of the test, and what it must get.
struct Call {
    label: String,
    method: String,
    /// The path, with `{id}` replaced, and the query.
    target: String,
    /// `Content-Type` and body.
    body: Option<(&'static str, String)>,
    expected: u16,
}

impl Call {
    fn new(method: &str, target: &str, expected: u16) -> Call {
        Call {
            label: format!("{method} {target}"),
            method: method.to_owned(),
            target: target.to_owned(),
            body: None,
            expected,
        }
    }

    fn body(mut self, content_type: &'static str, body: &str) -> Call {
        self.label = format!("{} {body}", self.label);
        self.body = Some((content_type, body.to_owned()));
        self
    }

    fn json(self, body: &Value) -> Call {
        self.body("application/json", &body.to_string())
    }

    fn raw(&self, token: Option<&str>) -> Vec<u8> {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let (content_type, body) = match &self.body {
            Some((ct, body)) => (format!("Content-Type: {ct}\r\n"), body.as_str()),
            None => (String::new(), ""),
        };
        format!(
            "{} {} HTTP/1.1\r\nHost: t\r\n{auth}{content_type}Content-Length: {}\r\n\r\n{body}",
            self.method,
            self.target,
            body.len()
        )
        .into_bytes()
    }
}

/// The example an operation documents for a request body of `media`.
fn example(op: &Value, media: &str) -> Value {
    op["requestBody"]["content"][media]["example"].clone()
}

/// An example object as a form body.
fn form(example: &Value) -> String {
    example
        .as_object()
        .expect("a form example is an object")
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The client every `{id}` call is about (a secret client, so it can rotate its secret).
const CLIENT: &str = "svc-openapi";
/// An id no client has.
const UNKNOWN: &str = "no-such-client";
/// An id the server refuses to read (`"` is outside the pattern).
const MALFORMED: &str = "a%22b";

/// The calls made of one operation: the first succeeds (it is made once more with the
/// database gone); the others provoke each documented refusal but 401 and 503.
fn calls_for(method: &str, template: &str, op: &Value, jti: &str) -> Vec<Call> {
    let at = |id: &str| template.replace("{id}", id);
    let json = "application/json";
    match (method, template) {
        ("GET", "/admin/cache/stats" | "/admin/keys" | "/admin/openapi.json") => {
            vec![Call::new(method, template, 200)]
        }
        ("POST", "/admin/cache/invalidate") => vec![
            Call::new(method, template, 200).body(
                "application/x-www-form-urlencoded",
                &form(&example(op, "application/x-www-form-urlencoded")),
            ),
            Call::new(method, template, 200).json(&example(op, json)),
            Call::new(method, template, 400).json(&json!({"client_id": CLIENT, "all": true})),
            Call::new(method, template, 400).json(&json!({})),
            Call::new(method, template, 400).body("text/plain", "all=true"),
        ],
        ("GET", "/admin/clients") => vec![
            Call::new(method, "/admin/clients?limit=2", 200),
            Call::new(method, "/admin/clients?page=2", 400),
            Call::new(method, "/admin/clients?limit=0", 400),
        ],
        ("POST", "/admin/clients") => vec![
            Call::new(method, template, 201).json(&example(op, json)),
            Call::new(method, template, 409).json(&example(op, json)),
            Call::new(method, template, 400).json(&json!({"client_id": "x1", "colour": "red"})),
            Call::new(method, template, 400).json(&json!({"client_id": "bad id"})),
            Call::new(method, template, 415).body("text/plain", "client_id=x2"),
        ],
        ("GET", "/admin/clients/{id}") => vec![
            Call::new(method, &at(CLIENT), 200),
            Call::new(method, &at(UNKNOWN), 404),
            Call::new(method, &at(MALFORMED), 400),
        ],
        ("PATCH", "/admin/clients/{id}") => vec![
            Call::new(method, &at(CLIENT), 200).json(&example(op, json)),
            Call::new(method, &at(UNKNOWN), 404).json(&example(op, json)),
            Call::new(method, &at(MALFORMED), 400).json(&example(op, json)),
            Call::new(method, &at(CLIENT), 400).json(&json!({})),
            Call::new(method, &at(CLIENT), 400).json(&json!({"colour": "red"})),
            Call::new(method, &at(CLIENT), 415).body("text/plain", "scopes=read"),
        ],
        ("DELETE", "/admin/clients/{id}") => vec![
            Call::new(method, &at(CLIENT), 204),
            Call::new(method, &at(UNKNOWN), 404),
            Call::new(method, &at(MALFORMED), 400),
        ],
        ("POST", "/admin/clients/{id}/rotate-secret") => vec![
            Call::new(method, &at(CLIENT), 200).json(&example(op, json)),
            // An empty body is no grace, whatever its type.
            Call::new(method, &at(CLIENT), 200),
            Call::new(method, &at(UNKNOWN), 404),
            Call::new(method, &at(MALFORMED), 400),
            Call::new(method, &at(CLIENT), 400).json(&json!({"grace": "forever"})),
            Call::new(method, &at(CLIENT), 415).body("text/plain", "grace=1m"),
        ],
        ("POST", "/admin/clients/{id}/revoke-tokens") => vec![
            Call::new(method, &at(CLIENT), 204),
            Call::new(method, &at(UNKNOWN), 404),
            Call::new(method, &at(MALFORMED), 400),
        ],
        ("POST", "/admin/revocations") => vec![
            Call::new(method, template, 204).json(&json!({ "jti": jti })),
            // The example's jti was never issued here, but could have been: nothing is read.
            Call::new(method, template, 204).json(&example(op, json)),
            // A UUIDv4 is no jti of ours.
            Call::new(method, template, 400)
                .json(&json!({"jti": "0b9f5a3e-6c1d-4e8a-9f2b-7d4c3a1e5f60"})),
            Call::new(method, template, 400).json(&json!({"jti": "not-a-uuid"})),
            Call::new(method, template, 400).json(&json!({"token": jti})),
            Call::new(method, template, 415).body("text/plain", jti),
        ],
        _ => panic!("{method} {template}: the test does not know how to call it; add it here"),
    }
}

/// What the document says a JSON answer must have at its top level: the required members,
/// and all the members allowed when no other is (`$ref` and `allOf` followed).
fn shape(doc: &Value, schema: &Value) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
    let schema = resolve(doc, schema);
    let mut required: BTreeSet<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    let mut members: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut closed = schema["additionalProperties"] == false;
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (r, m) = shape(doc, part);
        required.extend(r);
        if let Some(m) = m {
            closed = true;
            members.extend(m);
        }
    }
    (required, closed.then_some(members))
}

/// The answer is documented for the operation: its status, its headers, and for a JSON
/// body its top-level members. The body and its schema go to `answers`, for the full check.
fn check_answer(doc: &Value, op: &Value, label: &str, r: &Response, answers: &mut Vec<Value>) {
    let documented = documented(doc, op, r.status).unwrap_or_else(|| {
        panic!(
            "{label}: status {} is not documented: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    });
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        let value = r
            .header(name)
            .unwrap_or_else(|| panic!("{label}: no {name} header"));
        if let Some(constant) = header["schema"].get("const") {
            let expected = constant
                .as_str()
                .map_or_else(|| constant.to_string(), str::to_owned);
            assert_eq!(value, expected, "{label}: {name}");
        }
    }
    let Some(media) = documented["content"]["application/json"].as_object() else {
        assert!(r.body.is_empty(), "{label}: {} documents no body", r.status);
        return;
    };
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{label}"
    );
    let body = r.json();
    let schema = &media["schema"];
    let (required, allowed) = shape(doc, schema);
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{label}: not a JSON object: {body}"));
    for name in &required {
        assert!(object.contains_key(name), "{label}: no {name:?} in {body}");
    }
    if let Some(allowed) = allowed {
        for name in object.keys() {
            assert!(
                allowed.contains(name),
                "{label}: {name:?} is not documented"
            );
        }
    }
    answers.push(json!({"label": label, "schema": schema, "body": body}));
}

/// A recorded token's jti: issued to `CLIENT`, and waited for in the `tokens` table.
fn recorded_jti(db: &TestDb, server: &Server, secret: &str) -> String {
    let r = server.token_basic(CLIENT, secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let jti = jti_of(&r);
    eventually("the token is recorded", Duration::from_secs(10), || {
        let rows = db.psql(&format!("SELECT count(*) FROM tokens WHERE jti = '{jti}'"));
        ok_if(rows == "1", rows)
    });
    jti
}

/// The database goes away for this test's server: no connection may be made to it and its
/// connections are ended.
fn take_database_away(db: &TestDb) {
    let admin = admin_url();
    psql(
        &admin,
        &format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name),
    );
    psql(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    );
    eventually(
        "the server's connections are gone",
        Duration::from_secs(10),
        || {
            let left = psql(
                &admin,
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
                    db.name
                ),
            );
            ok_if(left == "0", left)
        },
    );
}

#[test]
fn every_documented_call_answers_as_documented() {
    let doc = document();
    let db = TestDb::new();
    let secret = db.add_client(CLIENT, "read write");
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let jti = recorded_jti(&db, &server, &secret);

    let mut ops = operations(&doc);
    // The deletion last: the other calls need the client.
    ops.sort_by_key(|(method, _, _)| method == "DELETE");
    let mut seen: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    let mut answers = Vec::new();
    let mut first_calls = Vec::new();
    for (method, template, op) in &ops {
        let calls = calls_for(method, template, op, &jti);
        let statuses = seen.entry((method.clone(), template.clone())).or_default();
        // Without the token, or with a wrong one: 401, before anything else is looked at.
        let first = &calls[0];
        for token in [None, Some("wrong-token-wrong-token-wrong-token")] {
            let label = format!("{} (token {token:?})", first.label);
            let r = server.request(&first.raw(token));
            assert_eq!(
                r.status,
                401,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            check_answer(&doc, op, &label, &r, &mut answers);
            assert_eq!(r.json()["error"], "unauthorized", "{label}");
            statuses.insert(r.status);
        }
        // The deletion's success last: the client is gone after it.
        let mut in_order: Vec<&Call> = calls.iter().collect();
        if method == "DELETE" {
            in_order.rotate_left(1);
        }
        for call in in_order {
            let r = server.request(&call.raw(Some(ADMIN)));
            check_answer(&doc, op, &call.label, &r, &mut answers);
            assert_eq!(
                r.status,
                call.expected,
                "{}: {}",
                call.label,
                String::from_utf8_lossy(&r.body)
            );
            statuses.insert(r.status);
        }
        first_calls.push((
            method.clone(),
            template.clone(),
            op,
            calls.into_iter().next(),
        ));
    }

    // Without the database: 503 where the document says a call needs it, the same answer
    // as before where it says not.
    take_database_away(&db);
    for (method, template, op, first) in &first_calls {
        let first = first.as_ref().unwrap();
        let expected = if documented(&doc, op, 503).is_some() {
            503
        } else {
            first.expected
        };
        let label = format!("{} (no database)", first.label);
        let r = server.request(&first.raw(Some(ADMIN)));
        check_answer(&doc, op, &label, &r, &mut answers);
        assert_eq!(
            r.status,
            expected,
            "{label}: {}",
            String::from_utf8_lossy(&r.body)
        );
        seen.get_mut(&(method.clone(), template.clone()))
            .unwrap()
            .insert(r.status);
    }

    // Every documented status was given, and only those.
    for (method, template, op) in &ops {
        assert_eq!(
            seen[&(method.clone(), template.clone())],
            documented_statuses(op),
            "{method} {template}: statuses given vs documented"
        );
    }

    // Every answer fits its schema, all of it.
    let cases = temp_file(
        "openapi-answers.json",
        serde_json::to_string(&answers).unwrap().as_bytes(),
    );
    let out = run_python(VALIDATE_ANSWERS, &[&document_path(), &cases]);
    assert!(out.contains("answers fit"), "{out}");
    let _ = std::fs::remove_file(cases);
}

/// The status and headers of the answer to `raw`, on a connection of its own (the body,
/// which HEAD does not get, is not read).
fn head_of(server: &Server, raw: &[u8]) -> (u16, Vec<(String, String)>) {
    let mut conn = server.connect();
    conn.send(raw).expect("send");
    let mut line = String::new();
    conn.reader.read_line(&mut line).expect("a status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.reader.read_line(&mut line).expect("a header line");
        match line.trim_end().split_once(':') {
            Some((k, v)) => headers.push((k.trim().to_owned(), v.trim().to_owned())),
            None => break,
        }
    }
    (status, headers)
}

#[test]
fn every_admin_route_is_documented_with_every_method_it_accepts() {
    let doc = document();
    let listed: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(listed, routes, "the document's calls vs route.rs");

    let db = TestDb::new();
    let server = Server::start_with(&db, &[("EDGEAUTH_ADMIN_TOKEN", ADMIN)]);
    let mut by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in &listed {
        by_path
            .entry(path.as_str())
            .or_default()
            .insert(method.as_str());
    }
    for (template, methods) in &by_path {
        let path = template.replace("{id}", CLIENT);
        let mut allowed = methods.clone();
        if allowed.contains("GET") {
            allowed.insert("HEAD");
        }
        for method in [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
        ] {
            let raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            // Without the token every method is refused alike: the methods of the admin
            // API cannot be probed without it.
            let (status, _) = head_of(&server, raw.as_bytes());
            assert_eq!(status, 401, "{method} {path}");
            if !allowed.contains(method) {
                let raw = format!(
                    "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let (status, headers) = head_of(&server, raw.as_bytes());
                assert_eq!(status, 405, "{method} {path}: the document lacks it");
                let allow = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("Allow"))
                    .map(|(_, v)| v.split(", ").collect::<BTreeSet<_>>())
                    .unwrap_or_else(|| panic!("{method} {path}: no Allow"));
                assert_eq!(allow, allowed, "{method} {path}: Allow");
            }
        }
    }

    // Paths near the documented ones are no routes at all.
    for path in [
        "/admin",
        "/admin/",
        "/admin/cache",
        "/admin/stats",
        "/admin/clients/",
        "/admin/clients/a/b",
        "/admin/clients/a/rotate-secret/b",
        "/admin/revocations/a",
    ] {
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(head_of(&server, raw.as_bytes()).0, 404, "{path}");
    }
}
