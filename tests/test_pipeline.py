"""Processing pace: gentle while webhook deliveries stream in, flat out once they stop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from twi_overlay import pipeline
from twi_overlay.db import Database
from twi_overlay.pipeline import Processor
from twi_overlay.tap import Tap
from twi_overlay.webhook import STORE_DELIVERY

real_sleep = asyncio.sleep


async def _run_until_processed(
    db: Database, monkeypatch: pytest.MonkeyPatch, n: int, streaming: bool
) -> tuple[list[str], list[float]]:
    """n stored deliveries through Processor.run, each taking 4 ms; returns the processing order and
    every pause the processor asked for (its short gather wait aside)."""
    rests: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds > 0 and seconds != pipeline.GATHER_SECS:
            rests.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(pipeline.asyncio, "sleep", sleep)
    processor = Processor(db, Tap())
    processed: list[str] = []
    all_done = asyncio.Event()

    async def process(row: dict[str, Any]) -> None:  # the deliveries of one chunk run at once
        processed.append(row["message_id"])
        await real_sleep(0.004)
        if len(processed) == n:
            all_done.set()

    monkeypatch.setattr(processor, "_process", process)
    rows = [[f"m{i}", "notification", "stream.online", "1337", '{"n": 1}', 1700000000.0] for i in range(n)]
    assert all(await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, row) for row in rows)))
    if streaming:
        processor.ingress()  # a delivery was just acknowledged
    else:
        processor.last_ingress = time.monotonic() - 10  # the last one came 10 s ago
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(all_done.wait(), 10)
    finally:
        task.cancel()
    return processed, rests


async def test_while_deliveries_stream_in_processing_rests_three_times_each_chunk(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, rests = await _run_until_processed(db, monkeypatch, 6, streaming=True)
    # Chunks of CHUNK_BUSY (2) deliveries, 4 ms or more each, and a rest of three times the chunk
    # after each: processing takes at most a quarter of the time while ACKs are being written.
    assert processed == [f"m{i}" for i in range(6)]
    assert len(rests) >= 2
    assert all(3 * 0.004 <= rest < 0.5 for rest in rests)


async def test_once_deliveries_stop_processing_runs_without_rests(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, rests = await _run_until_processed(db, monkeypatch, 40, streaming=False)
    assert processed == [f"m{i}" for i in range(40)]
    assert rests == []
