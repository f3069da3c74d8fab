"""Test helpers: twitch-cli-shaped EventSub deliveries, tokens, a real server in a subprocess."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twi_overlay.ingest.eventsub import REDEMPTION_ADD, sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-webhook-secret-0123456789abcdef"
SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"
BROADCASTER = "1337"


def rfc3339_nano(ts: float | None = None) -> str:
    """twitch-cli's timestamp: RFC3339Nano, 9 fractional digits here."""
    ts = time.time() if ts is None else ts
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{int((ts % 1) * 1e9):09d}Z"


def subscription(
    type_: str,
    broadcaster_id: str = BROADCASTER,
    status: str = "enabled",
    version: str = "1",
    callback: str = "null",
    sub_id: str | None = None,
) -> dict[str, Any]:
    """The `subscription` object of an EventSub message, as twitch-cli sends it."""
    return {
        "id": sub_id or str(uuid.uuid4()),
        "status": status,
        "type": type_,
        "version": version,
        "condition": {"broadcaster_user_id": broadcaster_id},
        "transport": {"method": "webhook", "callback": callback},
        "created_at": rfc3339_nano(),
        "cost": 0,
    }


def redemption_body(
    broadcaster_id: str = BROADCASTER,
    reward_id: str = "reward-queue",
    user_id: str = "9001",
    user_name: str = "Cooler_User",
    user_input: str = "pogchamp",
    redemption_id: str | None = None,
    status: str = "unfulfilled",
    sub_type: str = REDEMPTION_ADD,
) -> dict[str, Any]:
    """Shaped exactly like twitch-cli's `event trigger add-redemption` output."""
    ts = rfc3339_nano()
    return {
        "subscription": subscription(sub_type, broadcaster_id),
        "event": {
            "id": redemption_id or str(uuid.uuid4()),
            "broadcaster_user_id": broadcaster_id,
            "broadcaster_user_login": "cool_user",
            "broadcaster_user_name": "cool_user",
            "user_id": user_id,
            "user_login": user_name.lower(),
            "user_name": user_name,
            "user_input": user_input,
            "status": status,
            "reward": {
                "id": reward_id,
                "title": "Test Reward from CLI",
                "cost": 150,
                "prompt": "Redeem Your Test Reward from CLI",
            },
            "redeemed_at": ts,
        },
    }


BADGES = {"subscriber": ("12", "16"), "founder": ("0", "20"), "vip": ("1", ""), "moderator": ("1", "")}


def chat_body(
    text: str,
    broadcaster_id: str = BROADCASTER,
    user_id: str = "4145994",
    user_name: str = "Viewer32",
    badges: tuple[str, ...] = (),
    message_id: str | None = None,
    reply_to: str | None = None,
    shared_from: str | None = None,
) -> dict[str, Any]:
    """A channel.chat.message notification in Twitch's documented shape (badges by set id; `reply_to`
    makes it a threaded reply, which Twitch starts with "@parent "; `shared_from` a shared-chat message
    from another channel)."""
    sub = subscription("channel.chat.message", broadcaster_id)
    sub["condition"]["user_id"] = broadcaster_id
    reply = None
    if reply_to is not None:
        text = f"@{reply_to} {text}"
        reply = {
            "parent_message_id": str(uuid.uuid4()),
            "parent_message_body": "hello",
            "parent_user_id": "1",
            "parent_user_name": reply_to,
            "parent_user_login": reply_to.lower(),
            "thread_message_id": str(uuid.uuid4()),
            "thread_user_id": "1",
            "thread_user_name": reply_to,
            "thread_user_login": reply_to.lower(),
        }
    return {
        "subscription": sub,
        "event": {
            "broadcaster_user_id": broadcaster_id,
            "broadcaster_user_login": "cool_user",
            "broadcaster_user_name": "cool_user",
            "chatter_user_id": user_id,
            "chatter_user_login": user_name.lower(),
            "chatter_user_name": user_name,
            "message_id": message_id or str(uuid.uuid4()),
            "message": {
                "text": text,
                "fragments": [{"type": "text", "text": text, "cheermote": None, "emote": None, "mention": None}],
            },
            "color": "#00FF7F",
            "badges": [
                {"set_id": b, "id": BADGES.get(b, ("1", ""))[0], "info": BADGES.get(b, ("1", ""))[1]} for b in badges
            ],
            "message_type": "text",
            "cheer": None,
            "reply": reply,
            "channel_points_custom_reward_id": None,
            "source_broadcaster_user_id": shared_from,
            "source_broadcaster_user_login": "other" if shared_from else None,
            "source_broadcaster_user_name": "Other" if shared_from else None,
            "source_message_id": str(uuid.uuid4()) if shared_from else None,
            "source_badges": [] if shared_from else None,
        },
    }


def ban_body(user_id: str, user_name: str, broadcaster_id: str = BROADCASTER, permanent: bool = True) -> dict[str, Any]:
    """A channel.ban notification (a timeout when not permanent)."""
    return {
        "subscription": subscription("channel.ban", broadcaster_id),
        "event": {
            "user_id": user_id,
            "user_login": user_name.lower(),
            "user_name": user_name,
            "broadcaster_user_id": broadcaster_id,
            "broadcaster_user_login": "cool_user",
            "broadcaster_user_name": "cool_user",
            "moderator_user_id": "1",
            "moderator_user_login": "a_mod",
            "moderator_user_name": "A_Mod",
            "reason": "spam",
            "banned_at": rfc3339_nano(),
            "ends_at": None if permanent else rfc3339_nano(),
            "is_permanent": permanent,
        },
    }


def delivery(
    body: dict[str, Any] | bytes,
    message_type: str = "notification",
    secret: str = SECRET,
    message_id: str | None = None,
    timestamp: str | None = None,
    sub_type: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and raw body as twitch-cli's ForwardEvent sends them (signed)."""
    # Go's json.Marshal output is compact: the same as json.dumps with these separators.
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    if sub_type is None:
        sub_type = body["subscription"]["type"] if isinstance(body, dict) else REDEMPTION_ADD
    message_id = message_id or str(uuid.uuid4())
    timestamp = timestamp or rfc3339_nano()
    headers = {
        "Content-Type": "application/json",
        "Twitch-Eventsub-Message-Retry": "0",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Subscription-Type": sub_type,
        "Twitch-Eventsub-Subscription-Version": "1",
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Message-Signature": sign(secret, message_id, timestamp, raw),
    }
    return headers, raw


def seed_db(
    db_path: Path,
    broadcaster_id: str = BROADCASTER,
    login: str = "cool_user",
    rewards: dict[str, str] | None = None,
    queue: dict[str, Any] | None = None,
    overlay_key: str | None = None,
) -> None:
    """A migrated database file with one broadcaster, its settings and optionally an overlay key,
    written before a server process starts on it."""
    import hashlib
    import sqlite3

    from twi_overlay.domain.settings import default_settings
    from twi_overlay.store.migrate import migrate

    migrate(str(db_path))
    doc = default_settings()
    doc["rewards"] = rewards or {}
    doc["queue"].update(queue or {})
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
        (broadcaster_id, login, login.title()),
    )
    conn.execute(
        "INSERT INTO settings (broadcaster_id, version, doc, updated_at) VALUES (?, 1, ?, 0)",
        (broadcaster_id, json.dumps(doc)),
    )
    if overlay_key:
        conn.execute(
            "INSERT INTO overlay_keys (broadcaster_id, key_hash, created_at) VALUES (?, ?, ?)",
            (broadcaster_id, hashlib.sha256(overlay_key.encode()).hexdigest(), time.time()),
        )
    conn.commit()
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(db_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWITCH_", "APP_", "SSE_", "WEBHOOK_"))}
    env.update(
        {
            "APP_ENV": "development",
            "DATABASE_URL": f"sqlite://{db_path}",
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "WEBHOOK_SECRET": SECRET,
            "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY,
            "LOG_LEVEL": "warning",
        }
    )
    env.update(extra)
    return env


class ServerProcess:
    """`python -m twi_overlay serve` as a real process on a loopback port."""

    def __init__(self, db_path: Path, port: int | None = None, command: tuple[str, ...] = ("serve",), **env: str):
        self.command = command
        self.port = port or free_port()
        self.env = server_env(db_path, self.port, **env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        # Output goes to a file, never a pipe nobody drains (a full pipe would freeze the server).
        self.log_path = Path(db_path).with_name(f"server-{self.port}.log")

    def start(self, timeout: float = 20.0) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "twi_overlay", *self.command],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start listening")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM; the seconds until the process had exited (fails when it does not exit)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        wait_exit(self.proc, timeout)
        return time.monotonic() - started

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server the way systemd does (SIGTERM) and wait for it: a server that does not
        exit on SIGTERM fails the test."""
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()


def wait_exit(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """Wait for a process we started; kill it and fail when it has not exited within `timeout`."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"process {proc.args!r} did not exit within {timeout} s") from None


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait for a process that is not our child (a daemon a script started) to be gone or a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_state(pid) in (None, "Z"):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"process {pid} did not exit within {timeout} s")


def process_state(pid: int) -> str | None:
    """The state letter from /proc/<pid>/stat (R, S, Z, ...), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


async def post_in_two_pieces(client: Any, path: str, headers: dict[str, str], body: bytes, split: int) -> bytes:
    """POST `body` to the test server in two TCP segments, the second only once the server has shown
    it waits for it (no answer within 0.2 s); returns the status line."""
    import asyncio

    import pytest

    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST {path} HTTP/1.1\r\nHost: t\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request + body[:split])
        await writer.drain()
        with pytest.raises(TimeoutError):  # no answer while part of the body is still on its way
            await asyncio.wait_for(reader.read(1), 0.2)
        writer.write(body[split:])
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def until(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.01) -> None:
    """Until `check()` (or what it returns when awaited) is true: for state another component or the fake
    Twitch changes with no event of ours to wait on. Fails with TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            found = check()
            if inspect.isawaitable(found):
                found = await found
            if found:
                return
            await asyncio.sleep(every)


async def sign_in_over_http(http: Any, url: str) -> dict[str, str]:
    """Sign in to a server process through the fake Twitch's consent page, as a browser would (`http`: an
    aiohttp ClientSession with a cookie jar); returns the CSRF header for the API."""
    from yarl import URL

    async with http.get(f"{url}/oauth/login", allow_redirects=False) as r:
        assert r.status == 302
        authorize = r.headers["Location"]
    assert URL(authorize).query["redirect_uri"] == f"{url}/oauth/callback"  # http://localhost is allowed
    async with http.get(authorize, allow_redirects=False) as consent:
        callback = consent.headers["Location"]
    async with http.get(callback, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/admin/", await r.text()
    async with http.get(f"{url}/api/session") as r:
        session = await r.json()
    return {"X-CSRF-Token": session["csrf_token"]}
