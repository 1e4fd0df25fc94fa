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

# The database URL the app uses (DATABASE_URL, else the project-local cluster), as libpq
# understands it: postgis:// becomes postgresql://.
app_db_url() {
  local url="${DATABASE_URL:-}"
  if [ -z "$url" ]; then
    local port
    port=$(cat "$ROOT/var/pg/port" 2>/dev/null || echo 55432)
    url="postgis://gridmap@127.0.0.1:$port/gridmap"
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
