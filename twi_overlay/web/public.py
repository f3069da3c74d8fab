"""The public queue page, `/q/<login>` (docs/api.md): a static, cacheable page for every channel whose
streamer switched it on (404 otherwise), fed by the `public` audience (stream/public.py). Every request
under /q/ is rate-limited per client address."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.stream.public import public_page_on
from twi_overlay.web.errors import ApiError
from twi_overlay.web.peer import client_address

STATIC = Path(__file__).resolve().parent / "static"


async def _channel_of(request: web.Request) -> str:
    feeds = request.app[keys.PUBLIC]
    if not feeds.limiter.allow(client_address(request)):
        raise ApiError(429, "rate_limited", "too many requests; slow down", {"Retry-After": "1"})
    login = request.match_info["login"]
    if not login.replace("_", "").isalnum() or len(login) > 25:
        raise ApiError(404, "not_found", f"no route for {request.path}")
    found = await request.app[keys.DB].read(repo.broadcasters.id_of_login, login)
    if found is None:
        raise ApiError(404, "not_found", f"no route for {request.path}")
    return found


async def public_page(request: web.Request) -> web.StreamResponse:
    broadcaster_id = await _channel_of(request)
    if not await request.app[keys.DB].read(public_page_on, broadcaster_id):
        raise ApiError(404, "not_found", f"no route for {request.path}")
    response = web.FileResponse(STATIC / "public.html")
    response.headers["Cache-Control"] = "public, max-age=300"  # the same page for every channel and viewer
    return response


async def public_sse(request: web.Request) -> web.StreamResponse:
    broadcaster_id = await _channel_of(request)
    settings = request.app[keys.SETTINGS]
    return await request.app[keys.PUBLIC].serve(
        request, broadcaster_id, client_address(request), settings.sse_max_streams_per_client
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/q/{login}", public_page)
    app.router.add_get("/q/{login}/sse", public_sse)
