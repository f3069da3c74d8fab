"""Chat commands: a `channel.chat.message` becomes one command of the domain, with its command log row
(source `chat`, the chatter as actor) and the chat message id as idempotency key.

Everyone: `!join [note]` (when settings chat.join is on), `!leave`, `!position`, `!queue`.
The broadcaster and the channel's moderators (as Twitch lists them, not as badges show them):
`!next [n]`, `!random [n]`, `!open`, `!close`, `!remove @user`, `!done @user`, `!count <name> [+n|-n|=n]`.

What a command answers goes to chat after the commit (ctx.say → twitch/chat.py), as a threaded reply
to the command, with the texts of settings chat.replies. A viewer's commands have a cooldown
(chat.cooldown_secs) during which they are logged as `rejected: cooldown` and answer nothing; a
viewer's moderator command is `rejected: moderators_only`, silently. Messages that are not commands
only refresh what the chatter's badges say about them (domain/roles.py); they leave no log row.
"""

from __future__ import annotations

import re
import time
from functools import partial
from typing import Any

from twi_overlay import repo
from twi_overlay.domain import counters, queue, roles, settings
from twi_overlay.domain.context import Actor, Ctx, Handler, Result
from twi_overlay.domain.outcomes import Outcome
from twi_overlay.domain.payload import COUNTER_NAME
from twi_overlay.repo.queue import QueueEntry
from twi_overlay.store.tx import Tx

QUEUE_NAMES = 5  # how many names !queue lists
MAX_PICK = 10
_COUNT_CHANGE = re.compile(r"^([+=-])(\d{1,9})$")


def parse(chat: dict[str, Any], text: str, is_reply: bool) -> tuple[str, str] | None:
    """(command, the rest of the message) when `text` is one of the channel's commands, else None. A
    threaded reply starts with Twitch's "@parent " mention: it is skipped."""
    text = text.strip()
    if is_reply and text.startswith("@"):
        text = text.partition(" ")[2].lstrip()
    prefix = chat["prefix"]
    if not text.startswith(prefix):
        return None
    word, _, rest = text[len(prefix) :].partition(" ")
    word = word.lower()
    for command, name in chat["commands"].items():
        if name and name == word:
            return command, rest.strip()
    return None


def handle(tx: Tx, broadcaster_id: str, payload: dict[str, Any], key: str) -> Outcome | str:
    """A chat message from the pipeline: the command's outcome, or why nothing was run."""
    if payload.get("shared_from"):
        return "ignored: shared from another channel"
    bot = repo.chat_bots.get(tx, broadcaster_id)
    if bot is not None and payload.get("user_id") == bot.user_id:
        return "ignored: our own message"  # the bot's answers (with the channel's own account, none parse)
    seen = roles.from_badges(payload.get("badges") or ())
    user_id, login = str(payload["user_id"]), str(payload.get("user_login") or "")
    repo.chatters.seen(tx, broadcaster_id, user_id, login, seen, time.time())
    chat = settings.load(tx, broadcaster_id).doc["chat"]
    if not chat["enabled"]:
        return "ignored: chat commands are off"
    parsed = parse(chat, str(payload.get("text") or ""), bool(payload.get("is_reply")))
    if parsed is None:
        return "ignored: not a command"
    command, args = parsed
    who = roles.of_viewer(tx, broadcaster_id, user_id, seen)
    name = str(payload.get("user_name") or login)
    role = roles.BROADCASTER if roles.BROADCASTER in who else roles.MODERATOR if roles.MODERATOR in who else "viewer"
    from twi_overlay.domain.runner import execute  # the runner knows every handler, these included

    return execute(
        tx,
        broadcaster_id,
        f"chat.{command}",
        {"args": args, "user_id": user_id, "user_login": login, "user_name": name, "roles": sorted(who)},
        source="chat",
        idempotency_key=key,
        actor=Actor(user_id, name, role),
        reply_to=str(payload.get("message_id") or "") or None,
    )


# -- helpers -------------------------------------------------------------------------------------
def _chat(ctx: Ctx) -> dict[str, Any]:
    chat: dict[str, Any] = settings.current(ctx).doc["chat"]
    return chat


def _reply(ctx: Ctx, key: str, reply: bool = True, **values: Any) -> None:
    chat = _chat(ctx)
    ctx.say(settings.render(chat["replies"][key], prefix=chat["prefix"], **values), reply=reply)


def _viewer(payload: dict[str, Any]) -> tuple[str, str, frozenset[str]]:
    return str(payload["user_id"]), str(payload["user_name"]), frozenset(payload.get("roles") or ())


def _cooling_down(ctx: Ctx, payload: dict[str, Any]) -> bool:
    """A viewer's commands are paced by chat.cooldown_secs (moderators are not)."""
    user_id, _, who = _viewer(payload)
    if roles.moderates(who):
        return False
    now = time.time()
    chatter = repo.chatters.get(ctx.tx, ctx.broadcaster_id, user_id)
    if chatter is not None and chatter.last_command_at is not None:
        if now - chatter.last_command_at < _chat(ctx)["cooldown_secs"]:
            return True
    repo.chatters.commanded(ctx.tx, ctx.broadcaster_id, user_id, now)
    return False


def _entries_of(ctx: Ctx, user_id: str) -> list[QueueEntry]:
    return [e for e in repo.queue.active(ctx.tx, ctx.broadcaster_id) if e.user_id == user_id]


def _mine(ctx: Ctx, payload: dict[str, Any]) -> tuple[str, list[QueueEntry]]:
    """The chatter's name and their entries in the queue."""
    user_id, name, _ = _viewer(payload)
    return name, _entries_of(ctx, user_id)


def _not_in_queue(ctx: Ctx, name: str) -> Result:
    _reply(ctx, "not_in_queue", user=name)
    return Result("rejected", "not_in_queue")


def _entry_by_login(ctx: Ctx, mention: str) -> QueueEntry | None:
    login = mention.strip().lstrip("@").lower()
    for e in repo.queue.active(ctx.tx, ctx.broadcaster_id):
        if (e.user_login or "").lower() == login or e.user_name.lower() == login:
            return e
    return None


COOLDOWN = Result("rejected", "cooldown")
MODERATORS_ONLY = Result("rejected", "moderators_only")


# -- everyone ------------------------------------------------------------------------------------
def join(ctx: Ctx, payload: dict[str, Any]) -> Result:
    if _cooling_down(ctx, payload):
        return COOLDOWN
    user_id, name, who = _viewer(payload)
    chat = _chat(ctx)
    if not chat["join"]:
        _reply(ctx, "join_off", user=name)
        return Result("rejected", "chat_join_off")
    result = queue.enqueue(
        ctx,
        {
            "user_id": user_id,
            "user_login": payload.get("user_login"),
            "user_name": name,
            "note": payload.get("args") or "",
            "roles": sorted(who),
        },
    )
    if result.result == "ok":
        entry = (result.data or {})["entry"]
        _reply(ctx, "joined", user=name, position=entry["position"])
        return result
    rules = settings.current(ctx).doc["queue"]
    if result.reason == "per_user_limit":
        mine = _entries_of(ctx, user_id)
        _reply(ctx, "already", user=name, position=mine[0].position if mine else "?")
    elif result.reason == "not_eligible":
        _reply(ctx, "not_eligible", user=name, who=roles.who(rules["eligibility"]))
    elif result.reason == "queue_closed":
        _reply(ctx, "closed", user=name)
    elif result.reason == "queue_full":
        _reply(ctx, "full", user=name)
    return result


def leave(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """The viewer's entries leave the queue (a redemption of ours is refunded: they were not served)."""
    if _cooling_down(ctx, payload):
        return COOLDOWN
    name, mine = _mine(ctx, payload)
    if not mine:
        return _not_in_queue(ctx, name)
    for entry in mine:
        queue.cancel(ctx, {"entry_id": entry.id})
    _reply(ctx, "left", user=name)
    return Result(data={"entry_ids": [e.id for e in mine]})


def position(ctx: Ctx, payload: dict[str, Any]) -> Result:
    if _cooling_down(ctx, payload):
        return COOLDOWN
    name, mine = _mine(ctx, payload)
    if not mine:
        return _not_in_queue(ctx, name)
    place = mine[0].position or 0
    _reply(ctx, "position", user=name, position=place, ahead=place - 1)
    return Result(data={"position": place})


def show_queue(ctx: Ctx, payload: dict[str, Any]) -> Result:
    if _cooling_down(ctx, payload):
        return COOLDOWN
    waiting = repo.queue.waiting(ctx.tx, ctx.broadcaster_id)
    if not waiting:
        _reply(ctx, "queue_empty")
        return Result(data={"names": []})
    names = [e.user_name for e in waiting[:QUEUE_NAMES]]
    listed = ", ".join(names) + (f" (+{len(waiting) - QUEUE_NAMES} more)" if len(waiting) > QUEUE_NAMES else "")
    _reply(ctx, "queue", names=listed)
    return Result(data={"names": names})


# -- moderators ----------------------------------------------------------------------------------
def _moderators_only(handler: Handler) -> Handler:
    """The broadcaster's and moderators' commands: anyone else's is logged as refused, and says nothing."""

    def run(ctx: Ctx, payload: dict[str, Any]) -> Result:
        if not roles.moderates(frozenset(payload.get("roles") or ())):
            return MODERATORS_ONLY
        return handler(ctx, payload)

    return run


def _count_arg(payload: dict[str, Any]) -> int:
    raw = str(payload.get("args") or "").split()
    if not raw:
        return 1
    return max(1, min(MAX_PICK, int(raw[0]))) if raw[0].isdigit() and raw[0].isascii() else 1


def _pick(ctx: Ctx, payload: dict[str, Any], rnd: bool) -> Result:
    """!next [n] / !random [n]."""
    result = queue.pick(ctx, {"count": _count_arg(payload), "random": rnd})
    if result.result != "ok":
        _reply(ctx, "nobody_waiting", user=payload["user_name"])
    return result  # the picked are told "you're up" by queue.pick


def _open(ctx: Ctx, payload: dict[str, Any], is_open: bool) -> Result:
    """!open / !close."""
    stored = settings.current(ctx)
    if stored.doc["queue"]["open"] == is_open:
        return Result("ok", "already open" if is_open else "already closed")
    result = settings.update(ctx, {"version": stored.version, "settings": {"queue": {"open": is_open}}})
    _reply(ctx, "opened" if is_open else "closed_now", reply=False)
    return result


def _finish(ctx: Ctx, payload: dict[str, Any], done: bool) -> Result:
    """!done @user / !remove @user."""
    mention = str(payload.get("args") or "").split(" ")[0]
    entry = _entry_by_login(ctx, mention) if mention else None
    if entry is None:
        _reply(ctx, "not_found", user=payload["user_name"], name=mention.lstrip("@") or "?")
        return Result("rejected", "not_in_queue")
    result = (queue.complete if done else queue.cancel)(ctx, {"entry_id": entry.id})
    _reply(ctx, "done" if done else "removed", user=payload["user_name"], name=entry.user_name)
    return result


def count(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """!count <name> [+n|-n|=n]: one up without a change."""
    words = str(payload.get("args") or "").split()
    if not words or not COUNTER_NAME.match(words[0]) or len(words) > 2:
        return Result("rejected", "bad_arguments")
    name, change = words[0], words[1] if len(words) == 2 else "+1"
    m = _COUNT_CHANGE.match(change)
    if m is None:
        return Result("rejected", "bad_arguments")
    sign, n = m.group(1), int(m.group(2))
    if sign == "=":
        result = counters.set_value(ctx, {"name": name, "value": n})
    else:
        result = counters.increment(ctx, {"name": name, "by": n if sign == "+" else -n})
    _reply(ctx, "count", name=name, value=(result.data or {}).get("value"))
    return result


def banned(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """viewer.banned (Twitch's channel.ban, a ban or a timeout): their entries leave the queue, a
    redemption of ours refunded."""
    user_id = payload.get("user_id")
    gone = [e for e in repo.queue.active(ctx.tx, ctx.broadcaster_id) if user_id and e.user_id == user_id]
    for entry in gone:
        queue.cancel(ctx, {"entry_id": entry.id})
    return Result("ok", None if gone else "not in the queue", {"entry_ids": [e.id for e in gone]})


COMMANDS: dict[str, Handler] = {
    "chat.join": join,
    "chat.leave": leave,
    "chat.position": position,
    "chat.queue": show_queue,
    "chat.next": _moderators_only(partial(_pick, rnd=False)),
    "chat.random": _moderators_only(partial(_pick, rnd=True)),
    "chat.open": _moderators_only(partial(_open, is_open=True)),
    "chat.close": _moderators_only(partial(_open, is_open=False)),
    "chat.remove": _moderators_only(partial(_finish, done=False)),
    "chat.done": _moderators_only(partial(_finish, done=True)),
    "chat.count": _moderators_only(count),
    "viewer.banned": banned,
}
ADMIN_COMMANDS: frozenset[str] = frozenset()  # from chat and Twitch only
