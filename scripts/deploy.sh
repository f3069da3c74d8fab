#!/usr/bin/env bash
# Deploy a release (docs/operations.md §8.1): build releases/<ts> with its own virtualenv, run migrations before
# the switch, atomically point `current` at it, restart, wait for /healthz.
#   SRC (this checkout), APP_ROOT (/opt/twi-overlay), ENV_FILE (/etc/twi-overlay/env),
#   RESTART_CMD (systemctl restart twi-overlay), HEALTH_URL (http://127.0.0.1:$PORT/healthz),
#   KEEP_RELEASES (5), SERVICE_USER (the user the service runs as, e.g. overlay)
# Run it as root with SERVICE_USER set: the code under APP_ROOT then belongs to root (the service cannot
# change what it runs), and the migration runs as the service user (the database stays theirs).
set -euo pipefail
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
APP_ROOT=${APP_ROOT:-/opt/twi-overlay}
ENV_FILE=${ENV_FILE:-/etc/twi-overlay/env}
RESTART_CMD=${RESTART_CMD:-systemctl restart twi-overlay}
KEEP_RELEASES=${KEEP_RELEASES:-5}
PYTHON=${PYTHON:-python3}
SERVICE_USER=${SERVICE_USER:-}
as_service() {
  if [ -n "$SERVICE_USER" ] && [ "$(id -u)" -eq 0 ]; then runuser -u "$SERVICE_USER" -- "$@"; else "$@"; fi
}
if [ -f "$ENV_FILE" ]; then set -a; . "$ENV_FILE"; set +a; fi
HEALTH_URL=${HEALTH_URL:-http://127.0.0.1:${PORT:-8080}/healthz}

ts=$(date -u +%Y%m%d%H%M%S)
rel="$APP_ROOT/releases/$ts"
while [ -e "$rel" ]; do sleep 1; ts=$(date -u +%Y%m%d%H%M%S); rel="$APP_ROOT/releases/$ts"; done
mkdir -p "$rel"
echo "deploy: building $rel"
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$SRC" archive --format=tar HEAD | tar -x -C "$rel"
  git -C "$SRC" rev-parse HEAD > "$rel/REVISION"
else
  (cd "$SRC" && tar --exclude=.venv --exclude=data --exclude=.git -cf - .) | tar -x -C "$rel"
fi
"$PYTHON" -m venv "$rel/.venv"
"$rel/.venv/bin/pip" install -q --disable-pip-version-check -e "$rel"

echo "deploy: migrating (before the switch; migrations roll forward only)"
as_service "$rel/.venv/bin/twi-overlay" migrate

ln -sfn "$rel" "$APP_ROOT/current.tmp"
mv -T "$APP_ROOT/current.tmp" "$APP_ROOT/current"
echo "deploy: current -> $rel; restarting"
$RESTART_CMD

for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "$HEALTH_URL"; then
    echo "deploy: healthy ($HEALTH_URL)"
    ls -1d "$APP_ROOT"/releases/*/ | sort -r | tail -n +"$((KEEP_RELEASES + 1))" | xargs -r rm -rf --
    exit 0
  fi
  sleep 0.5
done
echo "deploy: $HEALTH_URL did not answer 200 within 30 s; roll back with scripts/rollback.sh" >&2
exit 1
