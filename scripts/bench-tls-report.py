#!/usr/bin/env python3
"""The tables of scripts/bench-tls.sh: WORK_DIR -> OUT (markdown), printed too.

WORK_DIR/cells.txt has one line per measurement, `key=value` pairs: alg, round, kind
(keepalive, resumed, full), cell (plain, tls, nginx), wall_us, the CPU used over the window
(cpu_us edgeauth, nginx_cpu_us, gen_cpu_us the load generator, core_server_us and
core_gen_us everything on the server's and the generator's core), edgeauth's counter deltas
(issued, full, resumed, failed) and the generator's figures (requests, non2xx,
socket_errors, p99_us). checks.txt: rows against tokens issued per server; probe.txt: what
nginx logged for each generator; session.txt: the negotiated protocol and cipher.

Rates are the server's counts over the wall-clock window; rounds of a cell are pooled
(sums of counts over sums of windows). Exits 1 when a check fails.
"""
import os
import sys
from collections import defaultdict

work, out = sys.argv[1:3]
env = os.environ
conns = int(env.get("BENCH_CONNS", "64"))


def records(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [dict(kv.split("=", 1) for kv in line.split()) for line in f if line.strip()]


cells = defaultdict(list)  # (alg, kind, cell) -> records, in run order
for r in records("cells.txt"):
    cells[(r["alg"], r["kind"], r["cell"])].append(r)
algs = list(dict.fromkeys(a for a, _, _ in cells))


def total(rs, key):
    return sum(int(r[key]) for r in rs)


def wall(rs):
    return total(rs, "wall_us") / 1e6


def rate(rs, key="issued"):
    return total(rs, key) / wall(rs)


def share(rs, key):
    """Share of one core that `key` (CPU microseconds) took over the window."""
    return total(rs, key) / total(rs, "wall_us")


def server_cpu(rs):
    """CPU on the server's core spent serving: edgeauth, plus nginx for the nginx cells."""
    return total(rs, "cpu_us") + total(rs, "nginx_cpu_us") * (rs[0]["cell"] == "nginx")


def cpu_per_token(rs):
    return server_cpu(rs) / max(1, total(rs, "issued"))


def others(rs, core_key, own):
    return max(0.0, (total(rs, core_key) - own) / total(rs, "wall_us"))


def p99(rs):
    return max(int(r["p99_us"]) for r in rs) / 1000


def pct(x):
    return f"{x:.0%}"


def gen_text(rs):
    """The generator's share of its core / what everything else took there meanwhile."""
    return f"{pct(share(rs, 'gen_cpu_us'))} / {pct(others(rs, 'core_gen_us', total(rs, 'gen_cpu_us')))}"


failures = []
for (alg, kind, cell), rs in cells.items():
    for r in rs:
        bad = int(r["non2xx"]) + int(r.get("socket_errors", 0))
        if bad:
            failures.append(f"{alg} {kind} {cell} round {r['round']}: {bad} non-2xx or socket errors")
        failed = int(r["failed"])
        # edgeauth counts a connection that closes before its handshake completes as a
        # failure. wrk makes one on purpose: wrk.resolve() tests the address with a bare TCP
        # connect before the run. In keep-alive cells the rest connect once, at the start, so
        # that one is all there may be; with a connection per request, the generator cuts
        # up to one handshake per connection short when it stops.
        if failed > (1 if kind == "keepalive" else conns + 1):
            failures.append(f"{alg} {kind} {cell} round {r['round']}: {failed} failed handshakes")
    if cell == "tls" and kind == "full":
        full, resumed = total(rs, "full"), total(rs, "resumed")
        if full == 0 or resumed > 0:
            failures.append(f"{alg} full handshakes (ab): edgeauth counted {full} full, {resumed} resumed")
    if cell == "tls" and kind == "resumed":
        full, resumed = total(rs, "full"), total(rs, "resumed")
        if resumed == 0 or full > 2 * conns + resumed / 100:
            failures.append(f"{alg} resumed handshakes (wrk): edgeauth counted {full} full, {resumed} resumed")
probes = {p["generator"]: p for p in records("probe.txt")}
for gen, p in probes.items():
    n, reused = int(p["probe_connections"]), int(p["probe_reused"])
    if n == 0:
        failures.append(f"nginx probe {gen}: no connections logged")
    elif gen == "ab" and reused:
        failures.append(f"nginx probe ab: {reused} of {n} connections resumed")
    elif gen == "wrk" and reused < n - 2 * conns - n / 100:
        failures.append(f"nginx probe wrk: only {reused} of {n} connections resumed")
for c in records("checks.txt"):
    if c["rows"] != c["issued"]:
        failures.append(f"{c['alg']}: {c['rows']} rows != {c['issued']} issued")

session = (records("session.txt") or [{}])[0]


def proto(key):
    return session.get(key, "?").replace("+", ", ")


server_cpu_no = env.get("BENCH_SERVER_CPU")
wrk_cpu_no = env.get("BENCH_WRK_CPU")
lines = [
    "# TLS: native against plain and against nginx in front",
    "",
    f"`scripts/bench-tls.sh`, {env.get('BENCH_DATE')}, checkout {env.get('BENCH_COMMIT')}, binary "
    f"{env.get('BENCH_BINARY')}.",
    "",
    f"- Layout: one edgeauth shard pinned to core {server_cpu_no}; nginx ({env.get('BENCH_NGINX')}, "
    f"master and one worker) pinned to the same core {server_cpu_no}; wrk (1 thread) and ab pinned to "
    f"core {wrk_cpu_no}; PostgreSQL unpinned. {os.cpu_count()} cores, shared with other work.",
    f"- {env.get('BENCH_DURATION')} s per measurement, {conns} connections, POST /oauth/token "
    f"(HTTP Basic). Keep-alive rounds per cell: {env.get('BENCH_ROUNDS')} on the same server, "
    "interleaved (plain, tls, nginx; the next round reversed), pooled.",
    f"- Negotiated with the generators' OpenSSL ({env.get('BENCH_OPENSSL')}): native {proto('native')}; "
    f"nginx {proto('nginx')}. ECDSA P-256 certificate.",
    "- Tokens/s: edgeauth's own count over the wall-clock window around the generator. p99: the "
    "generator's (worst round). CPU: from /proc over the same window; \"core "
    f"{server_cpu_no}\" is edgeauth (+ nginx) / everything else that ran there (PostgreSQL "
    f"writing the rows, when the kernel puts it there, and other work), \"core {wrk_cpu_no}\" the "
    f"generator / everything else. Neither core full means the closed loop of {conns} "
    "requests in flight is waiting on latency, not CPU (the machine is shared).",
    "",
    "## Keep-alive",
    "",
    f"| alg | cell | tokens/s (per round) | p99 ms | server CPU µs per token | core {server_cpu_no}: serving / others | core {wrk_cpu_no}: wrk / others | ratio |",
    "|---|---|---|---|---|---|---|---|",
]
summary = []
for alg in algs:
    ka = {c: cells.get((alg, "keepalive", c)) for c in ("plain", "tls", "nginx")}
    if not all(ka.values()):
        continue
    for cell, name in (("plain", "plain HTTP"), ("tls", "native TLS"), ("nginx", "nginx TLS in front")):
        rs = ka[cell]
        rounds = ", ".join(f"{int(r['issued']) / (int(r['wall_us']) / 1e6) / 1000:.1f}k" for r in rs)
        serving = server_cpu(rs)
        if cell == "tls":
            ratio = f"TLS / plain {rate(rs) / rate(ka['plain']):.2f}"
        elif cell == "nginx":
            ratio = f"native / nginx {rate(ka['tls']) / rate(rs):.2f}"
        else:
            ratio = ""
        serving_text = pct(share(rs, "cpu_us"))
        if cell == "nginx":
            serving_text = f"{pct(share(rs, 'cpu_us'))} + {pct(share(rs, 'nginx_cpu_us'))}"
        lines.append(
            f"| {alg} | {name} | {rate(rs):,.0f} ({rounds}) | {p99(rs):.2f} | {cpu_per_token(rs):.1f} "
            f"| {serving_text} / {pct(others(rs, 'core_server_us', serving))} | {gen_text(rs)} | {ratio} |"
        )
    summary.append(
        f"| {alg} | {rate(ka['tls']) / rate(ka['plain']):.2f} | {cpu_per_token(ka['plain']) / cpu_per_token(ka['tls']):.2f} "
        f"| {rate(ka['tls']) / rate(ka['nginx']):.2f} | {cpu_per_token(ka['nginx']) / cpu_per_token(ka['tls']):.2f} |"
    )
lines += [
    "",
    "Server CPU per token: edgeauth's CPU (plus nginx's, in the nginx cells) over the tokens",
    "issued. When the serving side does not fill its core (one wrk thread cannot always keep",
    "it busy), tokens/s ratios understate what TLS costs; CPU per token is what a saturated",
    "core would issue, so both ratios are given:",
    "",
    "| alg | TLS / plain, tokens/s (target ≥ 0.85) | TLS / plain, by CPU per token | native / nginx, tokens/s (target ≥ 1.5) | native / nginx, by CPU per token |",
    "|---|---|---|---|---|",
    *summary,
]

hs_rows = []
per_core = {}
for alg in algs:
    for kind in ("full", "resumed"):
        for cell in ("tls", "nginx"):
            rs = cells.get((alg, kind, cell))
            if not rs:
                continue
            serving = server_cpu(rs)
            core = share(rs, "cpu_us") + (share(rs, "nginx_cpu_us") if cell == "nginx" else 0)
            per_core[(alg, kind, cell)] = rate(rs) / core
            gen = "ab (no keep-alive)" if kind == "full" else "wrk, `Connection: close`"
            if cell == "tls":
                counted = f"{rate(rs, 'full'):,.0f} full/s, {rate(rs, 'resumed'):,.0f} resumed/s (edgeauth)"
                serving_text = pct(share(rs, "cpu_us"))
                ratio = ""
            else:
                p = probes.get("ab" if kind == "full" else "wrk")
                counted = (f"probe: {int(p['probe_reused']):,} of {int(p['probe_connections']):,} resumed"
                           if p else "?")
                serving_text = f"{pct(share(rs, 'cpu_us'))} + {pct(share(rs, 'nginx_cpu_us'))}"
                native = per_core.get((alg, kind, "tls"))
                ratio = f"native / nginx {native / per_core[(alg, kind, cell)]:.2f}" if native else ""
            hs_rows.append(
                f"| {alg} | {kind} | {'native TLS' if cell == 'tls' else 'nginx TLS in front'} | {gen} | {counted} "
                f"| {rate(rs):,.0f} | {p99(rs):.2f} | {serving_text} / {pct(others(rs, 'core_server_us', serving))} "
                f"| {gen_text(rs)} | {per_core[(alg, kind, cell)]:,.0f} | {ratio} |"
            )
if hs_rows:
    lines += [
        "",
        "## A new connection per request (handshake-bound)",
        "",
        "Every request opens a connection, does a TLS handshake and asks for a token, so",
        "tokens/s = handshakes/s. Full handshakes: ab (never offers a session); resumed: wrk with",
        "`Connection: close` (reconnects with its session ticket). The kind is counted, not",
        "assumed: edgeauth's counters for native TLS; for nginx, a one-second probe of each",
        "generator against a logging copy of its server block ($ssl_session_reused).",
        "",
        "A client's half of a handshake costs more CPU than the server's, so the generator's one",
        "core runs out first and the serving side does not fill its core: \"per core\" is the",
        "measured rate divided by the serving side's share of its core, a projection of what one",
        "saturated core would do at the same CPU per handshake (for nginx: edgeauth's and nginx's",
        "CPU together, as both ran on that core).",
        "",
        f"| alg | handshake | front | generator | handshakes counted | tokens/s measured | p99 ms | core {server_cpu_no}: serving / others | core {wrk_cpu_no}: generator / others | per core (projection) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *hs_rows,
    ]
lines += ["", "Checks: " + ("all passed" if not failures else "FAILED: " + "; ".join(failures)),
          "(no non-2xx or socket errors; no failed handshake in keep-alive cells; the handshake kinds",
          "as labelled; rows in `tokens` == tokens issued after each server's SIGTERM)", ""]
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
sys.exit(1 if failures else 0)
