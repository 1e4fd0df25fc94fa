#!/usr/bin/env bash
# Project-local PostGIS cluster under var/pg: its own port, its own data, never another cluster.
# Usage: scripts/pg.sh start|stop|status|url
# PostgreSQL refuses to run as root, so a root shell runs the server as the 'postgres' system user.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/var/pg/data"
LOG="$ROOT/var/pg/server.log"
PORTFILE="$ROOT/var/pg/port"
DBUSER=gridmap
DBNAME=gridmap

die() { echo "pg.sh: $*" >&2; exit 1; }

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "PostgreSQL server binaries not found (install the Debian packages postgresql-15 postgresql-15-postgis-3)"
}
BIN=$(bindir)

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

choose_port() {
  if [ -n "${GRIDMAP_PG_PORT:-}" ]; then echo "$GRIDMAP_PG_PORT"; return; fi
  if [ -s "$PORTFILE" ]; then cat "$PORTFILE"; return; fi
  local p
  for p in $(seq 55432 55532); do
    if port_free "$p"; then echo "$p"; return; fi
  done
  die "no free TCP port in 55432-55532 for the local cluster (set GRIDMAP_PG_PORT)"
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init() {
  mkdir -p "$ROOT/var/pg"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "system user 'postgres' missing (install postgresql-15)"
    chown postgres: "$ROOT/var/pg"
    # The server user must be able to reach the data directory through every parent.
    runuser -u postgres -- test -x "$ROOT/var/pg" \
      || die "user 'postgres' cannot reach $ROOT/var/pg; make the parent folders world-executable (chmod o+x)"
  fi
  if [ ! -s "$DATA/PG_VERSION" ]; then
    echo "pg.sh: initialising a new cluster in $DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U "$DBUSER" --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >/dev/null
  fi
}

start() {
  init
  local port
  port=$(choose_port)
  if running; then
    echo "pg.sh: local cluster already running on port $(cat "$PORTFILE")"
    return
  fi
  port_free "$port" || die "port $port is taken by another program (set GRIDMAP_PG_PORT to another port)"
  echo "$port" > "$PORTFILE"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=${GRIDMAP_PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=512MB -c work_mem=32MB -c maintenance_work_mem=512MB" \
    start >/dev/null || { tail -20 "$LOG" >&2; die "the local cluster did not start (log: $LOG)"; }
  if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$port" -U "$DBUSER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$DBNAME'" | grep -q 1; then
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$DBUSER" "$DBNAME"
  fi
  as_owner "$BIN/psql" -q -h 127.0.0.1 -p "$port" -U "$DBUSER" -d "$DBNAME" \
    -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  echo "pg.sh: local cluster running on 127.0.0.1:$port"
}

stop() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "pg.sh: local cluster stopped"
  else
    echo "pg.sh: local cluster not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on port $(cat "$PORTFILE")"; else echo "stopped"; exit 3; fi ;;
  url) echo "postgis://$DBUSER@127.0.0.1:$(cat "$PORTFILE")/$DBNAME" ;;
  *) die "usage: scripts/pg.sh start|stop|status|url" ;;
esac
