"""The read model: a broadcaster's whole state as one snapshot (GET /api/state, SSE `state.replace`)."""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain.settings import default_settings, full_settings, public_settings, with_defaults
from twi_overlay.store.tx import Tx


def snapshot(tx: Tx, broadcaster_id: str, audience: str = "admin") -> dict[str, Any]:
    """{broadcaster, queue, counters, settings}; the overlay's has trimmed entries and no reward bindings."""
    b = repo.broadcasters.get(tx, broadcaster_id)
    stored = repo.settings.get(tx, broadcaster_id)
    version, doc = (stored.version, with_defaults(stored.doc)) if stored is not None else (1, default_settings())
    entries = repo.queue.active(tx, broadcaster_id)
    overlay = audience == "overlay"
    return {
        "broadcaster": {
            "id": broadcaster_id,
            "login": b.login if b else "",
            "display_name": b.display_name if b else "",
            "live": b.live if b else False,
        },
        "queue": [e.overlay_view() if overlay else e.admin_view() for e in entries],
        "counters": repo.counters.values(tx, broadcaster_id),
        "settings": public_settings(version, doc) if overlay else full_settings(version, doc),
    }
