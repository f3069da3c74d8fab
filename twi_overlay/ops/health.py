"""GET /healthz: process up, database writable in WAL mode, clock skew under threshold, with the conduit
transport a shard connected, every background loop running (docs/api.md)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from twi_overlay import keys
from twi_overlay.store.sqlite import journal_mode
from twi_overlay.web.errors import json_response

CHECK_TIMEOUT = 3.0
LOOP_DOWN_SECS = 5.0  # a supervised loop restarts after 1-60 s; down longer than this is worth a page


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    uptime = round(time.time() - app[keys.STARTED_AT], 1)
    checks: dict[str, dict[str, object]] = {"process": {"ok": True, "uptime_s": uptime}}
    try:
        # A write job: getting an answer means the writer took the write lock within the timeout.
        mode = await asyncio.wait_for(app[keys.DB].write(journal_mode), CHECK_TIMEOUT)
        checks["database"] = {"ok": mode == "wal", "journal_mode": mode, "writable": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "writable": False, "error": type(exc).__name__}
    skew = app[keys.CLOCK]
    fresh = skew.observed_at is not None and time.time() - skew.observed_at < 3600
    if fresh and skew.seconds is not None:
        # Half of the window deliveries are accepted in: health fails before deliveries do.
        checks["clock"] = {
            "ok": abs(skew.seconds) < app[keys.SETTINGS].max_clock_skew_secs / 2,
            "skew_s": round(skew.seconds, 3),
            "source": "eventsub timestamps",
        }
    else:
        checks["clock"] = {"ok": True, "skew_s": None, "source": "no recent signed delivery"}
    conduit = app.get(keys.CONDUIT)
    if conduit is not None:
        # No shard connected for longer than a keepalive window: Twitch cannot reach us at all.
        down_for = conduit.down_for()
        checks["eventsub"] = {
            "ok": down_for <= conduit.window,
            "transport": "conduit",
            "connected_shards": conduit.connected(),
            "down_s": round(down_for, 1),
        }
    down = app[keys.LOOPS].down_longer_than(LOOP_DOWN_SECS)
    checks["loops"] = {"ok": not down, "down": down}
    failed = [name for name, c in checks.items() if not c["ok"]]
    body = {"status": "ok" if not failed else "fail", "failed": failed, "checks": checks}
    return json_response(body, status=200 if not failed else 503)
