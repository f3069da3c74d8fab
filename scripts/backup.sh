#!/usr/bin/env bash
# Online backup of the SQLite database (docs/operations.md §11, §16.2): sqlite3's .backup (safe while the app
# writes), PRAGMA integrity_check on the copy, then keep the newest $KEEP generations.
#   DATABASE_URL=sqlite:///var/lib/twi-overlay/data/app.db  (or DB_PATH=...)
#   BACKUP_DIR  default: <db dir>/backup     KEEP  default: 14
set -euo pipefail
umask 077  # copies of the database hold OAuth tokens: readable by their owner only
DB_PATH=${DB_PATH:-${DATABASE_URL:-sqlite:///var/lib/twi-overlay/data/app.db}}
DB_PATH=${DB_PATH#sqlite://}
BACKUP_DIR=${BACKUP_DIR:-$(dirname "$DB_PATH")/backup}
KEEP=${KEEP:-14}

[ -f "$DB_PATH" ] || { echo "backup: no database at $DB_PATH" >&2; exit 1; }
mkdir -p "$BACKUP_DIR"
stamp=$(date -u +%Y%m%dT%H%M%S.%NZ)
dest="$BACKUP_DIR/app-$stamp.db"
sqlite3 "$DB_PATH" ".backup '$dest.partial'"
check=$(sqlite3 "$dest.partial" "PRAGMA integrity_check;")
if [ "$check" != "ok" ]; then
  echo "backup: integrity check failed on the copy: $check" >&2
  rm -f "$dest.partial"
  exit 1
fi
mv "$dest.partial" "$dest"
# Rotation: newest first, drop everything past $KEEP.
ls -1 "$BACKUP_DIR"/app-*.db 2>/dev/null | sort -r | tail -n +"$((KEEP + 1))" | xargs -r rm -f --
echo "$dest"
