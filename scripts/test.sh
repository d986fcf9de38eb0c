#!/usr/bin/env bash
# Run the whole test suite against a private, throwaway PostgreSQL.
#
#   scripts/test.sh                 lint (fmt, clippy) + every test
#   scripts/test.sh -E 'test(x)'    extra arguments go to cargo nextest (or cargo test)
#   EDGEAUTH_SKIP_LINT=1 scripts/test.sh   tests only
#
# Installs Debian's PostgreSQL server if initdb is missing (scripts/pg.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/pg.sh install

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_dir=$(mktemp -d /tmp/edgeauth-test-pg.XXXXXX)
pg_port=$(free_port)
cleanup() {
  scripts/pg.sh stop "$pg_dir" || true
  rm -rf "$pg_dir"
}
trap cleanup EXIT

echo "test.sh: starting PostgreSQL in $pg_dir on port $pg_port"
scripts/pg.sh start "$pg_dir" "$pg_port"
export EDGEAUTH_TEST_DATABASE_URL
EDGEAUTH_TEST_DATABASE_URL=$(scripts/pg.sh url "$pg_dir" "$pg_port")
export EDGEAUTH_TEST_PG_PORT=$pg_port
export EDGEAUTH_TEST_PG_HOST=$pg_dir
export EDGEAUTH_TEST_PG_BINDIR
EDGEAUTH_TEST_PG_BINDIR=$(scripts/pg.sh bindir)

# A standard OAuth client library for tests/interop.rs, in a venv of our own.
venv=target/interop-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import authlib, jwt, requests, cryptography, prometheus_client.parser, openapi_spec_validator' 2>/dev/null; then
  echo "test.sh: installing Authlib, PyJWT and prometheus-client into $venv"
  python3 -m venv "$venv" || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  # `python -m pip`, not `bin/pip`: a venv copied with target/ keeps a bin/pip whose
  # shebang names the original venv, and would install there.
  "$venv/bin/python" -m pip install -q -r tests/interop/requirements.txt
fi
export EDGEAUTH_TEST_PYTHON=$PWD/$venv/bin/python

# systemd-analyze for tests/deploy.rs (`systemd-analyze verify deploy/edgeauth.service`).
if ! command -v systemd-analyze >/dev/null; then
  echo "test.sh: installing Debian's systemd (for systemd-analyze)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

if [ "${EDGEAUTH_SKIP_LINT:-0}" != 1 ]; then
  echo "test.sh: cargo fmt --check"
  cargo fmt --check
  echo "test.sh: cargo clippy"
  cargo clippy --all-targets --quiet -- -D warnings
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
  # nextest does not run doc tests.
  cargo test --doc --quiet
else
  cargo test --no-fail-fast "$@"
fi
