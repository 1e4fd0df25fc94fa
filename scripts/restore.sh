#!/usr/bin/env bash
# Restore a dump of scripts/backup.sh into a NEW database (never over an existing one).
#
#   bash scripts/restore.sh FILE NEW_DB_NAME
#
# The new database is created by the owner role (DATABASE_OWNER_URL, else DATABASE_URL,
# else the project-local cluster's owner). It is filled with pg_restore --exit-on-error
# in one transaction, so a failed restore leaves an empty database that the script then
# drops. To switch the app over,
# point DATABASE_URL at the new database (or rename databases while the app is stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/dburl.sh
die() { echo "restore.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: scripts/restore.sh FILE NEW_DB_NAME"
FILE=$1
NAME=$2
[ -f "$FILE" ] || die "no such file: $FILE"
[[ "$NAME" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name must match [a-z_][a-z0-9_]*: $NAME"
BIN=$(pg_bindir)
if [ -f "$FILE.sha256" ]; then
  (cd "$(dirname "$FILE")" && sha256sum --quiet -c "$(basename "$FILE").sha256") \
    || die "checksum mismatch: $FILE is damaged"
fi
"$BIN/pg_restore" --list "$FILE" >/dev/null 2>&1 || die "not a readable pg_dump custom-format file: $FILE"

URL=$(owner_db_url)
ADMIN=$(url_with_db "$URL" postgres)
TARGET=$(url_with_db "$URL" "$NAME")
exists=$("$BIN/psql" -X -d "$ADMIN" -tAc "SELECT 1 FROM pg_database WHERE datname = '$NAME'")
[ "$exists" = 1 ] && die "database $NAME exists already; choose a new name"

# From template1, which has PostGIS in the local cluster (scripts/pg.sh): the restoring
# role need not be a superuser (the dump's CREATE EXTENSION IF NOT EXISTS is then a no-op).
"$BIN/psql" -X -q -d "$ADMIN" -c "CREATE DATABASE \"$NAME\" TEMPLATE template1 ENCODING 'UTF8'"
# Every entry but what belongs to PostGIS, which the new database has from its template
# and only the extension's owner may change: its comment and spatial_ref_sys (gridmap adds
# no reference systems of its own).
LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT
"$BIN/pg_restore" --list "$FILE" \
  | grep -v -e ' COMMENT - EXTENSION ' -e ' TABLE DATA public spatial_ref_sys ' > "$LIST"
if ! "$BIN/pg_restore" --no-owner --no-privileges --exit-on-error --single-transaction \
    --use-list="$LIST" --dbname="$TARGET" "$FILE"; then
  "$BIN/psql" -X -q -d "$ADMIN" -c "DROP DATABASE IF EXISTS \"$NAME\"" || true
  die "restore failed; $NAME was dropped again"
fi
"$BIN/psql" -X -q -d "$TARGET" -c "ANALYZE" >/dev/null
echo "restore.sh: $FILE → database $NAME"
