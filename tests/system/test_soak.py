"""The soak run of bench/soak.py, short: kill -9s, a failing and then absent Twitch, resuming SSE
clients and a TTL pass 80 h ahead, then every redemption must have ended right."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _soak_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = module
    spec.loader.exec_module(module)
    return module


async def test_a_short_soak_ends_every_redemption_right(tmp_path: Path) -> None:
    soak = _soak_module()
    cfg = soak.Config(minutes=0.5, clients=12, kill_every=10, outage_at=0.3, outage_secs=6, rss_mb=150, seed=7)
    report = await soak.soak(cfg, tmp_path)
    assert report.failures == []
    counts = report.counts
    assert counts["kill9"] >= 2 and counts["helix_faults_sent"] > 0 and counts["ttl_deleted_command_log"] > 0
    assert counts["acknowledged"] == counts["redemptions"] > 50
    assert counts["final_fulfilled"] > 0 and counts["final_refunded"] > 0 and counts["final_waiting/picked"] > 0
    assert counts["sse_clients_checked"] == 12 and counts["sse_snapshots"] > 12  # resumed across restarts
