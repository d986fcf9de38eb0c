# shellcheck shell=bash
# Sourced by the benchmark scripts: Debian packages they need, a free port, a private
# PostgreSQL with a `bench` database for one run, an edgeauth server's set-up, and the
# clean-up of all of it.

# need_debian_package COMMAND PACKAGE: install PACKAGE from Debian unless COMMAND exists.
need_debian_package() {
  command -v "$1" >/dev/null && return
  echo "$(basename "$0"): installing $1 (Debian $2)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# stop_bench_work WORK_DIR: kill the server (`server`, if one runs), stop the private
# PostgreSQL, remove WORK_DIR. For the scripts' EXIT traps.
stop_bench_work() {
  if [ -n "${server:-}" ]; then
    kill -9 "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -d "$1/pg" ]; then scripts/pg.sh stop "$1/pg" >/dev/null 2>&1 || true; fi
  rm -rf "$1"
}

# release_binary: the binary to measure, EDGEAUTH_BIN, or else this checkout's release
# build (built now).
release_binary() {
  if [ -n "${EDGEAUTH_BIN:-}" ]; then
    echo "$EDGEAUTH_BIN"
  else
    cargo build --release --quiet >&2
    echo "$PWD/target/release/edgeauth"
  fi
}

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

# pg_cpu_ticks WORK_DIR: the CPU time (user + system, clock ticks) so far of the private
# cluster's postmaster and every process it started. A process that exits takes its ticks
# with it: read it while the server's connections are open.
pg_cpu_ticks() {
  local postmaster total=0 p
  postmaster=$(head -1 "$1/pg/data/postmaster.pid")
  for p in $postmaster $(pgrep -P "$postmaster"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# pin_postgres WORK_DIR CPU: the private cluster's processes on core CPU; the backends it
# starts later inherit it.
pin_postgres() {
  local postmaster p
  postmaster=$(head -1 "$1/pg/data/postmaster.pid")
  for p in $postmaster $(pgrep -P "$postmaster"); do taskset -a -c -p "$2" "$p" >/dev/null; done
}

# prepare_edgeauth WORK_DIR: everything an edgeauth benchmark server needs but its key: a
# private database (start_bench_database), the schema, a data directory, and the `bench`
# client (scopes "read write"), its secret in `secret` and its Basic credential exported as
# EDGEAUTH_BENCH_AUTH for the wrk scripts. Needs `bin` (the edgeauth binary).
prepare_edgeauth() {
  local work=$1
  start_bench_database "$work"
  mkdir -p "$work/data"
  export EDGEAUTH_DATA_DIR=$work/data EDGEAUTH_LOG_LEVEL=warn
  "${bin:?the caller sets bin to the edgeauth binary}" migrate >/dev/null
  secret=$("$bin" client add bench --scopes "read write" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  export EDGEAUTH_BENCH_AUTH
  EDGEAUTH_BENCH_AUTH=$(printf 'bench:%s' "$secret" | base64 -w0)
}

# signing_key ALG: the path of a signing key of ALG in EDGEAUTH_DATA_DIR, made on first use.
signing_key() {
  local f=$EDGEAUTH_DATA_DIR/bench-$1.pem
  [ -f "$f" ] || "$bin" keys generate --alg "$1" --out "$f" >/dev/null
  echo "$f"
}

# wait_ready URL LOG: until URL answers 2xx (10 s at most) while the process `server` runs;
# otherwise show LOG and exit.
wait_ready() {
  local _
  for _ in $(seq 1 200); do
    curl -fs -m 1 "$1" >/dev/null 2>&1 && return 0
    kill -0 "${server:?the caller sets server to the pid of the server}" 2>/dev/null || break
    sleep 0.05
  done
  echo "$(basename "$0"): the server did not become ready at $1" >&2
  cat "$2" >&2
  exit 1
}

# tokens_issued PORT: the server's count of tokens issued so far, summed over its shards.
tokens_issued() {
  curl -fs "http://127.0.0.1:$1/metrics" |
    awk '/^edgeauth_tokens_issued_total/ {s += $2} END {printf "%.0f\n", s}'
}
