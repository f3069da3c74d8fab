"""Helpers for the API tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import admin_headers


async def command(client: Any, type_: str, payload: Any, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return await client.post(
        "/api/commands", json={"type": type_, "payload": payload}, headers=headers or admin_headers(), **kw
    )


async def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]
