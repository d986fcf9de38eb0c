#!/usr/bin/env bash
# What PostgreSQL spends per recorded token row (issue #15), before and after a change, in
# one run: for each binary, a fresh database migrated by it, one shard pinned to
# SERVER_CPU (0) issuing ALG (HS256) tokens to wrk (1 thread, CONNECTIONS 64, WRK_CPU 1) for
# DURATION seconds, then SIGTERM (every row flushed). Per binary and round: tokens/s,
# PostgreSQL CPU µs per row (user + system time of the postmaster and all its processes,
# from /proc), WAL bytes per row (pg_current_wal_lsn), server CPU µs per token.
#
#   BEFORE=<git rev> scripts/bench-rows.sh          this checkout against REV (built here)
#   BEFORE_BIN=/path AFTER_BIN=/path scripts/bench-rows.sh
#   DURATION=3 ROUNDS=1 scripts/bench-rows.sh       smoke run
#
# PG_CPU=0 pins PostgreSQL to that core (with SERVER_CPU=0: the "one core for the whole
# system" layout); unset, it runs wherever the kernel puts it. Rounds alternate the order.
# Output: RESULTS_DIR/rows-ALG.md (default bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
PG_CPU=${PG_CPU:-}
ALG=${ALG:-HS256}
RESULTS_DIR=${RESULTS_DIR:-bench-results}
need_debian_package wrk wrk

work=$(mktemp -d /tmp/edgeauth-bench-rows.XXXXXX)
trap 'stop_bench_work "$work"' EXIT
AFTER_BIN=${AFTER_BIN:-$(release_binary)}
if [ -z "${BEFORE_BIN:-}" ]; then
  rev=${BEFORE:?set BEFORE=<git rev> or BEFORE_BIN=<binary>}
  git worktree add --detach "$work/before-src" "$rev" >/dev/null 2>&1
  (cd "$work/before-src" && CARGO_TARGET_DIR=${BEFORE_TARGET_DIR:-/tmp/edgeauth-before-target} cargo build --release --quiet)
  BEFORE_BIN=${BEFORE_TARGET_DIR:-/tmp/edgeauth-before-target}/release/edgeauth
  git worktree remove --force "$work/before-src"
fi

start_bench_database "$work"
if [ -n "$PG_CPU" ]; then pin_postgres "$work" "$PG_CPU"; fi
base_url=$EDGEAUTH_DATABASE_URL
mkdir -p "$work/data"
export EDGEAUTH_DATA_DIR=$work/data EDGEAUTH_LOG_LEVEL=warn

wal_lsn() { "$psql_bin" -X -q -t -A -d "$base_url" -c "SELECT pg_current_wal_lsn() - '0/0'"; }

# metric PORT NAME: a counter or gauge of the server's /metrics, summed over shards.
metric() {
  curl -fs "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%.0f\n", s}'
}

# drained PORT: wait (15 s at most) until the server holds no unrecorded row.
drained() {
  local _
  for _ in $(seq 1 150); do
    [ "$(metric "$1" edgeauth_writer_pending)" = 0 ] && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): rows still pending after 15 s" >&2
  exit 1
}

# cell LABEL BIN ROUND: prints "LABEL round tokens/s pg_us/row wal_bytes/row server_us/token".
# The window runs from a drained server to a drained server, so every row issued in it is
# recorded in it; PostgreSQL's processes are read while the server's connection is alive.
cell() {
  local label=$1 bin=$2 db="rows_$1_$3" url port secret auth pg0 pg1 wal0 wal1 srv rows0 rows rps
  "$psql_bin" -X -q -d "$base_url" -c "CREATE DATABASE $db"
  url=${base_url/dbname=bench/dbname=$db}
  EDGEAUTH_DATABASE_URL=$url "$bin" migrate >/dev/null
  secret=$(EDGEAUTH_DATABASE_URL=$url "$bin" client add bench --scopes read 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  auth=$(printf 'bench:%s' "$secret" | base64 -w0)
  port=$(free_port)
  EDGEAUTH_DATABASE_URL=$url EDGEAUTH_SIGNING_KEYS=$(bin=$bin signing_key "$ALG") EDGEAUTH_SHARDS=1 \
    EDGEAUTH_FLUSH_INTERVAL=100ms EDGEAUTH_LISTEN=127.0.0.1:$port \
    taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
  EDGEAUTH_BENCH_AUTH=$auth taskset -c "$WRK_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d2s -s scripts/token.lua "http://127.0.0.1:$port" >/dev/null
  drained "$port"
  rows0=$(metric "$port" edgeauth_writer_rows_total)
  pg0=$(pg_cpu_ticks "$work"); wal0=$(wal_lsn); srv=$(awk '{print $14 + $15}' "/proc/$server/stat")
  rps=$(EDGEAUTH_BENCH_AUTH=$auth taskset -c "$WRK_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s scripts/token.lua "http://127.0.0.1:$port" |
    awk '/Requests\/sec/ {print $2}')
  drained "$port"
  pg1=$(pg_cpu_ticks "$work"); wal1=$(wal_lsn); srv=$(($(awk '{print $14 + $15}' "/proc/$server/stat") - srv))
  rows=$(($(metric "$port" edgeauth_writer_rows_total) - rows0))
  kill -TERM "$server"; wait "$server" || true; server=""
  "$psql_bin" -X -q -d "$base_url" -c "DROP DATABASE $db"
  python3 -c "
hz = $(getconf CLK_TCK); rows = $rows
print('$label', $3, '$rps', round(($pg1 - $pg0) * 1e6 / hz / rows, 2), round(($wal1 - $wal0) / rows, 1),
      round($srv * 1e6 / hz / rows, 2))"
}

results=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for label in $order; do
    if [ "$label" = before ]; then bin=$BEFORE_BIN; else bin=$AFTER_BIN; fi
    results+=("$(cell "$label" "$bin" "$round")")
    echo "${results[-1]}" >&2
  done
done

mkdir -p "$RESULTS_DIR"
# shellcheck disable=SC2016  # the backquotes are Markdown, for Python to print
printf '%s\n' "${results[@]}" | PG_LAYOUT=${PG_CPU:+PostgreSQL pinned to core $PG_CPU} python3 -c '
import os, subprocess, sys
rows = [l.split() for l in sys.stdin if l.strip()]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
layout = os.environ.get("PG_LAYOUT") or "PostgreSQL unpinned"
print(f"# PostgreSQL cost per token row, before and after\n\n`scripts/bench-rows.sh`, commit {commit}: "
      f"1 shard on one core, {sys.argv[1]}, wrk 64 connections, {layout}; each cell a fresh database "
      "migrated by its own binary; CPU of every PostgreSQL process over the run, divided by the rows it recorded.\n")
print("| round | binary | tokens/s | PostgreSQL µs/row | WAL bytes/row | server µs/token |")
print("|---|---|---|---|---|---|")
by = {}
for label, rnd, rps, pg, wal, srv in rows:
    print(f"| {rnd} | {label} | {float(rps):.0f} | {pg} | {wal} | {srv} |")
    by.setdefault(label, []).append((float(rps), float(pg), float(wal)))
mean = lambda xs: sum(xs) / len(xs)
if "before" in by and "after" in by:
    b, a = by["before"], by["after"]
    print(f"\nafter / before, means over {len(a)} rounds: tokens/s {mean([x[0] for x in a]) / mean([x[0] for x in b]):.2f}, "
          f"PostgreSQL µs/row {mean([x[1] for x in a]) / mean([x[1] for x in b]):.2f}, "
          f"WAL bytes/row {mean([x[2] for x in a]) / mean([x[2] for x in b]):.2f}")
' "$ALG" | tee "$RESULTS_DIR/rows-$ALG.md"
