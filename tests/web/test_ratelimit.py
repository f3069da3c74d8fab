"""The token bucket for /_debug/*: a burst, then the rate; each address on its own."""

from __future__ import annotations

import time

import pytest

from twi_overlay.web.ratelimit import RateLimiter


def test_burst_then_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(rate_per_sec=2, burst=3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another address has its own bucket
    now[0] += 0.5  # one token back
    assert limiter.allow("a") and not limiter.allow("a")
