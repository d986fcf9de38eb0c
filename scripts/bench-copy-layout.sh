#!/usr/bin/env bash
# The batch writer's insert against binary COPY on the partitioned `tokens` layout:
# PostgreSQL CPU and WAL per row by batch size (scripts/bench-copy-layout.py), on a
# throwaway PostgreSQL. docs/MEASUREMENTS.md has what it showed and why it matters.
#
#   scripts/bench-copy-layout.sh                  batches of 500, 1000, 2000, 5000 rows
#   scripts/bench-copy-layout.sh 1000 10000
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || {
  echo "bench-copy-layout.sh: installing psycopg (Debian python3-psycopg)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-psycopg >/dev/null
}
work=$(mktemp -d /tmp/edgeauth-copy-layout.XXXXXX)
trap 'stop_bench_work "$work"' EXIT
start_bench_database "$work"
# Debian's interpreter, which has Debian's psycopg.
if [ $# -eq 0 ]; then set -- 500 1000 2000 5000; fi
/usr/bin/python3 scripts/bench-copy-layout.py "$EDGEAUTH_DATABASE_URL" "$@"
