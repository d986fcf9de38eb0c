#!/usr/bin/env bash
# Pruning benchmark: how long `edgeauth prune` takes on a big `tokens` table, and whether a
# running server keeps issuing tokens meanwhile.
#
#   scripts/bench-prune.sh                      10 million expired rows (bench-results/prune.md)
#   ROWS=1000000 scripts/bench-prune.sh         a quicker run
#
# A private PostgreSQL (scripts/pg.sh, its default settings) gets ROWS expired tokens in the
# hourly partitions of the past two days (made here as the server's keeper made them in
# their time; expired between 1 and 48 hours ago) and LIVE unexpired ones, plus a few
# thousand expired revocations. Pruning drops whole partitions, so its time should not
# depend on ROWS: compare ROWS=1000000 with the default. A release server (1 shard, periodic pruning off so that
# only the command prunes) serves a loop of token requests on one keep-alive connection
# (client_secret_basic, a cached client) for BASELINE seconds before the prune and for the
# whole prune; the script prints the prune's time and rows/s, the loop's 200s, other
# statuses and max latency in both phases, and checks that exactly the expired rows went.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-10000000}
LIVE=${LIVE:-5000}
BASELINE=${BASELINE:-5}

scripts/pg.sh install
echo "bench-prune.sh: building release" >&2
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
work=$(mktemp -d /tmp/edgeauth-bench-prune.XXXXXX)
port=$(free_port)
server=""
loader=""
cleanup() {
  [ -n "$loader" ] && kill "$loader" 2>/dev/null || true
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  scripts/pg.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_bench_database "$work"
export EDGEAUTH_DATA_DIR=$work/data
export EDGEAUTH_LISTEN=127.0.0.1:$port
export EDGEAUTH_SHARDS=1
export EDGEAUTH_LOG_LEVEL=warn
export EDGEAUTH_PRUNE_INTERVAL=off
sql() { "$psql_bin" -X -q -tA -v ON_ERROR_STOP=1 -d "$EDGEAUTH_DATABASE_URL" -c "$1"; }

"$bin" migrate >/dev/null
secret=$("$bin" client add bench --scopes "read write" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')

echo "bench-prune.sh: inserting $ROWS expired and $LIVE live tokens" >&2
t0=$(date +%s.%N)
sql "DO \$\$ BEGIN
       FOR i IN 1..48 LOOP
         PERFORM edgeauth_create_token_partition(date_trunc('hour', now(), 'UTC') - i * interval '1 hour');
       END LOOP;
     END \$\$"
sql "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
       SELECT gen_random_uuid(), 'old', 'read', now() - interval '3 days',
              date_trunc('hour', now(), 'UTC') - interval '1 hour' - (i % 169200) * interval '1 second'
         FROM generate_series(1, $ROWS) i"
sql "INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
       SELECT gen_random_uuid(), 'live', 'read', now(), now() + interval '1 hour'
         FROM generate_series(1, $LIVE) i;
     INSERT INTO revoked_tokens (jti, client_id, expires_at)
       SELECT gen_random_uuid(), 'old', now() - i * interval '1 second'
         FROM generate_series(1, 5000) i"
sql "VACUUM ANALYZE tokens"
sql "VACUUM ANALYZE revoked_tokens"
t1=$(date +%s.%N)
size=$(sql "SELECT pg_size_pretty(sum(pg_total_relation_size(name::regclass))) FROM token_partitions")
echo "bench-prune.sh: loaded in $(python3 -c "print(round($t1 - $t0, 1))") s; $size in partitions" >&2

"$bin" serve 2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# The token loop: one keep-alive connection, one request at a time; on SIGUSR1 it starts a
# new phase, on SIGTERM it reports the last one. Each phase: 200s, others, requests/s, max.
cat >"$work/loop.py" <<'PY'
import base64, http.client, json, signal, sys, time
port, secret = int(sys.argv[1]), sys.argv[2]
auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
body = "grant_type=client_credentials&scope=read"
phases = ["baseline", "during prune"]
phase = [0]
stats = [{"ok": 0, "other": 0, "max_ms": 0.0, "start": time.monotonic()}]
def report(i):
    s = stats[i]
    secs = time.monotonic() - s["start"]
    print(f"token loop, {phases[i]}: {s['ok']} x 200, {s['other']} other, "
          f"{s['ok'] / secs:,.0f} tokens/s, max latency {s['max_ms']:.1f} ms over {secs:.1f} s",
          flush=True)
def next_phase(*_):
    report(0)
    stats.append({"ok": 0, "other": 0, "max_ms": 0.0, "start": time.monotonic()})
    phase[0] = 1
def stop(*_):
    report(phase[0])
    sys.exit(0)
signal.signal(signal.SIGUSR1, next_phase)
signal.signal(signal.SIGTERM, stop)
conn = http.client.HTTPConnection("127.0.0.1", port)
while True:
    t = time.monotonic()
    try:
        conn.request("POST", "/oauth/token", body, headers)
        r = conn.getresponse()
        r.read()
        status = r.status
    except (OSError, http.client.HTTPException):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        status = 0
    s = stats[phase[0]]
    s["max_ms"] = max(s["max_ms"], (time.monotonic() - t) * 1000)
    s["ok" if status == 200 else "other"] += 1
PY
python3 "$work/loop.py" "$port" "$secret" &
loader=$!
sleep "$BASELINE"
kill -USR1 "$loader"

echo "bench-prune.sh: edgeauth prune" >&2
t0=$(date +%s.%N)
out=$("$bin" prune)
t1=$(date +%s.%N)
kill -TERM "$loader"
wait "$loader" || true
loader=""
kill -TERM "$server"
wait "$server" || { echo "bench-prune.sh: server exited non-zero" >&2; cat "$work/server.log" >&2; exit 1; }
server=""

left_old=$(sql "SELECT count(*) FROM tokens WHERE client_id = 'old'")
left_live=$(sql "SELECT count(*) FROM tokens WHERE client_id = 'live'")
python3 - "$out" "$t0" "$t1" "$ROWS" "$left_old" "$left_live" "$LIVE" <<'PY'
import json, sys
out = json.loads(sys.argv[1])
secs = float(sys.argv[3]) - float(sys.argv[2])
rows, left_old, left_live, live = (int(x) for x in sys.argv[4:])
n = out["tokens_deleted"]
print(f"edgeauth prune: {json.dumps(out)}")
print(f"edgeauth prune: {out['partitions_dropped']} partitions, ~{n:,} tokens (the statistics' count) in {secs:.2f} s")
if left_old != 0 or left_live != live:
    print(f"MISMATCH: {left_old} expired and {left_live}/{live} live left", file=sys.stderr)
    sys.exit(1)
print(f"check: every expired row deleted, all {live} live rows kept")
PY
