"""Runs one command: idempotency, a savepoint, the handler, one command_log row, the events.

`execute()` is the single entry point for every command, from the admin API, the pipeline (Twitch)
and the redemption catch-up. It runs in the caller's write transaction and returns a typed outcome.
A refused command is rolled back to its savepoint, but its `error` row in the command log commits with
the transaction, so a repeated idempotency key is refused the same way.
"""

from __future__ import annotations

import time
from typing import Any

from twi_overlay import repo
from twi_overlay.domain import broadcasters, chat, counters, moderators, queue, redemptions, rewards, settings
from twi_overlay.domain.context import Actor, Ctx, Handler
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.outcomes import Handled, Outcome, Refusal, Refuse, Refused
from twi_overlay.domain.payload import as_object
from twi_overlay.ops import metrics
from twi_overlay.repo.commands import StoredAnswer
from twi_overlay.store.tx import Tx

HANDLERS: dict[str, Handler] = {
    **queue.COMMANDS,
    **counters.COMMANDS,
    **settings.COMMANDS,
    **rewards.COMMANDS,
    **broadcasters.COMMANDS,
    **moderators.COMMANDS,
    **redemptions.COMMANDS,
    **chat.COMMANDS,
}
# What the admin API may run; the rest come from Twitch only.
ADMIN_COMMANDS = queue.ADMIN_COMMANDS | counters.ADMIN_COMMANDS | settings.ADMIN_COMMANDS | rewards.ADMIN_COMMANDS


def execute(
    tx: Tx,
    broadcaster_id: str,
    type_: str,
    payload: Any,
    source: str = "admin",
    idempotency_key: str | None = None,
    actor: Actor | None = None,
    reply_to: str | None = None,
) -> Outcome:
    if idempotency_key is not None:
        previous = repo.commands.by_idempotency_key(tx, broadcaster_id, idempotency_key)
        if previous is not None:
            if source == "admin" and not previous.same_request(type_, payload):
                # One key, one request (a client bug would otherwise get another command's answer).
                # Twitch's own keys (a redemption id) may come back with fresher details: not compared.
                return Refused(
                    Refusal.INVALID, "idempotency_key_reused", "this Idempotency-Key was sent with another command"
                )
            return _replay(previous)
    ctx = Ctx(tx, broadcaster_id, source, actor, reply_to=reply_to)
    settings.current(ctx)  # a first command creates the settings row, outside the command's savepoint
    handler = HANDLERS.get(type_) if (source != "admin" or type_ in ADMIN_COMMANDS) else None
    ts = time.time()

    def log(result: str, reason: str | None, response: dict[str, Any]) -> None:
        _log(tx, broadcaster_id, type_, source, payload, result, reason, idempotency_key, response, ts, actor)

    tx.savepoint("command")
    try:
        if handler is None:
            raise Refuse(Refusal.UNKNOWN_COMMAND, "unknown_command", f"unknown command type {type_!r}")
        result = handler(ctx, as_object(payload))
    except Refuse as exc:
        tx.rollback_to("command")
        refused = exc.outcome
        log("error", refused.reason, refused.stored())
        metrics.POLICY_COMMANDS.labels(type_ if handler else "unknown", "error").inc()
        return refused
    tx.release("command")
    handled = Handled(result.result, result.reason, result.data, tuple([e.wire() for e in ctx.events]))
    for event in ctx.events:
        tx.emit(event)
    for message in ctx.said:  # sent to chat once committed; never for a refused or replayed command
        tx.emit(message)
    log(result.result, result.reason, handled.answer())
    metrics.POLICY_COMMANDS.labels(type_, result.result).inc()
    return handled


def _replay(previous: StoredAnswer) -> Outcome:
    if previous.response is None:
        # A refusal logged by an older version, which kept only its reason: refuse the same way.
        return Refused(Refusal.MALFORMED, "refused", previous.reason or "refused")
    if "refused" in previous.response:
        return Refused.from_stored(previous.response)
    return Handled.replay(previous.response)


def _log(
    tx: Tx,
    broadcaster_id: str,
    type_: str,
    source: str,
    payload: Any,
    result: str,
    reason: str | None,
    idempotency_key: str | None,
    response: dict[str, Any],
    ts: float,
    actor: Actor | None,
) -> None:
    log_id = repo.commands.log(
        tx,
        broadcaster_id,
        type_=type_,
        source=source,
        payload=payload,
        result=result,
        reason=reason,
        idempotency_key=idempotency_key,
        response=response,
        ts=ts,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.name if actor else None,
    )
    tx.emit(
        admin_event(
            broadcaster_id,
            "command.logged",
            {
                "id": log_id,
                "ts": ts,
                "type": type_,
                "source": source,
                "result": result,
                "reason": reason,
                "actor": actor.name if actor else None,
            },
        )
    )
