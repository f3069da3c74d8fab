"""Admin sessions and overlay keys, both stored as SHA-256 hashes only."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("auth")


@dataclass(frozen=True, slots=True)
class Session:
    broadcaster_id: str  # the channel it administers
    csrf_token: str
    expires_at: float
    role: str = "broadcaster"  # or "moderator": then user_id and user_name are the moderator's
    user_id: str | None = None
    user_name: str | None = None


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


def insert_session(
    tx: Tx,
    id_hash: str,
    broadcaster_id: str,
    csrf_token: str,
    expires_at: float,
    role: str = "broadcaster",
    user_id: str | None = None,
    user_name: str | None = None,
) -> None:
    tx.execute(
        Q.insert_session,
        {
            "id_hash": id_hash,
            "broadcaster_id": broadcaster_id,
            "csrf_token": csrf_token,
            "now": time.time(),
            "expires_at": expires_at,
            "role": role,
            "user_id": user_id,
            "user_name": user_name,
        },
    )


def get_session(tx: Tx, id_hash: str) -> Session | None:
    """A session that has not expired."""
    row = tx.one(Q.get_session, {"id_hash": id_hash, "now": time.time()})
    if row is None:
        return None
    return Session(
        row["broadcaster_id"], row["csrf_token"], row["expires_at"], row["role"], row["user_id"], row["user_name"]
    )


def delete_session(tx: Tx, id_hash: str) -> None:
    tx.execute(Q.delete_session, {"id_hash": id_hash})


def overlay_key_hash(tx: Tx, broadcaster_id: str) -> str | None:
    row = tx.one(Q.overlay_key_hash, {"broadcaster_id": broadcaster_id})
    return None if row is None else str(row["key_hash"])


def delete_sessions_of(tx: Tx, broadcaster_id: str) -> None:
    """Every session of the broadcaster's own (moderators keep theirs)."""
    tx.execute(Q.delete_sessions_of, {"broadcaster_id": broadcaster_id})


def delete_moderator_sessions(tx: Tx, broadcaster_id: str, user_id: str | None = None) -> int:
    """A moderator's sessions in this channel (every moderator's when user_id is None); how many."""
    if user_id is None:
        return tx.execute(Q.delete_all_moderator_sessions, {"broadcaster_id": broadcaster_id}).rowcount
    return tx.execute(Q.delete_moderator_sessions, {"broadcaster_id": broadcaster_id, "user_id": user_id}).rowcount
