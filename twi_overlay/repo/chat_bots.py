"""chat_bots: a channel's chat account when it is a bot, with the bot's grant (never logged)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("chat_bots")
BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")


@dataclass(frozen=True, slots=True)
class ChatBot:
    broadcaster_id: str
    user_id: str
    user_login: str
    user_name: str
    access_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scopes: tuple[str, ...]
    needs_reconsent: bool

    @property
    def usable(self) -> bool:
        """Signed in with every scope a bot needs, and not waiting to sign in again."""
        return bool(self.access_token) and not self.needs_reconsent and set(BOT_SCOPES) <= set(self.scopes)


def get(tx: Tx, broadcaster_id: str) -> ChatBot | None:
    row = tx.one(Q.get, {"broadcaster_id": broadcaster_id})
    if row is None:
        return None
    return ChatBot(
        row["broadcaster_id"],
        row["user_id"],
        row["user_login"],
        row["user_name"],
        row["access_token"],
        row["refresh_token"],
        row["token_expires_at"],
        tuple(s for s in (row["scopes"] or "").split() if s),
        bool(row["needs_reconsent"]),
    )


def store(
    tx: Tx,
    broadcaster_id: str,
    user: tuple[str, str, str],
    access_token: str,
    refresh_token: str | None,
    expires_at: float | None,
    scopes: tuple[str, ...],
) -> None:
    """The channel's bot is `user` (id, login, display name) with this grant, replacing any other."""
    user_id, login, name = user
    tx.execute(
        Q.store,
        {
            "broadcaster_id": broadcaster_id,
            "user_id": user_id,
            "user_login": login,
            "user_name": name,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": expires_at,
            "scopes": " ".join(scopes),
            "now": time.time(),
        },
    )


def set_tokens(
    tx: Tx, broadcaster_id: str, access_token: str, refresh_token: str | None, expires_at: float | None
) -> None:
    tx.execute(
        Q.set_tokens,
        {
            "broadcaster_id": broadcaster_id,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": expires_at,
        },
    )


def mark_needs_reconsent(tx: Tx, broadcaster_id: str) -> None:
    tx.execute(Q.needs_reconsent, {"broadcaster_id": broadcaster_id})


def remove(tx: Tx, broadcaster_id: str) -> bool:
    return tx.execute(Q.remove, {"broadcaster_id": broadcaster_id}).rowcount > 0


def usable(tx: Tx) -> list[tuple[str, str]]:
    """(broadcaster id, the bot's access token) of every bot grant we may use (the hourly validation)."""
    return [(r["broadcaster_id"], r["access_token"]) for r in tx.all(Q.usable, {})]
