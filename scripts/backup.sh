#!/usr/bin/env bash
# Back up the gridmap database: pg_dump in PostgreSQL's custom format (-Fc: compressed,
# restorable table by table and in parallel), checked by listing it, with a SHA-256 file.
#
#   bash scripts/backup.sh [FILE]     default var/backups/gridmap-<db>-<UTC time>.dump
#
# The database is DATABASE_OWNER_URL's (else DATABASE_URL's, else the local cluster's,
# read as its owner). The dump is taken in one snapshot while the app keeps running. Restore with scripts/restore.sh.
# BACKUP_KEEP=N (default 14) keeps only the newest N dumps in var/backups.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/dburl.sh
BIN=$(pg_bindir)
URL=$(owner_db_url)
DB=$(url_db_name "$URL")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${1:-var/backups/gridmap-$DB-$STAMP.dump}
mkdir -p "$(dirname "$OUT")"
TMP="$OUT.partial"
trap 'rm -f "$TMP"' EXIT

"$BIN/pg_dump" --format=custom --compress=6 --no-owner --no-privileges \
  --file="$TMP" --dbname="$URL" \
  || { echo "backup.sh: pg_dump of $DB failed" >&2; exit 1; }
# A dump that cannot be listed is no backup.
"$BIN/pg_restore" --list "$TMP" >/dev/null \
  || { echo "backup.sh: the dump of $DB cannot be read back" >&2; exit 1; }
mv "$TMP" "$OUT"
trap - EXIT
(cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT")" > "$(basename "$OUT").sha256")
echo "backup.sh: $DB → $OUT ($(du -h "$OUT" | cut -f1))"

if [ -z "${1:-}" ]; then
  keep=${BACKUP_KEEP:-14}
  ls -1t var/backups/gridmap-"$DB"-*.dump 2>/dev/null | tail -n +$((keep + 1)) | while read -r old; do
    rm -f "$old" "$old.sha256"
  done
fi
