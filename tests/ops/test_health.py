"""GET /healthz: 200, and 503 naming the failed check."""

from __future__ import annotations

from typing import Any

from twi_overlay import keys


async def test_healthz_ok(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.status == 200
    body = await r.json()
    assert body["status"] == "ok" and body["checks"]["database"] == {
        "ok": True,
        "journal_mode": "wal",
        "writable": True,
    }


async def test_healthz_503_names_the_clock_when_skewed(client: Any) -> None:
    import time

    client.app[keys.CLOCK].observe(time.time() - 400)
    r = await client.get("/healthz")
    assert r.status == 503
    body = await r.json()
    assert body["failed"] == ["clock"] and body["checks"]["clock"]["skew_s"] >= 399


async def test_healthz_503_names_the_database_when_it_is_gone(client: Any) -> None:
    await client.app[keys.DB].close()
    r = await client.get("/healthz")
    assert r.status == 503
    assert (await r.json())["failed"] == ["database"]


async def test_healthz_503_names_a_background_loop_that_stays_down(client: Any) -> None:
    import time

    loops = client.app[keys.LOOPS]
    assert (await client.get("/healthz")).status == 200
    loops.failed("eventsub-processor")
    loops.down_since["eventsub-processor"] = time.monotonic() - 6  # it failed 6 s ago and has not recovered
    r = await client.get("/healthz")
    assert r.status == 503
    body = await r.json()
    assert body["failed"] == ["loops"] and body["checks"]["loops"]["down"] == ["eventsub-processor"]
