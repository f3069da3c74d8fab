"""The SSE wire format: one `data:` line per frame, whatever the payload holds."""

from __future__ import annotations

import orjson

from twi_overlay.stream import wire


def test_a_frame_is_id_event_and_one_line_of_json() -> None:
    data = {"user_input": "line one\nline two\r\n\u2028 <b>", "n": 1}
    raw = wire.frame("ab12-7", "queue.enqueued", data, ts=1.5)
    lines = raw.decode().split("\n")
    assert lines[0] == "id: ab12-7" and lines[1] == "event: queue.enqueued" and lines[-2:] == ["", ""]
    assert len(lines) == 5 and lines[2].startswith("data: ")
    assert orjson.loads(lines[2][6:]) == {"type": "queue.enqueued", "ts": 1.5, "data": data}


def test_frames_without_id_comments_and_retry() -> None:
    assert wire.event_frame("tap", {"stage": "ingress"}) == b'event: tap\ndata: {"stage":"ingress"}\n\n'
    assert wire.HEARTBEAT == b":heartbeat\n\n" and wire.RETRY == b"retry: 2000\n\n"
    assert wire.HEADERS["Content-Type"] == "text/event-stream" and wire.HEADERS["X-Accel-Buffering"] == "no"
