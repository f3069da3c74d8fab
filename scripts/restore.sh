#!/usr/bin/env bash
# Restore a backup (docs/operations.md §11): stop → check the backup → keep the current file aside → replace →
# migrate (roll forward) → start. Every file it writes is 0600 and, when run as root, owned by the owner of
# the database's directory (the service user), so the service can write to it again.
#   restore.sh BACKUP_FILE
#   DATABASE_URL / DB_PATH, APP_ROOT (/opt/twi-overlay), ENV_FILE (/etc/twi-overlay/env),
#   STOP_CMD (systemctl stop twi-overlay), START_CMD (systemctl start twi-overlay)
set -euo pipefail
umask 077
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

owner=$(stat -c %U:%G "$(dirname "$DB_PATH")")

echo "restore: stopping the service"
$STOP_CMD
if [ -f "$DB_PATH" ]; then
  aside="$DB_PATH.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
  sqlite3 "$DB_PATH" ".backup '$aside'"
  echo "restore: previous database kept as $aside"
fi
rm -f "$DB_PATH" "$DB_PATH-wal" "$DB_PATH-shm"
cp "$src" "$DB_PATH"
chmod 600 "$DB_PATH"
DATABASE_URL="sqlite://$DB_PATH" "$TWI" migrate
if [ "$(id -u)" -eq 0 ]; then
  chown "$owner" "$DB_PATH" "$DB_PATH".before-restore-* 2>/dev/null || true
  for f in "$DB_PATH-wal" "$DB_PATH-shm"; do [ -e "$f" ] && chown "$owner" "$f"; done
fi
echo "restore: starting the service"
$START_CMD
echo "restore: done"
