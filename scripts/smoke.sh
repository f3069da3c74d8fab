#!/usr/bin/env bash
# Smoke test right after a deploy (docs/operations.md §18), curl only. Exit 0 when every step passed.
# Safe in production: it goes through the public routes only (nginx refuses /_debug/ from outside) and
# leaves nothing behind (the settings it writes are the ones already there; only their version moves).
#   BASE_URL        http://127.0.0.1:8080 (or https://overlay.example.com through nginx)
#   ADMIN_TOKEN     an admin token; or BROADCASTER_ID + TWI_BIN to mint one with `twi-overlay token`
#   TWI_BIN         .venv/bin/twi-overlay (or /opt/twi-overlay/current/.venv/bin/twi-overlay)
#   CURL_OPTS       extra curl options, e.g. `--cacert ca.pem` for a staging host with its own CA
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
read -r -a extra <<< "${CURL_OPTS:-}"
curl() { command curl "${extra[@]}" "$@"; }

# 1. health
if curl -fsS -o "$tmp/health" "$BASE_URL/healthz"; then pass "1 /healthz 200: $(cat "$tmp/health")"
else fail "1 /healthz did not answer 200"; fi

# 2. the overlay stream opens and its first frames arrive at once (nothing buffers them on the way)
OVERLAY_TOKEN=$(curl -fsS -H "$AUTH" -H "$JSON" -d '{"aud":"overlay"}' "$BASE_URL/api/sse-token" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$OVERLAY_TOKEN" ] || fail "2 could not get an overlay token"
curl -sN --max-time 30 "$BASE_URL/overlay/sse?token=$OVERLAY_TOKEN" > "$tmp/overlay" 2>/dev/null & pids+=($!)
if wait_for "$tmp/overlay" "^retry: " 5 && wait_for "$tmp/overlay" "event: state.replace" 5; then
  pass "2 overlay stream: retry and state.replace arrived"
else fail "2 overlay stream sent no retry/state.replace (proxy buffering?)"; fi

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
curl -fsS -H "$AUTH" "$BASE_URL/api/state" > "$tmp/state"
version=$(grep -o '"version":[0-9]*' "$tmp/state" | head -1 | cut -d: -f2)
open=$(grep -o '"open":\(true\|false\)' "$tmp/state" | head -1 | cut -d: -f2)
# The queue's own open/closed value, sent back as it is: the stream sees an update, nothing changes.
code=$(curl -sS -o "$tmp/upd" -w '%{http_code}' -H "$AUTH" -H "$JSON" "$BASE_URL/api/commands" \
  -d "{\"type\":\"settings.update\",\"payload\":{\"version\":${version:-0},\"settings\":{\"queue\":{\"open\":${open:-true}}}}}")
if [ "$code" = 200 ] && wait_for "$tmp/admin" "event: settings.updated" 5; then
  pass "4 settings.update (same values) -> settings.updated on SSE"
else fail "4 settings.updated not seen (HTTP $code: $(cat "$tmp/upd"))"; fi

# 5. development only: a mock redemption goes through the pipeline (for a reward bound to nothing, so
#    no queue entry is left; its command-log row expires with the TTL)
code=$(curl -sS -o "$tmp/mock" -w '%{http_code}' -H "$AUTH" -H "$JSON" "$BASE_URL/_debug/mock/redemption" \
  -d "{\"user_name\":\"smoke_$(date +%s)\",\"reward_id\":\"smoke-unbound-reward\"}")
if [ "$code" = 404 ] || [ "$code" = 403 ]; then
  pass "5 skipped: mocks are off in production (or /_debug/ is not reachable through the proxy)"
elif [ "$code" = 202 ] && wait_for "$tmp/admin" '"type":"redemption.add"' 5; then
  pass "5 mock redemption processed (command.logged on the admin stream)"
else fail "5 the mock redemption was not processed (HTTP $code: $(cat "$tmp/mock"))"; fi

echo "smoke: $((5 - failures)) passed, $failures failed in $(( $(date +%s) - started )) s"
[ "$failures" = 0 ]
