#!/usr/bin/env bash
# Start edgeauth with everything it needs, for a first look or for development.
#
# With EDGEAUTH_DATABASE_URL unset, it runs a private PostgreSQL cluster under
# $EDGEAUTH_DATA_DIR/postgres (default ./edgeauth-data/postgres, port 54329), installing
# Debian's PostgreSQL if initdb is missing. Then it migrates the schema, creates a demo
# client (once; its secret is kept in $EDGEAUTH_DATA_DIR/demo-client.json, mode 0600),
# prints a curl that gets a token, and serves until Ctrl-C.
#
# Every EDGEAUTH_* setting works here too, e.g. EDGEAUTH_LISTEN=127.0.0.1:9000 scripts/run.sh
#
# TLS=1 scripts/run.sh serves HTTPS: it makes a throwaway CA and a certificate for localhost
# and 127.0.0.1 under $EDGEAUTH_DATA_DIR/tls (once, with openssl) and prints a curl that
# trusts that CA. For development only: a real deployment uses its own certificate.
set -euo pipefail
cd "$(dirname "$0")/.."

export EDGEAUTH_DATA_DIR=${EDGEAUTH_DATA_DIR:-./edgeauth-data}
mkdir -p "$EDGEAUTH_DATA_DIR"
data_dir=$(cd "$EDGEAUTH_DATA_DIR" && pwd)
listen=${EDGEAUTH_LISTEN:-127.0.0.1:8080}

echo "run.sh: building edgeauth (release)" >&2
cargo build --release --quiet
bin=target/release/edgeauth

own_pg=""
if [ -z "${EDGEAUTH_DATABASE_URL:-}" ]; then
  pg_port=${EDGEAUTH_DEV_PG_PORT:-54329}
  echo "run.sh: starting a private PostgreSQL in $data_dir/postgres (port $pg_port)" >&2
  scripts/pg.sh start "$data_dir/postgres" "$pg_port"
  own_pg="$data_dir/postgres"
  admin_url=$(scripts/pg.sh url "$data_dir/postgres" "$pg_port")
  psql_bin="$(scripts/pg.sh bindir)/psql"
  if [ "$("$psql_bin" -X -tA -d "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = 'edgeauth'")" != 1 ]; then
    "$psql_bin" -X -q -d "$admin_url" -c "CREATE DATABASE edgeauth"
  fi
  export EDGEAUTH_DATABASE_URL="${admin_url/dbname=postgres/dbname=edgeauth}"
fi

"$bin" migrate >/dev/null

scheme=http
curl_tls=()
curl="curl -s"
if [ "${TLS:-0}" = 1 ]; then
  tls_dir="$data_dir/tls"
  if [ ! -s "$tls_dir/server.pem" ]; then
    echo "run.sh: making a throwaway CA and server certificate in $tls_dir" >&2
    scripts/dev-cert.sh "$tls_dir"
  fi
  export EDGEAUTH_TLS_CERT="$tls_dir/server.pem" EDGEAUTH_TLS_KEY="$tls_dir/server.key"
  scheme=https
  curl_tls=(--cacert "$tls_dir/ca.pem")
  curl="curl -s --cacert $tls_dir/ca.pem"
fi
base="$scheme://$listen"

# The demo client: created once, its secret kept for the next run.
demo="$data_dir/demo-client.json"
if [ ! -s "$demo" ]; then
  umask 077
  if "$bin" client show demo >/dev/null 2>&1; then
    "$bin" client rotate-secret demo >"$demo"
  else
    "$bin" client add demo --scopes "read write" >"$demo"
  fi
fi
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$demo")

stop_pg() { [ -n "$own_pg" ] && scripts/pg.sh stop "$own_pg" || true; }
trap stop_pg EXIT

# Its own session: Ctrl-C reaches only this script, which forwards exactly one SIGTERM (a
# second signal would make the server exit at once, without flushing its token buffers).
setsid "$bin" serve &
server=$!
trap 'trap "" INT TERM; kill -TERM $server 2>/dev/null; wait $server; stop_pg' INT TERM

for _ in $(seq 1 100); do
  if curl -fs "${curl_tls[@]}" "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then wait $server; exit 1; fi
  sleep 0.1
done

cat >&2 <<MSG

edgeauth is serving on $base  (Ctrl-C stops it)

Get a token:
  $curl -u 'demo:$secret' -d grant_type=client_credentials $base/oauth/token

Server metadata and the keys to verify tokens with:
  $curl $base/.well-known/oauth-authorization-server
  $curl $base/.well-known/jwks.json

MSG
wait $server
