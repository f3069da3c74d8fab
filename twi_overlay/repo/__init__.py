"""The repository: the only door to SQL. One module per file of sql/ (queue.py runs sql/queue.sql),
each a set of plain functions `fn(tx, ...)` that run inside the caller's transaction and return frozen
dataclasses, never rows."""

from twi_overlay.repo import (
    auth,
    broadcasters,
    chat_bots,
    chatters,
    commands,
    counters,
    events,
    helix_jobs,
    maintenance,
    moderators,
    queue,
    rewards,
    settings,
    sounds,
    subscriptions,
    tokens,
)

__all__ = [
    "auth",
    "broadcasters",
    "chat_bots",
    "chatters",
    "commands",
    "counters",
    "events",
    "helix_jobs",
    "maintenance",
    "moderators",
    "queue",
    "rewards",
    "settings",
    "sounds",
    "subscriptions",
    "tokens",
]
