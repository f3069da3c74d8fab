"""Every web.AppKey the application uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
DB = web.AppKey("db", "Database")
HUB = web.AppKey("hub", "Hub")
TAP = web.AppKey("tap", "Tap")
PROCESSOR = web.AppKey("processor", "Processor")
DEBUG_LIMITER = web.AppKey("debug_limiter", "RateLimiter")
STARTED_AT = web.AppKey("started_at", float)
TWITCH = web.AppKey("twitch", "Twitch")
HELIX = web.AppKey("helix", "HelixWorker")
