#!/usr/bin/env python3
"""The table of scripts/bench-tls.sh: WORK_DIR (cells.txt, checks.txt) -> OUT (markdown).

Each cell line is `key=value` pairs: alg, round, cell, wall_us, issued, full, resumed and
wrk's RESULT fields (requests, non2xx, p99_us, ...). Rates are the server's counts over
the wall-clock window around wrk; rounds of a cell are averaged. Exits non-zero when a
check fails (a non-2xx answer, rows != tokens issued).
"""
import os
import sys
from collections import defaultdict

work, out = sys.argv[1:3]


def records(path):
    with open(path) as f:
        return [dict(kv.split("=", 1) for kv in line.split()) for line in f if line.strip()]


cells = defaultdict(list)
for r in records(os.path.join(work, "cells.txt")):
    cells[(r["alg"], r["cell"])].append(r)


def rate(rs, key):
    return sum(int(r[key]) for r in rs) / (sum(int(r["wall_us"]) for r in rs) / 1e6)


def cpu_per(rs, key):
    """edgeauth's CPU microseconds per counted event."""
    return sum(int(r["cpu_us"]) for r in rs) / max(1, sum(int(r[key]) for r in rs))


def core_share(rs):
    return sum(int(r["cpu_us"]) for r in rs) / sum(int(r["wall_us"]) for r in rs)


def p99(rs):
    return max(int(r["p99_us"]) for r in rs) / 1000


failures = []
for (alg, cell), rs in cells.items():
    bad = sum(int(r["non2xx"]) + int(r.get("socket_errors", 0)) for r in rs)
    if bad:
        failures.append(f"{alg} {cell}: {bad} non-2xx or socket errors")
for c in records(os.path.join(work, "checks.txt")):
    if c["rows"] != c["issued"]:
        failures.append(f"{c['alg']}: {c['rows']} rows != {c['issued']} issued")

env = os.environ
lines = [
    "# TLS: native against plain and against nginx in front",
    "",
    f"`scripts/bench-tls.sh`, {env.get('BENCH_DATE')}, commit {env.get('BENCH_COMMIT')}: one edgeauth "
    f"shard on core {env.get('BENCH_SERVER_CPU')} (and nginx's one worker on the same core for the "
    f"fronted cells), wrk (1 thread) on core {env.get('BENCH_WRK_CPU')}, {env.get('BENCH_CONNS')} "
    f"connections, {env.get('BENCH_DURATION')} s per measurement, rounds averaged. Tokens/s: the "
    "server's own count over the wall-clock window around wrk. p99: wrk's, the worst round.",
    "",
    "## Keep-alive (TLS 1.3, ECDSA P-256 certificate)",
    "",
    "| alg | plain tokens/s | native TLS tokens/s | nginx TLS tokens/s | TLS / plain | native / nginx | p99 ms plain / TLS / nginx | edgeauth µs CPU per token plain / TLS | TLS / plain by CPU per token |",
    "|---|---|---|---|---|---|---|---|---|",
]
for alg in dict.fromkeys(a for a, _ in cells):
    if (alg, "plain") not in cells:
        continue
    plain, tls, nginx = (rate(cells[(alg, c)], "issued") for c in ("plain", "tls", "nginx"))
    p = [p99(cells[(alg, c)]) for c in ("plain", "tls", "nginx")]
    cpu = [cpu_per(cells[(alg, c)], "issued") for c in ("plain", "tls")]
    lines.append(
        f"| {alg} | {plain:,.0f} | {tls:,.0f} | {nginx:,.0f} | {tls / plain:.2f} | {tls / nginx:.2f} "
        f"| {p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f} | {cpu[0]:.1f} / {cpu[1]:.1f} | {cpu[0] / cpu[1]:.2f} |"
    )
lines += [
    "",
    "With one wrk thread the edgeauth shard is not always saturated (its core share is the",
    "tokens/s times the CPU per token), so the tokens/s ratio can read 1.0 where TLS does cost",
    "something: the last column, plain CPU per token over TLS CPU per token, is the ratio of",
    "what one saturated core can issue. nginx and edgeauth share core 0, so the nginx column",
    "is saturated.",
]
lines += [
    "",
    "## A new connection per request",
    "",
    "Each request opens a connection and does a TLS handshake: wrk (`Connection: close`) resumes",
    "its session every time, ab never does. Handshakes counted by edgeauth; nginx's are not in",
    "its counters. Per core: edgeauth's rate divided by the share of a core it used (for the",
    "nginx rows, the rate alone: nginx and edgeauth shared core 0).",
    "",
    "| alg | generator | front | tokens/s | full handshakes/s | resumed handshakes/s | edgeauth core share | per core | p99 ms |",
    "|---|---|---|---|---|---|---|---|---|",
]
for (alg, cell), rs in cells.items():
    kind, _, front = cell.partition("-")
    if kind not in ("full", "resumed"):
        continue
    tokens = rate(rs, "issued")
    generator = "ab" if kind == "full" else "wrk, Connection: close"
    if front == "tls":
        share = core_share(rs)
        lines.append(
            f"| {alg} | {generator} | native | {tokens:,.0f} | {rate(rs, 'full'):,.0f} | {rate(rs, 'resumed'):,.0f} "
            f"| {share:.0%} | {tokens / share:,.0f} | {p99(rs):.2f} |"
        )
    else:
        lines.append(f"| {alg} | {generator} | nginx | {tokens:,.0f} | (nginx) | (nginx) | — | — | {p99(rs):.2f} |")
lines += ["", "Checks: " + ("all passed" if not failures else "; ".join(failures)), ""]
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
sys.exit(1 if failures else 0)
