#!/usr/bin/env python3
"""Tables, result files and checks for scripts/bench.sh (standard library only).

    bench-report.py brief CELLS_FILE      one line about the last cell (progress output)
    bench-report.py report WORK_DIR OUT   every table, appended to OUT/*.md; exit 1 if a
                                          check fails

bench.sh leaves in WORK_DIR one record per line, space-separated key=value:
  cells.txt       one line per matrix cell: cell shards alg pipeline conns layout
                  rss_idle_kb rss_load_kb, t_* (token run) and c_* (ceiling run), issued rows
                  hit_rate client_queries (at the end of the cell)
  introspect.txt  one line per algorithm: cell alg shards tokens rss_before_kb rss_after_kb
                  cached, i_* (the same token over and over) and m_* (always-new tokens),
                  on that algorithm's first cell's server
  ab.txt          ab's own output; ab-issued.txt the tokens the server issued meanwhile
  sweep.txt       one line per connection count: point conns alg layout t_* c_*
  sweep-end.txt   issued rows ... of the sweep's server
A run's keys (prefix t_, c_, i_, m_): wall_us (the script's clock around wrk), cpu_us (the
server's), issued, unavailable (503s), healthz, introspect, icache_hits, icache_misses (the
server's counters, deltas over the run),
requests, duration_us, non2xx, socket_errors, p50_us, p99_us, p999_us, visible_permille,
depth (wrk's own figures, from scripts/wrk-common.lua).
The run's settings come from the environment: BENCH_DATE BENCH_COMMIT BENCH_IO BENCH_CACHE
BENCH_DURABILITY BENCH_CLIENTS BENCH_CONNS BENCH_DURATION BENCH_SWEEP_DURATION.
"""
import os
import re
import sys


def records(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                out.append(dict(kv.split("=", 1) for kv in line.split()))
    return out


def num(r, key):
    return float(r[key])


def rate(r, prefix, counter):
    """The server's count over the script's wall-clock window, per second."""
    return num(r, f"{prefix}_{counter}") / (num(r, f"{prefix}_wall_us") / 1e6)


def wrk_ok(r, prefix):
    return int(num(r, f"{prefix}_requests") - num(r, f"{prefix}_non2xx"))


def wrk_ok_rate(r, prefix):
    return wrk_ok(r, prefix) / (num(r, f"{prefix}_duration_us") / 1e6)


def latency(r, prefix, points=("p50", "p99", "p999")):
    ms = " / ".join(f"{num(r, f'{prefix}_{p}_us') / 1000:.2f}" for p in points)
    # One sample per write with pipelining: the time until the last of its N responses.
    return ms if int(r.get(f"{prefix}_depth", "1")) <= 1 else f"batch {ms}"


def layout(r):
    return r["layout"].replace("_", " ")


ENV = os.environ


def env(key, default="?"):
    return ENV.get(key, default)


# ---------------------------------------------------------------------------------------
# Matrix

MATRIX_COLUMNS = [
    "date", "commit", "io", "cache", "durability", "clients", "conns", "shards", "layout",
    "alg", "pipeline", "tokens/s", "wrk 200s/s", "ceiling req/s", "token/ceiling",
    "token p50 / p99 / p99.9 ms", "server CPU / µs per token", "tokens/s per server core",
    "CPU µs per token: PostgreSQL / wrk", "RSS idle / loaded MiB", "503s",
    "cache hit rate / client queries", "run: wrk 200s / issued", "cell: rows / issued",
]


def header(columns):
    return "| " + " | ".join(columns) + " |\n" + "|" + "---|" * len(columns)


def server_cpu(r, prefix):
    """Share of one core the server used during the run, and its CPU time per token."""
    cpu_us, wall_us, issued = num(r, f"{prefix}_cpu_us"), num(r, f"{prefix}_wall_us"), num(r, f"{prefix}_issued")
    if not wall_us or not issued:
        return "-"
    return f"{100 * cpu_us / wall_us:.0f}% / {cpu_us / issued:.2f}"


def per_core(r, prefix):
    """Tokens per second of server CPU time: what one fully busy core issues."""
    cpu_us, issued = num(r, f"{prefix}_cpu_us"), num(r, f"{prefix}_issued")
    return f"{issued / cpu_us * 1e6:,.0f}" if cpu_us and issued else "-"


def others_cpu(r, prefix):
    """PostgreSQL's and the load generator's CPU time per token."""
    issued = num(r, f"{prefix}_issued")
    if not issued or f"{prefix}_pg_cpu_us" not in r:
        return "-"
    return f"{num(r, f'{prefix}_pg_cpu_us') / issued:.2f} / {num(r, f'{prefix}_wrk_cpu_us') / issued:.2f}"


def matrix_row(r):
    tps, cps = rate(r, "t", "issued"), rate(r, "c", "healthz")
    rows, issued = int(r["rows"]), int(r["issued"])
    cells = [
        env("BENCH_DATE"), env("BENCH_COMMIT"), env("BENCH_IO"), env("BENCH_CACHE"),
        env("BENCH_DURABILITY"), env("BENCH_CLIENTS"), r["conns"], r["shards"], layout(r),
        r["alg"], r["pipeline"], f"{tps:,.0f}", f"{wrk_ok_rate(r, 't'):,.0f}", f"{cps:,.0f}",
        f"{tps / cps:.2f}" if cps else "-", latency(r, "t"), server_cpu(r, "t"),
        per_core(r, "t"), others_cpu(r, "t"),
        f"{num(r, 'rss_idle_kb') / 1024:.1f} / {num(r, 'rss_load_kb') / 1024:.1f}",
        r["t_unavailable"], f"{r['hit_rate']}% / {r['client_queries']}",
        f"{wrk_ok(r, 't')} / {r['t_issued']}",
        f"{rows} / {issued}" + ("" if rows == issued else " MISMATCH"),
    ]
    return "| " + " | ".join(cells) + " |"


def append_table(path, columns, rows):
    """Append rows under the header; a file with another header is moved aside first."""
    head = header(columns)
    first = head.splitlines()[0]
    if os.path.exists(path):
        with open(path) as f:
            if f.readline().rstrip("\n") != first:
                base = path[:-3] + f".before-{env('BENCH_DATE')}"
                aside, n = base + ".md", 1
                while os.path.exists(aside):
                    n += 1
                    aside = f"{base}-{n}.md"
                os.rename(path, aside)
                print(f"{path} had another header: moved to {aside}")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write(head + "\n")
        for row in rows:
            f.write(row + "\n")


# ---------------------------------------------------------------------------------------
# ab (its output parsed as the previous bench.sh did)

AB_COLUMNS = [
    "date", "commit", "io", "cache", "durability", "conns", "ab requests", "ab req/s",
    "failed", "non-2xx", "keep-alive", "p50 / p99 / max ms", "ab 200s / issued",
]


def ab_report(text, issued):
    def ab_num(label, default=None):
        m = re.search(r"^" + re.escape(label) + r":\s+([0-9.]+)", text, re.M)
        if m is None:
            if default is None:
                sys.exit(f"bench-report: cannot read {label!r} from ab's output:\n{text}")
            return default
        return float(m.group(1))

    complete, failed = int(ab_num("Complete requests")), int(ab_num("Failed requests"))
    non2xx, keepalive = int(ab_num("Non-2xx responses", 0)), int(ab_num("Keep-Alive requests", 0))
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    connect, receive, length, exceptions = (int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    pct = dict(re.findall(r"^\s+(50|99|100)%\s+(\d+)", text, re.M))
    # ab counts a 200 whose length differs from the first response's as "failed (Length)";
    # it is still a token. Requests that never got an answer are not.
    ok = complete - non2xx - connect - receive - exceptions
    rps = ab_num("Requests per second")
    row = "| " + " | ".join([
        env("BENCH_DATE"), env("BENCH_COMMIT"), env("BENCH_IO"), env("BENCH_CACHE"),
        env("BENCH_DURABILITY"), env("BENCH_CONNS"), str(complete), f"{rps:,.0f}",
        f"{failed} (length {length})", str(non2xx), str(keepalive),
        f"{pct.get('50', '?')} / {pct.get('99', '?')} / {pct.get('100', '?')}", f"{ok} / {issued}",
    ]) + " |"
    line = (f"ab: {rps:,.0f} requests/s, {complete} complete, {failed} failed (connect {connect}, "
            f"receive {receive}, length {length}, exceptions {exceptions}), {non2xx} non-2xx, "
            f"{keepalive} keep-alive, p50/p99 {pct.get('50', '?')}/{pct.get('99', '?')} ms, "
            f"{ok} 200s / {issued} issued")
    return row, line, ok


# ---------------------------------------------------------------------------------------
# Introspection: issuance, the same token introspected over and over (verified-token cache
# hits) and always-new tokens (misses), on one server in one run

INTROSPECT_COLUMNS = [
    "date", "commit", "io", "alg", "shards", "layout", "tokens/s", "introspections/s same token",
    "introspections/s new tokens", "same/issuance", "new/issuance", "cache hits same / new",
    "server µs per token / same / new", "p99 ms token / same / new", "ceiling req/s",
    "non-2xx same / new", "cached tokens", "RSS per cached token (bytes)",
]


def hit_share(r, prefix):
    hits, misses = num(r, f"{prefix}_icache_hits"), num(r, f"{prefix}_icache_misses")
    return f"{100 * hits / (hits + misses):.1f}%" if hits + misses else "-"


def cpu_per(r, prefix, counter):
    n = num(r, f"{prefix}_{counter}")
    return f"{num(r, f'{prefix}_cpu_us') / n:.2f}" if n else "-"


def introspect_figures(i, cell):
    """(issuance, same token, new tokens) per second."""
    return rate(cell, "t", "issued"), rate(i, "i", "introspect"), rate(i, "m", "introspect")


def introspect_row(i, cell):
    tps, same, new = introspect_figures(i, cell)
    cached = num(i, "cached")
    grown = (num(i, "rss_after_kb") - num(i, "rss_before_kb")) * 1024
    p99 = " / ".join(f"{num(r, f'{p}_p99_us') / 1000:.2f}" for r, p in ((cell, "t"), (i, "i"), (i, "m")))
    return "| " + " | ".join([
        env("BENCH_DATE"), env("BENCH_COMMIT"), env("BENCH_IO"), i["alg"], i["shards"], layout(cell),
        f"{tps:,.0f}", f"{same:,.0f}", f"{new:,.0f}", f"{same / tps:.2f}", f"{new / tps:.2f}",
        f"{hit_share(i, 'i')} / {hit_share(i, 'm')}",
        f"{cpu_per(cell, 't', 'issued')} / {cpu_per(i, 'i', 'introspect')} / {cpu_per(i, 'm', 'introspect')}",
        p99, f"{rate(cell, 'c', 'healthz'):,.0f}", f"{i['i_non2xx']} / {i['m_non2xx']}",
        f"{cached:.0f}", f"{grown / cached:,.0f}" if cached else "-",
    ]) + " |"


# ---------------------------------------------------------------------------------------
# Sweep

SWEEP_COLUMNS = [
    "date", "commit", "io", "alg", "layout", "s per point", "conns", "tokens/s", "ceiling req/s",
    "token/ceiling", "token p50 / p99 ms", "503s", "wrk 200s / issued",
]


def sweep_row(p):
    tps, cps = rate(p, "t", "issued"), rate(p, "c", "healthz")
    return "| " + " | ".join([
        env("BENCH_DATE"), env("BENCH_COMMIT"), env("BENCH_IO"), p["alg"], layout(p),
        env("BENCH_SWEEP_DURATION"), p["conns"], f"{tps:,.0f}", f"{cps:,.0f}",
        f"{tps / cps:.2f}" if cps else "-", latency(p, "t", ("p50", "p99")), p["t_unavailable"],
        f"{wrk_ok(p, 't')} / {p['t_issued']}",
    ]) + " |"


def write_sweep_csv(path, points):
    with open(path, "w") as f:
        first = points[0]
        f.write(f"# {env('BENCH_DATE')} commit {env('BENCH_COMMIT')}, {first['alg']}, 1 shard, "
                f"{layout(first)}, io {env('BENCH_IO')}, {env('BENCH_SWEEP_DURATION')} s per point\n")
        f.write("connections,tokens_per_s,ceiling_req_per_s,token_p50_ms,token_p99_ms\n")
        for p in points:
            f.write(f"{p['conns']},{rate(p, 't', 'issued'):.0f},{rate(p, 'c', 'healthz'):.0f},"
                    f"{num(p, 't_p50_us') / 1000:.3f},{num(p, 't_p99_us') / 1000:.3f}\n")


# ---------------------------------------------------------------------------------------


def brief(path):
    cells = records(path)
    if not cells:
        return
    r = cells[-1]
    tps, cps = rate(r, "t", "issued"), rate(r, "c", "healthz")
    ok = "rows == issued" if r["rows"] == r["issued"] else "MISMATCH rows != issued"
    print(f"{tps:,.0f} tokens/s, ceiling {cps:,.0f} req/s, {r['t_unavailable']} 503s, "
          f"{r['rows']} rows / {r['issued']} issued ({ok})")


def report(work, out):
    os.makedirs(out, exist_ok=True)
    failures, checks, written = [], [], []
    cells = records(os.path.join(work, "cells.txt"))

    if cells:
        path = os.path.join(out, "results.md")
        rows = [matrix_row(r) for r in cells]
        print(f"\nMatrix ({env('BENCH_DURATION')} s per measurement; tokens/s = tokens the server "
              f"issued / the script's wall-clock window):\n")
        print(header(MATRIX_COLUMNS))
        print("\n".join(rows))
        append_table(path, MATRIX_COLUMNS, rows)
        written.append(path)
        for r in cells:
            name = f"cell {r['cell']} ({r['shards']} shard(s), {r['alg']}, pipeline {r['pipeline']})"
            if r["rows"] != r["issued"]:
                failures.append(f"{name}: {r['rows']} rows in tokens, server issued {r['issued']}")
            if wrk_ok(r, "t") > int(r["t_issued"]):
                failures.append(f"{name}: wrk saw {wrk_ok(r, 't')} tokens, server issued {r['t_issued']}")
            if int(r["t_socket_errors"]) or int(r["c_socket_errors"]):
                checks.append(f"note: {name}: wrk socket errors (token {r['t_socket_errors']}, "
                              f"ceiling {r['c_socket_errors']})")
        ok = sum(r["rows"] == r["issued"] for r in cells)
        checks.insert(0, f"rows in tokens == tokens issued: {ok}/{len(cells)} cells "
                         f"({sum(int(r['rows']) for r in cells)} rows in all)")

    intro = records(os.path.join(work, "introspect.txt"))
    if intro and cells:
        path = os.path.join(out, "introspect.md")
        by_cell = {r["cell"]: r for r in cells}
        rows = [introspect_row(i, by_cell[i["cell"]]) for i in intro]
        print("\nIntrospection against issuance (each algorithm's first cell's server; same token: "
              "verified-token cache hits, new tokens: misses):\n")
        print(header(INTROSPECT_COLUMNS))
        print("\n".join(rows))
        append_table(path, INTROSPECT_COLUMNS, rows)
        written.append(path)
        for i in intro:
            tps, same, new = introspect_figures(i, by_cell[i["cell"]])
            checks.append(f"introspection {i['alg']}: same token {same / tps:.2f}x issuance "
                          f"(cache hits {hit_share(i, 'i')}), new tokens {new / tps:.2f}x "
                          f"(cache hits {hit_share(i, 'm')})")

    ab_path = os.path.join(work, "ab.txt")
    if os.path.exists(ab_path) and os.path.getsize(ab_path):
        with open(os.path.join(work, "ab-issued.txt")) as f:
            issued = int(f.read())
        with open(ab_path) as f:
            row, line, ok = ab_report(f.read(), issued)
        path = os.path.join(out, "ab.md")
        print("\nab (first cell's server, JSON body):\n")
        print(header(AB_COLUMNS))
        print(row)
        print(line)
        append_table(path, AB_COLUMNS, [row])
        written.append(path)
        if ok > issued:
            failures.append(f"ab saw {ok} tokens but the server issued {issued}")
        else:
            checks.append(f"ab: {ok} 200s <= {issued} issued")

    points = records(os.path.join(work, "sweep.txt"))
    if points:
        path = os.path.join(out, "sweep.md")
        rows = [sweep_row(p) for p in points]
        print("\nThroughput against connections (1 shard, pipeline 1):\n")
        print(header(SWEEP_COLUMNS))
        print("\n".join(rows))
        append_table(path, SWEEP_COLUMNS, rows)
        csv = os.path.join(out, "throughput-vs-connections.csv")
        write_sweep_csv(csv, points)
        written += [path, csv]
        end = records(os.path.join(work, "sweep-end.txt"))
        if end:
            e = end[0]
            if e["rows"] != e["issued"]:
                failures.append(f"sweep: {e['rows']} rows in tokens, server issued {e['issued']}")
            else:
                checks.append(f"sweep: rows in tokens == tokens issued ({e['rows']})")
        for p in points:
            if wrk_ok(p, "t") > int(p["t_issued"]):
                failures.append(f"sweep {p['conns']} conns: wrk saw {wrk_ok(p, 't')} tokens, "
                                f"server issued {p['t_issued']}")

    print("\nChecks:")
    for c in checks:
        print("  " + c)
    for f in failures:
        print("  MISMATCH: " + f)
    print("  " + ("all checks passed" if not failures else f"{len(failures)} check(s) FAILED"))
    print("Written: " + ", ".join(written))
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "brief":
        brief(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
