"""The tap: records go to every listener as tap frames; a listener that falls behind is dropped."""

from __future__ import annotations

import orjson

from twi_overlay.ops.tap import Tap


def test_listeners_get_frames_and_slow_ones_are_dropped() -> None:
    tap = Tap(buffer=3)
    tap.record("ingress")  # nobody listens: nothing kept
    fast, slow = tap.listen(), tap.listen()
    tap.record("process", "stream.online", "1337", "m1", ok=True, ms=1.23456, outcome="ok")
    frame = fast.pending.popleft()
    assert frame.startswith(b"event: tap\ndata: ") and frame.endswith(b"\n\n")
    item = orjson.loads(frame.split(b"data: ", 1)[1])
    assert {k: item[k] for k in ("stage", "type", "broadcaster_id", "message_id", "ok", "ms", "outcome")} == {
        "stage": "process",
        "type": "stream.online",
        "broadcaster_id": "1337",
        "message_id": "m1",
        "ok": True,
        "ms": 1.235,
        "outcome": "ok",
    }
    for _ in range(3):
        tap.record("process")
        fast.pending.clear()
    assert slow.dropped and tap.listeners == {fast}
    tap.heartbeat()
    assert list(fast.pending) == [b":heartbeat\n\n"] and fast.wake.is_set()
    tap.close_all()
    assert fast.dropped and not tap.listeners
