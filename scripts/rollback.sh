#!/usr/bin/env bash
# Roll back (docs/operations.md §8.2): point `current` at the release before it, restart, wait for /healthz.
# Migrations are not undone (roll forward only): an older release runs on the newer schema.
#   APP_ROOT (/opt/twi-overlay), ENV_FILE, RESTART_CMD, HEALTH_URL as in deploy.sh
set -euo pipefail
APP_ROOT=${APP_ROOT:-/opt/twi-overlay}
ENV_FILE=${ENV_FILE:-/etc/twi-overlay/env}
RESTART_CMD=${RESTART_CMD:-systemctl restart twi-overlay}
if [ -f "$ENV_FILE" ]; then set -a; . "$ENV_FILE"; set +a; fi
HEALTH_URL=${HEALTH_URL:-http://127.0.0.1:${PORT:-8080}/healthz}

current=$(readlink -f "$APP_ROOT/current")
previous=""
for rel in $(ls -1d "$APP_ROOT"/releases/*/ | sed 's#/$##' | sort); do
  [ "$(readlink -f "$rel")" = "$current" ] && break
  previous=$rel
done
[ -n "$previous" ] || { echo "rollback: no release older than $current" >&2; exit 1; }
ln -sfn "$previous" "$APP_ROOT/current.tmp"
mv -T "$APP_ROOT/current.tmp" "$APP_ROOT/current"
echo "rollback: current -> $previous; restarting"
$RESTART_CMD
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "$HEALTH_URL"; then echo "rollback: healthy"; exit 0; fi
  sleep 0.5
done
echo "rollback: $HEALTH_URL did not answer 200 within 30 s" >&2
exit 1
