#!/usr/bin/env bash
# End-to-end benchmark: the token endpoint against the static ceiling of the same server,
# in one run, on one machine.
#
#   scripts/bench.sh                       defaults below
#   DURATION=20 CONNECTIONS=64 scripts/bench.sh
#   CACHE_CAPACITY=0 scripts/bench.sh      client cache off (every token looks its client up)
#   DURABILITY=commit FLUSH_INTERVAL=2ms scripts/bench.sh     group commit
#   CLIENTS=100000 scripts/bench.sh        that many clients, picked at random per request
#                                          (client_secret_post), through a 5000-entry cache
#
# Layout on a 2-core machine: the server (1 shard) pinned to core 0, wrk pinned to core 1,
# PostgreSQL wherever the kernel puts it. Figures are printed as a table and appended to
# bench-results/results.md. At the end the server is stopped with SIGTERM and the rows in
# `tokens` are checked against the tokens the server says it issued (wrk does not count the
# responses in flight when it stops, so its 200s can be slightly fewer).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
IO_DRIVER=${IO_DRIVER:-auto}
PIPELINE=${PIPELINE:-1}
CACHE_CAPACITY=${CACHE_CAPACITY:-5000}
DURABILITY=${DURABILITY:-async}
FLUSH_INTERVAL=${FLUSH_INTERVAL:-5s}
CLIENTS=${CLIENTS:-1}
export CONNECTIONS PIPELINE CACHE_CAPACITY DURABILITY FLUSH_INTERVAL CLIENTS

command -v wrk >/dev/null || {
  echo "bench.sh: installing wrk (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
scripts/pg.sh install

echo "bench.sh: building release" >&2
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

work=$(mktemp -d /tmp/edgeauth-bench.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  scripts/pg.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/pg.sh start "$work/pg" "$pg_port"
admin_url=$(scripts/pg.sh url "$work/pg" "$pg_port")
psql_bin="$(scripts/pg.sh bindir)/psql"
"$psql_bin" -X -q -d "$admin_url" -c "CREATE DATABASE bench"
export EDGEAUTH_DATABASE_URL="${admin_url/dbname=postgres/dbname=bench}"
export EDGEAUTH_DATA_DIR=$work/data
export EDGEAUTH_LISTEN=127.0.0.1:$port
export EDGEAUTH_SHARDS=1
export EDGEAUTH_IO_DRIVER=$IO_DRIVER
export EDGEAUTH_LOG_LEVEL=warn
export EDGEAUTH_CACHE_CAPACITY=$CACHE_CAPACITY
export EDGEAUTH_DURABILITY=$DURABILITY
export EDGEAUTH_FLUSH_INTERVAL=$FLUSH_INTERVAL
admin_token=bench-admin-token-$RANDOM$RANDOM
export EDGEAUTH_ADMIN_TOKEN=$admin_token
"$bin" migrate >/dev/null
if [ "$CLIENTS" -gt 1 ]; then
  # Bench-only clients c<i> with secret s<i> (the server stores SHA-256 hex, as the CLI does).
  "$psql_bin" -X -q -d "$EDGEAUTH_DATABASE_URL" -c "INSERT INTO clients (client_id, secret_hash, allowed_scopes)
    SELECT 'c' || i, encode(sha256(('s' || i)::bytea), 'hex'), 'read write' FROM generate_series(0, $CLIENTS - 1) i"
  token_script=scripts/many.lua
else
  token_script=scripts/token.lua
fi
export EDGEAUTH_BENCH_CLIENTS=$CLIENTS
secret=$("$bin" client add bench --scopes "read write" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
export EDGEAUTH_BENCH_AUTH
EDGEAUTH_BENCH_AUTH=$(printf 'bench:%s' "$secret" | base64 -w0)
export EDGEAUTH_BENCH_PIPELINE=$PIPELINE

taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

run_wrk() { # script seconds -> RESULT line
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency -s "$1" "http://127.0.0.1:$port" | grep '^RESULT'
}
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

issued_total() {
  curl -fs "http://127.0.0.1:$port/metrics" | awk '/^edgeauth_tokens_issued_total/ {s += $2} END {print s + 0}'
}

echo "bench.sh: warm-up ${WARMUP}s" >&2
run_wrk "$token_script" "$WARMUP" >/dev/null
issued_before=$(issued_total)
echo "bench.sh: token endpoint ${DURATION}s, $CONNECTIONS connections, pipeline $PIPELINE" >&2
token=$(run_wrk "$token_script" "$DURATION")
issued_run=$(( $(issued_total) - issued_before ))
echo "bench.sh: static ceiling (/healthz) ${DURATION}s" >&2
ceiling=$(run_wrk scripts/static.lua "$DURATION")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")

# The server's own count of every token issued (warm-up included), the cache's figures,
# then a graceful stop.
issued=$(issued_total)
cache_stats=$(curl -fs -H "Authorization: Bearer $admin_token" "http://127.0.0.1:$port/admin/cache/stats")
kill -TERM "$server"
wait "$server" || { echo "bench.sh: server exited non-zero" >&2; cat "$work/server.log" >&2; exit 1; }
server=""
rows=$("$psql_bin" -X -tA -d "$EDGEAUTH_DATABASE_URL" -c "SELECT count(*) FROM tokens")

t_req=$(field requests "$token"); t_us=$(field duration_us "$token"); t_bad=$(field non2xx "$token")
c_req=$(field requests "$ceiling"); c_us=$(field duration_us "$ceiling")
t_ok=$((t_req - t_bad))
python3 - "$token" "$ceiling" "$t_ok" "$issued_run" "$issued" "$rows" "$rss_kb" "$cache_stats" <<'PY'
import sys, datetime, os, subprocess
def parse(line):
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
t, c = parse(sys.argv[1]), parse(sys.argv[2])
ok, issued_run, issued, rows, rss = (int(x) for x in sys.argv[3:8])
import json
cache = json.loads(sys.argv[8])["total"]
tps = t["requests"] / (t["duration_us"] / 1e6)
cps = c["requests"] / (c["duration_us"] / 1e6)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
env = os.environ
row = ("| {date} | {commit} | {driver} | {cache} | {durability} | {clients} | {conns} | {pipe} | "
       "{tps:,.0f} | {cps:,.0f} | {ratio:.2f} | "
       "{p50:.2f} / {p99:.2f} / {p999:.2f} | {rss:.1f} | {hit_rate:.2f}% / {misses} | "
       "{ok} / {issued_run} | {issued} / {rows} |").format(
    date=datetime.date.today(), commit=commit, driver=env.get("EDGEAUTH_IO_DRIVER"),
    cache=env["CACHE_CAPACITY"], durability=env["DURABILITY"] + " " + env["FLUSH_INTERVAL"],
    clients=env["CLIENTS"], hit_rate=cache["hit_rate"], misses=cache["client_queries"],
    conns=env.get("CONNECTIONS", "64"), pipe=env.get("PIPELINE", "1"), tps=tps, cps=cps,
    ratio=tps / cps, p50=t["p50_us"] / 1000, p99=t["p99_us"] / 1000, p999=t["p999_us"] / 1000,
    rss=rss / 1024, ok=ok, issued_run=issued_run, issued=issued, rows=rows)
header = ("| date | commit | io | cache | durability | clients | conns | pipeline | tokens/s | "
          "ceiling req/s | token/ceiling | token p50 / p99 / p99.9 ms | RSS MiB | "
          "cache hit rate / client queries | run: wrk 200s / issued | all: issued / rows in tokens |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
print(header)
print(row)
os.makedirs("bench-results", exist_ok=True)
path = "bench-results/results.md"
new = not os.path.exists(path) or not open(path).readline().startswith(header.splitlines()[0])
if new and os.path.exists(path):
    os.rename(path, path.replace(".md", f".before-{datetime.date.today()}.md"))
with open(path, "a") as f:
    if new:
        f.write(header + "\n")
    f.write(row + "\n")
if rows != issued:
    print(f"MISMATCH: {rows} rows in tokens, server issued {issued}", file=sys.stderr)
    sys.exit(1)
if ok > issued_run:
    print(f"MISMATCH: wrk saw {ok} tokens but the server issued {issued_run}", file=sys.stderr)
    sys.exit(1)
print(f"check: rows in tokens == tokens issued ({rows}, warm-up included); "
      f"in the measured run wrk counted {ok} 200s of {issued_run} issued (it drops in-flight responses at stop)")
PY
