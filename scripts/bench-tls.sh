#!/usr/bin/env bash
# TLS benchmark, one command: what native TLS costs against plain HTTP on the same server,
# against nginx terminating TLS in front of it, and what a handshake costs.
#
#   scripts/bench-tls.sh                     ~3 minutes
#   DURATION=3 ROUNDS=1 scripts/bench-tls.sh smoke run
#   EDGEAUTH_BIN=/path/to/edgeauth scripts/bench-tls.sh
#
# Layout: one edgeauth shard pinned to core SERVER_CPU (0) and, for the fronted cells, one
# nginx worker pinned to the same core, so both setups get the same CPU; wrk (1 thread) on
# WRK_CPU (1). PostgreSQL runs wherever the kernel puts it.
#
# One server per algorithm (TLS_ALGS, default "ES256 HS256") with `listen` speaking TLS and
# a `plain_listen`; Debian's nginx terminates TLS with the same certificate and proxies to
# the plain listener over keep-alive upstream connections. Each round measures, back to
# back on that server:
#   plain   wrk -c CONNECTIONS against http://  (scripts/token.lua, keep-alive)
#   tls     the same against https:// (edgeauth's own TLS)
#   nginx   the same against https:// on nginx
# then, once per run (first algorithm), handshake-bound load, every request on a new
# connection, against edgeauth's TLS and nginx: wrk with `Connection: close`
# (scripts/token-close.lua), which resumes its session on every reconnect, and ab without
# -k, which never does: resumed and full handshakes. The server's own counters
# (edgeauth_tls_handshakes_total, edgeauth_tls_resumed_handshakes_total) confirm which kind
# each cell got. Per core: the rate divided by the share of a core the server used.
#
# Tokens/s is the server's count (edgeauth_tokens_issued_total) over the wall-clock window
# around wrk, as in bench.sh; p99 is wrk's. Results: RESULTS_DIR/tls.md (bench-results).
# Checks: no non-2xx in any cell; rows in `tokens` == tokens issued after each SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
AB_HANDSHAKES=${AB_HANDSHAKES:-20000}
TLS_ALGS=${TLS_ALGS:-ES256 HS256}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-bench-results}

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
  echo "bench-tls.sh: building release" >&2
  cargo build --release --quiet
  bin=$PWD/target/release/edgeauth
fi
commit=$(git rev-parse --short HEAD)

work=$(mktemp -d /tmp/edgeauth-bench-tls.XXXXXX)
server=""
nginx_pid=""
cleanup() {
  [ -z "$nginx_pid" ] || kill "$nginx_pid" 2>/dev/null || true
  stop_bench_work "$work"
}
trap cleanup EXIT
prepare_edgeauth "$work"
psql() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$EDGEAUTH_DATABASE_URL" "$@"; }

# A throwaway CA and a certificate for 127.0.0.1 (P-256, what most deployments serve).
(
  cd "$work"
  umask 077
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
)

# counters PORT: "issued full resumed" summed over shards.
counters() {
  curl -fs -m 2 "http://127.0.0.1:$1/metrics" | awk '
    /^edgeauth_tokens_issued_total/          { v[1] += $2 }
    /^edgeauth_tls_handshakes_total/         { v[2] += $2 }
    /^edgeauth_tls_resumed_handshakes_total/ { v[3] += $2 }
    END { printf "%.0f %.0f %.0f\n", v[1], v[2], v[3] }'
}

# start_server ALG: a fresh 1-shard server (TLS on tls_port, plain on plain_port) and an
# nginx in front of it on nginx_port.
start_server() {
  psql -c "TRUNCATE tokens"
  tls_port=$(free_port) plain_port=$(free_port) nginx_port=$(free_port)
  EDGEAUTH_LISTEN=127.0.0.1:$tls_port EDGEAUTH_PLAIN_LISTEN=127.0.0.1:$plain_port \
    EDGEAUTH_TLS_CERT=$work/server.pem EDGEAUTH_TLS_KEY=$work/server.key EDGEAUTH_SHARDS=1 \
    EDGEAUTH_SIGNING_KEYS=$(signing_key "$1") taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$plain_port/readyz" "$work/server.log"
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream edgeauth { server 127.0.0.1:$plain_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    location / {
      proxy_pass http://edgeauth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  # Master and worker on the server's core.
  taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
  for _ in $(seq 1 100); do
    curl -fs --cacert "$work/ca.pem" "https://127.0.0.1:$nginx_port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "bench-tls.sh: nginx did not start" >&2
  cat "$work/nginx/error.log" >&2
  exit 1
}

# stop_server: nginx, then the server (SIGTERM, it flushes); sets `rows` and `issued`. Not in
# a $(...) subshell: only this shell can wait for its children.
stop_server() {
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
  issued=$(counters "$plain_port" | cut -d' ' -f1)
  kill -TERM "$server"
  wait "$server" || { echo "bench-tls.sh: server exited non-zero" >&2; cat "$work/server.log" >&2; exit 1; }
  server=""
  rows=$(psql -tA -c 'SELECT count(*) FROM tokens')
}

# The CPU time (user + system) edgeauth has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
clock_ticks=$(getconf CLK_TCK)

# measure LABEL COMMAND...: run the load generator; prints a record line with the server's
# counts and CPU over the window (the generator's own fields appended by the caller).
measure() {
  local label=$1 before after t0 t1 c0 c1 b a
  shift
  before=$(counters "$plain_port")
  c0=$(cpu_ticks)
  t0=$(date +%s%N)
  "$@" >"$work/generator.out"
  t1=$(date +%s%N)
  c1=$(cpu_ticks)
  after=$(counters "$plain_port")
  read -r -a b <<<"$before"
  read -r -a a <<<"$after"
  echo "cell=$label wall_us=$(((t1 - t0) / 1000)) cpu_us=$(((c1 - c0) * 1000000 / clock_ticks))" \
    "issued=$((a[0] - b[0])) full=$((a[1] - b[1])) resumed=$((a[2] - b[2]))"
}

wrk_cell() { # LABEL URL SCRIPT
  local line
  line=$(measure "$1" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "$2")
  echo "$line $(grep '^RESULT' "$work/generator.out" | sed 's/^RESULT //')"
}

# ab opens a connection per request and never resumes a session: full handshakes.
ab_cell() { # LABEL URL
  local line p99 non2xx
  line=$(measure "$1" taskset -c "$WRK_CPU" ab -q -n "$AB_HANDSHAKES" -c "$CONNECTIONS" \
    -p "$work/token-body" -T application/x-www-form-urlencoded -A "bench:$secret" "$2/oauth/token")
  p99=$(awk '$1 == "99%" {print $2 * 1000}' "$work/generator.out")
  non2xx=$(awk '/^(Non-2xx responses|Failed requests):/ {n += $NF} END {print n + 0}' "$work/generator.out")
  echo "$line p99_us=$p99 non2xx=$non2xx"
}

export EDGEAUTH_BENCH_PIPELINE=1
printf 'grant_type=client_credentials&scope=read' >"$work/token-body"
: >"$work/cells.txt"
first=1
for alg in $TLS_ALGS; do
  start_server "$alg"
  echo "bench-tls.sh: $alg: warm-up" >&2
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s -s scripts/token.lua "https://127.0.0.1:$tls_port" >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    for cell in plain tls nginx; do
      case $cell in
        plain) url=http://127.0.0.1:$plain_port ;;
        tls) url=https://127.0.0.1:$tls_port ;;
        nginx) url=https://127.0.0.1:$nginx_port ;;
      esac
      echo "bench-tls.sh: $alg round $round: $cell" >&2
      echo "alg=$alg round=$round $(wrk_cell "$cell" "$url" scripts/token.lua)" >>"$work/cells.txt"
    done
  done
  if [ "$first" = 1 ]; then
    for cell in tls nginx; do
      case $cell in
        tls) url=https://127.0.0.1:$tls_port ;;
        nginx) url=https://127.0.0.1:$nginx_port ;;
      esac
      echo "bench-tls.sh: $alg: a new connection per request, $cell: wrk (resumes) and ab (full)" >&2
      echo "alg=$alg round=1 $(wrk_cell "resumed-$cell" "$url" scripts/token-close.lua)" >>"$work/cells.txt"
      echo "alg=$alg round=1 $(ab_cell "full-$cell" "$url")" >>"$work/cells.txt"
    done
    first=0
  fi
  stop_server
  echo "alg=$alg rows=$rows issued=$issued" >>"$work/checks.txt"
done

export BENCH_COMMIT=$commit BENCH_DURATION=$DURATION BENCH_CONNS=$CONNECTIONS BENCH_SERVER_CPU=$SERVER_CPU BENCH_WRK_CPU=$WRK_CPU
BENCH_DATE=$(date -u +%F) python3 scripts/bench-tls-report.py "$work" "$RESULTS_DIR/tls.md"
