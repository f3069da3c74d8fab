#!/usr/bin/env bash
# EventSub subscription inventory (docs/operations.md §9, §18.3): prints desired vs actual for every signed-in
# broadcaster and exits 0 when there is no difference. --apply creates the missing ones and removes
# stale ones first. Reads the same environment as the app (ENV_FILE is sourced when it exists).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ENV_FILE=${ENV_FILE:-/etc/twi-overlay/env}
if [ -f "$ENV_FILE" ]; then set -a; . "$ENV_FILE"; set +a; fi
for candidate in "${TWI_BIN:-}" "$here/.venv/bin/twi-overlay" /opt/twi-overlay/current/.venv/bin/twi-overlay; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then exec "$candidate" subscriptions "$@"; fi
done
echo "make-subscriptions: twi-overlay not found (set TWI_BIN)" >&2
exit 2
