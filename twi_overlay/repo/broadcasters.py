"""Broadcasters: who they are on Twitch and whether they are live."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("broadcasters")


@dataclass(frozen=True, slots=True)
class Broadcaster:
    id: str
    login: str
    display_name: str
    live: bool
    needs_reconsent: bool


def get(tx: Tx, broadcaster_id: str) -> Broadcaster | None:
    row = tx.one(Q.get, {"id": broadcaster_id})
    if row is None:
        return None
    return Broadcaster(row["id"], row["login"], row["display_name"], bool(row["live"]), bool(row["needs_reconsent"]))


def with_any_grant_and_scope(tx: Tx, scope: str) -> list[str]:
    """Grants with this scope, usable or waiting to sign in again (intersect with_grant for usable)."""
    return [row["id"] for row in tx.all(Q.with_any_grant_and_scope, {"scope": scope})]


def id_of_login(tx: Tx, login: str) -> str | None:
    row = tx.one(Q.id_of_login, {"login": login})
    return None if row is None else str(row["id"])


def exists(tx: Tx, broadcaster_id: str) -> bool:
    return tx.one(Q.exists, {"id": broadcaster_id}) is not None


def upsert(tx: Tx, broadcaster_id: str, login: str, display_name: str) -> None:
    tx.execute(Q.upsert, {"id": broadcaster_id, "login": login, "display_name": display_name, "now": time.time()})


def set_live(tx: Tx, broadcaster_id: str, live: bool) -> None:
    tx.execute(Q.set_live, {"id": broadcaster_id, "live": int(live), "now": time.time()})


def set_needs_reconsent(tx: Tx, broadcaster_id: str, flag: bool) -> None:
    tx.execute(Q.set_needs_reconsent, {"id": broadcaster_id, "flag": int(flag), "now": time.time()})


def revoke_grant(tx: Tx, broadcaster_id: str, revoked_at: float) -> bool:
    """Flag the grant as revoked (needs_reconsent) unless it was stored after `revoked_at`; True when
    flagged."""
    cur = tx.execute(Q.revoke_grant, {"id": broadcaster_id, "revoked_at": revoked_at, "now": time.time()})
    return cur.rowcount == 1


def with_any_grant(tx: Tx) -> list[str]:
    """Ids of the broadcasters we hold a grant for, usable or not."""
    return [row["id"] for row in tx.all(Q.with_any_grant)]


def with_grant(tx: Tx) -> list[str]:
    """Ids of the broadcasters whose Twitch grant we may use (connected, not waiting to sign in again)."""
    return [row["id"] for row in tx.all(Q.with_grant)]
