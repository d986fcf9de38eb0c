#!/usr/bin/env bash
# Profile the token path under load: the release server (1 shard, core 0) driven by wrk
# (core 1) with the token script while `perf record` samples the server. Prints the hottest
# functions and writes a flamegraph.
#
#   scripts/profile.sh                   ES256, 10 s
#   ALG=HS256 DURATION=5 scripts/profile.sh
#   PIPELINE=16 ALG=HS256 scripts/profile.sh
#
# Output: bench-results/profile-<alg>[-p<pipeline>].txt (perf report, top symbols, self time)
# and bench-results/flamegraph-<alg>[-p<pipeline>].svg (needs inferno: `cargo install
# inferno`, done here if missing). Call stacks are unwound with DWARF (the release profile
# keeps line tables), so C code without frame pointers (aws-lc, mimalloc) is walked too.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ALG=${ALG:-ES256}
PIPELINE=${PIPELINE:-1}
IO_DRIVER=${IO_DRIVER:-auto}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package perf linux-perf
need_debian_package wrk wrk
command -v inferno-flamegraph >/dev/null || {
  echo "profile.sh: installing inferno (flamegraphs)" >&2
  cargo install --quiet inferno
}
scripts/pg.sh install
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

work=$(mktemp -d /tmp/edgeauth-profile.XXXXXX)
server=""
trap 'stop_bench_work "$work"' EXIT

prepare_edgeauth "$work"
port=$(free_port)
export EDGEAUTH_LISTEN=127.0.0.1:$port EDGEAUTH_SHARDS=1 EDGEAUTH_IO_DRIVER=$IO_DRIVER
export EDGEAUTH_SIGNING_KEYS
EDGEAUTH_SIGNING_KEYS=$(signing_key "$ALG")
export EDGEAUTH_BENCH_PIPELINE=$PIPELINE

taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
server=$!
wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"

# Warm the cache and the allocator before sampling.
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s -s scripts/token.lua "http://127.0.0.1:$port" >/dev/null
# Load for the whole of what follows: 1 s to settle, 3 s of counting, DURATION of sampling,
# and a second to spare.
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$((DURATION + 5))s" -s scripts/token.lua \
  "http://127.0.0.1:$port" >"$work/wrk.txt" &
wrk_pid=$!
sleep 1
# Kernel work per token: system calls, io_uring operations submitted, and io_uring_enter
# waits, counted by tracepoints over a few seconds and divided by the tokens issued meanwhile.
echo "profile.sh: counting system calls and io_uring operations for 3s" >&2
before=$(tokens_issued "$port")
perf stat -x, -e raw_syscalls:sys_enter,io_uring:io_uring_submit_req,io_uring:io_uring_cqring_wait \
  -p "$server" -o "$work/stat.csv" -- sleep 3 2>/dev/null
tokens=$(( $(tokens_issued "$port") - before ))
echo "profile.sh: sampling the server for ${DURATION}s ($ALG, pipeline $PIPELINE)" >&2
perf record -q -F 999 --call-graph dwarf,16384 -p "$server" -o "$work/perf.data" -- sleep "$DURATION" 2>/dev/null
wait "$wrk_pid"
kill -TERM "$server"
wait "$server" || true
server=""

name=$ALG$([ "$PIPELINE" = 1 ] || echo "-p$PIPELINE")
mkdir -p bench-results
report() { # sort-key percent-limit
  perf report -i "$work/perf.data" --no-children -g none --sort "$1" --percent-limit "$2" --stdio 2>/dev/null |
    grep -E '^ +[0-9]' || true
}
{
  echo "# $name: per token over 3 s ($tokens tokens, io driver $IO_DRIVER)"
  awk -F, -v n="$tokens" '$3 ~ /:/ && n > 0 { printf "    %8.3f  %s\n", $1 / n, $3 }' "$work/stat.csv"
  echo "# $name: share of samples by binary (the kernel's network stack vs ours)"
  report dso 0.5
  echo "# $name: functions by self time"
  report symbol 0.3
} >"bench-results/profile-$name.txt"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf 2>/dev/null |
  inferno-flamegraph --title "edgeauth token path ($name)" >"bench-results/flamegraph-$name.svg"
echo "== top functions by self time ($name) ==" >&2
head -50 "bench-results/profile-$name.txt"
grep -E 'Requests/sec' "$work/wrk.txt" >&2 || true
echo "profile.sh: wrote bench-results/profile-$name.txt and bench-results/flamegraph-$name.svg" >&2
