#!/usr/bin/env bash
# What a per-client rate limit costs a token (issue #14): one server, two cached clients,
# `bench` without a rate and `limited` with one it never reaches (1,000,000/s), wrk
# alternating between them on the same server; per cell tokens/s and the server's CPU per
# token (user + system time from /proc/PID/stat over the tokens wrk got).
#
#   scripts/bench-rate.sh                       3 rounds x 2 cells x 10 s, ~1.5 minutes
#   DURATION=2 ROUNDS=1 scripts/bench-rate.sh   smoke run
#   EDGEAUTH_BIN=/path/to/edgeauth scripts/bench-rate.sh
# Output: RESULTS_DIR/rate.md (default bench-results).
#
# Layout: one shard pinned to core SERVER_CPU (0), HS256 (the cheapest token, so the check
# weighs the most), wrk (1 thread, CONNECTIONS 64) on WRK_CPU (1), a private PostgreSQL
# wherever the kernel puts it. Odd rounds run bench then limited, even rounds the reverse.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-bench-results}
need_debian_package wrk wrk

bin=$(release_binary)
work=$(mktemp -d /tmp/edgeauth-bench-rate.XXXXXX)
trap 'stop_bench_work "$work"' EXIT
prepare_edgeauth "$work"
bench_auth=$EDGEAUTH_BENCH_AUTH
limited=$("$bin" client add limited --scopes read --rate 1000000/s --burst 1000000 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
limited_auth=$(printf 'limited:%s' "$limited" | base64 -w0)

port=$(free_port)
EDGEAUTH_SIGNING_KEYS=$(signing_key HS256) EDGEAUTH_SHARDS=1 EDGEAUTH_LISTEN=127.0.0.1:$port \
  taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
server=$!
wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"

# cell LABEL AUTH: one wrk run; prints "LABEL tokens/s cpu_us_per_token".
cell() {
  local t0 t1 out requests
  t0=$(awk '{print $14 + $15}' "/proc/$server/stat")
  out=$(EDGEAUTH_BENCH_AUTH=$2 taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
    -s scripts/token.lua "http://127.0.0.1:$port" 2>&1)
  t1=$(awk '{print $14 + $15}' "/proc/$server/stat")
  if echo "$out" | grep -q 'Non-2xx'; then
    echo "$(basename "$0"): $1 got answers other than 200:" >&2
    echo "$out" >&2
    exit 1
  fi
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$1 $(echo "$out" | awk '/Requests\/sec/ {print $2}') $(python3 -c \
    "print(round(($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $requests, 2))")"
}

EDGEAUTH_BENCH_AUTH=$bench_auth taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s \
  -s scripts/token.lua "http://127.0.0.1:$port" >/dev/null
results=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="bench limited"; else order="limited bench"; fi
  for c in $order; do
    if [ "$c" = bench ]; then auth=$bench_auth; else auth=$limited_auth; fi
    results+=("$round $(cell "$c" "$auth")")
    echo "round ${results[-1]}" >&2
  done
done
mkdir -p "$RESULTS_DIR"
# shellcheck disable=SC2016  # the backquotes are Markdown, for Python to print
printf '%s\n' "${results[@]}" | python3 -c '
import subprocess, sys
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# What a per-client rate limit costs\n\n`scripts/bench-rate.sh`, commit {commit}: 1 shard on one core, HS256, "
      "server CPU per token for a client without a rate (bench) and one with a rate it never reaches (limited), "
      "alternated on one server.\n")
rows = [l.split() for l in sys.stdin if l.strip()]
cpu = {}
for rnd, cell, rps, us in rows:
    cpu.setdefault(rnd, {})[cell] = float(us)
print("| round | bench µs/token | limited µs/token | limited / bench |")
print("|---|---|---|---|")
ratios = []
for rnd in sorted(cpu):
    r = cpu[rnd]["limited"] / cpu[rnd]["bench"]
    ratios.append(r)
    b, l = cpu[rnd]["bench"], cpu[rnd]["limited"]
    print(f"| {rnd} | {b} | {l} | {r:.3f} |")
print(f"\nmean ratio {sum(ratios) / len(ratios):.3f} over {len(ratios)} rounds")
' | tee "$RESULTS_DIR/rate.md"
