#!/usr/bin/env bash
# Token rows in a distributed PostgreSQL: the real server writes to a Citus cluster (a
# coordinator and two workers on this machine) through `tokens_database_url`, with `tokens`
# distributed by `jti`, and nothing in edgeauth changed for it. Checks, in order:
#
#   1. every token issued under load is a row, once, and the rows are on both workers;
#   2. the partition keeper's new partitions are distributed too;
#   3. `edgeauth prune` drops an expired (distributed) partition and prunes `token_writes`;
#   4. a worker stopped under load: `/readyz` says not ready while the writes fail, tokens
#      are 503 at `max_pending`, and once the worker is back every issued token is a row,
#      once;
#   5. tokens/s with and without `citus.max_adaptive_executor_pool_size = 1` (the setting
#      docs/CAPACITY.md asks for).
#
# Writes bench-results/citus.md. Needs Citus built for this PostgreSQL: it is not in
# Debian's archive, so build it once from source (a checkout of citusdata/citus at a tag
# that supports this PostgreSQL, v13.2.x for 15-17) with CITUS_SRC=<checkout>; this script
# then installs its build dependencies from Debian, builds and installs it.
#
#   scripts/citus-check.sh
#   CITUS_SRC=~/citus scripts/citus-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
scripts/pg.sh install
pg_bin=$(scripts/pg.sh bindir)
psql_bin=$pg_bin/psql

install_citus() {
  local libdir
  libdir=$("$pg_bin/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)
  [ -f "$libdir/citus.so" ] && return 0
  if [ -z "${CITUS_SRC:-}" ]; then
    echo "citus-check.sh: Citus is not installed ($libdir/citus.so); set CITUS_SRC to a" >&2
    echo "citus-check.sh: checkout of github.com/citusdata/citus (v13.2.x for PostgreSQL 15)" >&2
    exit 2
  fi
  local major
  major=$("$pg_bin/postgres" --version | sed -E 's/.* ([0-9]+)\.[0-9]+.*/\1/')
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$major" \
    liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev \
    libreadline-dev flex bison >/dev/null
  (cd "$CITUS_SRC" && ./configure --without-libcurl >/dev/null && make -j"$(nproc)" >/dev/null && make install >/dev/null)
}
install_citus
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

work=$(mktemp -d /tmp/edgeauth-citus.XXXXXX)
server=""
ports=()
cleanup() {
  if [ -n "$server" ]; then kill -9 "$server" 2>/dev/null || true; fi
  for n in 0 1 2; do scripts/pg.sh stop "$work/node$n" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# node N: start cluster N with Citus preloaded; 0 is the coordinator.
for n in 0 1 2; do
  ports[n]=$(free_port)
  scripts/pg.sh start "$work/node$n" "${ports[n]}"
  echo "shared_preload_libraries = 'citus'" >>"$work/node$n/data/postgresql.conf"
  scripts/pg.sh stop "$work/node$n"
  scripts/pg.sh start "$work/node$n" "${ports[n]}"
done
on() { # on NODE DB SQL...: run SQL (unaligned, tuples only) on a node's database
  local n=$1 db=$2
  shift 2
  "$psql_bin" -X -q -tA -v ON_ERROR_STOP=1 -h "$work/node$n" -p "${ports[n]}" -U postgres -d "$db" "$@"
}
sink() { on 0 sink "$@"; }
for n in 0 1 2; do on "$n" postgres -c "CREATE DATABASE sink" && on "$n" sink -c "CREATE EXTENSION citus"; done
on 0 postgres -c "CREATE DATABASE main"
sink -c "SELECT citus_set_coordinator_host('127.0.0.1', ${ports[0]})" >/dev/null
for n in 1 2; do sink -c "SELECT citus_add_node('127.0.0.1', ${ports[n]})" >/dev/null; done

export EDGEAUTH_DATABASE_URL="host=$work/node0 port=${ports[0]} user=postgres dbname=main"
# Over TCP with the default sslmode (prefer): Citus turned TLS on with a certificate of its own.
export EDGEAUTH_TOKENS_DATABASE_URL="host=127.0.0.1 port=${ports[0]} user=postgres dbname=sink"
export EDGEAUTH_DATA_DIR=$work/data EDGEAUTH_LOG_LEVEL=warn EDGEAUTH_SHARDS=2 EDGEAUTH_MAX_PENDING=5000
mkdir -p "$EDGEAUTH_DATA_DIR"
"$bin" migrate >/dev/null
sink -c "SELECT create_distributed_table('tokens', 'jti')" >/dev/null
sink -c "ALTER DATABASE sink SET citus.max_adaptive_executor_pool_size = 1"
secret=$("$bin" client add bench --scopes "read write" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
export EDGEAUTH_BENCH_AUTH
EDGEAUTH_BENCH_AUTH=$(printf 'bench:%s' "$secret" | base64 -w0)
port=$(free_port)
export EDGEAUTH_LISTEN=127.0.0.1:$port

start_server() {
  "$bin" serve 2>>"$work/server.log" &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
}
stop_server() {
  kill -TERM "$server"
  wait "$server" || true
  server=""
}
rows() { sink -c "SELECT count(*) FROM tokens WHERE client_id = 'bench'"; }
duplicates() { sink -c "SELECT count(*) - count(DISTINCT jti) FROM tokens"; }
fail() {
  echo "citus-check.sh: FAILED: $*" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}
# load SECONDS: wrk on the token endpoint; prints tokens/s (200s only).
load() {
  wrk -t1 -c16 -d"$1s" -s scripts/token.lua "http://127.0.0.1:$port" |
    awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
                     printf "%.0f\n", (r["requests"] - r["non2xx"]) / (r["duration_us"] / 1e6) }'
}
report=()
say() {
  echo "citus-check.sh: $*" >&2
  report+=("- $*")
}

# 1. Every issued token is a row, once, on both workers.
start_server
rate=$(load 5)
issued=$(tokens_issued "$port")
stop_server
recorded=$(rows)
if [ "$recorded" != "$issued" ] || [ "$(duplicates)" != 0 ]; then fail "issued $issued, rows $recorded"; fi
per_worker=$(sink -c "SELECT string_agg(n::text, ' ' ORDER BY nodeport) FROM (
  SELECT s.nodeport, sum(r.result::bigint) n
    FROM token_partitions p,
         LATERAL run_command_on_shards(p.name, 'SELECT count(*) FROM %s') r
    JOIN citus_shards s USING (shardid) GROUP BY s.nodeport) t")
say "1. ${issued} tokens issued under load (${rate}/s, 2 shards, ES256) are ${recorded} rows, no jti twice; rows per worker: ${per_worker}"

# 2. Partitions the keeper makes are distributed.
for name in $(sink -c "SELECT name FROM token_partitions ORDER BY until DESC LIMIT 3"); do
  sink -c "DROP TABLE $name" -c "DELETE FROM token_partitions WHERE name = '$name'"
done
start_server
for _ in $(seq 1 100); do
  ahead=$(sink -c "SELECT count(*) FROM token_partitions")
  [ "$ahead" -ge 48 ] && break
  sleep 0.1
done
stop_server
distributed=$(sink -c "SELECT count(*) FROM pg_dist_partition p JOIN token_partitions t ON p.logicalrelid = to_regclass(t.name)")
if [ "$ahead" -lt 48 ] || [ "$ahead" != "$distributed" ]; then fail "partitions $ahead, distributed $distributed"; fi
say "2. 3 partitions dropped; the server's keeper made them again at start: $ahead partitions, all $distributed distributed"

# 3. Pruning drops an expired distributed partition.
sink <<'SQL'
SELECT edgeauth_create_token_partition(date_trunc('hour', now(), 'UTC') - interval '3 hours');
INSERT INTO tokens SELECT gen_random_uuid(), 'expired', '', now() - interval '3 hours',
                          date_trunc('hour', now(), 'UTC') - interval '150 minutes'
  FROM generate_series(1, 10000);
SQL
pruned=$("$bin" prune)
left=$(sink -c "SELECT count(*) FROM tokens WHERE client_id = 'expired'")
[ "$left" = 0 ] || fail "prune left $left expired rows: $pruned"
say "3. \`edgeauth prune\` on 10000 expired rows in a distributed partition: \`$pruned\`"

# 4. A worker stops under load and comes back.
start_server
before_rows=$(rows)
before_issued=$(tokens_issued "$port")
load 20 >/dev/null &
loader=$!
sleep 4
scripts/pg.sh stop "$work/node2"
sleep 3
readyz=$(curl -s -m 2 "http://127.0.0.1:$port/readyz")
token_status=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth/token")
sleep 3
scripts/pg.sh start "$work/node2" "${ports[2]}"
wait "$loader"
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  sleep 0.2
done
issued=$(($(tokens_issued "$port") - before_issued))
stop_server
landed=$(($(rows) - before_rows))
if [ "$landed" != "$issued" ] || [ "$(duplicates)" != 0 ]; then fail "issued $issued, rows $landed"; fi
[ "$token_status" = 503 ] || fail "a token during the outage got $token_status"
say "4. worker 2 stopped for ~6 s under load: /readyz said \`$readyz\`, a token request got $token_status; afterwards ${issued} tokens issued, ${landed} rows, no jti twice"

# 5. What the executor setting is for.
start_server
with=$(load 10)
stop_server
sink -c "ALTER DATABASE sink RESET citus.max_adaptive_executor_pool_size"
start_server
without=$(load 10)
stop_server
say "5. tokens/s with citus.max_adaptive_executor_pool_size = 1: ${with}; with Citus's default: ${without} (each 1000-row batch opens connections to every worker anew)"

mkdir -p bench-results
{
  echo "# Token rows in Citus ($(date -u +%F), $(git rev-parse --short HEAD), $(on 0 sink -c 'SELECT citus_version()' | cut -d' ' -f1-2), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'))"
  echo
  echo "A coordinator and two workers on this machine, \`tokens\` distributed by \`jti\`, 2 shards, \`max_pending\` 5000 (\`scripts/citus-check.sh\`)."
  echo
  printf '%s\n' "${report[@]}"
} >bench-results/citus.md
cat bench-results/citus.md
