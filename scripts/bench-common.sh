# shellcheck shell=bash
# Sourced by the benchmark scripts: a free port, and a private PostgreSQL with a `bench`
# database for one run.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_bench_database WORK_DIR: start a cluster in WORK_DIR/pg on a free port, create the
# `bench` database, export EDGEAUTH_DATABASE_URL for it, and set psql_bin. The caller stops
# the cluster with `scripts/pg.sh stop WORK_DIR/pg`.
start_bench_database() {
  local work=$1 pg_port admin_url
  pg_port=$(free_port)
  scripts/pg.sh start "$work/pg" "$pg_port"
  admin_url=$(scripts/pg.sh url "$work/pg" "$pg_port")
  psql_bin="$(scripts/pg.sh bindir)/psql"
  "$psql_bin" -X -q -d "$admin_url" -c "CREATE DATABASE bench"
  export EDGEAUTH_DATABASE_URL="${admin_url/dbname=postgres/dbname=bench}"
}
