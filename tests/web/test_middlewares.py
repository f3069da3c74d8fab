"""The edge: one error shape for 404, 405 and 500, never a traceback."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from twi_overlay.app import create_app


async def test_unknown_route_and_wrong_method(client: Any) -> None:
    r = await client.get("/no/such/thing")
    assert r.status == 404 and r.content_type == "application/json"
    assert (await r.json())["error"]["code"] == "not_found"
    r = await client.put("/api/commands")
    assert r.status == 405
    assert (await r.json()) == {"error": {"code": "method_not_allowed", "message": "method PUT not allowed here"}}
    assert "POST" in r.headers["Allow"]


async def test_unexpected_exception_is_a_json_500_without_traceback(aiohttp_client: Any, settings: Any) -> None:
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals /etc/passwd")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    r = await client.get("/boom")
    assert r.status == 500
    text = await r.text()
    assert (await r.json()) == {"error": {"code": "internal_error", "message": "internal server error"}}
    assert "Traceback" not in text and "passwd" not in text
