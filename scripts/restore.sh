#!/usr/bin/env bash
# Restore a backup (docs/operations.md §11): stop → check the backup → keep the current file aside → replace →
# migrate (roll forward) → start.
#   restore.sh BACKUP_FILE
#   DATABASE_URL / DB_PATH, APP_ROOT (/opt/twi-overlay), ENV_FILE (/etc/twi-overlay/env),
#   STOP_CMD (systemctl stop twi-overlay), START_CMD (systemctl start twi-overlay)
set -euo pipefail
src=${1:?usage: restore.sh BACKUP_FILE}
APP_ROOT=${APP_ROOT:-/opt/twi-overlay}
ENV_FILE=${ENV_FILE:-/etc/twi-overlay/env}
if [ -f "$ENV_FILE" ]; then set -a; . "$ENV_FILE"; set +a; fi
DB_PATH=${DB_PATH:-${DATABASE_URL:-sqlite:///var/lib/twi-overlay/data/app.db}}
DB_PATH=${DB_PATH#sqlite://}
STOP_CMD=${STOP_CMD:-systemctl stop twi-overlay}
START_CMD=${START_CMD:-systemctl start twi-overlay}
TWI=${TWI_BIN:-$APP_ROOT/current/.venv/bin/twi-overlay}

[ -f "$src" ] || { echo "restore: no file $src" >&2; exit 1; }
check=$(sqlite3 "$src" "PRAGMA integrity_check;")
[ "$check" = "ok" ] || { echo "restore: $src fails integrity_check: $check" >&2; exit 1; }

echo "restore: stopping the service"
$STOP_CMD
if [ -f "$DB_PATH" ]; then
  aside="$DB_PATH.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
  sqlite3 "$DB_PATH" ".backup '$aside'"
  echo "restore: previous database kept as $aside"
fi
rm -f "$DB_PATH" "$DB_PATH-wal" "$DB_PATH-shm"
cp "$src" "$DB_PATH"
DATABASE_URL="sqlite://$DB_PATH" "$TWI" migrate
echo "restore: starting the service"
$START_CMD
echo "restore: done"
