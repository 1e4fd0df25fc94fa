#!/usr/bin/env bash
# A PostgreSQL streaming replica (hot standby) of the project-local cluster, on loopback.
#
#   bash scripts/replica.sh start|stop|status|url|lag|destroy
#
# start: the first time, pg_basebackup -R copies the primary (var/pg, port in var/pg/port)
#        into var/pg-replica/data and writes standby.signal + primary_conninfo; then the
#        standby starts on its own free port (55533 upwards; GRIDMAP_REPLICA_PORT to choose)
#        and streams the primary's WAL. Point the app at it with
#        DATABASE_REPLICA_URL=$(bash scripts/replica.sh url).
# lag:   bytes and seconds the replica is behind.
# destroy: stop it and delete its data (a new start copies the primary again).
# Environment: REPLICA_DIR (default var/pg-replica), REPLICA_PRIMARY_PORT (default the port
# in var/pg/port), REPLICA_PRIMARY_HOST (127.0.0.1).
# PostgreSQL refuses to run as root, so a root shell runs the server as 'postgres' (as
# scripts/pg.sh does). No replication slot is made: the shared primary never keeps WAL for
# a replica that was thrown away; a replica that falls too far behind is destroyed and
# started again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${REPLICA_DIR:-$ROOT/var/pg-replica}
DATA="$DIR/data"
LOG="$DIR/server.log"
PORTFILE="$DIR/port"
PHOST=${REPLICA_PRIMARY_HOST:-127.0.0.1}
DBUSER=gridmap
DBNAME=${REPLICA_DBNAME:-gridmap}

die() { echo "replica.sh: $*" >&2; exit 1; }

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_basebackup" ] && { echo "$d"; return; }
  done
  die "PostgreSQL server binaries not found (install postgresql-15)"
}
BIN=$(bindir)

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

primary_port() {
  if [ -n "${REPLICA_PRIMARY_PORT:-}" ]; then echo "$REPLICA_PRIMARY_PORT"; return; fi
  [ -s "$ROOT/var/pg/port" ] || die "no primary: start it with scripts/pg.sh start"
  cat "$ROOT/var/pg/port"
}

choose_port() {
  if [ -n "${GRIDMAP_REPLICA_PORT:-}" ]; then echo "$GRIDMAP_REPLICA_PORT"; return; fi
  if [ -s "$PORTFILE" ]; then cat "$PORTFILE"; return; fi
  local p
  for p in $(seq 55533 55632); do
    if port_free "$p"; then echo "$p"; return; fi
  done
  die "no free TCP port in 55533-55632 for the replica (set GRIDMAP_REPLICA_PORT)"
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_primary() {
  "$BIN/psql" -X -h "$PHOST" -p "$(primary_port)" -U "$DBUSER" -d postgres -tAc "$1"
}

psql_replica() {
  "$BIN/psql" -X -h 127.0.0.1 -p "$(cat "$PORTFILE")" -U "$DBUSER" -d postgres -tAc "$1"
}

basebackup() {
  local pport
  pport=$(primary_port)
  [ "$(psql_primary 'SHOW wal_level' 2>/dev/null)" != minimal ] \
    || die "the primary has wal_level=minimal; set wal_level=replica and restart it"
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$DIR"
    runuser -u postgres -- test -x "$DIR" \
      || die "user 'postgres' cannot reach $DIR; make the parent folders world-executable"
  fi
  echo "replica.sh: copying the primary (127.0.0.1:$pport) into $DATA"
  as_owner "$BIN/pg_basebackup" -h "$PHOST" -p "$pport" -U "$DBUSER" -D "$DATA" \
    -R -X stream -c fast --no-sync \
    || { as_owner rm -rf "$DATA"; die "pg_basebackup failed"; }
}

start() {
  [ -s "$DATA/PG_VERSION" ] || basebackup
  if running; then
    echo "replica.sh: replica already running on port $(cat "$PORTFILE")"
    return
  fi
  local port maxconn
  port=$(choose_port)
  port_free "$port" || die "port $port is taken (set GRIDMAP_REPLICA_PORT)"
  echo "$port" > "$PORTFILE"
  # A hot standby needs max_connections (and friends) at least the primary's.
  maxconn=$(psql_primary 'SHOW max_connections' 2>/dev/null || echo 200)
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c hot_standby=on -c hot_standby_feedback=on -c max_connections=$maxconn -c shared_buffers=${REPLICA_SHARED_BUFFERS:-128MB} -c fsync=${GRIDMAP_PG_FSYNC:-on}" \
    start >/dev/null || { tail -20 "$LOG" >&2; die "the replica did not start (log: $LOG)"; }
  [ "$(psql_replica 'SELECT pg_is_in_recovery()')" = t ] || die "started, but not as a standby"
  echo "replica.sh: replica running on 127.0.0.1:$port, streaming from 127.0.0.1:$(primary_port)"
}

stop() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "replica.sh: replica stopped"
  else
    echo "replica.sh: replica not running"
  fi
}

lag() {
  running || die "replica not running"
  psql_replica "SELECT 'behind_bytes=' || COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) || ' replay_delay_s=' || CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE round(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::numeric, 3) END"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on port $(cat "$PORTFILE")"; else echo "stopped"; exit 3; fi ;;
  url) echo "postgis://$DBUSER@127.0.0.1:$(cat "$PORTFILE")/$DBNAME" ;;
  lag) lag ;;
  destroy) stop; as_owner rm -rf "$DATA"; rm -f "$PORTFILE"; echo "replica.sh: replica data deleted" ;;
  *) die "usage: scripts/replica.sh start|stop|status|url|lag|destroy" ;;
esac
