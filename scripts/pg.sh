#!/usr/bin/env bash
# Project-local PostGIS cluster under var/pg: its own port, its own data, never another cluster.
# Usage: scripts/pg.sh start|stop|status|url|owner-url
# PostgreSQL refuses to run as root, so a root shell runs the server as the 'postgres' system user.
#
# Three roles (README, "Database roles"): the cluster's superuser 'gridmap', used by this
# script only; 'gridmap_owner', which owns the database and its schema and runs the
# migrations; 'gridmap_app', which the web server and workers use: not a superuser, owns
# nothing, and may only INSERT and SELECT the audit log (grants: manage.py dbgrants).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/var/pg/data"
LOG="$ROOT/var/pg/server.log"
PORTFILE="$ROOT/var/pg/port"
DBUSER=gridmap
DBNAME=gridmap
OWNER_ROLE=gridmap_owner
APP_ROLE=gridmap_app

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
    roles "$(cat "$PORTFILE")"
    echo "pg.sh: local cluster already running on port $(cat "$PORTFILE")"
    return
  fi
  port_free "$port" || die "port $port is taken by another program (set GRIDMAP_PG_PORT to another port)"
  echo "$port" > "$PORTFILE"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=${GRIDMAP_PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=512MB -c work_mem=32MB -c maintenance_work_mem=512MB" \
    start >/dev/null || { tail -20 "$LOG" >&2; die "the local cluster did not start (log: $LOG)"; }
  roles "$port"
  echo "pg.sh: local cluster running on 127.0.0.1:$port"
}

sql() {
  local port=$1 db=$2
  shift 2
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$DBUSER" -d "$db" "$@"
}

# The owner and app roles, the database owned by the owner, PostGIS in template1 (the owner
# is no superuser: the databases it creates, the tests' included, must have PostGIS
# already). Idempotent; it also hands over a database made before the roles existed.
roles() {
  local port=$1
  sql "$port" postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$OWNER_ROLE') THEN
    CREATE ROLE $OWNER_ROLE LOGIN NOSUPERUSER CREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
\$\$;
SQL
  sql "$port" template1 -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  if ! sql "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DBNAME'" | grep -q 1; then
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$DBUSER" -O "$OWNER_ROLE" "$DBNAME"
  fi
  sql "$port" "$DBNAME" >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS postgis;
ALTER DATABASE $DBNAME OWNER TO $OWNER_ROLE;
-- Tables, sequences, views and functions a superuser made before (not PostGIS's own).
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND pg_get_userbyid(c.relowner) <> '$OWNER_ROLE'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO $OWNER_ROLE',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS name FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> '$OWNER_ROLE'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO $OWNER_ROLE', r.name);
  END LOOP;
END
\$\$;
SQL
  # Throwaway test databases of an earlier run, made by the superuser: the owner recreates them.
  sql "$port" postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_gridmap%' AND pg_get_userbyid(datdba) <> '$OWNER_ROLE'" |
    while read -r db; do
      [ -n "$db" ] && sql "$port" postgres -c "ALTER DATABASE \"$db\" OWNER TO $OWNER_ROLE" >/dev/null
    done
  return 0
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
  url) echo "postgis://$APP_ROLE@127.0.0.1:$(cat "$PORTFILE")/$DBNAME" ;;
  owner-url) echo "postgis://$OWNER_ROLE@127.0.0.1:$(cat "$PORTFILE")/$DBNAME" ;;
  *) die "usage: scripts/pg.sh start|stop|status|url|owner-url" ;;
esac
