"""Admin sessions and overlay keys, both stored as SHA-256 hashes only."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("auth")


@dataclass(frozen=True, slots=True)
class Session:
    broadcaster_id: str
    csrf_token: str
    expires_at: float


def overlay_key_owner(tx: Tx, key_hash: str) -> str | None:
    row = tx.one(Q.overlay_key_owner, {"key_hash": key_hash})
    return None if row is None else str(row["broadcaster_id"])


def set_overlay_key(tx: Tx, broadcaster_id: str, key_hash: str, nonce: str | None = None) -> None:
    tx.execute(
        Q.set_overlay_key, {"broadcaster_id": broadcaster_id, "key_hash": key_hash, "nonce": nonce, "now": time.time()}
    )


def overlay_key_of(tx: Tx, broadcaster_id: str) -> tuple[str, str | None, float] | None:
    """(key hash, nonce or None for a key made before keys could be shown again, created at)."""
    row = tx.one(Q.overlay_key_of, {"broadcaster_id": broadcaster_id})
    return None if row is None else (row["key_hash"], row["nonce"], row["created_at"])


def insert_session(tx: Tx, id_hash: str, broadcaster_id: str, csrf_token: str, expires_at: float) -> None:
    tx.execute(
        Q.insert_session,
        {
            "id_hash": id_hash,
            "broadcaster_id": broadcaster_id,
            "csrf_token": csrf_token,
            "now": time.time(),
            "expires_at": expires_at,
        },
    )


def get_session(tx: Tx, id_hash: str) -> Session | None:
    """A session that has not expired."""
    row = tx.one(Q.get_session, {"id_hash": id_hash, "now": time.time()})
    return None if row is None else Session(row["broadcaster_id"], row["csrf_token"], row["expires_at"])


def delete_session(tx: Tx, id_hash: str) -> None:
    tx.execute(Q.delete_session, {"id_hash": id_hash})


def overlay_key_hash(tx: Tx, broadcaster_id: str) -> str | None:
    row = tx.one(Q.overlay_key_hash, {"broadcaster_id": broadcaster_id})
    return None if row is None else str(row["key_hash"])


def delete_sessions_of(tx: Tx, broadcaster_id: str) -> None:
    tx.execute(Q.delete_sessions_of, {"broadcaster_id": broadcaster_id})
