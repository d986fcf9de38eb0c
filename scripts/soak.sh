#!/usr/bin/env bash
# A bounded soak: minutes of token load with everything hostile or operational at once,
# and a PostgreSQL restart in the middle. It ends with the checks that matter:
#   - every token the server issued is in `tokens` (rows == issued, after SIGTERM);
#   - no 5xx but the documented 503s (database away, max_pending), no connection errors on
#     the well-behaved clients beyond the restart;
#   - the server's RSS flat after warm-up (bench-results/soak-rss.{csv,svg}).
#
#   scripts/soak.sh                      120 s, PostgreSQL restarted at 50%
#   SOAK_SECONDS=600 scripts/soak.sh
#
# Alongside the token load (SOAK_WORKERS keep-alive clients, client_secret_basic) run:
# introspection and revocation of fresh tokens, a second client whose secret is rotated and
# whose tokens are revoked (revoke-tokens) every few seconds, clients that pipeline
# `GET /metrics` and never read, clients that dribble a head a byte at a time, and a
# flood of unknown client ids. Starts its own PostgreSQL (scripts/pg.sh), release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh

seconds=${SOAK_SECONDS:-120}
results=${RESULTS_DIR:-bench-results}
work=$(mktemp -d /tmp/edgeauth-soak.XXXXXX)
trap 'stop_bench_work "$work"' EXIT
scripts/pg.sh install
cargo build --release --quiet
bin=$PWD/target/release/edgeauth
prepare_edgeauth "$work"
export EDGEAUTH_SOAK_SECRET=$secret
EDGEAUTH_SOAK_ROTATING=$("$bin" client add rotating --scopes read |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
export EDGEAUTH_SOAK_ROTATING
port=$(free_port)
admin_port=$(free_port)
EDGEAUTH_LISTEN=127.0.0.1:$port EDGEAUTH_ADMIN_LISTEN=127.0.0.1:$admin_port \
  EDGEAUTH_IDLE_TIMEOUT=5s EDGEAUTH_HEADER_TIMEOUT=2s EDGEAUTH_FLUSH_INTERVAL=200ms \
  "$bin" serve >"$work/server.log" 2>&1 &
server=$!
wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"

mkdir -p "$results"
python3 scripts/soak.py --port "$port" --admin-port "$admin_port" --pid "$server" \
  --seconds "$seconds" --bin "$bin" --pg-dir "$work/pg" --results "$results"
issued=$(curl -fs "http://127.0.0.1:$admin_port/metrics" |
  awk '/^edgeauth_tokens_issued_total/ {s += $2} END {printf "%.0f\n", s}')
kill -TERM "$server"
wait "$server" || { echo "soak.sh: the server did not exit 0" >&2; tail -20 "$work/server.log" >&2; exit 1; }
server=
rows=$("$psql_bin" -X -tA -d "$EDGEAUTH_DATABASE_URL" -c "SELECT count(*) FROM tokens")
echo "soak.sh: tokens issued $issued, rows in tokens $rows"
if [ "$issued" != "$rows" ]; then
  echo "soak.sh: FAILED: rows != issued" >&2
  exit 1
fi
echo "soak.sh: all checks passed"
