"""Our clock against Twitch's."""

from __future__ import annotations

import time

from twi_overlay.ops.clock import ClockSkew


def test_observe() -> None:
    skew = ClockSkew()
    assert skew.seconds is None
    skew.observe(time.time() - 30)
    assert skew.seconds is not None and 29 < skew.seconds < 31 and skew.observed_at is not None
