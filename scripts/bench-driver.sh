#!/usr/bin/env bash
# io_uring against epoll with the real server: how the default io driver was chosen.
#
#   scripts/bench-driver.sh                  HS256, 3 rounds of 5 s per driver
#   ALG=ES256 ROUNDS=2 scripts/bench-driver.sh
#   PIPELINE=16 scripts/bench-driver.sh
#
# One shard pinned to core 0, wrk on core 1, 64 connections; the drivers alternate within
# each round so that the machine's drift hits both alike. Besides tokens/s and p99 it reports
# the server's own CPU time per token (utime + stime from /proc, over the run): on a shared,
# noisy machine that figure moves far less than throughput does, and when the load
# generator is the limit (the server's CPU share below 100%) it is the one that compares
# the drivers. Rows are appended to bench-results/drivers.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ALG=${ALG:-HS256}
PIPELINE=${PIPELINE:-1}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
DRIVERS=${DRIVERS:-io_uring epoll}

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
scripts/pg.sh install
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

work=$(mktemp -d /tmp/edgeauth-drivers.XXXXXX)
server=""
trap 'stop_bench_work "$work"' EXIT

prepare_edgeauth "$work" >/dev/null
export EDGEAUTH_SHARDS=1 EDGEAUTH_SIGNING_KEYS EDGEAUTH_BENCH_PIPELINE=$PIPELINE
EDGEAUTH_SIGNING_KEYS=$(signing_key "$ALG")
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

mkdir -p bench-results
[ -f bench-results/drivers.md ] || {
  echo "| date | commit | alg | pipeline | driver | round | tokens/s | server CPU | CPU µs/token | p99 ms |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >bench-results/drivers.md
commit=$(git rev-parse --short HEAD)
for round in $(seq 1 "$ROUNDS"); do
  for driver in $DRIVERS; do
    port=$(free_port)
    EDGEAUTH_IO_DRIVER=$driver EDGEAUTH_LISTEN=127.0.0.1:$port taskset -c 0 "$bin" serve 2>>"$work/server.log" &
    server=$!
    wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -s scripts/token.lua "http://127.0.0.1:$port" >/dev/null
    tokens0=$(tokens_issued "$port") cpu0=$(cpu_ticks "$server") t0=$(date +%s.%N)
    result=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s scripts/token.lua \
      "http://127.0.0.1:$port" | grep '^RESULT')
    t1=$(date +%s.%N) cpu1=$(cpu_ticks "$server") tokens1=$(tokens_issued "$port")
    kill -TERM "$server"
    wait "$server" || { echo "bench-driver.sh: server exited non-zero" >&2; exit 1; }
    server=""
    p99_us=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$result")
    awk -v n=$((tokens1 - tokens0)) -v c=$((cpu1 - cpu0)) -v hz="$ticks" -v t0="$t0" -v t1="$t1" \
      -v p99="$p99_us" -v d="$(date +%F)" -v commit="$commit" -v alg="$ALG" -v pipe="$PIPELINE" \
      -v drv="$driver" -v r="$round" 'BEGIN {
        secs = t1 - t0; cpu = c / hz
        printf "| %s | %s | %s | %s | %s | %d | %.0f | %.0f%% | %.2f | %.2f |\n",
          d, commit, alg, pipe, drv, r, n / secs, 100 * cpu / secs, 1e6 * cpu / n, p99 / 1000 }' |
      tee -a bench-results/drivers.md
  done
done
