"""The broadcaster's live flag: stream.online and stream.offline from Twitch."""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import public_event


def _live(live: bool) -> Handler:
    def handler(ctx: Ctx, payload: dict[str, Any]) -> Result:
        repo.broadcasters.set_live(ctx.tx, ctx.broadcaster_id, live)
        ctx.emit(public_event(ctx.broadcaster_id, "stream.status", {"live": live}))
        return Result()

    return handler


COMMANDS: dict[str, Handler] = {"stream.online": _live(True), "stream.offline": _live(False)}
ADMIN_COMMANDS: frozenset[str] = frozenset()
