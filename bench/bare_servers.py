"""Baselines for the benches: the ceiling/floor this stack allows, with none of our logic.

webhook PORT   POST /eventsub/webhook -> 204, reading the body (the ceiling for an ACK)
sse PORT       GET /overlay/sse streams; POST /publish writes one frame to every stream with
               `await response.write()` in a plain loop (the raw StreamResponse broadcast floor)
"""

from __future__ import annotations

import sys
import time

import orjson
from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


def sse_app() -> web.Application:
    app = web.Application()
    clients: dict[web.StreamResponse, object] = {}  # response -> its transport
    seq = [0]

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b"retry: 2000\n\n")
        clients[resp] = request.transport
        try:
            await _forever()
        finally:
            clients.pop(resp, None)
        return resp

    async def publish(request: web.Request) -> web.Response:
        seq[0] += 1
        data = orjson.dumps({"type": "counter.updated", "ts": time.time(), "data": {"name": "hits", "value": seq[0]}})
        frame = b"id: %d\nevent: counter.updated\ndata: %s\n\n" % (seq[0], data)
        for resp, transport in list(clients.items()):
            if transport is None or transport.is_closing():  # type: ignore[attr-defined]
                clients.pop(resp, None)  # the peer left: a raw loop must not write to (or wait on) it
                continue
            try:
                await resp.write(frame)
            except ConnectionError:
                clients.pop(resp, None)
        return web.json_response({"clients": len(clients), "seq": seq[0]})

    app.router.add_get("/overlay/sse", stream)
    app.router.add_post("/publish", publish)
    return app


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "webhook":
        app = web.Application()
        app.router.add_post("/eventsub/webhook", webhook)
    else:
        app = sse_app()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, shutdown_timeout=1)


if __name__ == "__main__":
    main()
