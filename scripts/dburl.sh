# Sourced by backup.sh / restore.sh / replica.sh: PostgreSQL client binaries and URLs.
# shellcheck shell=bash

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_dump" ] && { echo "$d"; return; }
  done
  echo "PostgreSQL client binaries not found (install postgresql-client-15)" >&2
  return 1
}

# The URL of the role that owns the database (DATABASE_OWNER_URL, else DATABASE_URL, else
# the project-local cluster's owner), as libpq understands it: postgis:// becomes
# postgresql://. Backups and restores read and create whole schemas: the owner's work.
owner_db_url() {
  local url="${DATABASE_OWNER_URL:-${DATABASE_URL:-}}"
  if [ -z "$url" ]; then
    local port
    port=$(cat "$ROOT/var/pg/port" 2>/dev/null || echo 55432)
    url="postgis://gridmap_owner@127.0.0.1:$port/gridmap"
  fi
  echo "${url/#postgis:\/\//postgresql://}"
}

# The same URL with another database name (drops any ?query).
url_with_db() {
  local url="${1%%\?*}" name="$2"
  echo "${url%/*}/$name"
}

url_db_name() {
  local url="${1%%\?*}"
  echo "${url##*/}"
}
