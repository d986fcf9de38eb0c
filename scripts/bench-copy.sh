#!/usr/bin/env bash
# Measure the batch writer's candidate write methods on this machine: the `unnest` insert
# (with and without ON CONFLICT) and a multi-row VALUES insert (with and without), 1M token
# rows in 1000-row batches, 4 in flight on one pipelined connection. Prints rows/s per
# method and round; the table in docs/MEASUREMENTS.md came from this (binary COPY too, which
# lost and whose client code is gone since; check out 3eb0872 to measure it again).
#
#   scripts/bench-copy.sh                       2 rounds of every method
#   EDGEAUTH_BENCH_ROUNDS=4 EDGEAUTH_BENCH_METHODS=values,unnest scripts/bench-copy.sh
#   EDGEAUTH_BENCH_ROWS=200000 scripts/bench-copy.sh
#
# Starts a throwaway PostgreSQL with scripts/pg.sh and builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_dir=$(mktemp -d /tmp/edgeauth-bench-copy-pg.XXXXXX)
pg_port=$(free_port)
cleanup() {
  scripts/pg.sh stop "$pg_dir" || true
  rm -rf "$pg_dir"
}
trap cleanup EXIT

scripts/pg.sh start "$pg_dir" "$pg_port"
export EDGEAUTH_TEST_DATABASE_URL
EDGEAUTH_TEST_DATABASE_URL=$(scripts/pg.sh url "$pg_dir" "$pg_port")
export EDGEAUTH_TEST_PG_PORT=$pg_port
export EDGEAUTH_TEST_PG_BINDIR
EDGEAUTH_TEST_PG_BINDIR=$(scripts/pg.sh bindir)

cargo test --release --quiet --test batch_writer write_method_throughput -- --ignored --nocapture
