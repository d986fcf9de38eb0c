#!/usr/bin/env bash
# End-to-end benchmark, one command: a matrix of server configurations, each measured
# against the static ceiling of the same server, plus ab, introspection and a
# throughput-against-connections sweep with a plot.
#
#   scripts/bench.sh                         the full matrix (below), ~6 minutes
#   SHARDS=1 ALGS=ES256 PIPELINES=1 scripts/bench.sh     one cell
#   DURATION=2 WARMUP=1 AB_REQUESTS=5000 SWEEP_DURATION=1 scripts/bench.sh   smoke run
#
# The matrix: every combination of
#   SHARDS     "1 .. $(nproc)"       shard counts (duplicates dropped)
#   ALGS       "ES256 EdDSA HS256"   signing algorithm (also RS256); ALG=X means ALGS=X
#   PIPELINES  "1 16"                requests per write; PIPELINE=N means PIPELINES=N
# Each cell is a fresh server (fresh signing key of the cell's algorithm, empty `tokens`):
# warm-up, wrk against POST /oauth/token (scripts/token.lua, HTTP Basic), wrk against the
# static /healthz (the ceiling) with the same pipelining, then SIGTERM, wait, and the check
# rows in `tokens` == tokens the server says it issued.
#
# Layout (the `layout` column):
#   1 shard      server pinned to core SERVER_CPU (0), wrk (1 thread) pinned to WRK_CPU (1):
#                the load generator never competes with the server for its core.
#   more shards  server unpinned on all cores, wrk unpinned with one thread per core: on a
#                2-core machine wrk and the server share both cores, so this measures the
#                machine, not the server's scaling (it needs a bigger box or a second one).
# PostgreSQL runs wherever the kernel puts it in both, unless PG_CPU pins it (and every
# backend it starts) to a core: PG_CPU=0 with one shard is the "one core for the whole
# system" layout, server and database sharing core 0.
#
# Every run measures CPU time per token three ways: the server's own (/proc/PID/stat),
# PostgreSQL's (the postmaster and all its processes) and the load generator's (wrk, as
# its waiting shell's child time); the `CPU µs per token` column shows all three.
#
# Tokens/s is the server's own count (`edgeauth_tokens_issued_total`, /metrics) over the
# wall-clock window the script measures around wrk (start to exit, so slightly longer than
# wrk's run: the figure errs low). wrk's own rate of 200s is shown alongside. Why not wrk's
# `requests / duration`: wrk counts every response, and under pipelined load the server
# sheds with 503 when too many rows wait for the batch writer (counted in the 503s column);
# the old script divided all responses by the duration and reported 302k tokens/s for a run
# in which the server issued 185k/s. wrk also drops the responses in flight when it stops,
# so its 200s are <= issued. Pipelined latency: wrk records one sample per write (the time
# until the last of its N responses), so it is not a per-request latency; the table shows
# it marked "batch" (see scripts/wrk-common.lua for why wrk 4.1 printed p99 0.00 there).
#
# Once per algorithm, on its first cell's server (default: 1 shard, pipeline 1), after the
# token and ceiling runs, so that issuance and introspection are measured on one server:
#   INTROSPECT=1   two wrk runs against POST /oauth/introspect -> introspect.md: the same
#                  active token over and over (scripts/introspect.lua: after its first
#                  request, every one is a hit in the server's verified-token cache), then
#                  always-new tokens (scripts/introspect-many.lua cycling through twice as
#                  many tokens per shard as the cache holds, issued just before by
#                  scripts/bench-issue-tokens.py: every one a miss, a signature check each).
#                  Each run's cache hits and misses are the server's own counts, and the
#                  server's RSS before and after the second run (the caches filled) gives
#                  the memory per cached token.
# Once per invocation, on the first cell's server:
#   AB=1           ab -k -n AB_REQUESTS -c CONNECTIONS, JSON body (scripts/token-request.json
#                  with the bench client's secret filled in) -> ab.md
# Then, on a fresh 1-shard server (first algorithm, pipeline 1, pinned):
#   SWEEP=1        for each CONN_SWEEP ("1 4 16 64 256") connection count, SWEEP_DURATION (3)
#                  seconds of tokens and of the ceiling -> sweep.md, and a plot,
#                  throughput-vs-connections.svg (scripts/bench-plot.py).
#
# At the end, TLS=1 (the default) runs scripts/bench-tls.sh on the same binary -> tls.md;
# then AUTH=1 (the default) scripts/bench-auth.sh, tokens/s and CPU per token by client
# authentication (secret, private_key_jwt, DPoP, both) -> auth.md; AUTH_CELLS picks its
# cells (e.g. AUTH_CELLS=secret); then RATE=1 (the default) scripts/bench-rate.sh, what a
# non-binding per-client rate limit costs a token -> rate.md; then ADMIN=1 (the default)
# scripts/bench-admin.sh, admin API latency idle and under token load -> admin.md.
#
# Other knobs: DURATION (10 s per measurement) CONNECTIONS (64) WARMUP (2 s) IO_DRIVER
# (auto) CACHE_CAPACITY (5000) DURABILITY (async) FLUSH_INTERVAL (5s) CLIENTS (1; N picks one
# of N clients at random per request, client_secret_post, scripts/many.lua) AB_REQUESTS
# (100000) SERVER_CPU (0) WRK_CPU (1) PROGRESS (1: a progress line on stderr every second)
# RESULTS_DIR (bench-results; point it elsewhere for smoke runs) EDGEAUTH_BIN (the binary to
# measure; default: build this checkout's release binary).
#
# Everything goes to RESULTS_DIR (results.md, introspect.md, ab.md, sweep.md,
# throughput-vs-connections.{csv,svg}); tables and checks are made by
# scripts/bench-report.py. The exit status is non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---------------------------------------------------------------------------------------
# Knobs
cores=$(nproc)
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
IO_DRIVER=${IO_DRIVER:-auto}
CACHE_CAPACITY=${CACHE_CAPACITY:-5000}
DURABILITY=${DURABILITY:-async}
FLUSH_INTERVAL=${FLUSH_INTERVAL:-5s}
CLIENTS=${CLIENTS:-1}
AB=${AB:-1}
AB_REQUESTS=${AB_REQUESTS:-100000}
INTROSPECT=${INTROSPECT:-1}
SHARDS=${SHARDS:-$(seq -s ' ' 1 "$cores")}
PG_CPU=${PG_CPU:-}
ALGS=${ALGS:-${ALG:-ES256 EdDSA HS256}}
PIPELINES=${PIPELINES:-${PIPELINE:-1 16}}
SWEEP=${SWEEP:-1}
CONN_SWEEP=${CONN_SWEEP:-1 4 16 64 256}
SWEEP_DURATION=${SWEEP_DURATION:-3}
PROGRESS=${PROGRESS:-1}
RESULTS_DIR=${RESULTS_DIR:-bench-results}

die() { echo "bench.sh: $*" >&2; exit 2; }
if [ -t 2 ]; then tty=1; else tty=0; fi
say() { # message: a line of its own, clearing the progress line (see progress_loop) first
  if [ "$tty" = 1 ] && [ "$PROGRESS" = 1 ]; then printf '\r\033[K' >&2; fi
  echo "bench.sh: $*" >&2
}
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
# Drop repeated words, keep the order ("1 2" stays, "1 1" on a 1-core machine becomes "1").
uniq_words() { tr -s ' \t' '\n' <<<"$1" | awk 'NF && !seen[$0]++' | xargs; }

SHARDS=$(uniq_words "$SHARDS")
ALGS=$(uniq_words "$ALGS")
PIPELINES=$(uniq_words "$PIPELINES")
CONN_SWEEP=$(uniq_words "$CONN_SWEEP")
for n in $SHARDS $PIPELINES $CONN_SWEEP $DURATION $CONNECTIONS $CLIENTS $AB_REQUESTS $SWEEP_DURATION; do
  is_count "$n" || die "not a positive count: '$n'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be whole seconds"
for a in $ALGS; do
  case $a in ES256 | EdDSA | HS256 | RS256) ;; *) die "unknown algorithm '$a' (ES256 EdDSA HS256 RS256)" ;; esac
done
if [ -z "$SHARDS" ] || [ -z "$ALGS" ] || [ -z "$PIPELINES" ]; then
  die "SHARDS, ALGS and PIPELINES must not be empty"
fi

# ---------------------------------------------------------------------------------------
# Tools, build, database

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
if [ "$AB" = 1 ]; then need_debian_package ab apache2-utils; fi
scripts/pg.sh install

# EDGEAUTH_BIN measures another build (e.g. a worktree's, for before/after in one run).
if [ -n "${EDGEAUTH_BIN:-}" ]; then
  bin=$EDGEAUTH_BIN
else
  echo "bench.sh: building release" >&2
  cargo build --release --quiet
  bin=$PWD/target/release/edgeauth
fi
commit=$(git rev-parse --short HEAD)
# Results files change with every run; only a change to the code makes the build "dirty".
git diff --quiet HEAD -- . ":(exclude)bench-results" 2>/dev/null || commit="$commit+dirty"
if [ -n "${EDGEAUTH_BIN:-}" ]; then commit=$("$bin" --version | tr ' ' '-')@$EDGEAUTH_BIN; fi

work=$(mktemp -d /tmp/edgeauth-bench.XXXXXX)
server=""
progress_pid=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  [ -z "$progress_pid" ] || kill "$progress_pid" 2>/dev/null || true
  stop_bench_work "$work"
}
trap cleanup EXIT
# Say where it stopped if a command fails (set -e would otherwise exit silently); -E makes
# the trap fire inside functions and $(...) too, so the innermost failure is the one named.
set -E
trap 'say "failed: line $LINENO: $BASH_COMMAND (exit $?)"; [ -z "$server" ] || tail -5 "$work/server.log" >&2' ERR
started=$(date +%s)

prepare_edgeauth "$work"
if [ -n "$PG_CPU" ]; then pin_postgres "$work" "$PG_CPU"; fi
export EDGEAUTH_IO_DRIVER=$IO_DRIVER
export EDGEAUTH_CACHE_CAPACITY=$CACHE_CAPACITY
export EDGEAUTH_DURABILITY=$DURABILITY
export EDGEAUTH_FLUSH_INTERVAL=$FLUSH_INTERVAL
admin_token=bench-admin-token-$(od -An -tx1 -N16 /dev/urandom | tr -d " \n")
export EDGEAUTH_ADMIN_TOKEN=$admin_token
psql() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$EDGEAUTH_DATABASE_URL" "$@"; }

if [ "$CLIENTS" -gt 1 ]; then
  # Bench-only clients c<i> with secret s<i> (the server stores SHA-256 hex, as the CLI does).
  psql -c "INSERT INTO clients (client_id, secret_hash, allowed_scopes)
    SELECT 'c' || i, encode(sha256(('s' || i)::bytea), 'hex'), 'read write' FROM generate_series(0, $CLIENTS - 1) i"
  token_script=scripts/many.lua
else
  token_script=scripts/token.lua
fi
export EDGEAUTH_BENCH_CLIENTS=$CLIENTS

# ---------------------------------------------------------------------------------------
# Progress: a background loop prints, once a second, the phase the script announced in
# $work/phase and a live rate from the server's /metrics. On a terminal it rewrites one
# line (\r); otherwise (a log file, CI) it prints plain lines.


# phase TEXT [SECONDS COUNTER UNIT]: what runs now, its planned length, and which /metrics
# counter (see counters) gives the live rate.
phase() {
  printf '%s|%s|%s|%s|%s|%s\n' "$1" "$(date +%s)" "${2:-}" "${3:-}" "${4:-}" "${port:-}" >"$work/phase.tmp"
  mv "$work/phase.tmp" "$work/phase"
}

# counters PORT: "issued unavailable healthz introspect icache_hits icache_misses",
# process totals (summed over shards) of tokens issued (200), token requests answered 503,
# /healthz and introspection 200s, and the verified-token cache's hits and misses.
counters() {
  local text
  text=$(curl -fs -m 2 "http://127.0.0.1:$1/metrics" || { sleep 0.2; curl -fs -m 2 "http://127.0.0.1:$1/metrics"; }) ||
    return 1
  awk <<<"$text" '
    /^edgeauth_tokens_issued_total/     { v["issued"] += $2 }
    /^edgeauth_token_unavailable_total/ { v["unavailable"] += $2 }
    /^edgeauth_introspection_cache_hits_total/   { v["icache_hits"] += $2 }
    /^edgeauth_introspection_cache_misses_total/ { v["icache_misses"] += $2 }
    /^edgeauth_http_requests_total\{/ && /status="200"/ {
      if ($0 ~ /endpoint="healthz"/) v["healthz"] += $2
      if ($0 ~ /endpoint="introspect"/) v["introspect"] += $2
    }
    END { printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", v["issued"], v["unavailable"], v["healthz"],
      v["introspect"], v["icache_hits"], v["icache_misses"] }'
}
counter_index() { case $1 in issued) echo 1 ;; healthz) echo 3 ;; introspect) echo 4 ;; *) echo 0 ;; esac; }

thousands() { sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta' <<<"$1"; }

progress_loop() {
  local text since planned counter unit p line prev_key="" prev_n=0 prev_t=0 now n i rate
  while sleep 1; do
    [ -f "$work/phase" ] || continue
    IFS='|' read -r text since planned counter unit p <"$work/phase" || continue
    now=$(date +%s%N)
    line="$text $(($(date +%s) - since))s${planned:+/${planned}s}, total $(($(date +%s) - started))s"
    i=$(counter_index "$counter")
    if [ "$i" -gt 0 ] && [ -n "$p" ] && n=$(counters "$p" | cut -d' ' -f"$i") && [ -n "$n" ]; then
      if [ "$prev_key" = "$text|$since" ] && [ "$now" -gt "$prev_t" ]; then
        rate=$(((n - prev_n) * 1000000000 / (now - prev_t)))
        line="$line, live $(thousands "$rate") $unit"
      fi
      prev_key="$text|$since" prev_n=$n prev_t=$now
    fi
    if [ "$tty" = 1 ]; then printf '\r\033[K%s' "$line" >&2; else echo "$line" >&2; fi
  done
}
if [ "$PROGRESS" = 1 ]; then
  progress_loop &
  progress_pid=$!
fi

# ---------------------------------------------------------------------------------------
# Server and load generators

# layout SHARDS: sets server_pin, client_pin (taskset prefixes, as arrays), wrk_threads
# and layout_text (the table's `layout` column).
layout() {
  if [ "$1" -eq 1 ] && [ "$cores" -ge 2 ]; then
    server_pin=(taskset -c "$SERVER_CPU")
    client_pin=(taskset -c "$WRK_CPU")
    wrk_threads=1
    layout_text="server core $SERVER_CPU, wrk core $WRK_CPU"
  else
    server_pin=()
    client_pin=()
    wrk_threads=$cores
    layout_text="server all $cores cores, wrk $cores threads unpinned"
  fi
  if [ -n "$PG_CPU" ]; then layout_text="$layout_text, PostgreSQL core $PG_CPU"; fi
}

# start_server SHARDS ALG: empty `tokens`, then a fresh server on a fresh port; waits until
# /readyz says a shard reached PostgreSQL (before that the token endpoint answers 503).
start_server() {
  psql -c "TRUNCATE tokens"
  port=$(free_port)
  layout "$1"
  EDGEAUTH_LISTEN=127.0.0.1:$port EDGEAUTH_SHARDS=$1 EDGEAUTH_SIGNING_KEYS=$(signing_key "$2") \
    "${server_pin[@]}" "$bin" serve 2>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
# The server's CPU time so far (user + system, all threads), in clock ticks: per token it
# is the figure that moves least on a shared machine, and below 100% of its cores the
# server is waiting for the load generator rather than the other way round.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
clock_ticks=$(getconf CLK_TCK)

# stop_server: the server's final counters and cache figures, SIGTERM, wait for it to
# flush and exit, then count the rows. Sets stopped="issued=.. rows=.. hit_rate=..
# client_queries=..". (Not in a $(...) subshell: only this shell can wait for the server.)
stop_server() {
  local c issued stats
  c=$(counters "$port")
  issued=${c%% *}
  stats=$(curl -fs -m 2 -H "Authorization: Bearer $admin_token" "http://127.0.0.1:$port/admin/cache/stats" |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("hit_rate=%.2f client_queries=%d" % (t["hit_rate"], t["client_queries"]))')
  kill -TERM "$server"
  if ! wait "$server"; then
    say "server exited non-zero"
    cat "$work/server.log" >&2
    exit 1
  fi
  server=""
  stopped="issued=$issued rows=$(psql -tA -c 'SELECT count(*) FROM tokens') $stats"
}

# wrk_result PREFIX SCRIPT SECONDS CONNECTIONS: one wrk run. Prints wrk's RESULT fields and
# the server's own counts over the wall-clock window around it, every key prefixed:
# PREFIX_wall_us, PREFIX_issued, PREFIX_unavailable, PREFIX_healthz, PREFIX_introspect,
# PREFIX_icache_hits, PREFIX_icache_misses (deltas), PREFIX_requests, PREFIX_duration_us,
# PREFIX_non2xx, PREFIX_p99_us, ...
wrk_result() {
  local prefix=$1 before after t0 t1 cpu0 cpu1 pg0 pg1 out i k b a
  before=$(counters "$port")
  cpu0=$(cpu_ticks)
  pg0=$(pg_cpu_ticks "$work")
  t0=$(date +%s%N)
  # In a subshell of its own, whose child time afterwards is wrk's CPU time.
  (
    "${client_pin[@]}" wrk -t"$wrk_threads" -c"$4" -d"${3}s" --latency -s "$2" "http://127.0.0.1:$port" >"$work/wrk.out"
    awk '{print $16 + $17}' "/proc/$BASHPID/stat" >"$work/wrk.ticks"
  ) || { say "wrk failed ($2)"; exit 1; }
  out=$(grep '^RESULT' "$work/wrk.out") || { say "wrk printed no RESULT ($2)"; exit 1; }
  t1=$(date +%s%N)
  cpu1=$(cpu_ticks)
  pg1=$(pg_cpu_ticks "$work")
  after=$(counters "$port")
  read -r -a b <<<"$before"
  read -r -a a <<<"$after"
  printf '%s_wall_us=%d %s_cpu_us=%d %s_pg_cpu_us=%d %s_wrk_cpu_us=%d' "$prefix" $(((t1 - t0) / 1000)) \
    "$prefix" $(((cpu1 - cpu0) * 1000000 / clock_ticks)) "$prefix" $(((pg1 - pg0) * 1000000 / clock_ticks)) \
    "$prefix" $(($(cat "$work/wrk.ticks") * 1000000 / clock_ticks))
  i=0
  for k in issued unavailable healthz introspect icache_hits icache_misses; do
    printf ' %s_%s=%d' "$prefix" "$k" $((a[i] - b[i]))
    i=$((i + 1))
  done
  sed "s/^RESULT//; s/ \([a-z0-9_]*\)=/ ${prefix}_\1=/g" <<<"$out"
}

# run_wrk_phase LABEL PREFIX SCRIPT SECONDS CONNECTIONS COUNTER UNIT
run_wrk_phase() {
  phase "$1" "$4" "$6" "$7"
  wrk_result "$2" "$3" "$4" "$5"
}

warm_up() { # label
  [ "$WARMUP" -gt 0 ] || return 0
  phase "$1 warm-up" "$WARMUP" issued tokens/s
  "${client_pin[@]}" wrk -t"$wrk_threads" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$token_script" \
    "http://127.0.0.1:$port" >/dev/null
}

# ---------------------------------------------------------------------------------------
# Introspection on each algorithm's first cell's server; ab once, on the first cell's.

# Tokens per shard that introspect-many.lua cycles through: twice what a shard's
# verified-token cache holds (limits::VERIFIED_TOKENS_PER_SHARD_MAX), so that none is
# still cached when its turn comes again.
VERIFIED_TOKENS_PER_SHARD=8192

introspect_run() { # k label shards alg -> appends one record line to $work/introspect.txt
  [ "$INTROSPECT" = 1 ] || return 0
  if [ "$CLIENTS" -gt 1 ]; then
    say "introspection skipped (CLIENTS > 1)"
    return 0
  fi
  local k=$1 label=$2 shards=$3 alg=$4 hits misses rss_before rss_after tokens
  export EDGEAUTH_BENCH_TOKEN EDGEAUTH_BENCH_TOKENS=$work/introspect-tokens.txt
  EDGEAUTH_BENCH_TOKEN=$(curl -fs -H "Authorization: Basic $EDGEAUTH_BENCH_AUTH" \
    -d grant_type=client_credentials "http://127.0.0.1:$port/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  hits=$(run_wrk_phase "$label: introspection, one token (cache hits)" i scripts/introspect.lua \
    "$DURATION" "$CONNECTIONS" introspect introspections/s)
  tokens=$((2 * VERIFIED_TOKENS_PER_SHARD * shards))
  phase "$label: issuing $tokens tokens to introspect"
  python3 scripts/bench-issue-tokens.py "$port" "$tokens" "$EDGEAUTH_BENCH_TOKENS"
  rss_before=$(rss_kb)
  export EDGEAUTH_BENCH_WRK_THREADS=$wrk_threads
  misses=$(run_wrk_phase "$label: introspection, new tokens (cache misses)" m scripts/introspect-many.lua \
    "$DURATION" "$CONNECTIONS" introspect introspections/s)
  rss_after=$(rss_kb)
  echo "cell=$k alg=$alg shards=$shards tokens=$tokens rss_before_kb=$rss_before rss_after_kb=$rss_after" \
    "cached=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '/^edgeauth_introspection_cache_size/ {s += $2} END {print s}')" \
    "$hits $misses" >>"$work/introspect.txt"
}

ab_run() { # label -> $work/ab.txt (ab's output), $work/ab-issued.txt
  [ "$AB" = 1 ] || return 0
  # The committed body has a placeholder; the secret goes into a private copy.
  sed "s|REPLACED_BY_BENCH_SH|$secret|" scripts/token-request.json >"$work/token-request.json"
  phase "$1 ab -k -n $AB_REQUESTS -c $CONNECTIONS" "" issued tokens/s
  local before
  before=$(counters "$port")
  "${client_pin[@]}" ab -q -k -n "$AB_REQUESTS" -c "$CONNECTIONS" -p "$work/token-request.json" \
    -T application/json "http://127.0.0.1:$port/oauth/token" >"$work/ab.txt" 2>&1 ||
    { say "ab failed"; cat "$work/ab.txt" >&2; exit 1; }
  echo $(($(counters "$port" | cut -d' ' -f1) - ${before%% *})) >"$work/ab-issued.txt"
}

# ---------------------------------------------------------------------------------------
# The matrix

cells=()
for s in $SHARDS; do for a in $ALGS; do for p in $PIPELINES; do cells+=("$s $a $p"); done; done; done

plural() { if [ "$1" -gt 1 ]; then echo s; fi; }

run_cell() { # k shards alg pipeline -> appends one record line to $work/cells.txt
  local k=$1 shards=$2 alg=$3 pipe=$4 label rss_idle rss_load token ceiling
  label="cell $k/${#cells[@]} ($shards shard$(plural "$shards"), $alg, pipeline $pipe)"
  export EDGEAUTH_BENCH_PIPELINE=$pipe
  phase "$label: starting the server"
  start_server "$shards" "$alg"
  rss_idle=$(rss_kb)
  warm_up "$label"
  token=$(run_wrk_phase "$label: token endpoint" t "$token_script" "$DURATION" "$CONNECTIONS" issued tokens/s)
  ceiling=$(run_wrk_phase "$label: ceiling (/healthz)" c scripts/static.lua "$DURATION" "$CONNECTIONS" healthz req/s)
  rss_load=$(rss_kb)
  # Introspection on each algorithm's first cell (the first shard count and pipeline).
  if [ "$shards" = "${SHARDS%% *}" ] && [ "$pipe" = "${PIPELINES%% *}" ]; then
    introspect_run "$k" "$label" "$shards" "$alg"
  fi
  if [ "$k" = 1 ]; then ab_run "$label"; fi
  phase "$label: SIGTERM, waiting for the last rows"
  stop_server
  echo "cell=$k shards=$shards alg=$alg pipeline=$pipe conns=$CONNECTIONS wrk_threads=$wrk_threads" \
    "layout=${layout_text// /_} rss_idle_kb=$rss_idle rss_load_kb=$rss_load $token $ceiling $stopped" >>"$work/cells.txt"
  say "$label done: $(python3 scripts/bench-report.py brief "$work/cells.txt")"
}

# ---------------------------------------------------------------------------------------
# Throughput against connections: one fresh 1-shard server, first algorithm, no pipelining.

run_sweep() {
  [ "$SWEEP" = 1 ] || return 0
  local alg=${ALGS%% *} n=0 total label token ceiling
  total=$(wc -w <<<"$CONN_SWEEP")
  export EDGEAUTH_BENCH_PIPELINE=1
  phase "sweep: starting the server"
  start_server 1 "$alg"
  warm_up "sweep"
  for conns in $CONN_SWEEP; do
    n=$((n + 1))
    label="sweep $n/$total ($conns connections, $alg)"
    token=$(run_wrk_phase "$label: token endpoint" t "$token_script" "$SWEEP_DURATION" "$conns" issued tokens/s)
    ceiling=$(run_wrk_phase "$label: ceiling" c scripts/static.lua "$SWEEP_DURATION" "$conns" healthz req/s)
    echo "point=$n conns=$conns alg=$alg layout=${layout_text// /_} $token $ceiling" >>"$work/sweep.txt"
  done
  phase "sweep: SIGTERM, waiting for the last rows"
  stop_server
  echo "$stopped" >"$work/sweep-end.txt"
}

plan="${#cells[@]} cell$(plural ${#cells[@]}) (shards: $SHARDS; algorithms: $ALGS; pipelines: $PIPELINES), ${DURATION}s per measurement, $CONNECTIONS connections"
if [ "$SWEEP" = 1 ]; then plan="$plan, then a sweep over $CONN_SWEEP connections"; fi
say "$plan"
k=0
for cell in "${cells[@]}"; do
  k=$((k + 1))
  # shellcheck disable=SC2086  # "shards alg pipeline", split on purpose
  run_cell "$k" $cell
done
run_sweep

[ -z "$progress_pid" ] || kill "$progress_pid" 2>/dev/null || true
progress_pid=""
if [ "$tty" = 1 ] && [ "$PROGRESS" = 1 ]; then printf '\r\033[K' >&2; fi

# ---------------------------------------------------------------------------------------
# Tables, files, checks

export BENCH_DATE BENCH_COMMIT=$commit BENCH_IO=$IO_DRIVER BENCH_CACHE=$CACHE_CAPACITY \
  BENCH_DURABILITY="$DURABILITY $FLUSH_INTERVAL" BENCH_CLIENTS=$CLIENTS BENCH_CONNS=$CONNECTIONS \
  BENCH_DURATION=$DURATION BENCH_SWEEP_DURATION=$SWEEP_DURATION
BENCH_DATE=$(date -u +%F)
status=0
python3 scripts/bench-report.py report "$work" "$RESULTS_DIR" || status=$?
if [ -f "$work/sweep.txt" ]; then
  python3 scripts/bench-plot.py "$RESULTS_DIR/throughput-vs-connections.csv" "$RESULTS_DIR/throughput-vs-connections.svg"
  echo "Plot: $RESULTS_DIR/throughput-vs-connections.svg"
fi
# TLS cells (scripts/bench-tls.sh): native TLS against plain and against nginx in front,
# and handshake-bound load, on the same binary; RESULTS_DIR/tls.md.
if [ "${TLS:-1}" = 1 ]; then
  EDGEAUTH_BIN=$bin RESULTS_DIR=$RESULTS_DIR DURATION=$DURATION CONNECTIONS=$CONNECTIONS \
    WARMUP=$WARMUP SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU scripts/bench-tls.sh || status=1
fi
# Client authentication cells (scripts/bench-auth.sh): a secret, a private_key_jwt assertion,
# a DPoP proof and both, on one server of the same binary; RESULTS_DIR/auth.md.
if [ "${AUTH:-1}" = 1 ]; then
  EDGEAUTH_BIN=$bin RESULTS_DIR=$RESULTS_DIR DURATION=$DURATION CONNECTIONS=$CONNECTIONS \
    WARMUP=$WARMUP SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU CELLS=${AUTH_CELLS:-secret jwt secret+dpop jwt+dpop} \
    scripts/bench-auth.sh || status=1
fi
# Per-client rate limits and the admin API (scripts/bench-rate.sh, scripts/bench-admin.sh);
# RESULTS_DIR/rate.md and admin.md.
if [ "${RATE:-1}" = 1 ]; then
  EDGEAUTH_BIN=$bin RESULTS_DIR=$RESULTS_DIR DURATION=$DURATION CONNECTIONS=$CONNECTIONS \
    SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU scripts/bench-rate.sh || status=1
fi
if [ "${ADMIN:-1}" = 1 ]; then
  EDGEAUTH_BIN=$bin RESULTS_DIR=$RESULTS_DIR DURATION=$DURATION CONNECTIONS=$CONNECTIONS \
    SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU scripts/bench-admin.sh || status=1
fi
echo "total time: $(($(date +%s) - started)) s"
exit "$status"
