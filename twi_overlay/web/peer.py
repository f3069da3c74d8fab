"""Who is asking: the client's address, believing X-Forwarded-For only from a trusted proxy."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from twi_overlay import keys


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return ""


def client_address(request: web.Request) -> str:
    """The TCP peer, or, when the peer is one of TRUSTED_PROXIES, the nearest address in its
    X-Forwarded-For that is not a trusted proxy (walking from the right: what a client writes in the
    header itself sits on the left, and nginx appends the address it saw)."""
    trusted = request.app[keys.SETTINGS].trusted_proxies
    peer = _normal(request.remote or "")
    if peer not in trusted:
        return peer
    hops = [_normal(h) for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop  # "" for a malformed hop: never a trusted address, never someone else's bucket
    return hops[0] if hops else peer
