#!/usr/bin/env bash
# TLS benchmark, one command: what native TLS costs against plain HTTP on the same server,
# against nginx terminating TLS in front of it, and what a handshake costs.
#
#   scripts/bench-tls.sh                                 ~4 minutes
#   DURATION=2 ROUNDS=1 RESULTS_DIR=/tmp/tls-smoke scripts/bench-tls.sh    smoke run
#   EDGEAUTH_BIN=/path/to/edgeauth scripts/bench-tls.sh  another build (default: cargo build)
#
# Layout: one edgeauth shard pinned to core SERVER_CPU (0) and, for the fronted cells, nginx
# (master and its one worker) pinned to the same core, so both setups get the same CPU; wrk
# (1 thread) and ab on WRK_CPU (1). PostgreSQL runs wherever the kernel puts it.
#
# One server per algorithm (TLS_ALGS, default "ES256 HS256") with `listen` speaking TLS and
# a `plain_listen`; Debian's nginx terminates TLS with the same certificate and proxies to
# the plain listener over keep-alive upstream connections. Keep-alive, ROUNDS (2) rounds back
# to back on that server, each cell wrk -c CONNECTIONS for DURATION seconds, POST
# /oauth/token (scripts/token.lua):
#   plain   http://  on the plain listener
#   tls     https:// on edgeauth's own TLS
#   nginx   https:// on nginx
# Odd rounds run plain, tls, nginx; even rounds the reverse, so a machine that slows down or
# speeds up during the run (compiles, the fuzzer) biases no cell in particular.
#
# Then, once per run (first algorithm), handshake-bound load: every request on a new
# connection, POST /oauth/token, DURATION seconds, against edgeauth's TLS and against nginx:
#   resumed  wrk with `Connection: close` (scripts/token-close.lua). wrk reconnects with the
#            same SSL object (SSL_clear keeps its session), so after each connection's first
#            handshake every reconnect resumes with a session ticket.
#   full     ab without -k (HTTP/1.0, a connection per request, a fresh SSL per connection,
#            never a session offered): every handshake is a full one.
# Both post a token request, so the rows are tokens per handshake, not a bare handshake.
# Not openssl s_time: it runs one connection at a time (a client that waits on every round
# trip cannot load the server) and only GETs a page, so it could not request a token.
# Which kind of handshake each generator produced is not assumed: edgeauth counts them
# (edgeauth_tls_handshakes_total, edgeauth_tls_resumed_handshakes_total), and the checks
# fail if a `full` cell saw resumptions or a `resumed` cell more full handshakes than its
# first connections. nginx has no such counter and its access log is off for the
# measurement, so a one-second probe of each generator against a second nginx server block
# that logs $ssl_session_reused (same certificate, cache and tickets) shows what nginx saw.
#
# A client's half of a full handshake costs more CPU than the server's (it verifies the
# certificate's signature too), so one core of load generator cannot fill the server's core
# with handshakes; running more generators on the same core would not help. The table
# therefore also gives "per core": the rate divided by the share of core SERVER_CPU the server
# side used over the window (edgeauth, plus nginx for the nginx rows), the rate one saturated
# core would sustain at the same CPU per handshake. It is marked as that projection; the
# measured rate is beside it, with the generator's own core share, which shows why.
#
# Tokens/s is the server's count (edgeauth_tokens_issued_total, summed over shards) over the
# wall-clock window around the generator, as in bench.sh; p99 is the generator's (wrk's
# RESULT line, scripts/wrk-common.lua; ab's 99% line, whole milliseconds). CPU shares come
# from /proc (the processes' user + system time; "others" is what the rest of the machine ran
# on those cores meanwhile, a noise figure). Results: RESULTS_DIR/tls.md (bench-results),
# made by scripts/bench-tls-report.py. Checks (exit status 1 if one fails): no non-2xx or
# socket error in any cell, no failed handshake in a keep-alive cell (but the bare TCP
# connect with which wrk tests the address first), the handshake kinds above, and rows in
# `tokens` == tokens issued after each server's SIGTERM.
#
# Knobs: DURATION (10) CONNECTIONS (64) ROUNDS (2) WARMUP (2 s per listener) TLS_ALGS
# SERVER_CPU (0) WRK_CPU (1) RESULTS_DIR (bench-results) EDGEAUTH_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-2}
TLS_ALGS=${TLS_ALGS:-ES256 HS256}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-bench-results}

say() { echo "bench-tls.sh: $*" >&2; }
die() { say "$*"; exit 2; }
for n in "$DURATION" "$CONNECTIONS" "$ROUNDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive count: '$n'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be whole seconds"
for a in $TLS_ALGS; do
  case $a in ES256 | EdDSA | HS256 | RS256) ;; *) die "unknown algorithm '$a' (ES256 EdDSA HS256 RS256)" ;; esac
done
[ -n "$TLS_ALGS" ] || die "TLS_ALGS must not be empty"

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
need_debian_package nginx nginx
need_debian_package openssl openssl
need_debian_package ab apache2-utils
scripts/pg.sh install

if [ -n "${EDGEAUTH_BIN:-}" ]; then
  bin=$EDGEAUTH_BIN
else
  say "building release"
  cargo build --release --quiet
  bin=$PWD/target/release/edgeauth
fi
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . ":(exclude)bench-results" 2>/dev/null || commit="$commit+dirty"
# A binary given from outside need not be this checkout's build: name it in the results.
binary="$("$bin" --version), $bin, built $(date -u -r "$bin" '+%F %H:%M') UTC"

work=$(mktemp -d /tmp/edgeauth-bench-tls.XXXXXX)
server=""
nginx_pid=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [ -n "$nginx_pid" ]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  stop_bench_work "$work"
}
trap cleanup EXIT
# Say where it stopped if a command fails (set -e would otherwise exit silently).
set -E
trap 'say "failed: line $LINENO: $BASH_COMMAND (exit $?)"; [ -z "$server" ] || tail -5 "$work/server.log" >&2' ERR

prepare_edgeauth "$work"
psql() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$EDGEAUTH_DATABASE_URL" "$@"; }

# A throwaway CA and a certificate for 127.0.0.1, as scripts/run.sh makes them.
scripts/dev-cert.sh "$work" 2

# counters: "issued full resumed failed", edgeauth's totals summed over shards.
counters() {
  curl -fs -m 2 "http://127.0.0.1:$plain_port/metrics" | awk '
    /^edgeauth_tokens_issued_total/           { v[1] += $2 }
    /^edgeauth_tls_handshakes_total/          { v[2] += $2 }
    /^edgeauth_tls_resumed_handshakes_total/  { v[3] += $2 }
    /^edgeauth_tls_handshake_failures_total/  { v[4] += $2 }
    END { printf "%.0f %.0f %.0f %.0f\n", v[1], v[2], v[3], v[4] }'
}

# nginx_conf: nginx terminating TLS (1.3 and 1.2, session cache and tickets on) in front of
# the plain listener over keep-alive upstream connections, as one would deploy it. It runs
# as root (`user root`: the worker would otherwise be nobody, unable to use the work dir),
# with every path (pid, logs, temp dirs) in the work dir. No worker_cpu_affinity: taskset on
# the master pins the worker too, whatever SERVER_CPU is. The second server block is the
# probe that logs whether each connection resumed (see the header); nothing is measured on it.
nginx_conf() {
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  ssl_certificate $work/server.pem;
  ssl_certificate_key $work/server.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  upstream edgeauth { server 127.0.0.1:$plain_port; keepalive 64; }
  log_format reused \$ssl_session_reused;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    location / {
      proxy_pass http://edgeauth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:$probe_port ssl;
    access_log $work/nginx/probe.log reused;
    location / {
      proxy_pass http://edgeauth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}

# start_server ALG: empty `tokens`, a fresh 1-shard server (TLS on tls_port, plain on
# plain_port) and nginx in front of it (nginx_port, probe_port).
start_server() {
  psql -c "TRUNCATE tokens"
  tls_port=$(free_port) plain_port=$(free_port) nginx_port=$(free_port) probe_port=$(free_port)
  EDGEAUTH_LISTEN=127.0.0.1:$tls_port EDGEAUTH_PLAIN_LISTEN=127.0.0.1:$plain_port \
    EDGEAUTH_TLS_CERT=$work/server.pem EDGEAUTH_TLS_KEY=$work/server.key EDGEAUTH_SHARDS=1 \
    EDGEAUTH_SIGNING_KEYS=$(signing_key "$1") taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$plain_port/readyz" "$work/server.log"
  curl -fs -m 2 --cacert "$work/ca.pem" "https://127.0.0.1:$tls_port/healthz" >/dev/null ||
    die "edgeauth does not answer https:// on $tls_port (a build without TLS?)"
  nginx_conf
  # -p and -e: nothing read or written outside the work dir, not even the startup error log.
  taskset -c "$SERVER_CPU" nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" \
    -g 'daemon off;' &
  nginx_pid=$!
  local _
  for _ in $(seq 1 100); do
    if curl -fs -m 1 --cacert "$work/ca.pem" "https://127.0.0.1:$nginx_port/healthz" >/dev/null 2>&1; then
      nginx_worker=$(pgrep -P "$nginx_pid")
      return 0
    fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.05
  done
  say "nginx did not start"
  cat "$work/nginx/error.log" >&2
  exit 1
}

# stop_server: nginx, then the server (SIGTERM: it flushes the last rows and exits); sets
# `rows` and `issued`. Not in a $(...) subshell: only this shell can wait for its children.
stop_server() {
  kill "$nginx_pid"
  wait "$nginx_pid" || true
  nginx_pid=""
  issued=$(counters | cut -d' ' -f1)
  kill -TERM "$server"
  wait "$server" || { say "server exited non-zero"; cat "$work/server.log" >&2; exit 1; }
  server=""
  rows=$(psql -tA -c 'SELECT count(*) FROM tokens')
}

# Used CPU (user + system, clock ticks): of a process (all its threads), and of a core
# (everything but idle and iowait, from /proc/stat).
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
core_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
clock_ticks=$(getconf CLK_TCK)

# measure LABEL COMMAND...: run the load generator (stdout to generator.out) and print a
# record line: the wall-clock window, edgeauth's counter deltas over it, and the CPU that
# edgeauth, nginx (master + worker), the generator and each of the two cores used meanwhile
# (microseconds).
measure() {
  local label=$1 before after t0 t1 e0 e1 n0 n1 s0 s1 w0 w1 gen b a TIMEFORMAT='%U %S'
  shift
  before=$(counters)
  e0=$(proc_ticks "$server") n0=$(($(proc_ticks "$nginx_pid") + $(proc_ticks "$nginx_worker")))
  s0=$(core_ticks "$SERVER_CPU") w0=$(core_ticks "$WRK_CPU")
  t0=$(date +%s%N)
  # bash's `time` gives the generator's own CPU (user and system seconds).
  { time "$@" >"$work/generator.out" 2>"$work/generator.err"; } 2>"$work/generator.time" ||
    { say "$label: $1 failed"; cat "$work/generator.out" "$work/generator.err" >&2; exit 1; }
  t1=$(date +%s%N)
  e1=$(proc_ticks "$server") n1=$(($(proc_ticks "$nginx_pid") + $(proc_ticks "$nginx_worker")))
  s1=$(core_ticks "$SERVER_CPU") w1=$(core_ticks "$WRK_CPU")
  after=$(counters)
  gen=$(awk '{printf "%d", ($1 + $2) * 1000000}' "$work/generator.time")
  read -r -a b <<<"$before"
  read -r -a a <<<"$after"
  local us=$((1000000 / clock_ticks))
  echo "cell=$label wall_us=$(((t1 - t0) / 1000)) cpu_us=$(((e1 - e0) * us)) nginx_cpu_us=$(((n1 - n0) * us))" \
    "gen_cpu_us=$gen core_server_us=$(((s1 - s0) * us)) core_gen_us=$(((w1 - w0) * us))" \
    "issued=$((a[0] - b[0])) full=$((a[1] - b[1])) resumed=$((a[2] - b[2])) failed=$((a[3] - b[3]))"
}

wrk_cell() { # LABEL URL SCRIPT
  local line
  line=$(measure "$1" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "$2")
  echo "$line $(grep '^RESULT' "$work/generator.out" | sed 's/^RESULT //')"
}

# ab_cell LABEL URL: ab for DURATION seconds (-t; the -n after it only lifts ab's implied
# 50000-request cap), a connection per request. ab's "Failed requests" includes responses
# whose length differs from the first one's, which a token response may legitimately do, so
# the non-2xx figure is ab's "Non-2xx responses" plus its connect, receive and exception
# failures.
ab_cell() {
  local line p99 non2xx requests
  line=$(measure "$1" taskset -c "$WRK_CPU" ab -q -t "$DURATION" -n 100000000 -c "$CONNECTIONS" \
    -p "$work/token-body" -T application/x-www-form-urlencoded -A "bench:$secret" "$2/oauth/token")
  p99=$(awk '$1 == "99%" {print $2 * 1000}' "$work/generator.out")
  requests=$(awk '/^Complete requests:/ {print $NF}' "$work/generator.out")
  non2xx=$(awk '
    /^Non-2xx responses:/ { n += $NF }
    /\(Connect:/ { gsub(/[(),]/, " "); n += $2 + $4 + $8 } # Connect, Receive, Exceptions
    END { print n + 0 }' "$work/generator.out")
  echo "$line requests=$requests p99_us=$p99 non2xx=$non2xx socket_errors=0"
}

# probe_nginx GENERATOR: one second of that generator against nginx's logging server block;
# prints "probe_connections=N probe_reused=M" (M of N connections resumed a session).
probe_nginx() {
  local url=https://127.0.0.1:$probe_port
  : >"$work/nginx/probe.log"
  case $1 in
    wrk) taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d1s -s scripts/token-close.lua "$url" >/dev/null ;;
    ab) taskset -c "$WRK_CPU" ab -q -t 1 -n 100000000 -c "$CONNECTIONS" -p "$work/token-body" \
      -T application/x-www-form-urlencoded -A "bench:$secret" "$url/oauth/token" >/dev/null ;;
  esac
  sleep 0.2 # the worker logs a request after its response: let the last lines land
  awk '{n++} $1 == "r" {r++} END {printf "probe_connections=%d probe_reused=%d\n", n, r}' "$work/nginx/probe.log"
}

# tls_session URL: the protocol and cipher an OpenSSL client (what wrk and ab link) gets.
tls_session() {
  openssl s_client -connect "${1#https://}" -servername localhost </dev/null 2>/dev/null |
    awk '/^New, / {sub(/^New, /, ""); sub(/, Cipher is /, " "); print; exit}'
}

export EDGEAUTH_BENCH_PIPELINE=1
printf 'grant_type=client_credentials&scope=read' >"$work/token-body"
: >"$work/cells.txt"
: >"$work/checks.txt"
first=1
for alg in $TLS_ALGS; do
  start_server "$alg"
  declare -A url=([plain]=http://127.0.0.1:$plain_port [tls]=https://127.0.0.1:$tls_port
    [nginx]=https://127.0.0.1:$nginx_port)
  if [ "$first" = 1 ]; then
    echo "native=$(tls_session "${url[tls]}" | tr ' ' +) nginx=$(tls_session "${url[nginx]}" | tr ' ' +)" >"$work/session.txt"
  fi
  if [ "$WARMUP" -gt 0 ]; then
    for cell in tls nginx; do
      say "$alg: warm-up ($cell)"
      taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s scripts/token.lua "${url[$cell]}" >/dev/null
    done
  fi
  for round in $(seq 1 "$ROUNDS"); do
    order="plain tls nginx"
    [ $((round % 2)) = 1 ] || order="nginx tls plain"
    for cell in $order; do
      say "$alg round $round/$ROUNDS: $cell, keep-alive"
      echo "alg=$alg round=$round kind=keepalive $(wrk_cell "$cell" "${url[$cell]}" scripts/token.lua)" >>"$work/cells.txt"
    done
  done
  if [ "$first" = 1 ]; then
    for cell in tls nginx; do
      say "$alg: a new connection per request, $cell: wrk Connection: close (resumed)"
      echo "alg=$alg round=1 kind=resumed $(wrk_cell "$cell" "${url[$cell]}" scripts/token-close.lua)" >>"$work/cells.txt"
      say "$alg: a new connection per request, $cell: ab (full)"
      echo "alg=$alg round=1 kind=full $(ab_cell "$cell" "${url[$cell]}")" >>"$work/cells.txt"
    done
    say "$alg: which handshakes nginx saw (probe)"
    echo "generator=wrk $(probe_nginx wrk)" >"$work/probe.txt"
    echo "generator=ab $(probe_nginx ab)" >>"$work/probe.txt"
    first=0
  fi
  stop_server
  echo "alg=$alg rows=$rows issued=$issued" >>"$work/checks.txt"
done

export BENCH_COMMIT=$commit BENCH_BINARY=$binary BENCH_DURATION=$DURATION BENCH_CONNS=$CONNECTIONS \
  BENCH_ROUNDS=$ROUNDS BENCH_SERVER_CPU=$SERVER_CPU BENCH_WRK_CPU=$WRK_CPU BENCH_NGINX BENCH_OPENSSL BENCH_DATE
BENCH_NGINX=$(nginx -v 2>&1 | sed 's/^nginx version: //')
BENCH_OPENSSL=$(openssl version | cut -d' ' -f1-2)
BENCH_DATE=$(date -u '+%F %H:%M UTC')
python3 scripts/bench-tls-report.py "$work" "$RESULTS_DIR/tls.md"
