#!/usr/bin/env bash
# What one client change costs PostgreSQL per edgeauth instance listening (issue #15): a
# change is one UPDATE and one NOTIFY, delivered to every shard of every instance (each
# shard's session LISTENs). For 1 and then INSTANCES (3) instances of SHARDS (2) shards on
# one database, CHANGES (2000) PATCHes through the first instance's admin API, one at a
# time; PostgreSQL's CPU (every process of the cluster, from /proc) per change, and the
# difference per added instance. Each instance also serves a token every 10 ms, so that its
# shards are awake to take their notifications as a production one would be.
#
#   scripts/bench-fanout.sh
#   CHANGES=300 scripts/bench-fanout.sh          smoke run
#
# Output: RESULTS_DIR/fanout.md (default bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh

INSTANCES=${INSTANCES:-3}
SHARDS=${SHARDS:-2}
CHANGES=${CHANGES:-2000}
RESULTS_DIR=${RESULTS_DIR:-bench-results}
bin=$(release_binary)
work=$(mktemp -d /tmp/edgeauth-bench-fanout.XXXXXX)
servers=()
cleanup() {
  for p in "${servers[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  stop_bench_work "$work"
}
trap cleanup EXIT
prepare_edgeauth "$work"
"$bin" client add target --scopes read >/dev/null 2>&1
admin_token=$(head -c 32 /dev/urandom | base64 -w0 | tr -d '/+=')
key=$(signing_key ES256)

# run N: N instances; prints "N pg_us_per_change seconds_per_change".
run() {
  local n=$1 i ports=() admin_port pg0 pg1 t0 t1 pokers=()
  for i in $(seq 1 "$n"); do
    local port aport
    port=$(free_port); aport=$(free_port)
    EDGEAUTH_SIGNING_KEYS=$key EDGEAUTH_SHARDS=$SHARDS EDGEAUTH_LISTEN=127.0.0.1:$port \
      EDGEAUTH_ADMIN_LISTEN=127.0.0.1:$aport EDGEAUTH_ADMIN_TOKEN=$admin_token \
      EDGEAUTH_AUDIT_LOG=/dev/null "$bin" serve 2>>"$work/server.log" &
    servers+=($!)
    server=$!
    wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
    ports+=("$port")
    [ "$i" = 1 ] && admin_port=$aport
  done
  for port in "${ports[@]}"; do
    python3 - "$port" "$EDGEAUTH_BENCH_AUTH" <<'PY' &
import http.client, sys, time
port, auth = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
while True:
    c.request("POST", "/oauth/token", "grant_type=client_credentials",
              {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
    c.getresponse().read()
    time.sleep(0.01)
PY
    pokers+=($!)
  done
  sleep 1
  pg0=$(pg_cpu_ticks "$work"); t0=$(date +%s.%N)
  python3 - "$admin_port" "$admin_token" "$CHANGES" <<'PY'
import http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    c.request("PATCH", "/admin/clients/target", json.dumps({"scopes": f"read s{i % 2}"}),
              {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  sleep 0.5
  pg1=$(pg_cpu_ticks "$work"); t1=$(date +%s.%N)
  kill "${pokers[@]}" 2>/dev/null || true
  for p in "${servers[@]}"; do kill -TERM "$p"; wait "$p" || true; done
  servers=(); server=""
  python3 -c "print($n, round(($pg1 - $pg0) * 1e6 / $(getconf CLK_TCK) / $CHANGES, 1), round(($t1 - $t0) / $CHANGES * 1000, 3))"
}

one=$(run 1)
echo "$one" >&2
many=$(run "$INSTANCES")
echo "$many" >&2
mkdir -p "$RESULTS_DIR"
# shellcheck disable=SC2016  # the backquotes are Markdown, for Python to print
python3 - "$one" "$many" "$SHARDS" "$CHANGES" <<'PY' | tee "$RESULTS_DIR/fanout.md"
import subprocess, sys
(n1, us1, ms1), (nn, usn, msn) = (l.split() for l in sys.argv[1:3])
shards, changes = sys.argv[3], sys.argv[4]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# NOTIFY fan-out: PostgreSQL's cost of a client change per listening instance\n\n"
      f"`scripts/bench-fanout.sh`, commit {commit}: {changes} PATCHes of one client through the admin API, "
      f"each an UPDATE and a NOTIFY to every shard ({shards} per instance) of every instance; PostgreSQL CPU "
      "of every process of its cluster over the run (it includes each instance's light token traffic).\n")
print("| instances | PostgreSQL µs per change | ms per change (wall) |")
print("|---|---|---|")
print(f"| {n1} | {us1} | {ms1} |")
print(f"| {nn} | {usn} | {msn} |")
per = (float(usn) - float(us1)) / (int(nn) - int(n1))
print(f"\nEach instance more: {per:.1f} µs of PostgreSQL CPU per change.")
PY
