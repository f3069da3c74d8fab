"""Helpers for the webhook tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import admin_headers, update_settings
from twi_overlay import keys


def counter(metric: Any, *labels: str) -> float:
    target = metric.labels(*labels) if labels else metric
    return target._value.get()


async def raw_count(client: Any) -> int:
    return await client.app[keys.DB].read(lambda tx: tx.value("SELECT count(*) FROM event_raw"))


async def bind(client: Any, reward_id: str = "reward-queue", binding: str = "queue") -> None:
    await update_settings(client, admin_headers(), rewards={reward_id: binding})


async def state(client: Any) -> dict[str, Any]:
    return await (await client.get("/api/state", headers=admin_headers())).json()
