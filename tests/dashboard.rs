//! `deploy/grafana-dashboard.json` against the real server: every panel's PromQL reads
//! families that `/metrics` serves, with labels those families carry, so a renamed metric or
//! label fails here instead of leaving an empty panel in production.
//!
//! The expressions are read by a small PromQL reader ([`promql`]), not a full parser: it
//! finds the selectors (metric name, matchers, the call around them) and the grouping
//! clauses (`by`, `without`, `on`, ...), and refuses what it does not understand.

mod common;

/// The PromQL the dashboard needs read, and no more: tokens, then one pass that names every
/// selector and every grouping clause with the metrics it applies to.
mod promql {
    use std::ops::RangeInclusive;

    #[derive(Debug, Clone, PartialEq)]
    pub struct Matcher {
        pub label: String,
        pub op: String,
        pub value: String,
    }

    /// A vector selector and the innermost function or aggregation it is an argument of.
    #[derive(Debug, PartialEq)]
    pub struct Selector {
        pub metric: String,
        pub matchers: Vec<Matcher>,
        pub call: Option<String>,
    }

    /// `by (...)`, `without (...)`, `on (...)`, ...: its labels and the metrics of the
    /// expression it applies to.
    #[derive(Debug, PartialEq)]
    pub struct Grouping {
        pub keyword: String,
        pub labels: Vec<String>,
        pub metrics: Vec<String>,
    }

    #[derive(Debug, Default, PartialEq)]
    pub struct Reads {
        pub selectors: Vec<Selector>,
        pub groupings: Vec<Grouping>,
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Ident(String),
        Str(String),
        Num(String),
        Op(String),
        Open,
        Close,
        Comma,
        /// `[...]`: a range or subquery; its duration (`$__rate_interval` too) names nothing.
        Range,
        Matchers(Vec<Matcher>),
    }

    const AGGREGATORS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: &[&str] = &[
        "bool", "offset", "and", "or", "unless", "atan2", "inf", "nan",
    ];

    /// Everything `expr` reads, or why it could not be read.
    pub fn reads(expr: &str) -> Result<Reads, String> {
        let toks = tokens(expr)?;
        let pairs = parentheses(&toks)?;
        let mut reads = Reads::default();
        let mut at = Vec::new(); // token index of each selector, for the grouping scopes
        let mut scopes = Vec::new();
        let mut calls: Vec<(usize, Option<String>)> = Vec::new(); // open parentheses
        let mut pending = None; // `sum by (x) (...)`: the call that the next `(` opens
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Ident(word) if GROUPING.contains(&word.as_str()) => {
                    let (labels, end) = label_list(&toks, i, &pairs)?;
                    let scope = scope(word, &toks, &pairs, i, end, &calls)?;
                    scopes.push((word.clone(), labels, scope));
                    i = end;
                }
                Tok::Ident(name) if toks.get(i + 1) == Some(&Tok::Open) => {
                    pending = Some(name.clone())
                }
                Tok::Ident(word) if AGGREGATORS.contains(&word.as_str()) => {
                    pending = Some(word.clone())
                }
                Tok::Ident(word) if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)) => {}
                Tok::Ident(metric) => {
                    let matchers = match toks.get(i + 1) {
                        Some(Tok::Matchers(m)) => m.clone(),
                        _ => Vec::new(),
                    };
                    let call = calls.last().and_then(|(_, call)| call.clone());
                    at.push(i);
                    let metric = metric.clone();
                    reads.selectors.push(Selector {
                        metric,
                        matchers,
                        call,
                    });
                }
                Tok::Matchers(_)
                    if !matches!(i.checked_sub(1).map(|p| &toks[p]), Some(Tok::Ident(_))) =>
                {
                    return Err("a selector without a metric name".into());
                }
                Tok::Open => calls.push((i, pending.take())),
                Tok::Close => {
                    calls.pop();
                }
                _ => {}
            }
            i += 1;
        }
        reads.groupings = scopes
            .into_iter()
            .map(|(keyword, labels, range)| Grouping {
                keyword,
                labels,
                metrics: metrics_within(&range, &at, &reads.selectors),
            })
            .collect();
        Ok(reads)
    }

    /// The metrics, each once, of the selectors whose token index (`at`) is in `range`.
    fn metrics_within(
        range: &RangeInclusive<usize>,
        at: &[usize],
        selectors: &[Selector],
    ) -> Vec<String> {
        let mut metrics: Vec<String> = Vec::new();
        for (i, s) in at.iter().zip(selectors) {
            if range.contains(i) && !metrics.contains(&s.metric) {
                metrics.push(s.metric.clone());
            }
        }
        metrics
    }

    /// The labels of the grouping keyword at `i` and the index of its last token (`)`, or
    /// the keyword itself for a bare `group_left`).
    fn label_list(toks: &[Tok], i: usize, pairs: &[usize]) -> Result<(Vec<String>, usize), String> {
        if toks.get(i + 1) != Some(&Tok::Open) {
            return match &toks[i] {
                Tok::Ident(k) if k.starts_with("group_") => Ok((Vec::new(), i)),
                _ => Err(format!("{:?} without a label list", toks[i])),
            };
        }
        let close = pairs[i + 1];
        let mut labels = Vec::new();
        for tok in &toks[i + 2..close] {
            match tok {
                Tok::Ident(label) | Tok::Str(label) => labels.push(label.clone()),
                Tok::Comma => {}
                other => return Err(format!("{other:?} in a label list")),
            }
        }
        Ok((labels, close))
    }

    /// The tokens a grouping clause applies to. `by`/`without`: the aggregation's argument,
    /// after the clause or before it (`sum (x) by (l)`). `on`/`ignoring`/`group_*`: the
    /// innermost parenthesis around the binary operation, or the whole expression.
    fn scope(
        keyword: &str,
        toks: &[Tok],
        pairs: &[usize],
        i: usize,
        end: usize,
        calls: &[(usize, Option<String>)],
    ) -> Result<RangeInclusive<usize>, String> {
        if keyword == "by" || keyword == "without" {
            if toks.get(end + 1) == Some(&Tok::Open) {
                return Ok(end + 1..=pairs[end + 1]);
            }
            return match i.checked_sub(1) {
                Some(before) if toks[before] == Tok::Close => Ok(pairs[before]..=before),
                _ => Err(format!("`{keyword}` aggregates nothing")),
            };
        }
        Ok(match calls.last() {
            Some(&(open, _)) => open..=pairs[open],
            None => 0..=toks.len() - 1,
        })
    }

    /// For each parenthesis, the index of its partner.
    fn parentheses(toks: &[Tok]) -> Result<Vec<usize>, String> {
        let mut pairs = vec![usize::MAX; toks.len()];
        let mut open = Vec::new();
        for (i, tok) in toks.iter().enumerate() {
            match tok {
                Tok::Open => open.push(i),
                Tok::Close => {
                    let o = open.pop().ok_or("unbalanced `)`")?;
                    (pairs[o], pairs[i]) = (i, o);
                }
                _ => {}
            }
        }
        match open.is_empty() {
            true => Ok(pairs),
            false => Err("unclosed `(`".into()),
        }
    }

    fn tokens(expr: &str) -> Result<Vec<Tok>, String> {
        let s: Vec<char> = expr.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&c) = s.get(i) {
            let start = i;
            i += 1;
            match c {
                c if c.is_whitespace() => {}
                '#' => {
                    i = s[i..]
                        .iter()
                        .position(|&c| c == '\n')
                        .map_or(s.len(), |n| i + n)
                }
                '(' => out.push(Tok::Open),
                ')' => out.push(Tok::Close),
                ',' => out.push(Tok::Comma),
                '[' => {
                    let close = s[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .ok_or("unclosed `[`")?;
                    i += close + 1;
                    out.push(Tok::Range);
                }
                '{' => {
                    let (matchers, next) = matchers(&s, i)?;
                    out.push(Tok::Matchers(matchers));
                    i = next;
                }
                '"' | '\'' | '`' => {
                    let (value, next) = string(&s, start)?;
                    out.push(Tok::Str(value));
                    i = next;
                }
                c if c.is_ascii_digit() || c == '.' => {
                    // 1e-6, 0x1F, 5m, 1.5: letters and digits, a sign only after an exponent.
                    while s.get(i).is_some_and(|&c| {
                        c.is_ascii_alphanumeric()
                            || c == '.'
                            || ((c == '+' || c == '-') && matches!(s[i - 1], 'e' | 'E'))
                    }) {
                        i += 1;
                    }
                    out.push(Tok::Num(s[start..i].iter().collect()));
                }
                c if is_ident_start(c) => {
                    i = ident_end(&s, start);
                    out.push(Tok::Ident(s[start..i].iter().collect()));
                }
                c if "+-*/%^=!<>@".contains(c) => {
                    if s.get(i) == Some(&'=') && "=!<>".contains(c) {
                        i += 1;
                    }
                    out.push(Tok::Op(s[start..i].iter().collect()));
                }
                c => return Err(format!("unexpected {c:?} at {start}")),
            }
        }
        Ok(out)
    }

    fn is_ident_start(c: char) -> bool {
        c.is_ascii_alphabetic() || c == '_' || c == ':'
    }

    fn ident_end(s: &[char], start: usize) -> usize {
        let mut i = start + 1;
        while s
            .get(i)
            .is_some_and(|&c| is_ident_start(c) || c.is_ascii_digit())
        {
            i += 1;
        }
        i
    }

    /// `label op "value", ...}` from `i` (just after `{`); the matchers and the index after `}`.
    fn matchers(s: &[char], mut i: usize) -> Result<(Vec<Matcher>, usize), String> {
        let skip = |i: &mut usize| {
            while s.get(*i).is_some_and(|c| c.is_whitespace()) {
                *i += 1;
            }
        };
        let mut out = Vec::new();
        loop {
            skip(&mut i);
            match s.get(i) {
                Some('}') => return Ok((out, i + 1)),
                Some(&c) if is_ident_start(c) && c != ':' => {}
                other => return Err(format!("a label expected at {i}, found {other:?}")),
            }
            let end = ident_end(s, i);
            let label: String = s[i..end].iter().collect();
            i = end;
            skip(&mut i);
            let op = ["=~", "!~", "!=", "="]
                .into_iter()
                .find(|op| s[i..].starts_with(&op.chars().collect::<Vec<_>>()))
                .ok_or_else(|| format!("no matcher operator after {label}"))?;
            i += op.len();
            skip(&mut i);
            let (value, next) = string(s, i)?;
            out.push(Matcher {
                label,
                op: op.to_owned(),
                value,
            });
            i = next;
            skip(&mut i);
            if s.get(i) == Some(&',') {
                i += 1;
            }
        }
    }

    /// The string literal that starts at `i`, unescaped (none in a backquoted one), and the
    /// index after its closing quote.
    fn string(s: &[char], i: usize) -> Result<(String, usize), String> {
        let quote = *s
            .get(i)
            .filter(|c| matches!(c, '"' | '\'' | '`'))
            .ok_or("a string expected")?;
        let mut value = String::new();
        let mut j = i + 1;
        while let Some(&c) = s.get(j) {
            match c {
                c if c == quote => return Ok((value, j + 1)),
                '\\' if quote != '`' => {
                    let escaped = *s.get(j + 1).ok_or("a dangling `\\`")?;
                    value.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        c => c,
                    });
                    j += 2;
                }
                c => {
                    value.push(c);
                    j += 1;
                }
            }
        }
        Err("unterminated string".into())
    }
}

use promql::{Matcher, Selector, reads};

fn matcher(label: &str, op: &str, value: &str) -> Matcher {
    Matcher {
        label: label.into(),
        op: op.into(),
        value: value.into(),
    }
}

fn metrics_of(expr: &str) -> Vec<(String, Option<String>)> {
    let r = reads(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    r.selectors
        .into_iter()
        .map(|s| (s.metric, s.call))
        .collect()
}

fn groupings_of(expr: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let r = reads(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    (r.groupings.into_iter())
        .map(|g| (g.keyword, g.labels, g.metrics))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn reader_finds_selectors_inside_calls_and_aggregations() {
    let expr = r#"histogram_quantile(0.99, sum by (le, instance) (rate(edgeauth_token_duration_seconds_bucket{instance=~"$instance", shard!="0"}[$__rate_interval])))"#;
    let r = reads(expr).unwrap();
    assert_eq!(
        r.selectors,
        [Selector {
            metric: "edgeauth_token_duration_seconds_bucket".into(),
            matchers: vec![
                matcher("instance", "=~", "$instance"),
                matcher("shard", "!=", "0")
            ],
            call: Some("rate".into()),
        }]
    );
    assert_eq!(
        groupings_of(expr),
        [(
            "by".into(),
            strings(&["le", "instance"]),
            strings(&["edgeauth_token_duration_seconds_bucket"])
        )]
    );
    // A bare gauge inside a prefix aggregation is the aggregation's argument.
    assert_eq!(
        metrics_of("sum by (shard) (edgeauth_writer_pending)"),
        [("edgeauth_writer_pending".into(), Some("sum".into()))]
    );
}

#[test]
fn reader_is_not_fooled_by_keywords_numbers_strings_and_ranges() {
    // Keywords, numbers with exponents, durations and offsets name no metric; a `by` after
    // the aggregation applies to the parenthesis before it.
    let expr = "sum(rate(a_total[5m:30s] offset 1h)) by (shard) / 1e-6 > bool 0x1F \
                and on(shard) group_left(endpoint) max(b) or vector(1) unless c # d_total";
    assert_eq!(
        metrics_of(expr),
        [
            ("a_total".into(), Some("rate".into())),
            ("b".into(), Some("max".into())),
            ("c".into(), None)
        ]
    );
    assert_eq!(
        groupings_of(expr),
        [
            ("by".into(), strings(&["shard"]), strings(&["a_total"])),
            (
                "on".into(),
                strings(&["shard"]),
                strings(&["a_total", "b", "c"])
            ),
            (
                "group_left".into(),
                strings(&["endpoint"]),
                strings(&["a_total", "b", "c"])
            ),
        ]
    );
    // A matcher value may hold anything a metric name is made of, and braces and quotes.
    let r = reads(r#"x{status!~"2..|x_total", q='a"}b', e="\"y\""}"#).unwrap();
    assert_eq!(r.selectors.len(), 1);
    assert_eq!(r.selectors[0].matchers[1], matcher("q", "=", "a\"}b"));
    assert_eq!(r.selectors[0].matchers[2], matcher("e", "=", "\"y\""));
    // `on` inside a parenthesis scopes to that parenthesis only.
    let inner = groupings_of("z + (a / ignoring(shard) b)");
    assert_eq!(inner[0].2, strings(&["a", "b"]));
}

#[test]
fn reader_refuses_what_it_cannot_read() {
    for bad in [
        r#"{__name__="x"}"#,
        "sum(rate(x[5m])",
        "x)",
        "rate(x[5m)",
        r#"x{a="b}"#,
        "x{a}",
        "sum by x",
        "x by (shard)",
        "x $y",
    ] {
        assert!(reads(bad).is_err(), "{bad} was read: {:?}", reads(bad));
    }
}

// ---- The dashboard against the server ----

use std::collections::{BTreeMap, BTreeSet};

use common::{Server, TestDb};
use promql::Grouping;
use serde_json::Value;

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");

/// The data source every panel and target names: the dashboard's `datasource` variable, so
/// it imports into any Grafana whatever its Prometheus is called.
const DATASOURCE_UID: &str = "${datasource}";

/// Labels Prometheus attaches to every series it scrapes (target labels); `/metrics` does
/// not serve them itself.
const TARGET_LABELS: &[&str] = &["instance", "job"];

/// Families `/metrics` serves that no panel shows, each with why. A new family needs a
/// panel or a line here.
const NOT_ON_DASHBOARD: &[(&str, &str)] = &[];

/// The calls that take a counter: they see through its resets at restart.
const COUNTER_CALLS: &[&str] = &["rate", "irate", "increase", "resets"];

/// A series name as served (`x_total`, `y_bucket`): its family, the family's type, and
/// each label name with the values seen.
struct Series {
    family: String,
    kind: String,
    labels: BTreeMap<String, BTreeSet<String>>,
}

/// A text exposition, by series name. A sample line's series (`name{l="v",...}`) is a
/// PromQL selector, so the PromQL reader reads it.
fn exposition(text: &str) -> BTreeMap<String, Series> {
    let mut served: BTreeMap<String, Series> = BTreeMap::new();
    let mut family = (String::new(), String::from("untyped"));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            family = (name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        // No timestamps: the value is the last field.
        let (series, _value) = line.rsplit_once(' ').expect("a sample and its value");
        let read = reads(series).unwrap_or_else(|e| panic!("{line}: {e}"));
        let [
            Selector {
                metric, matchers, ..
            },
        ] = &read.selectors[..]
        else {
            panic!("{line}: not one series");
        };
        let (name, kind) = match belongs(metric, &family.0, &family.1) {
            true => family.clone(),
            false => (metric.clone(), String::from("untyped")),
        };
        let entry = served.entry(metric.clone()).or_insert_with(|| Series {
            family: name,
            kind,
            labels: BTreeMap::new(),
        });
        for m in matchers {
            let values = entry.labels.entry(m.label.clone()).or_default();
            values.insert(m.value.clone());
        }
    }
    served
}

/// Whether `series` is a sample of the family declared as `family` of type `kind`.
fn belongs(series: &str, family: &str, kind: &str) -> bool {
    let suffixes: &[&str] = match kind {
        "histogram" => &["_bucket", "_sum", "_count"],
        "summary" => &["", "_sum", "_count"],
        "counter" => &["", "_total"],
        _ => &[""],
    };
    suffixes
        .iter()
        .any(|s| series.strip_suffix(s) == Some(family))
}

#[test]
fn exposition_reader_types_each_series_and_collects_its_labels() {
    let text = "# HELP a_seconds Latency\n# TYPE a_seconds histogram\n\
                a_seconds_bucket{shard=\"0\",le=\"0.1\"} 1\n\
                a_seconds_bucket{shard=\"1\",le=\"+Inf\"} 2\n\
                a_seconds_sum{shard=\"0\"} 0.5\na_seconds_count{shard=\"0\"} 2\n\
                # TYPE b counter\nb_total{path=\"a \\\"b\\\" c\"} 3\n\
                # TYPE c gauge\nc 1\nd_total 4\n";
    let served = exposition(text);
    let kinds: Vec<(&str, &str, &str)> = (served.iter())
        .map(|(name, s)| (name.as_str(), s.family.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a_seconds_bucket", "a_seconds", "histogram"),
            ("a_seconds_count", "a_seconds", "histogram"),
            ("a_seconds_sum", "a_seconds", "histogram"),
            ("b_total", "b", "counter"),
            ("c", "c", "gauge"),
            // A sample after another family's samples has no type of its own.
            ("d_total", "d_total", "untyped"),
        ]
    );
    let bucket = &served["a_seconds_bucket"].labels;
    assert_eq!(bucket["le"], BTreeSet::from(["0.1".into(), "+Inf".into()]));
    assert_eq!(bucket["shard"].len(), 2);
    assert!(!served["a_seconds_sum"].labels.contains_key("le"));
    assert!(served["b_total"].labels["path"].contains("a \"b\" c"));
}

fn has_label(series: &Series, label: &str) -> bool {
    TARGET_LABELS.contains(&label) || series.labels.contains_key(label)
}

/// What is wrong with `expr` against what is served, one line per problem.
fn problems(expr: &str, served: &BTreeMap<String, Series>) -> Vec<String> {
    let read = match reads(expr) {
        Ok(read) => read,
        Err(e) => return vec![format!("unreadable: {e}")],
    };
    let mut out = Vec::new();
    if read.selectors.is_empty() {
        out.push("reads no metric".to_owned());
    }
    for s in &read.selectors {
        selector_problems(s, served, &mut out);
    }
    for g in &read.groupings {
        grouping_problems(g, served, &mut out);
    }
    out
}

fn selector_problems(s: &Selector, served: &BTreeMap<String, Series>, out: &mut Vec<String>) {
    let Some(series) = served.get(&s.metric) else {
        out.push(format!("{} is not served", s.metric));
        return;
    };
    for m in &s.matchers {
        if !has_label(series, &m.label) {
            out.push(format!("{} has no label {}", s.metric, m.label));
            continue;
        }
        // A literal value no series carries selects nothing: a typo, most likely.
        let seen = series.labels.get(&m.label);
        if m.op == "=" && !m.value.contains('$') && seen.is_some_and(|v| !v.contains(&m.value)) {
            out.push(format!("no {} has {}={:?}", s.metric, m.label, m.value));
        }
    }
    // Histogram buckets, sums and counts are counters too.
    let counter = series.kind == "counter" || series.kind == "histogram";
    let call = s.call.as_deref();
    let rated = call.is_some_and(|c| COUNTER_CALLS.contains(&c));
    if counter && !rated {
        out.push(format!("{} is a counter, read without rate()", s.metric));
    }
    if rated && !counter {
        let (family, kind) = (&series.family, &series.kind);
        out.push(format!("{call:?} of {family}, a {kind}"));
    }
}

fn grouping_problems(g: &Grouping, served: &BTreeMap<String, Series>, out: &mut Vec<String>) {
    if g.metrics.is_empty() {
        out.push(format!("`{}` applies to no metric", g.keyword));
    }
    // Those that are not served are reported once, by their selector.
    let series: Vec<&Series> = g.metrics.iter().filter_map(|m| served.get(m)).collect();
    for label in &g.labels {
        let carrying = series.iter().filter(|s| has_label(s, label)).count();
        // `group_left (l)` copies `l` from one side; every other clause needs it on all.
        let enough = match g.keyword.starts_with("group_") {
            true => carrying > 0,
            false => carrying == series.len(),
        };
        if !enough {
            let (keyword, metrics) = (&g.keyword, &g.metrics);
            out.push(format!("{keyword} ({label}): not on each of {metrics:?}"));
        }
    }
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).expect("deploy/grafana-dashboard.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, with those a collapsed row holds.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in d["panels"].as_array().expect("panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// (panel title, expression) for every target of every panel.
fn expressions(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(d) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            out.push((title.to_owned(), expr.to_owned()));
        }
    }
    out
}

/// The dashboard's variables by name.
fn variables(d: &Value) -> BTreeMap<&str, &Value> {
    let list = d["templating"]["list"].as_array().expect("templating.list");
    list.iter()
        .map(|v| (v["name"].as_str().expect("a variable name"), v))
        .collect()
}

/// A query variable's `label_values(SELECTOR, LABEL)`: the selector and the label.
fn label_values(variable: &Value) -> (String, String) {
    let query = variable["query"]["query"]
        .as_str()
        .or(variable["query"].as_str())
        .expect("a variable query");
    let args = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .and_then(|q| q.rsplit_once(','))
        .unwrap_or_else(|| panic!("not label_values(selector, label): {query}"));
    assert_eq!(variable["definition"].as_str(), Some(query), "definition");
    (args.0.trim().to_owned(), args.1.trim().to_owned())
}

/// `/metrics` of a server that has issued a token, so the series that appear on first use
/// (`edgeauth_http_requests_total{endpoint="token",...}`) are there.
fn served_after_a_token() -> BTreeMap<String, Series> {
    let db = TestDb::new();
    let secret = db.add_client("dashboard", "read");
    let server = Server::start(&db);
    let r = server.token_basic("dashboard", &secret, "grant_type=client_credentials");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(db.wait_token_rows(1), 1);
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    let served = exposition(std::str::from_utf8(&r.body).expect("the exposition is UTF-8"));
    let requests = &served["edgeauth_http_requests_total"];
    assert!(
        requests.labels["endpoint"].contains("token"),
        "no token series yet"
    );
    served
}

#[test]
fn every_panel_reads_families_that_metrics_serves() {
    let served = served_after_a_token();
    let d = dashboard();
    let mut wrong = Vec::new();
    let mut shown = BTreeSet::new();
    for (title, expr) in expressions(&d) {
        for problem in problems(&expr, &served) {
            wrong.push(format!("{title}: {problem}\n    {expr}"));
        }
        for s in reads(&expr).map(|r| r.selectors).unwrap_or_default() {
            shown.extend(served.get(&s.metric).map(|s| s.family.clone()));
        }
    }
    for (name, variable) in variables(&d) {
        if variable["type"] != "query" {
            continue;
        }
        let (selector, label) = label_values(variable);
        let read = reads(&selector).unwrap_or_else(|e| panic!("${name}: {e}"));
        for s in &read.selectors {
            match served.get(&s.metric) {
                Some(series) if has_label(series, &label) => {}
                Some(_) => wrong.push(format!("${name}: no {label} on {}", s.metric)),
                None => wrong.push(format!("${name}: {} is not served", s.metric)),
            }
        }
    }
    let families: BTreeSet<&String> = served.values().map(|s| &s.family).collect();
    for family in families {
        if !shown.contains(family) && !NOT_ON_DASHBOARD.iter().any(|(f, _)| f == family) {
            wrong.push(format!(
                "{family} is served and on no panel (or NOT_ON_DASHBOARD)"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_selector_follows_the_instance_variable() {
    for (title, expr) in expressions(&dashboard()) {
        let read = reads(&expr).unwrap_or_else(|e| panic!("{title}: {e}\n{expr}"));
        for s in read.selectors {
            let picked = matcher("instance", "=~", "$instance");
            assert!(
                s.matchers.contains(&picked),
                "{title}: {} ignores $instance",
                s.metric
            );
        }
    }
}

#[test]
fn dashboard_is_grafana_json_that_imports_anywhere() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    // An exported numeric id would clash with another dashboard on import.
    assert!(d["id"].is_null(), "id {}", d["id"]);
    for key in ["uid", "title"] {
        assert!(d[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    let vars = variables(&d);
    let datasource = vars.get("datasource").expect("a datasource variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let instance = vars.get("instance").expect("an instance variable");
    assert_eq!(instance["type"], "query");
    assert_eq!(instance["datasource"]["uid"], DATASOURCE_UID);
    assert_eq!(instance["multi"], true);
    assert_eq!(instance["includeAll"], true);
    // Selectors match `instance=~"$instance"`: "All" must be a regex that matches all.
    assert_eq!(instance["allValue"], ".*");

    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let id = panel["id"].as_u64().expect("a panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        panel_is_complete(panel);
    }
    let top: Vec<&Value> = d["panels"].as_array().unwrap().iter().collect();
    for (i, a) in top.iter().enumerate() {
        for b in &top[i + 1..] {
            let ((ax, ay, aw, ah), (bx, by, bw, bh)) = (grid_pos(a), grid_pos(b));
            let apart = ax + aw <= bx || bx + bw <= ax || ay + ah <= by || by + bh <= ay;
            assert!(apart, "{} overlaps {}", a["title"], b["title"]);
        }
    }
}

/// A row holds no queries; any other panel has a position, the data source variable, a
/// unit and at least one query.
fn panel_is_complete(panel: &Value) {
    let title = panel["title"].as_str().expect("a panel title");
    let (x, _, w, h) = grid_pos(panel);
    assert!(
        w >= 1 && h >= 1 && x + w <= 24,
        "{title}: gridPos {}",
        panel["gridPos"]
    );
    if panel["type"] == "row" {
        assert!(
            panel.get("targets").is_none(),
            "{title}: a row with targets"
        );
        return;
    }
    assert!(
        panel["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{title}: type"
    );
    assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
    assert_eq!(panel["datasource"]["uid"], DATASOURCE_UID, "{title}");
    let unit = panel["fieldConfig"]["defaults"]["unit"].as_str();
    assert!(unit.is_some_and(|u| !u.is_empty()), "{title}: no unit");
    let targets = panel["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(!targets.is_empty(), "{title}: no targets");
    let mut ref_ids = BTreeSet::new();
    for target in targets {
        let ref_id = target["refId"].as_str().expect("a refId");
        assert!(ref_ids.insert(ref_id), "{title}: refId {ref_id} twice");
        let expr = target["expr"].as_str().unwrap_or_default();
        assert!(
            !expr.trim().is_empty(),
            "{title}: {ref_id} has no expression"
        );
        assert_eq!(target["datasource"]["uid"], DATASOURCE_UID, "{title}");
    }
}

/// `gridPos` as (x, y, w, h).
fn grid_pos(panel: &Value) -> (u64, u64, u64, u64) {
    let pos = &panel["gridPos"];
    let n = |k: &str| {
        pos[k]
            .as_u64()
            .unwrap_or_else(|| panic!("gridPos.{k}: {pos}"))
    };
    (n("x"), n("y"), n("w"), n("h"))
}
