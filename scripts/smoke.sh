#!/usr/bin/env bash
# Smoke test right after a deploy (docs/operations.md §18), curl only. Exit 0 when every step passed.
#   BASE_URL        http://127.0.0.1:8080
#   ADMIN_TOKEN     an admin token; or BROADCASTER_ID + TWI_BIN to mint one with `twi-overlay token`
#   TWI_BIN         .venv/bin/twi-overlay (or /opt/twi-overlay/current/.venv/bin/twi-overlay)
set -uo pipefail
BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
here=$(cd "$(dirname "$0")/.." && pwd)
TWI_BIN=${TWI_BIN:-$here/.venv/bin/twi-overlay}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
started=$(date +%s)
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

if [ -z "${ADMIN_TOKEN:-}" ]; then
  [ -n "${BROADCASTER_ID:-}" ] || { echo "smoke: set ADMIN_TOKEN, or BROADCASTER_ID (+ TWI_BIN)" >&2; exit 2; }
  ADMIN_TOKEN=$("$TWI_BIN" token --aud admin --sub "$BROADCASTER_ID" --ttl 300) || exit 2
fi
AUTH="Authorization: Bearer $ADMIN_TOKEN"
JSON="Content-Type: application/json"

# 1. health
if curl -fsS -o "$tmp/health" "$BASE_URL/healthz"; then pass "1 /healthz 200: $(cat "$tmp/health")"
else fail "1 /healthz did not answer 200"; fi

# 2. tap heartbeat and an sse stage
curl -sN --max-time 20 -H "$AUTH" "$BASE_URL/_debug/tap" > "$tmp/tap" 2>/dev/null & pids+=($!)
OVERLAY_TOKEN=$(curl -fsS -H "$AUTH" -H "$JSON" -d '{"aud":"overlay"}' "$BASE_URL/api/sse-token" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$OVERLAY_TOKEN" ] || fail "2 could not get an overlay token"
if wait_for "$tmp/tap" ":heartbeat" 5; then
  curl -sN --max-time 2 "$BASE_URL/overlay/sse?token=$OVERLAY_TOKEN" > /dev/null 2>&1
  if wait_for "$tmp/tap" '"stage":"sse"' 5; then pass "2 tap heartbeat and stage=sse seen"
  else fail "2 tap showed no sse stage"; fi
else fail "2 tap gave no heartbeat"; fi

# 3. subscription inventory: no difference between desired and actual (when Twitch is configured)
if curl -fsS -H "$AUTH" -o "$tmp/subs" "$BASE_URL/api/subscriptions"; then
  summary=$(sed -n 's/.*"summary":"\([^"]*\)".*/\1/p' "$tmp/subs")
  if grep -q '"missing":\[\]' "$tmp/subs" && grep -q '"stale":\[\]' "$tmp/subs"; then pass "3 subscriptions: $summary"
  elif grep -q '"missing"' "$tmp/subs"; then fail "3 subscriptions differ: $summary (scripts/make-subscriptions.sh --apply)"
  else pass "3 subscriptions: $summary"; fi
else fail "3 /api/subscriptions did not answer"; fi

# 4. settings.update shows up on the admin SSE stream
ADMIN_SSE_TOKEN=$(curl -fsS -H "$AUTH" -H "$JSON" -d '{"aud":"admin"}' "$BASE_URL/api/sse-token" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
curl -sN --max-time 30 "$BASE_URL/admin/sse?token=$ADMIN_SSE_TOKEN" > "$tmp/admin" 2>/dev/null & pids+=($!)
wait_for "$tmp/admin" "event: state.replace" 5 || fail "4 admin stream sent no state.replace"
version=$(curl -fsS -H "$AUTH" "$BASE_URL/api/state" | grep -o '"version":[0-9]*' | head -1 | cut -d: -f2)
code=$(curl -sS -o "$tmp/upd" -w '%{http_code}' -H "$AUTH" -H "$JSON" "$BASE_URL/api/commands" \
  -d "{\"type\":\"settings.update\",\"payload\":{\"version\":${version:-0},\"settings\":{\"rewards\":{\"mock-queue-reward\":\"queue\"}}}}")
if [ "$code" = 200 ] && wait_for "$tmp/admin" "event: settings.updated" 5; then
  pass "4 settings.update -> settings.updated on SSE"
else fail "4 settings.updated not seen (HTTP $code: $(cat "$tmp/upd"))"; fi

# 5. a mock redemption shows up on the overlay stream as queue.enqueued
curl -sN --max-time 30 "$BASE_URL/overlay/sse?token=$OVERLAY_TOKEN" > "$tmp/overlay" 2>/dev/null & pids+=($!)
wait_for "$tmp/overlay" "event: state.replace" 5 || fail "5 overlay stream sent no state.replace"
code=$(curl -sS -o "$tmp/mock" -w '%{http_code}' -H "$AUTH" -H "$JSON" "$BASE_URL/_debug/mock/redemption" \
  -d "{\"user_name\":\"smoke_$(date +%s)\"}")
if [ "$code" = 404 ]; then
  pass "5 skipped: mocks are off in production"
elif [ "$code" = 202 ] && wait_for "$tmp/overlay" "event: queue.enqueued" 5; then
  pass "5 mock redemption -> queue.enqueued on the overlay stream"
else fail "5 queue.enqueued not seen (HTTP $code: $(cat "$tmp/mock"))"; fi

echo "smoke: $((5 - failures)) passed, $failures failed in $(( $(date +%s) - started )) s"
[ "$failures" = 0 ]
