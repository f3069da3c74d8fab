"""The home path runs on the PC a streamer streams from, usually Windows or a Mac: `pip install` and
`twi-overlay serve`, no make, nginx or systemd. What only POSIX has stays out of that path or is guarded."""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

from tests.helpers import ROOT
from twi_overlay.cli import stop_signals

# Calls that do not exist (or do nothing useful) on Windows, and the files allowed to use them, guarded.
POSIX_ONLY = re.compile(
    r"\bos\.(fork|getuid|geteuid|getgid|chown|setsid|killpg|getpgid|sync)\b|\bimport (fcntl|pwd|grp|resource|termios)\b"
    r"|\bsignal\.SIG(KILL|HUP|USR1|USR2|CHLD|QUIT)\b|add_signal_handler"
)
GUARDED = {"twi_overlay/cli.py": {"add_signal_handler"}}


def test_the_package_uses_no_posix_only_call_outside_a_guard() -> None:
    found = []
    for path in sorted((ROOT / "twi_overlay").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in POSIX_ONLY.finditer(line):
                if m.group(0) not in GUARDED.get(rel, set()):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


class WindowsLoop:
    """An event loop as Windows' ProactorEventLoop behaves for signals: no add_signal_handler."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop

    def add_signal_handler(self, *_: Any) -> None:
        raise NotImplementedError

    def call_soon_threadsafe(self, *args: Any) -> Any:
        return self.loop.call_soon_threadsafe(*args)


async def test_ctrl_c_still_stops_the_server_where_the_loop_has_no_signal_handlers() -> None:
    got = asyncio.Event()
    names: list[str] = []

    def on_signal(name: str) -> None:
        names.append(name)
        got.set()

    before = signal.getsignal(signal.SIGINT)
    restore = stop_signals(WindowsLoop(asyncio.get_running_loop()), on_signal)  # type: ignore[arg-type]
    try:
        signal.raise_signal(signal.SIGINT)  # Ctrl+C in the console
        await asyncio.wait_for(got.wait(), 5)
        assert names == ["SIGINT"]
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is before
