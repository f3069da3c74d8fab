"""The overlay's sound a streamer picks: checked by type, size and first bytes, one per channel, served
by the hash of its bytes."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from tests.conftest import admin_headers
from tests.web.helpers import error

WAV = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(24) + b"data" + bytes(4)


async def test_a_picked_sound_is_checked_stored_once_and_served_by_its_hash(client: Any) -> None:
    h = admin_headers()
    r = await client.post("/api/overlay-sound", data=b"<html>", headers={**h, "Content-Type": "text/html"})
    await error(r, 415, "unsupported_media_type")
    r = await client.post("/api/overlay-sound", data=b"not a wav", headers={**h, "Content-Type": "audio/wav"})
    await error(r, 422, "invalid_value")
    big = WAV + bytes(200 * 1024)
    await error(await client.post("/api/overlay-sound", data=big, headers={**h, "Content-Type": "audio/wav"}), 413)
    r = await client.post("/api/overlay-sound", data=WAV, headers={**h, "Content-Type": "audio/wav"})
    assert r.status == 201
    sha = (await r.json())["id"]
    assert sha == hashlib.sha256(WAV).hexdigest()
    served = await client.get(f"/overlay/sounds/{sha}")
    assert served.status == 200 and await served.read() == WAV and served.content_type == "audio/wav"
    assert "immutable" in served.headers["Cache-Control"]
    other = WAV + b"x"
    r = await client.post("/api/overlay-sound", data=other, headers={**h, "Content-Type": "audio/wav"})
    assert r.status == 201
    await error(await client.get(f"/overlay/sounds/{sha}"), 404)  # one per broadcaster: the old one went
    await error(await client.get("/overlay/sounds/not-a-hash"), 404)
    await error(await client.post("/api/overlay-sound", data=WAV, headers={"Content-Type": "audio/wav"}), 401)
