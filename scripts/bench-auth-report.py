#!/usr/bin/env python3
"""The tables of scripts/bench-auth.sh: WORK_DIR -> OUT (markdown), printed too.

WORK_DIR/cells.txt has one line per measurement, `key=value` pairs: round, cell (secret,
jwt, secret+dpop, jwt+dpop), material_us (making its assertions and proofs), wall_us (the
window around wrk), issued (the server's tokens over it), cpu_us (the server's user +
system CPU over it), wrk_cpu_us, core_server_us and core_wrk_us (everything on the two
cores), wrk's RESULT figures (requests, duration_us, non2xx, socket_errors, p99_us, ...)
and scripts/token-lines.lua's (lines_available, lines_taken, lines_exhausted; absent for
a cell without material). probes.txt: one probe per cell (status, token_type,
replay_status); checks.txt: rows against tokens issued; bounds.txt: `cargo bench` medians,
"name nanoseconds" lines (or "missing BENCH" for a bench the checkout lacks), which
BOUND_SIGN_US, BOUND_SECRET_US, BOUND_ASSERTION_US and BOUND_DPOP_US (microseconds) override.

Tokens/s is the server's count over wrk's run time; rounds of a cell are pooled (sums of
counts over sums of times). A measurement with any non-2xx answer, socket error or
replayed line is refused, and so is its cell. Exits 1 when a check fails.
"""
import os
import sys
from collections import defaultdict

work, out = sys.argv[1:3]
env = os.environ

AUTH_TEXT = {
    "secret": "client_secret_basic",
    "jwt": "private_key_jwt (ES256 assertion)",
    "secret+dpop": "client_secret_basic + DPoP (ES256 proof)",
    "jwt+dpop": "private_key_jwt + DPoP",
}
# name -> (cargo bench id, environment variable, what it is)
BOUNDS = {
    "sign": ("sign/ES256/sign_into", "BOUND_SIGN_US", "signing the access token"),
    "secret": ("secret/verify", "BOUND_SECRET_US", "checking a client secret"),
    "assertion": ("jose/ES256/assertion", "BOUND_ASSERTION_US", "parsing + checking an assertion"),
    "dpop": ("jose/ES256/dpop", "BOUND_DPOP_US", "checking a DPoP proof"),
}
BENCH_OF = {"sign": "jwt_sign", "secret": "jwt_sign", "assertion": "jose_verify", "dpop": "jose_verify"}


def records(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [dict(kv.split("=", 1) for kv in line.split()) for line in f if line.strip()]


def load_bounds():
    """name -> (µs, source) for every figure known; the benches the checkout lacks."""
    measured, missing = {}, set()
    path = os.path.join(work, "bounds.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                first, second = line.split()
                if first == "missing":
                    missing.add(second)
                else:
                    measured[first] = float(second) / 1000
    known = {}
    for name, (bench_id, var, _) in BOUNDS.items():
        if env.get(var):
            known[name] = (float(env[var]), f"`{var}`")
        elif bench_id in measured:
            known[name] = (measured[bench_id], f"`cargo bench --bench {BENCH_OF[name]}`, median")
    return known, missing


def expected_extra(cell, b):
    """Expected CPU µs per token above the secret cell, or None when a figure is missing."""
    parts = {"secret": [], "jwt": ["+assertion", "-secret"], "secret+dpop": ["+dpop"],
             "jwt+dpop": ["+assertion", "+dpop", "-secret"]}[cell]
    if any(p[1:] not in b for p in parts):
        return None
    return sum(b[p[1:]][0] * (1 if p[0] == "+" else -1) for p in parts)


def bound(cell, b):
    """Sign + the checks the cell's request needs, µs per token, or None."""
    parts = ["sign", "assertion" if cell.startswith("jwt") else "secret"]
    parts += ["dpop"] if cell.endswith("dpop") else []
    if any(p not in b for p in parts):
        return None
    return sum(b[p][0] for p in parts)


def problems_of(r):
    """Why a measurement cannot stand, or []."""
    found = []
    if int(r["non2xx"]):
        found.append(f"{int(r['non2xx']):,} non-2xx")
    if int(r["socket_errors"]):
        found.append(f"{int(r['socket_errors']):,} socket errors")
    if int(r.get("lines_exhausted", 0)):
        found.append(f"ran out of lines ({int(r['lines_taken']):,} taken of {int(r['lines_available']):,})")
    if not int(r["issued"]):
        found.append("no token issued")
    return found


def total(rs, key):
    return sum(int(r[key]) for r in rs)


def rate(rs):
    return total(rs, "issued") / (total(rs, "duration_us") / 1e6)


def cpu_per_token(rs):
    return total(rs, "cpu_us") / max(1, total(rs, "issued"))


def p99(rs):
    return max(int(r["p99_us"]) for r in rs) / 1000


def pct(x):
    return f"{x:.0%}"


def us(x):
    if x is None:
        return "unmeasured"
    return f"{x:.2f}" if abs(x) < 1 else f"{x:.1f}"


def core_text(rs):
    """Server's share of its core over wrk's run / others there, wrk's share / others."""
    wall = total(rs, "wall_us")
    server = total(rs, "cpu_us") / total(rs, "duration_us")
    others0 = max(0.0, (total(rs, "core_server_us") - total(rs, "cpu_us")) / wall)
    wrk = total(rs, "wrk_cpu_us") / wall
    others1 = max(0.0, (total(rs, "core_wrk_us") - total(rs, "wrk_cpu_us")) / wall)
    return f"{pct(server)} / {pct(others0)}", f"{pct(wrk)} / {pct(others1)}"


measurements = records("cells.txt")
cells = defaultdict(list)  # cell -> records in run order
by_round = {}  # (round, cell) -> record
for r in measurements:
    cells[r["cell"]].append(r)
    by_round[(r["round"], r["cell"])] = r
order = list(dict.fromkeys(env.get("BENCH_CELLS", "").split() or list(cells)))
b, missing_benches = load_bounds()
failures = []
refused = {}
for cell, rs in cells.items():
    for r in rs:
        why = problems_of(r)
        if why:
            refused.setdefault(cell, []).append(f"round {r['round']}: " + ", ".join(why))
            failures.append(f"{cell} round {r['round']}: " + ", ".join(why))

for p in records("probes.txt"):
    cell = p["cell"]
    want_type = "DPoP" if cell.endswith("dpop") else "Bearer"
    if p["status"] != "200" or p["token_type"] != want_type:
        failures.append(f"probe {cell}: status {p['status']}, token_type {p['token_type']} (want 200, {want_type})")
    if cell != "secret" and p["replay_status"] == "200":
        failures.append(f"probe {cell}: the same assertion or proof was accepted twice")
for c in records("checks.txt"):
    if c["rows"] != c["issued"]:
        failures.append(f"{c['rows']} rows != {c['issued']} issued")


def secret_round(r):
    s = by_round.get((r["round"], "secret"))
    return s if s and not problems_of(s) else None


def summary_row(cell):
    rs = cells[cell]
    auth = AUTH_TEXT[cell]
    if cell in refused:
        return f"| {cell} | {auth} | refused: {'; '.join(refused[cell])} | | | | | | | | | |"
    rounds = ", ".join(f"{rate([r]) / 1000:.1f}k" for r in rs)
    secret_ok = "secret" in cells and "secret" not in refused
    if cell == "secret" or not secret_ok:
        ratio = "1" if cell == "secret" else "no secret cell"
        above = "—" if cell == "secret" else "no secret cell"
    else:
        per_round = [f"{rate([r]) / rate([secret_round(r)]):.2f}" for r in rs if secret_round(r)]
        ratio = f"{rate(rs) / rate(cells['secret']):.2f} ({', '.join(per_round)})"
        above = f"{cpu_per_token(rs) - cpu_per_token(cells['secret']):.1f}"
    expected = "—" if cell == "secret" else us(expected_extra(cell, b))
    floor = bound(cell, b)
    versus = "unmeasured" if floor is None else f"{cpu_per_token(rs) / floor:.2f}×"
    core0, core1 = core_text(rs)
    return (f"| {cell} | {auth} | {rate(rs):,.0f} ({rounds}) | {ratio} | {p99(rs):.2f} "
            f"| {cpu_per_token(rs):.1f} | {above} | {expected} | {us(floor)} | {versus} | {core0} | {core1} |")


def round_row(r):
    s = secret_round(r)
    ratio = f"{rate([r]) / rate([s]):.2f}" if s else "—"
    above = f"{cpu_per_token([r]) - cpu_per_token([s]):.1f}" if s and r["cell"] != "secret" else "—"
    lines = (f"{int(r['lines_taken']):,} / {int(r['lines_available']):,}" if "lines_taken" in r else "fixed request")
    why = problems_of(r)
    return (f"| {r['round']} | {r['cell']} | {rate([r]):,.0f} | {ratio} | {cpu_per_token([r]):.1f} | {above} "
            f"| {int(r['p99_us']) / 1000:.2f} | {lines} | {int(r['material_us']) / 1e6:.1f} "
            f"| {'refused: ' + ', '.join(why) if why else 'ok'} |")


server_cpu_no, wrk_cpu_no = env.get("BENCH_SERVER_CPU"), env.get("BENCH_WRK_CPU")
lines = [
    "# Client authentication: secret, private_key_jwt, DPoP",
    "",
    f"`scripts/bench-auth.sh`, {env.get('BENCH_DATE')}, checkout {env.get('BENCH_COMMIT')}, binary "
    f"{env.get('BENCH_BINARY')}.",
    "",
    f"- Layout: one edgeauth shard pinned to core {server_cpu_no}, ES256 signing key; wrk (1 thread) "
    f"pinned to core {wrk_cpu_no}; PostgreSQL unpinned. {os.cpu_count()} cores, shared with other work.",
    f"- {env.get('BENCH_DURATION')} s per cell, {env.get('BENCH_CONNS')} connections, POST /oauth/token, "
    f"{env.get('BENCH_PIPELINE', '1')} request(s) per write, each client cached. Rounds: "
    f"{env.get('BENCH_ROUNDS')} on the same server, interleaved ({', '.join(order)}; the next round "
    "reversed), pooled.",
    "- Every assertion and proof is new: ES256, made by examples/bench_credentials.rs just before "
    f"its cell ({env.get('BENCH_MATERIAL_RATE')} per second of cell) and sent once each "
    "(scripts/token-lines.lua); a cell with a non-2xx answer or a replayed line is refused.",
    "- Tokens/s: the server's own count over wrk's run time. p99: wrk's (worst round). CPU per "
    "token: the server's user + system CPU over the window around wrk, over the tokens issued. "
    "\"above secret\": that minus the secret cell's. \"expected\": what `cargo bench` says the "
    "cell's checks cost beyond the secret check; \"bound\": signing the token plus the cell's "
    "checks, the cryptography alone, so CPU / bound is how far the whole request is from it. "
    f"Core {server_cpu_no}: the server's share over wrk's run / everything else there "
    f"(PostgreSQL, other work); core {wrk_cpu_no}: wrk (with formatting its requests) / "
    "everything else, over the window around wrk.",
    "",
    "| cell | client authentication | tokens/s (per round) | ratio to secret (per round) | p99 ms "
    "| CPU µs/token | above secret µs | expected above secret µs (cargo bench) | bound: sign + checks µs "
    f"| CPU / bound | core {server_cpu_no}: server / others | core {wrk_cpu_no}: wrk / others |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    *[summary_row(cell) for cell in order if cell in cells],
    "",
    "## Each measurement",
    "",
    "| round | cell | tokens/s | ratio to secret, same round | CPU µs/token | above secret µs | p99 ms "
    "| lines taken / made | making them, s | check |",
    "|---|---|---|---|---|---|---|---|---|---|",
    *[round_row(r) for r in measurements],
    "",
    "## `cargo bench` figures",
    "",
    "| figure | what | µs | from |",
    "|---|---|---|---|",
]
for name, (bench_id, var, what) in BOUNDS.items():
    why = (f"no benches/{BENCH_OF[name]}.rs in this checkout" if BENCH_OF[name] in missing_benches
           else f"BENCH_BOUNDS=1 or `{var}`")
    value, source = b.get(name, (None, f"— ({why})"))
    lines.append(f"| `{bench_id}` | {what} | {us(value)} | {source} |")
probes = records("probes.txt")
if probes:
    lines += ["", "## Probes (before the rounds; they also put each client in the cache)", "",
              "| cell | status | token_type | the same credentials again |", "|---|---|---|---|"]
    lines += [f"| {p['cell']} | {p['status']} | {p['token_type']} | {p['replay_status']} |" for p in probes]
lines += ["", "Checks: " + ("all passed" if not failures else "FAILED: " + "; ".join(failures)),
          "(each probe 200 with its token_type, a replayed assertion or proof refused; no non-2xx, socket",
          "error or replayed line in any cell; rows in `tokens` == tokens issued after SIGTERM)", ""]
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
sys.exit(1 if failures else 0)
