"""create_app(settings): keys, routes, cleanup contexts (db → processor → jobs → heartbeat), shutdown."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from prometheus_async.aio.web import server_stats

from twi_overlay import api, keys, oauth, pages
from twi_overlay.background import background
from twi_overlay.config import Settings
from twi_overlay.db import Database
from twi_overlay.health import CLOCK, ClockSkew, healthz
from twi_overlay.helix_worker import HelixWorker
from twi_overlay.hub import Hub
from twi_overlay.jobs import ttl_ctx
from twi_overlay.middlewares import edge_middleware
from twi_overlay.migrate import migrate
from twi_overlay.pipeline import Processor
from twi_overlay.ratelimit import RateLimiter
from twi_overlay.sse import admin_sse, close_streams, heartbeat_ctx, overlay_sse
from twi_overlay.subscriptions import subscriptions_loop
from twi_overlay.tap import Tap
from twi_overlay.twitch import Twitch
from twi_overlay.webhook import eventsub_webhook

log = logging.getLogger(__name__)


async def db_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    settings = app[keys.SETTINGS]
    await asyncio.to_thread(migrate, settings.database_path)
    db = Database(settings.database_path, on_events=app[keys.HUB].publish)
    await db.open()
    app[keys.DB] = db
    yield
    await db.close()


async def twitch_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    settings = app[keys.SETTINGS]
    app[keys.TWITCH] = Twitch(settings, app[keys.DB])
    app[keys.HELIX] = HelixWorker(
        app[keys.DB],
        app[keys.TWITCH],
        app[keys.TAP],
        settings.helix_poll_secs,
        settings.helix_backoff_secs,
        settings.helix_throttle_secs,
    )
    if app[keys.TWITCH].configured:
        async for _ in background("helix-worker", run_helix)(app):
            async for _ in background("eventsub-subscriptions", subscriptions_loop)(app):
                yield
    else:
        yield
    await app[keys.TWITCH].close()


async def run_helix(app: web.Application) -> None:
    await app[keys.HELIX].run()


async def run_processor(app: web.Application) -> None:
    await app[keys.PROCESSOR].run()


async def processor_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    app[keys.PROCESSOR] = Processor(app[keys.DB], app[keys.TAP])
    async for _ in background("eventsub-processor", run_processor)(app):
        yield


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    if request.app[keys.SETTINGS].production and request.headers.get("X-Forwarded-For"):
        # Behind nginx /metrics is internal only; refuse anything that came through the proxy.
        raise web.HTTPForbidden(reason="metrics are internal")
    return await server_stats(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[edge_middleware], client_max_size=512 * 1024)
    app[keys.SETTINGS] = settings
    app[keys.HUB] = Hub(settings.sse_ring_max, settings.sse_client_buffer)
    app[keys.TAP] = Tap()
    app[keys.DEBUG_LIMITER] = RateLimiter(rate_per_sec=20, burst=40)
    app[keys.STARTED_AT] = time.time()
    app[CLOCK] = ClockSkew()
    app.cleanup_ctx.extend([db_ctx, twitch_ctx, processor_ctx, ttl_ctx, heartbeat_ctx])
    app.on_shutdown.append(close_streams)

    app.router.add_post("/eventsub/webhook", eventsub_webhook)
    app.router.add_get("/overlay/sse", overlay_sse)
    app.router.add_get("/admin/sse", admin_sse)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler)
    api.setup_routes(app)
    oauth.setup_routes(app)
    pages.setup_routes(app)
    return app
