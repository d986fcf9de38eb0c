#!/usr/bin/env bash
# End-to-end benchmark: the token endpoint against the static ceiling of the same server,
# in one run, on one machine.
#
#   scripts/bench.sh                       defaults below
#   DURATION=20 CONNECTIONS=64 scripts/bench.sh
#   CACHE_CAPACITY=0 scripts/bench.sh      client cache off (every token looks its client up)
#   DURABILITY=commit FLUSH_INTERVAL=2ms scripts/bench.sh     group commit
#   ALG=HS256 scripts/bench.sh             signing algorithm (ES256, EdDSA, HS256, RS256)
#   CLIENTS=100000 scripts/bench.sh        that many clients, picked at random per request
#                                          (client_secret_post), through a 5000-entry cache
#   AB=0 scripts/bench.sh                  skip the ab run (on by default)
#   INTROSPECT=0 scripts/bench.sh          skip the introspection run (on by default; one
#                                          active token, same server, same run)
#   AB_REQUESTS=20000 scripts/bench.sh     requests in the ab run (default 100000)
#
# Layout on a 2-core machine: the server (1 shard) pinned to core 0, wrk pinned to core 1,
# PostgreSQL wherever the kernel puts it. Figures are printed as a table and appended to
# bench-results/results.md. At the end the server is stopped with SIGTERM and the rows in
# `tokens` are checked against the tokens the server says it issued (wrk does not count the
# responses in flight when it stops, so its 200s can be slightly fewer).
#
# After wrk, ab drives the token endpoint as many users run it: keep-alive, a JSON body
# (scripts/token-request.json with the bench client's secret filled in), CONNECTIONS
# concurrent requests. Its requests/s, failures and non-2xx count are printed after the
# table and appended to bench-results/ab.md; its 200s are part of the rows == issued check.
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
ALG=${ALG:-ES256}
AB=${AB:-1}
INTROSPECT=${INTROSPECT:-1}
AB_REQUESTS=${AB_REQUESTS:-100000}
export CONNECTIONS PIPELINE CACHE_CAPACITY DURABILITY FLUSH_INTERVAL CLIENTS ALG

command -v wrk >/dev/null || {
  echo "bench.sh: installing wrk (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
if [ "$AB" = 1 ] && ! command -v ab >/dev/null; then
  echo "bench.sh: installing ab (Debian apache2-utils)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils >/dev/null
fi
scripts/pg.sh install

echo "bench.sh: building release" >&2
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
work=$(mktemp -d /tmp/edgeauth-bench.XXXXXX)
port=$(free_port)
server=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  scripts/pg.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_bench_database "$work"
export EDGEAUTH_DATA_DIR=$work/data
export EDGEAUTH_LISTEN=127.0.0.1:$port
export EDGEAUTH_SHARDS=1
export EDGEAUTH_IO_DRIVER=$IO_DRIVER
export EDGEAUTH_LOG_LEVEL=warn
mkdir -p "$work/data"
"$bin" keys generate --alg "$ALG" --out "$work/data/bench-key.pem" >/dev/null
export EDGEAUTH_SIGNING_KEYS=$work/data/bench-key.pem
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

if [ "$INTROSPECT" = 1 ] && [ "$CLIENTS" -eq 1 ]; then
  export EDGEAUTH_BENCH_TOKEN
  EDGEAUTH_BENCH_TOKEN=$(curl -fs -H "Authorization: Basic $EDGEAUTH_BENCH_AUTH" \
    -d grant_type=client_credentials "http://127.0.0.1:$port/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  echo "bench.sh: introspection ${DURATION}s" >&2
  introspect=$(run_wrk scripts/introspect.lua "$DURATION")
  i_req=$(field requests "$introspect"); i_us=$(field duration_us "$introspect")
  i_bad=$(field non2xx "$introspect"); i_p99=$(field p99_us "$introspect")
  t_req0=$(field requests "$token"); t_us0=$(field duration_us "$token")
  c_req0=$(field requests "$ceiling"); c_us0=$(field duration_us "$ceiling")
  line=$(awk -v ir="$i_req" -v iu="$i_us" -v tr="$t_req0" -v tu="$t_us0" -v cr="$c_req0" -v cu="$c_us0" \
    -v bad="$i_bad" -v p99="$i_p99" -v d="$(date +%F)" -v c="$(git rev-parse --short HEAD)" -v io="$IO_DRIVER" \
    'BEGIN { ips = ir / (iu / 1e6); tps = tr / (tu / 1e6); cps = cr / (cu / 1e6);
             printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %d |", d, c, io, ips, tps, cps, ips / tps, ips / cps, p99 / 1000, bad }')
  [ -f bench-results/introspect.md ] || {
    mkdir -p bench-results
    printf '%s
%s
' "| date | commit | io | introspections/s | tokens/s | ceiling req/s | introspect/token | introspect/ceiling | introspect p99 ms | non-2xx |" \
      "|---|---|---|---|---|---|---|---|---|---|" >bench-results/introspect.md
  }
  echo "$line" >>bench-results/introspect.md
  echo "introspection (same run): $line" >&2
fi

ab_issued=0
: >"$work/ab.txt"
if [ "$AB" = 1 ]; then
  # The committed body has a placeholder; the secret goes into a private copy.
  sed "s|REPLACED_BY_BENCH_SH|$secret|" scripts/token-request.json >"$work/token-request.json"
  echo "bench.sh: ab -k -n $AB_REQUESTS -c $CONNECTIONS, JSON body" >&2
  ab_before=$(issued_total)
  taskset -c "$WRK_CPU" ab -q -k -n "$AB_REQUESTS" -c "$CONNECTIONS" -p "$work/token-request.json" \
    -T application/json "http://127.0.0.1:$port/oauth/token" >"$work/ab.txt" 2>&1 ||
    { echo "bench.sh: ab failed" >&2; cat "$work/ab.txt" >&2; exit 1; }
  ab_issued=$(( $(issued_total) - ab_before ))
fi

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
python3 - "$token" "$ceiling" "$t_ok" "$issued_run" "$issued" "$rows" "$rss_kb" "$cache_stats" \
  "$work/ab.txt" "$ab_issued" <<'PY'
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
    clients=env["CLIENTS"] + ("" if env.get("ALG", "ES256") == "ES256" else " (" + env["ALG"] + ")"), hit_rate=cache["hit_rate"], misses=cache["client_queries"],
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
ab_text, ab_issued = open(sys.argv[9]).read(), int(sys.argv[10])
ab_mismatch = False
if ab_text:
    import re
    def ab_num(label, default=None):
        m = re.search(r"^" + re.escape(label) + r":\s+([0-9.]+)", ab_text, re.M)
        if m is None:
            if default is None:
                print("bench.sh: cannot read " + repr(label) + " from ab's output:\n" + ab_text, file=sys.stderr)
                sys.exit(1)
            return default
        return float(m.group(1))
    complete, failed = int(ab_num("Complete requests")), int(ab_num("Failed requests"))
    non2xx, keepalive = int(ab_num("Non-2xx responses", 0)), int(ab_num("Keep-Alive requests", 0))
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", ab_text)
    connect, receive, length, exceptions = (int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    pct = dict(re.findall(r"^\s+(50|99|100)%\s+(\d+)", ab_text, re.M))
    # ab counts a 200 whose length differs from the first response's as "failed (Length)";
    # it is still a token. Requests that never got an answer are not.
    ab_ok = complete - non2xx - connect - receive - exceptions
    rps = ab_num("Requests per second")
    ab_header = ("| date | commit | io | cache | durability | conns | ab requests | ab req/s | failed | "
                 "non-2xx | keep-alive | p50 / p99 / max ms | ab 200s / issued |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ab_row = ("| {date} | {commit} | {driver} | {cache} | {durability} | {conns} | {n} | {rps:,.0f} | "
              "{failed} (length {length}) | {non2xx} | {keepalive} | {p50} / {p99} / {pmax} | {ok} / {issued} |").format(
        date=datetime.date.today(), commit=commit, driver=env.get("EDGEAUTH_IO_DRIVER"),
        cache=env["CACHE_CAPACITY"], durability=env["DURABILITY"] + " " + env["FLUSH_INTERVAL"],
        conns=env.get("CONNECTIONS", "64"), n=complete, rps=rps, failed=failed, length=length,
        non2xx=non2xx, keepalive=keepalive, p50=pct.get("50", "?"), p99=pct.get("99", "?"),
        pmax=pct.get("100", "?"), ok=ab_ok, issued=ab_issued)
    print(f"ab: {rps:,.0f} requests/s, {complete} complete, {failed} failed "
          f"(connect {connect}, receive {receive}, length {length}, exceptions {exceptions}), "
          f"{non2xx} non-2xx, {keepalive} keep-alive, p50/p99 {pct.get('50', '?')}/{pct.get('99', '?')} ms, "
          f"{ab_ok} 200s / {ab_issued} issued")
    ab_path = "bench-results/ab.md"
    ab_new = not os.path.exists(ab_path)
    with open(ab_path, "a") as f:
        if ab_new:
            f.write(ab_header + "\n")
        f.write(ab_row + "\n")
    if ab_ok > ab_issued:
        print(f"MISMATCH: ab saw {ab_ok} tokens but the server issued {ab_issued}", file=sys.stderr)
        ab_mismatch = True
if rows != issued:
    print(f"MISMATCH: {rows} rows in tokens, server issued {issued}", file=sys.stderr)
    sys.exit(1)
if ok > issued_run:
    print(f"MISMATCH: wrk saw {ok} tokens but the server issued {issued_run}", file=sys.stderr)
    sys.exit(1)
if ab_mismatch:
    sys.exit(1)
print(f"check: rows in tokens == tokens issued ({rows}, warm-up and ab included); "
      f"in the measured run wrk counted {ok} 200s of {issued_run} issued (it drops in-flight responses at stop)")
PY
