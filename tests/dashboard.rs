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
