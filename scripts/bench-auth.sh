#!/usr/bin/env bash
# Client authentication benchmark (issue #13), one command: tokens/s and the server's CPU
# per token for a cached client, by how it authenticates, on one server in one run:
#   secret       HTTP Basic with a client secret (client_secret_basic): today's path, the
#                baseline of every ratio
#   jwt          private_key_jwt (RFC 7523): an ES256 client assertion in the body
#   secret+dpop  HTTP Basic and an ES256 DPoP proof (RFC 9449) in the DPoP header
#   jwt+dpop     both
#
#   scripts/bench-auth.sh                                    ~3 minutes
#   DURATION=2 ROUNDS=1 RESULTS_DIR=/tmp/auth-smoke scripts/bench-auth.sh    smoke run
#   CELLS=secret scripts/bench-auth.sh                       some cells only
#   BENCH_BOUNDS=1 scripts/bench-auth.sh                     also run the cargo bench bounds
#   EDGEAUTH_BIN=/path/to/edgeauth scripts/bench-auth.sh     another build (default: cargo build)
#
# Layout: one edgeauth shard pinned to core SERVER_CPU (0), wrk (1 thread) pinned to WRK_CPU
# (1), PostgreSQL wherever the kernel puts it; ES256 signing key.
#
# Each cell has its own client, registered through `edgeauth client add` (scopes "read"):
# auth-secret, auth-jwt (--auth private_key_jwt --jwks, a fresh ES256 key), auth-secret-dpop,
# auth-jwt-dpop; the DPoP cells sign their proofs with a key of their own. Assertions and
# proofs are accepted once each, so every request carries new ones: examples/
# bench_credentials.rs makes MATERIAL_RATE x DURATION of them (lines) just before each cell
# (a proof is good for about 60 s after its iat; an assertion's exp is DURATION + 60 s
# ahead), and wrk sends one line per request (scripts/token-lines.lua). A cell that runs out
# of lines replays them, which the server refuses: any non-2xx answer, socket error or
# replayed line fails the cell, and the report shows it refused instead of a figure.
#
# Before the rounds: one probe per cell with curl (a 200 with token_type Bearer, or DPoP for
# the DPoP cells; the same assertion or proof again must be refused), which also puts each
# client in the shard's cache; then WARMUP seconds of wrk with the `bench` client. Then
# ROUNDS (2) rounds of the cells back to back, each wrk -c CONNECTIONS for DURATION seconds;
# odd rounds in CELLS order, even rounds reversed (as bench-tls.sh does), so a machine that
# slows down or speeds up during the run biases no cell in particular.
#
# Per cell: tokens/s is the server's own count (edgeauth_tokens_issued_total, /metrics, as in
# bench.sh) over wrk's own run time (wrk formats the cell's requests before its clock
# starts, up to a second or two for the largest files, and the server has nothing to do
# meanwhile: a wall-clock window around wrk would count that against the cells with
# material); p99 is wrk's; CPU per token is the server's user + system time (/proc/PID/stat)
# over the window around wrk, over the tokens issued in it. The report (scripts/
# bench-auth-report.py, RESULTS_DIR/auth.md) gives per cell tokens/s, the ratio to the
# secret cell of the same round, CPU µs per token, the CPU µs per token above the secret
# cell's, and what `cargo bench` says the difference should be:
#   jwt          assertion (jose_verify: jose/ES256/assertion, parse + check) - secret verify
#   secret+dpop  DPoP proof check (jose_verify: jose/ES256/dpop)
#   jwt+dpop     both - secret verify
# and the bound sign + checks (jwt_sign: sign/ES256/sign_into; secret/verify) each cell's CPU
# per token is compared to. The figures, in µs, come from BOUND_SIGN_US, BOUND_SECRET_US,
# BOUND_ASSERTION_US, BOUND_DPOP_US, or with BENCH_BOUNDS=1 from a short `cargo bench --bench
# jose_verify` and `--bench jwt_sign` run after the server has stopped (medians; the
# variables win); a figure neither gives is printed "unmeasured". Checks (exit status 1 if
# one fails): the probes, no non-2xx / socket error / replayed line in any cell, and rows in
# `tokens` == tokens issued after the server's SIGTERM.
#
# scripts/bench.sh runs this at its end (AUTH=1, the default; AUTH=0 skips it, AUTH_CELLS
# is passed on as CELLS).
#
# Knobs: CELLS ("secret jwt secret+dpop jwt+dpop") DURATION (10; at most 30 with a DPoP
# cell) CONNECTIONS (64) ROUNDS (2) WARMUP (2 s) MATERIAL_RATE (40000 lines per second of
# DURATION) PIPELINE (1 request per write) DPOP_CLIENT_ARGS (extra `client add` arguments
# for the DPoP cells' clients: --require-dpop, so that a request without a proof could not
# pass for one; empty for none) SERVER_CPU (0) WRK_CPU (1) RESULTS_DIR
# (bench-results) EDGEAUTH_BIN BENCH_BOUNDS (0) BOUND_*_US.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-2}
CELLS=${CELLS:-secret jwt secret+dpop jwt+dpop}
MATERIAL_RATE=${MATERIAL_RATE:-40000}
PIPELINE=${PIPELINE:-1}
DPOP_CLIENT_ARGS=${DPOP_CLIENT_ARGS---require-dpop}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-bench-results}
BENCH_BOUNDS=${BENCH_BOUNDS:-0}

say() { echo "bench-auth.sh: $*" >&2; }
die() { say "$*"; exit 2; }
for n in "$DURATION" "$CONNECTIONS" "$ROUNDS" "$MATERIAL_RATE" "$PIPELINE"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive count: '$n'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be whole seconds"
CELLS=$(tr -s ' \t' '\n' <<<"$CELLS" | awk 'NF && !seen[$0]++' | xargs)
[ -n "$CELLS" ] || die "CELLS must not be empty"
for c in $CELLS; do
  case $c in secret | jwt | secret+dpop | jwt+dpop) ;; *) die "unknown cell '$c' (secret jwt secret+dpop jwt+dpop)" ;; esac
done
# The last proofs of a cell are as old as the making of its material (both files: ~0.3 s
# per second of cell on 2 idle cores), wrk's formatting and the whole cell; the server
# accepts a proof for about 60 s after its iat.
if [[ $CELLS == *dpop* ]] && [ "$DURATION" -gt 30 ]; then
  die "DURATION must be at most 30 s with a DPoP cell (proofs live about 60 s)"
fi
assertion_lifetime=$((DURATION + 60 > 300 ? 300 : DURATION + 60))
[ "$DURATION" -le 240 ] || die "DURATION must be at most 240 s (assertions live at most 300 s)"

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
scripts/pg.sh install

if [ -n "${EDGEAUTH_BIN:-}" ]; then
  bin=$EDGEAUTH_BIN
  say "building the load-material generator"
  cargo build --release --quiet --example bench_credentials
else
  say "building release (server and load-material generator)"
  cargo build --release --quiet --bin edgeauth --example bench_credentials
  bin=$PWD/target/release/edgeauth
fi
gen=$PWD/target/release/examples/bench_credentials
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . ":(exclude)bench-results" 2>/dev/null || commit="$commit+dirty"
binary="$("$bin" --version), $bin, built $(date -u -r "$bin" '+%F %H:%M') UTC"

work=$(mktemp -d /tmp/edgeauth-bench-auth.XXXXXX)
server=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() { stop_bench_work "$work"; }
trap cleanup EXIT
# Say where it stopped if a command fails (set -e would otherwise exit silently).
set -E
trap 'say "failed: line $LINENO: $BASH_COMMAND (exit $?)"; [ -z "$server" ] || tail -5 "$work/server.log" >&2' ERR

prepare_edgeauth "$work"
psql() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$EDGEAUTH_DATABASE_URL" "$@"; }
warmup_auth=$EDGEAUTH_BENCH_AUTH # the `bench` client's Basic credential
mkdir -m 700 "$work/keys"

# ---------------------------------------------------------------------------------------
# Clients

client_of() { echo "auth-${1//+/-}"; } # cell -> client id
declare -A basic=()                    # cell -> Basic credential, for the secret cells

# register CELL: the cell's client (and its keys).
register() {
  local cell=$1 id out
  id=$(client_of "$cell")
  local -a extra=()
  if [[ $cell == *dpop ]]; then
    read -r -a extra <<<"$DPOP_CLIENT_ARGS"
    "$gen" keygen --key-out "$work/keys/$id.dpop.pem" --jwks-out "$work/keys/$id.dpop.jwks" >/dev/null
  fi
  case $cell in
    secret*)
      out=$("$bin" client add "$id" --scopes read "${extra[@]}")
      basic[$cell]=$(printf '%s:%s' "$id" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$out")" | base64 -w0)
      ;;
    jwt*)
      "$gen" keygen --key-out "$work/keys/$id.pem" --jwks-out "$work/keys/$id.jwks" >/dev/null
      "$bin" client add "$id" --scopes read --auth private_key_jwt --jwks "$work/keys/$id.jwks" "${extra[@]}" \
        >/dev/null 2>"$work/client-add.err" || {
        cat "$work/client-add.err" >&2
        die "cannot register a private_key_jwt client (a server without issue #13?); CELLS=secret runs without it"
      }
      ;;
  esac
}

# ---------------------------------------------------------------------------------------
# Server and measurements

# start_server: a 1-shard ES256 server on a fresh port, its issuer http://127.0.0.1:PORT.
start_server() {
  port=$(free_port)
  token_url=http://127.0.0.1:$port/oauth/token
  EDGEAUTH_LISTEN=127.0.0.1:$port EDGEAUTH_ISSUER=http://127.0.0.1:$port EDGEAUTH_SHARDS=1 \
    EDGEAUTH_SIGNING_KEYS=$(signing_key ES256) taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
}

stop_server() { # sets `issued` and `rows`
  issued=$(tokens_issued "$port")
  kill -TERM "$server"
  wait "$server" || { say "server exited non-zero"; cat "$work/server.log" >&2; exit 1; }
  server=""
  rows=$(psql -tA -c 'SELECT count(*) FROM tokens')
}

# material CELL COUNT PREFIX: PREFIX.bodies (assertions) and PREFIX.proofs (DPoP proofs), as
# the cell needs them, COUNT lines each; sets cell_env for scripts/token-lines.lua.
material() {
  local cell=$1 count=$2 prefix=$3 id
  id=$(client_of "$cell")
  rm -f "$prefix.bodies" "$prefix.proofs"
  cell_env=(EDGEAUTH_BENCH_AUTH="${basic[$cell]:-}" EDGEAUTH_BENCH_BODIES= EDGEAUTH_BENCH_DPOP=)
  if [[ $cell == jwt* ]]; then
    "$gen" assertions --key "$work/keys/$id.pem" --client "$id" --aud "$token_url" --scope read \
      --lifetime "$assertion_lifetime" --count "$count" --out "$prefix.bodies"
    cell_env+=(EDGEAUTH_BENCH_BODIES="$prefix.bodies")
  fi
  if [[ $cell == *dpop ]]; then
    "$gen" proofs --key "$work/keys/$id.dpop.pem" --htu "$token_url" --count "$count" --out "$prefix.proofs"
    cell_env+=(EDGEAUTH_BENCH_DPOP="$prefix.proofs")
  fi
}

# probe CELL: one token request with the cell's credentials, and the same again; prints
# "cell=.. status=.. token_type=.. replay_status=..".
probe() {
  local cell=$1 prefix=$work/probe status replay type
  material "$cell" 1 "$prefix"
  local -a args=(-s -m 5 -o "$work/probe.json" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded')
  [ -z "${basic[$cell]:-}" ] || args+=(-H "Authorization: Basic ${basic[$cell]}")
  [ ! -f "$prefix.proofs" ] || args+=(-H "DPoP: $(cat "$prefix.proofs")")
  if [ -f "$prefix.bodies" ]; then args+=(--data-binary "$(cat "$prefix.bodies")"); else
    args+=(--data-binary 'grant_type=client_credentials&scope=read')
  fi
  status=$(curl "${args[@]}" "$token_url") || status=000
  type=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("token_type", "none"))' "$work/probe.json" 2>/dev/null) ||
    type=unreadable
  replay=$(curl "${args[@]}" "$token_url") || replay=000
  echo "cell=$cell status=$status token_type=$type replay_status=$replay"
}

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
core_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
clock_ticks=$(getconf CLK_TCK)

# measure ROUND CELL: make the cell's material, run wrk, print one record line: the window,
# the server's tokens and CPU over it, the CPU of wrk and of both cores, wrk's RESULT and
# token-lines.lua's LINES figures.
measure() {
  local round=$1 cell=$2 g0 g1 i0 i1 t0 t1 e0 e1 s0 s1 w0 w1 gen_cpu TIMEFORMAT='%U %S'
  g0=$(date +%s%N)
  material "$cell" $((MATERIAL_RATE * DURATION)) "$work/cell"
  g1=$(date +%s%N)
  i0=$(tokens_issued "$port") e0=$(proc_ticks "$server") s0=$(core_ticks "$SERVER_CPU") w0=$(core_ticks "$WRK_CPU")
  t0=$(date +%s%N)
  { time env "${cell_env[@]}" EDGEAUTH_BENCH_THREADS=1 EDGEAUTH_BENCH_PIPELINE="$PIPELINE" \
    taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/token-lines.lua \
    "http://127.0.0.1:$port" >"$work/wrk.out" 2>"$work/wrk.err"; } 2>"$work/wrk.time" ||
    { say "$cell: wrk failed"; cat "$work/wrk.out" "$work/wrk.err" >&2; exit 1; }
  t1=$(date +%s%N)
  i1=$(tokens_issued "$port") e1=$(proc_ticks "$server") s1=$(core_ticks "$SERVER_CPU") w1=$(core_ticks "$WRK_CPU")
  rm -f "$work/cell.bodies" "$work/cell.proofs"
  gen_cpu=$(awk '{printf "%d", ($1 + $2) * 1000000}' "$work/wrk.time")
  local us=$((1000000 / clock_ticks))
  echo "round=$round cell=$cell material_us=$(((g1 - g0) / 1000)) wall_us=$(((t1 - t0) / 1000))" \
    "issued=$((i1 - i0)) cpu_us=$(((e1 - e0) * us)) wrk_cpu_us=$gen_cpu" \
    "core_server_us=$(((s1 - s0) * us)) core_wrk_us=$(((w1 - w0) * us))" \
    "$(sed -n 's/^RESULT //p' "$work/wrk.out") $(sed -n 's/^LINES /lines_/p' "$work/wrk.out" | sed 's/ \([a-z]\)/ lines_\1/g')"
}

# ---------------------------------------------------------------------------------------
# The run

for cell in $CELLS; do register "$cell"; done
start_server
: >"$work/cells.txt"
: >"$work/probes.txt"
for cell in $CELLS; do
  say "probe: $cell"
  probe "$cell" >>"$work/probes.txt"
done
if [ "$WARMUP" -gt 0 ]; then
  say "warm-up, ${WARMUP}s"
  EDGEAUTH_BENCH_AUTH=$warmup_auth EDGEAUTH_BENCH_BODIES='' EDGEAUTH_BENCH_DPOP='' EDGEAUTH_BENCH_THREADS=1 \
    EDGEAUTH_BENCH_PIPELINE=$PIPELINE taskset -c "$WRK_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s scripts/token-lines.lua "http://127.0.0.1:$port" >/dev/null
fi
reversed=$(tr ' ' '\n' <<<"$CELLS" | tac | xargs)
for round in $(seq 1 "$ROUNDS"); do
  order=$CELLS
  [ $((round % 2)) = 1 ] || order=$reversed
  for cell in $order; do
    say "round $round/$ROUNDS: $cell"
    measure "$round" "$cell" >>"$work/cells.txt"
  done
done
stop_server
echo "rows=$rows issued=$issued" >"$work/checks.txt"

# ---------------------------------------------------------------------------------------
# Bounds from cargo bench (after the server stopped, so it competes with nothing of ours)

# bench_figures BENCH FILTER: medians of the matching benchmarks, "name ns" lines in
# bounds.txt ("missing BENCH" when this checkout has no such bench).
bench_figures() {
  local out=$work/bench-$1.txt
  if [ ! -f "benches/$1.rs" ]; then
    say "no benches/$1.rs in this checkout: its bounds stay unmeasured"
    echo "missing $1" >>"$work/bounds.txt"
    return 0
  fi
  say "cargo bench --bench $1 ($2)"
  cargo bench --quiet --bench "$1" -- --warm-up-time 1 --measurement-time 2 --output-format bencher "$2" \
    >"$out" 2>"$work/bench-$1.err" || { cat "$work/bench-$1.err" >&2; die "cargo bench --bench $1 failed"; }
  awk '$1 == "test" && $4 == "bench:" { gsub(",", "", $5); print $2, $5 }' "$out" >>"$work/bounds.txt"
}
: >"$work/bounds.txt"
if [ "$BENCH_BOUNDS" = 1 ]; then
  bench_figures jwt_sign '^(sign/ES256/sign_into|secret/verify)$'
  bench_figures jose_verify '^jose/ES256/(assertion|dpop)$'
fi

export BENCH_COMMIT=$commit BENCH_BINARY=$binary BENCH_DURATION=$DURATION BENCH_CONNS=$CONNECTIONS \
  BENCH_ROUNDS=$ROUNDS BENCH_SERVER_CPU=$SERVER_CPU BENCH_WRK_CPU=$WRK_CPU BENCH_CELLS=$CELLS \
  BENCH_MATERIAL_RATE=$MATERIAL_RATE BENCH_PIPELINE=$PIPELINE BENCH_DATE
BENCH_DATE=$(date -u '+%F %H:%M UTC')
python3 scripts/bench-auth-report.py "$work" "$RESULTS_DIR/auth.md" ||
  { say "a check failed: see the end of $RESULTS_DIR/auth.md"; exit 1; }
