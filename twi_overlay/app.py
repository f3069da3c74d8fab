"""create_app(settings): every AppKey, route, background loop and shutdown hook, wired in one place.

Cleanup contexts start in this order and stop in the reverse one, so what depends on something stops
before it: the database → Twitch (when configured) → the processor → the conduit's WebSockets (with
EVENTSUB_TRANSPORT=conduit) → the TTL job → the heartbeats → the garbage-collection steward.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_async.aio.web import server_stats

from twi_overlay import keys, pacing
from twi_overlay.config import Settings
from twi_overlay.domain.events import Event, Say
from twi_overlay.ingest.door import Door
from twi_overlay.ingest.webhook import eventsub_webhook
from twi_overlay.ops import jobs, metrics
from twi_overlay.ops.background import Loops, Tasks, background
from twi_overlay.ops.clock import ClockSkew
from twi_overlay.ops.gcsteward import gc_loop
from twi_overlay.ops.health import healthz
from twi_overlay.ops.tap import Tap
from twi_overlay.pipeline import Processor
from twi_overlay.store.database import Database
from twi_overlay.store.migrate import migrate
from twi_overlay.stream.access import close_revoked
from twi_overlay.stream.hub import Hub
from twi_overlay.stream.public import PublicFeeds
from twi_overlay.stream.sse import admin_sse, overlay_sse
from twi_overlay.twitch import oauth
from twi_overlay.twitch.catchup import CatchUpOnRequest, catch_up_until_done
from twi_overlay.twitch.chat import ChatSender
from twi_overlay.twitch.client import Twitch
from twi_overlay.twitch.conduit import ConduitTransport
from twi_overlay.twitch.helix_worker import HelixWorker
from twi_overlay.twitch.subscriptions import subscriptions_loop
from twi_overlay.web import api, pages, public, sounds
from twi_overlay.web.middlewares import edge_middleware
from twi_overlay.web.peer import client_address
from twi_overlay.web.ratelimit import RateLimiter


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    await asyncio.to_thread(migrate, settings.database_path)
    hub, public = app[keys.HUB], app[keys.PUBLIC]

    def published(emitted: list[Any]) -> None:  # after each commit: the streams, the public pages, chat
        events = [e for e in emitted if isinstance(e, Event)]
        hub.publish(events)
        close_revoked(hub, events)
        public.notify(events)
        chat = app.get(keys.CHAT)
        if chat is not None and len(events) != len(emitted):
            chat.send([e for e in emitted if isinstance(e, Say)])
        twitch = app.get(keys.TWITCH)
        if twitch is not None and any(e.type in ("chat.switched", "chat.bot_changed") for e in events):
            twitch.reconcile_soon.set()  # chat's subscriptions now, not at the next hourly pass

    db = Database(settings.database_path, on_events=published)
    await db.open()
    app[keys.DB] = public.db = db
    yield
    await app[keys.TASKS].close()  # they use the database: they stop before it closes
    await db.close()


async def twitch_ctx(app: web.Application) -> AsyncIterator[None]:
    """Only when Twitch is configured: the client, the status-update worker, the subscriptions loop, the
    chat answers, and the catch-up on redemptions made while the server was down."""
    settings = app[keys.SETTINGS]
    twitch = app[keys.TWITCH] = Twitch(settings, app[keys.DB])
    helix = app[keys.HELIX] = HelixWorker(
        app[keys.DB],
        twitch,
        app[keys.TAP],
        settings.helix_poll_secs,
        settings.helix_backoff_secs,
        settings.helix_throttle_secs,
        settings.helix_backoff_max_secs,
    )
    loops = app[keys.LOOPS]
    app[keys.TASKS].spawn(catch_up_until_done(app[keys.DB], twitch), "catch-up-at-start")
    chat = app[keys.CHAT] = ChatSender(app[keys.DB], twitch)
    async for _ in background("helix-worker", lambda _app: helix.run(), loops)(app):
        subscriptions = background(
            "eventsub-subscriptions", lambda _app: subscriptions_loop(app[keys.DB], twitch), loops
        )
        async for _ in subscriptions(app):
            async for _ in background("chat-sender", lambda _app: chat.run(), loops)(app):
                yield
    await twitch.close()


async def processor_ctx(app: web.Application) -> AsyncIterator[None]:
    processor = app[keys.PROCESSOR] = Processor(app[keys.DB], app[keys.TAP])
    async for _ in background("eventsub-processor", lambda _app: processor.run(), app[keys.LOOPS])(app):
        yield


async def conduit_ctx(app: web.Application) -> AsyncIterator[None]:
    """EVENTSUB_TRANSPORT=conduit (with Twitch configured): the WebSocket shards, after the processor they
    feed and before it in the shutdown; and the catch-ups they ask for after each gap."""
    twitch = app[keys.TWITCH]
    catch_up = CatchUpOnRequest(app[keys.DB], twitch)
    door = Door(app[keys.DB], app[keys.TAP], app[keys.PROCESSOR], catch_up.request)
    conduit = app[keys.CONDUIT] = ConduitTransport(app[keys.SETTINGS], twitch, door, catch_up)
    loops = app[keys.LOOPS]
    async for _ in background("eventsub-catch-up", lambda _app: catch_up.run(), loops)(app):
        async for _ in background("eventsub-conduit", lambda _app: conduit.run(), loops)(app):
            yield


async def heartbeats(app: web.Application) -> None:
    """One shared ticker for every stream's `:heartbeat` (not a timer per client), spread evenly over the
    interval: a few broadcasters at a time, so that neither one burst (10,000 idle streams at once held
    webhook ACKs back by 250 ms) nor a larger slice (a 12-17 ms turn of the loop) sits in front of an
    ACK or an event's fan-out."""
    interval = app[keys.SETTINGS].sse_heartbeat_secs
    hub = app[keys.HUB]
    while True:
        ids = hub.broadcaster_ids()  # the broadcasters of this round; newer ones wait for the next
        slices = max(1, min(max(pacing.HEARTBEAT_SLICES, len(ids)), int(interval / pacing.HEARTBEAT_SLICE_MIN_SECS)))
        for part in range(slices):
            await asyncio.sleep(interval / slices)
            hub.heartbeat_to(ids[part::slices])
        app[keys.TAP].heartbeat()
        await app[keys.PUBLIC].heartbeat()


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end every open stream now, so a restart takes seconds, not aiohttp's 60 s."""
    await app[keys.HUB].close_all()
    app[keys.TAP].close_all()
    app[keys.PUBLIC].close_all()


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    if settings.production and client_address(request) not in settings.metrics_allow:
        # Internal only: by the client's address (through nginx, the one nginx saw), not by headers.
        raise web.HTTPForbidden(reason="metrics are internal")
    return await server_stats(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[edge_middleware], client_max_size=512 * 1024)
    app[keys.SETTINGS] = settings
    hub = app[keys.HUB] = Hub(
        settings.sse_ring_max, settings.sse_client_buffer, settings.sse_ring_bytes, settings.sse_ring_budget_bytes
    )
    metrics.SSE_RING_BYTES.set_function(lambda: hub.kept_bytes)  # read at scrape time, not on every event
    app[keys.TAP] = Tap()
    app[keys.PUBLIC] = PublicFeeds()
    app[keys.TASKS] = Tasks()
    loops = app[keys.LOOPS] = Loops()
    app[keys.CLOCK] = ClockSkew()
    app[keys.DEBUG_LIMITER] = RateLimiter(rate_per_sec=20, burst=40)
    app[keys.STARTED_AT] = time.time()

    app.cleanup_ctx.append(db_ctx)
    if settings.twitch_configured:
        app.cleanup_ctx.append(twitch_ctx)
    app.cleanup_ctx.append(processor_ctx)
    if settings.twitch_configured and settings.conduit:
        app.cleanup_ctx.append(conduit_ctx)
    app.cleanup_ctx.extend(
        [
            background("ttl-checkpoint", jobs.ttl_loop, loops),
            background("sse-heartbeat", heartbeats, loops),
            background("gc-steward", lambda _app: gc_loop(), loops),
        ]
    )
    app.on_shutdown.append(close_streams)

    if not settings.conduit:  # one door: with the conduit transport there is no webhook to sign
        app.router.add_post("/eventsub/webhook", eventsub_webhook)
    app.router.add_get("/overlay/sse", overlay_sse)
    app.router.add_get("/admin/sse", admin_sse)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler)
    api.setup_routes(app)
    oauth.setup_routes(app)
    pages.setup_routes(app)
    public.setup_routes(app)
    sounds.setup_routes(app)
    return app
