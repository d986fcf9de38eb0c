#!/usr/bin/env bash
# Admin API latency while the public listener is under load (issue #14): one server, the
# admin API on its own `admin_listen` port, ROUNDS rounds of three admin calls
# (scripts/bench-admin.py: GET a client, GET a page of 100, PATCH a client) first on the
# idle server, then while wrk drives the token endpoint at full speed; p50, p99 and max
# per call in both, and the tokens/s wrk got with and without the admin calls.
#
#   scripts/bench-admin.sh                      ~40 s
#   DURATION=3 ROUNDS=50 scripts/bench-admin.sh  smoke run
#   EDGEAUTH_BIN=/path/to/edgeauth scripts/bench-admin.sh
#
# Layout: one shard pinned to core SERVER_CPU (0), ES256, wrk (1 thread, CONNECTIONS 64)
# and the admin client on WRK_CPU (1), a private PostgreSQL wherever the kernel puts it,
# 200 registered clients (so a page is a real page). The PATCHed client is not the one wrk
# uses, so its invalidations do not send wrk's client to the database. Output:
# RESULTS_DIR/admin.md (default bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-300}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
ALG=${ALG:-ES256}
RESULTS_DIR=${RESULTS_DIR:-bench-results}
need_debian_package wrk wrk

bin=$(release_binary)
work=$(mktemp -d /tmp/edgeauth-bench-admin.XXXXXX)
trap 'stop_bench_work "$work"' EXIT
prepare_edgeauth "$work"
for i in $(seq -w 1 200); do
  "$psql_bin" -X -q -d "$EDGEAUTH_DATABASE_URL" -c \
    "INSERT INTO clients (client_id, secret_hash, allowed_scopes) VALUES ('svc-$i', 'sha256\$$(printf '%064d' 0)', 'read')"
done
admin_token=$(head -c 32 /dev/urandom | base64 -w0 | tr -d '/+=')
port=$(free_port)
admin_port=$(free_port)
EDGEAUTH_SIGNING_KEYS=$(signing_key "$ALG") EDGEAUTH_SHARDS=1 EDGEAUTH_LISTEN=127.0.0.1:$port \
  EDGEAUTH_ADMIN_LISTEN=127.0.0.1:$admin_port EDGEAUTH_ADMIN_TOKEN=$admin_token \
  EDGEAUTH_AUDIT_LOG=$work/audit.log \
  taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
server=$!
wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"

admin_calls() {
  taskset -c "$WRK_CPU" python3 scripts/bench-admin.py "127.0.0.1:$admin_port" "$admin_token" svc-100 "$ROUNDS"
}
tokens() {
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${1}s" -s scripts/token.lua \
    "http://127.0.0.1:$port" | awk '/Requests\/sec/ {print $2}'
}

tokens 2 >/dev/null
admin_calls >"$work/idle.json"
quiet_rps=$(tokens "$DURATION")
tokens "$DURATION" >"$work/loaded-rps.txt" &
wrk_pid=$!
sleep 1
admin_calls >"$work/loaded.json"
wait "$wrk_pid"
loaded_rps=$(cat "$work/loaded-rps.txt")

mkdir -p "$RESULTS_DIR"
python3 - "$work/idle.json" "$work/loaded.json" "$quiet_rps" "$loaded_rps" <<'PY' | tee "$RESULTS_DIR/admin.md"
import json, subprocess, sys
idle, loaded = (json.load(open(p)) for p in sys.argv[1:3])
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# Admin API latency under load\n\n`scripts/bench-admin.sh`, commit {commit}: 1 shard on one core, "
      f"ES256; admin calls on `admin_listen`, {len(next(iter(idle.values())))} of each, one keep-alive "
      "connection; loaded = while wrk (64 connections) drives POST /oauth/token on the same shard.\n")
print("| call | idle p50 ms | idle p99 ms | loaded p50 ms | loaded p99 ms | loaded max ms |")
print("|---|---|---|---|---|---|")
for name in idle:
    i, l = idle[name], loaded[name]
    print(f"| `{name}` | {pct(i, .5):.2f} | {pct(i, .99):.2f} | {pct(l, .5):.2f} | {pct(l, .99):.2f} | {max(l):.2f} |")
print(f"\nTokens/s (wrk): {sys.argv[3]} without admin calls, {sys.argv[4]} with them.")
PY
