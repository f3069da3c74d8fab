"""A connection that owns its thread: results and errors come back, close finishes what was queued,
and the thread never holds the process at exit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from twi_overlay.store.thread import ConnectionClosed, ConnectionThread


async def test_results_errors_and_close(tmp_path: Path) -> None:
    thread = ConnectionThread(str(tmp_path / "t.db"), "test-thread")
    await thread.open()
    assert thread._thread is not None and thread._thread.daemon  # noqa: SLF001 - the property under test
    assert await thread.call(lambda conn, x: conn.execute("SELECT ?", (x,)).fetchone()[0], 7) == 7
    with pytest.raises(sqlite3.OperationalError):
        await thread.call(lambda conn: conn.execute("SELECT * FROM nowhere"))
    queued = [asyncio.ensure_future(thread.call(lambda conn, i: i, i)) for i in range(20)]
    await asyncio.sleep(0)
    await thread.close()
    assert await asyncio.gather(*queued) == list(range(20))  # queued before close: all answered
    with pytest.raises(ConnectionClosed):
        await thread.call(lambda conn: 1)


async def test_a_connection_that_cannot_open_says_why(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    thread = ConnectionThread(str(tmp_path / "dir.db"), "bad")
    with pytest.raises(sqlite3.Error):
        await thread.open()
    with pytest.raises(ConnectionClosed):
        await thread.call(lambda conn: 1)
