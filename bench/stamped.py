"""Latency on the wire: raw sockets that read the kernel's receive timestamp of what they read.

A bench process that stands in for Twitch (one process sending every delivery) or for 10,000 OBS
browsers (one process reading every stream) queues its own reads: the 10,000th socket that became
readable in one turn of its loop is read last, and an aiohttp client costs ~1 ms of Python per
request. Neither is the server's time. With `SO_TIMESTAMPNS` Linux stamps each received segment when
it arrives (for loopback: while the server's send call runs), and `recvmsg` hands that stamp back; the
wire figures run from the moment a request was written (or an event published, by the `ts` in its
frame) to that stamp. Both clocks are CLOCK_REALTIME (`time.time()`) on the same machine. Each bench
also prints what its process saw when it got round to reading, so the gap is visible.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANCILLARY = socket.CMSG_SPACE(16)
RECV_BYTES = 256 * 1024


def stamp(sock: socket.socket) -> None:
    """Ask the kernel for a receive timestamp with every read of this socket."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def recv_stamped(sock: socket.socket) -> tuple[bytes, float]:
    """What is waiting on the socket, and when its last segment arrived (the read time when the
    kernel gave no stamp). For TCP the stamp is the newest segment's of this read: a frame read
    together with a later one gets the later stamp, so a figure can only come out too long."""
    data, ancillary, _flags, _addr = sock.recvmsg(RECV_BYTES, ANCILLARY)
    for level, kind, raw in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", raw[:16])
            return data, sec + nsec / 1e9
    return data, time.time()


def read_ready(sock: socket.socket, on_closed: Callable[[], None]) -> tuple[bytes, float, float] | None:
    """What a readable socket holds: (data, when its last segment arrived, when this process read it).
    None when nothing was waiting, or when the peer closed (the reader is removed, `on_closed` called)."""
    try:
        data, arrived = recv_stamped(sock)
    except BlockingIOError:
        return None
    if not data:
        asyncio.get_running_loop().remove_reader(sock.fileno())
        on_closed()
        return None
    return data, arrived, time.time()


async def open_stamped(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stamp(sock)
    return sock


def post(path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _response(buf: bytes) -> tuple[int, bytes] | None:
    """(status, what follows the response) once a whole response is in `buf`."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if len(rest) < length:
        return None
    return int(head[9:12]), rest[length:]


@dataclass
class OpenLoop:
    """What `open_loop` measured, in seconds, one entry per request."""

    wire: list[float] = field(default_factory=list)  # request written → answer's last segment arrived
    seen: list[float] = field(default_factory=list)  # scheduled time → the driver read the answer
    late: list[float] = field(default_factory=list)  # scheduled time → written (the driver's own lag)
    connections: int = 0  # keep-alive connections it took (more than it opened: the answers lagged)


async def open_loop(port: int, requests: list[bytes], rate: float, connections: int = 32) -> OpenLoop:
    """Each request written at its time on a free keep-alive connection, whatever the answers (an open
    loop); a new connection when all are waiting. Every answer must be 2xx."""
    loop = asyncio.get_running_loop()
    out = OpenLoop()
    free: deque[_Conn] = deque()
    finished: asyncio.Future[None] = loop.create_future()
    opened: list[_Conn] = []

    def closed() -> None:
        if not finished.done():
            finished.set_exception(ConnectionError("the server closed a connection"))

    def readable(conn: _Conn) -> None:
        ready = read_ready(conn.sock, closed)
        if ready is None:
            return
        data, arrived, now = ready
        conn.buf += data
        parsed = _response(conn.buf)
        if parsed is None:
            return
        status, conn.buf = parsed
        if not 200 <= status < 300 and not finished.done():
            finished.set_exception(RuntimeError(f"status {status}"))
        out.wire.append(arrived - conn.written)
        out.seen.append(now - conn.scheduled)
        free.append(conn)
        if len(out.wire) == len(requests) and not finished.done():
            finished.set_result(None)

    async def connect() -> _Conn:
        conn = _Conn(await open_stamped(port))
        loop.add_reader(conn.sock.fileno(), readable, conn)
        opened.append(conn)
        return conn

    for _ in range(connections):
        free.append(await connect())
    start = time.time() + 0.1
    try:
        for i, request in enumerate(requests):
            at = start + i / rate
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = free.popleft() if free else await connect()
            conn.scheduled = at
            conn.written = time.time()
            if conn.sock.send(request) != len(request):
                raise RuntimeError("a request did not fit the socket buffer")
            out.late.append(conn.written - at)
        if requests:
            await asyncio.wait_for(finished, 30)
    finally:
        out.connections = len(opened)
        for conn in opened:
            loop.remove_reader(conn.sock.fileno())
            conn.sock.close()
    return out


class _Conn:
    __slots__ = ("sock", "buf", "scheduled", "written")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.scheduled = 0.0
        self.written = 0.0
