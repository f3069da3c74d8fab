"""The client's address: X-Forwarded-For is believed from a trusted proxy only, read from the right."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from twi_overlay import keys
from twi_overlay.config import load_settings
from twi_overlay.web.peer import client_address


def _request(peer: str, forwarded: str | None = None, **env: str) -> Any:
    from aiohttp import web

    app = web.Application()
    app[keys.SETTINGS] = load_settings(env)
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    transport: Any = type("T", (), {"get_extra_info": lambda self, name, default=None: (peer, 1234)})()
    return make_mocked_request("GET", "/", headers=headers, app=app, transport=transport)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", None, "203.0.113.7"),  # straight to the app
        ("203.0.113.7", "10.0.0.1", "203.0.113.7"),  # an untrusted peer's header is ignored
        ("127.0.0.1", "198.51.100.2", "198.51.100.2"),  # nginx on this host
        ("127.0.0.1", "1.2.3.4, 198.51.100.2", "198.51.100.2"),  # the client wrote 1.2.3.4 itself
        ("127.0.0.1", "198.51.100.2, 127.0.0.1", "198.51.100.2"),  # two proxies on this host
        ("127.0.0.1", "not-an-ip", ""),  # nobody's bucket, and never a trusted one
        ("127.0.0.1", None, "127.0.0.1"),  # a local scrape
        ("::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    assert client_address(_request(peer, forwarded)) == expected


def test_trusted_proxies_are_a_setting() -> None:
    request = _request("10.0.0.9", "198.51.100.2", TRUSTED_PROXIES="10.0.0.9")
    assert client_address(request) == "198.51.100.2"
    with pytest.raises(Exception, match="TRUSTED_PROXIES"):
        load_settings({"TRUSTED_PROXIES": "10.0.0.9, nginx"})
