#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for development, tests and benchmarks.
#
#   scripts/pg.sh install           install Debian's PostgreSQL server if initdb is missing
#   scripts/pg.sh start DIR PORT    initdb into DIR (once) and start it on 127.0.0.1:PORT
#                                   and a unix socket in DIR; waits until it accepts connections
#   scripts/pg.sh stop DIR          fast shutdown (no-op if it is not running)
#   scripts/pg.sh url DIR PORT      print the superuser connection string (unix socket)
#
# initdb and postgres refuse to run as root, so as root the cluster belongs to the
# `postgres` system user (created by Debian's package) and its superuser is `postgres`.
# Authentication: trust on the unix socket and for most TCP users; the roles edgeauth_scram,
# edgeauth_md5 and edgeauth_clear must authenticate over TCP with SCRAM-SHA-256, MD5 and a
# cleartext password, so that tests exercise every method our client speaks.
set -euo pipefail

pg_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir)
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  return 1
}

install_pg() {
  pg_bindir >/dev/null && return 0
  echo "pg.sh: PostgreSQL server binaries not found; installing Debian's postgresql" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  # Debian's package starts a system cluster; we run our own, so stop it again.
  $sudo pg_ctlcluster --help >/dev/null 2>&1 && $sudo bash -c 'pg_lsclusters -h 2>/dev/null | while read -r v c _; do pg_ctlcluster "$v" "$c" stop || true; done'
  pg_bindir >/dev/null
}

# Run a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

superuser() {
  if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

start_pg() {
  local dir=$1 port=$2 bin
  install_pg
  bin=$(pg_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    # postgres must be able to reach DIR through its parents.
    local p=$dir
    while [ "$p" != "/" ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U "$(superuser)" --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      as_owner "$bin/initdb" -D "$dir/data" -U "$(superuser)" --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    cat >"$dir/data/pg_hba.conf" <<HBA
local all all                          trust
host  all edgeauth_scram 127.0.0.1/32  scram-sha-256
host  all edgeauth_md5   127.0.0.1/32  md5
host  all edgeauth_clear 127.0.0.1/32  password
host  all all            127.0.0.1/32  trust
host  all all            ::1/128       trust
HBA
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
password_encryption = 'scram-sha-256'
CONF
  fi
  if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    return 0
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir" start >/dev/null
}

stop_pg() {
  local dir=$1 bin
  [ -f "$dir/data/PG_VERSION" ] || return 0
  bin=$(pg_bindir)
  if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
}

url_pg() {
  local dir port
  dir=$(cd "$1" && pwd)
  port=$2
  echo "host=$dir port=$port user=$(superuser) dbname=postgres"
}

cmd=${1:-}
case "$cmd" in
  install) install_pg ;;
  start) start_pg "${2:?DIR}" "${3:?PORT}" ;;
  stop) stop_pg "${2:?DIR}" ;;
  url) url_pg "${2:?DIR}" "${3:?PORT}" ;;
  bindir) install_pg && pg_bindir ;;
  *) echo "usage: scripts/pg.sh install|start DIR PORT|stop DIR|url DIR PORT|bindir" >&2; exit 2 ;;
esac
