"""Every web.AppKey the application uses, with the type of what it holds (wiring: app.py)."""

from __future__ import annotations

from aiohttp import web

from twi_overlay.config import Settings
from twi_overlay.ops.background import Loops, Tasks
from twi_overlay.ops.clock import ClockSkew
from twi_overlay.ops.tap import Tap
from twi_overlay.pipeline import Processor
from twi_overlay.store.database import Database
from twi_overlay.stream.hub import Hub
from twi_overlay.stream.public import PublicFeeds
from twi_overlay.twitch.chat import ChatSender
from twi_overlay.twitch.client import Twitch
from twi_overlay.twitch.conduit import ConduitTransport
from twi_overlay.twitch.helix_worker import HelixWorker
from twi_overlay.web.ratelimit import RateLimiter

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HUB = web.AppKey("hub", Hub)
TAP = web.AppKey("tap", Tap)
PUBLIC = web.AppKey("public", PublicFeeds)  # the viewers' streams of /q/<login>
PROCESSOR = web.AppKey("processor", Processor)
TASKS = web.AppKey("tasks", Tasks)  # one-off tasks (after a sign-in), cancelled at shutdown
LOOPS = web.AppKey("loops", Loops)  # the supervised background loops: which are down, since when
CLOCK = web.AppKey("clock_skew", ClockSkew)
DEBUG_LIMITER = web.AppKey("debug_limiter", RateLimiter)
STARTED_AT = web.AppKey("started_at", float)
# Only when Twitch is configured (TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET): read with app.get().
TWITCH = web.AppKey("twitch", Twitch)
HELIX = web.AppKey("helix", HelixWorker)
CONDUIT = web.AppKey("conduit", ConduitTransport)  # only with EVENTSUB_TRANSPORT=conduit
CHAT = web.AppKey("chat", ChatSender)  # answers in chat, with Twitch configured
