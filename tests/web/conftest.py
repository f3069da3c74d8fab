"""Fixtures of the page tests: the real server as a process, on the pages' demo data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ServerProcess, free_port
from tests.pages_helpers import seed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    seed(tmp_path / "app.db")
    srv = ServerProcess(tmp_path / "app.db", port=free_port()).start()
    yield srv
    srv.stop()
