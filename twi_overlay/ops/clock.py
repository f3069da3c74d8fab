"""Our clock against Twitch's, from the timestamps of correctly signed deliveries."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class ClockSkew:
    seconds: float | None = None  # our clock minus Twitch's
    observed_at: float | None = None

    def observe(self, remote_ts: float) -> None:
        now = time.time()
        self.seconds = now - remote_ts
        self.observed_at = now
