"""Opening a websocket-client ``WebSocket`` and reading its frames.

Failures of the upgrade become kernl_realtime exceptions through
:func:`~kernl_realtime.connection._errors.map_errors`.
"""

from __future__ import annotations

import os
import select
import ssl
import threading
from typing import Any, Callable, Optional

import websocket
from websocket._abnf import frame_buffer

from ._codec import HandshakeRequest
from ._errors import map_errors
from .._logging import redact_url
from ..exceptions import FrameTooLargeError

__all__ = ["open_websocket", "BufferedReceiver", "readable_waiter"]

def readable_waiter(sock: Any) -> Callable[[float], bool]:
    """Return ``wait(timeout) -> bool``: True when ``sock`` has data (or EOF/error) to read.

    Uses ``poll()`` (no 1024-descriptor limit, unlike ``select()``); bytes TLS has
    already decrypted count as readable.
    """
    tls_pending = getattr(sock, "pending", None)
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        poll = poller.poll

        def wait(timeout: float) -> bool:
            if tls_pending is not None and tls_pending():
                return True
            return bool(poll(timeout * 1000.0))

        return wait

    def wait_select(timeout: float) -> bool:  # pragma: no cover - platforms without poll()
        if tls_pending is not None and tls_pending():
            return True
        readable, _, _ = select.select([sock], [], [], timeout)
        return bool(readable)

    return wait_select


class BufferedReceiver:
    """Reads the socket in large chunks and serves websocket-client's small reads.

    websocket-client reads each frame with two or three ``recv()`` calls (header,
    length, payload). During a burst one 64 KiB read holds dozens of frames, so this
    turns most of those system calls into slices of a buffer.

    When the buffer is empty it waits at most ``tick`` seconds for data, then raises
    ``WebSocketTimeoutException``. websocket-client's frame parser keeps a partially
    read frame across that exception, so the reader wakes up every tick, even in the
    middle of a frame that stalled, to run its keepalive checks.
    """

    __slots__ = ("_read", "_wait", "_buffer", "_position", "tick")

    _CHUNK = 65536

    def __init__(self, sock: Any, raw_recv: Callable[[int], bytes], tick: float) -> None:
        self._wait = readable_waiter(sock)
        if isinstance(sock, ssl.SSLSocket) or os.name != "posix":
            # TLS must decrypt; elsewhere socket descriptors are not files for os.read.
            self._read = raw_recv
        else:
            # After poll() said readable, read the (non-blocking) descriptor directly:
            # socket.recv() on a socket with a timeout would poll a second time.
            fd = sock.fileno()

            def read_fd(size: int) -> bytes:
                try:
                    data = os.read(fd, size)
                except BlockingIOError:
                    raise websocket.WebSocketTimeoutException("spurious wake-up: no data") from None
                if not data:
                    raise websocket.WebSocketConnectionClosedException("the peer closed the connection")
                return data

            self._read = read_fd
        self._buffer = b""
        self._position = 0
        self.tick = tick

    def __call__(self, size: int) -> bytes:
        position = self._position
        buffer = self._buffer
        if position >= len(buffer):
            if not self._wait(self.tick):
                raise websocket.WebSocketTimeoutException("no data within the reader's tick")
            buffer = self._buffer = self._read(self._CHUNK)
            position = 0
        chunk = buffer[position : position + size]
        self._position = position + len(chunk)
        return chunk


class _FrameReader(frame_buffer):  # type: ignore[misc]
    """websocket-client's frame reader over a :class:`BufferedReceiver`, refusing frames
    larger than ``max_size`` bytes as soon as the header's length is known (before the
    payload is read, so a huge frame cannot exhaust memory)."""

    def __init__(self, receiver: BufferedReceiver, max_size: Optional[int]) -> None:
        # skip_utf8_validation=True: the reader decodes text with json.loads, which
        # validates UTF-8 in C; websocket-client's pure-Python check costs ~13x more.
        super().__init__(receiver, True)
        self.max_size = max_size

    def recv_length(self) -> None:
        super().recv_length()
        if self.max_size is not None and self.length is not None and self.length > self.max_size:
            raise FrameTooLargeError(f"incoming frame of {self.length} bytes exceeds max_frame_size={self.max_size}")


def open_websocket(
    request: HandshakeRequest,
    timeout: float,
    *,
    max_frame_size: Optional[int],
    write_lock: "threading.RLock",
    tick: float,
    io_timeout: float,
) -> "websocket.WebSocket":
    """Open the WebSocket described by ``request``; raise our exceptions on failure.

    Args:
        request: URL, headers and subprotocols.
        timeout: Seconds for TCP connect, TLS and the HTTP upgrade together.
        max_frame_size: Largest accepted incoming frame in bytes, or None for no limit.
        write_lock: Installed as websocket-client's send lock so that our frames and
            the pongs/close echoes websocket-client writes itself share one lock.
        tick: Longest time a read waits before letting the reader run its checks.
        io_timeout: The socket's timeout once open: a send blocked on a peer that
            does not read fails after it.

    Raises:
        AuthenticationError: HTTP 401/403 on the upgrade.
        ConnectTimeout: The handshake did not finish within ``timeout``.
        ConnectError: Refused, DNS failure, TLS failure or any other HTTP status.
    """
    ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
    ws.lock = write_lock  # type: ignore[assignment] # an RLock: our writes nest websocket-client's
    where = redact_url(request.url)
    header = [f"{name}: {value}" for name, value in request.headers.items()]
    secrets = [value.split(" ", 1)[-1] for value in request.headers.values()]
    secrets += [protocol.split(".", 1)[1] for protocol in request.subprotocols if "." in protocol]
    try:
        with map_errors("WebSocket upgrade", where, timeout=timeout, secrets=secrets):
            ws.connect(
                request.url,
                header=header,
                subprotocols=list(request.subprotocols) or None,
                timeout=timeout,
                suppress_origin=True,
            )
    except BaseException:
        _close_quietly(ws)
        raise
    sock = ws.sock
    assert sock is not None  # connect() succeeded
    sock.settimeout(io_timeout)
    ws.frame_buffer = _FrameReader(BufferedReceiver(sock, ws._recv, tick), max_frame_size)
    return ws


def _close_quietly(ws: "websocket.WebSocket") -> None:
    try:
        ws.shutdown()
    except Exception:  # noqa: BLE001 - best effort on an already failed socket
        pass
