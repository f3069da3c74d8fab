"""Each broadcaster's OAuth grant (tokens are never logged)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("tokens")


@dataclass(frozen=True, slots=True)
class Grant:
    broadcaster_id: str
    access_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scopes: tuple[str, ...]
    needs_reconsent: bool


def get(tx: Tx, broadcaster_id: str) -> Grant | None:
    row = tx.one(Q.get, {"id": broadcaster_id})
    if row is None:
        return None
    return Grant(
        row["id"],
        row["access_token"],
        row["refresh_token"],
        row["token_expires_at"],
        tuple(s for s in (row["scopes"] or "").split() if s),
        bool(row["needs_reconsent"]),
    )


def store(
    tx: Tx, broadcaster_id: str, access_token: str, refresh_token: str, expires_at: float, scopes: tuple[str, ...]
) -> None:
    """A new grant (sign-in or refresh); it also clears needs_reconsent."""
    tx.execute(
        Q.store,
        {
            "id": broadcaster_id,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": expires_at,
            "scopes": " ".join(scopes),
            "now": time.time(),
        },
    )


def usable(tx: Tx) -> list[tuple[str, str]]:
    """(broadcaster id, access token) of every grant we may use."""
    return [(row["id"], row["access_token"]) for row in tx.all(Q.usable)]
