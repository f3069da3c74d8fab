"""The overlay's new-entry sound: a file the streamer picks (POST /api/overlay-sound), served to the
overlay by the sha256 of its bytes (GET /overlay/sounds/<sha256>: not a secret, cached for good), or the
built-in one (static/chime.wav)."""

from __future__ import annotations

import hashlib

from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.web.auth import admin_principal
from twi_overlay.web.errors import ApiError, json_response

MAX_SOUND = 200 * 1024
# What browsers play, told apart by the file's first bytes, not only by what the upload claims.
SOUND_TYPES = {
    "audio/wav": (b"RIFF",),
    "audio/x-wav": (b"RIFF",),
    "audio/ogg": (b"OggS",),
    "audio/mpeg": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
    "audio/webm": (b"\x1a\x45\xdf\xa3",),
}


async def post_overlay_sound(request: web.Request) -> web.Response:
    who = await admin_principal(request)
    content_type = request.content_type
    if content_type not in SOUND_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the file as audio/wav, audio/ogg, audio/mpeg or audio/webm")
    if request.content_length is not None and request.content_length > MAX_SOUND:
        raise ApiError(413, "payload_too_large", f"a sound is at most {MAX_SOUND // 1024} KiB")
    data = await request.read()
    if len(data) > MAX_SOUND:
        raise ApiError(413, "payload_too_large", f"a sound is at most {MAX_SOUND // 1024} KiB")
    if not data.startswith(SOUND_TYPES[content_type]):
        raise ApiError(422, "invalid_value", f"the file is not {content_type}")
    sha = hashlib.sha256(data).hexdigest()
    await request.app[keys.DB].write(repo.sounds.store, who.broadcaster_id, sha, content_type, data)
    return json_response({"id": sha, "url": f"/overlay/sounds/{sha}"}, status=201)


async def get_overlay_sound(request: web.Request) -> web.StreamResponse:
    sha = request.match_info["sha256"]
    found = None
    if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        found = await request.app[keys.DB].read(repo.sounds.get, sha)
    if found is None:
        raise ApiError(404, "not_found", f"no route for {request.path}")
    content_type, data = found
    return web.Response(
        body=data, content_type=content_type, headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/overlay-sound", post_overlay_sound)
    app.router.add_get("/overlay/sounds/{sha256}", get_overlay_sound)
