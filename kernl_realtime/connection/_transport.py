"""The one module that uses websocket-client: opening a WebSocket and writing frames;
reading them is ours (:mod:`._frames`).

Failures of the upgrade become kernl_realtime exceptions through
:func:`~kernl_realtime.connection._errors.map_errors`; failures of an open socket are
raised as ``OSError`` subclasses (see :class:`WireSocket`). The websocket-client
internals used here (``WebSocket._recv``, ``WebSocket.lock`` as the send lock, the upgrade
reading no byte past the HTTP response; ``WebSocketBadStatusException.resp_body`` in
``_errors``) are pinned by ``tests/test_transport_contract.py``, and the dependency is
bounded to the major version tested (``websocket-client>=1.6,<2``).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
from typing import Any, Callable, List, Literal, Optional

import websocket

from ._codec import HandshakeRequest
from ._errors import map_errors
from ._frames import Frame, FrameParser
from .._logging import redact_url

__all__ = ["open_websocket", "WireSocket", "Waker", "readable_waiter"]

class Waker:
    """A descriptor another thread writes to, so that a ``poll()`` on it returns at once.

    One per connection, shared by every socket it opens: whoever reads the socket (the
    reader, or a consumer reading in its place) polls it beside the socket, and a thread
    that needs the reader's attention calls :meth:`wake`. An ``eventfd`` where the
    platform has one, otherwise a socket pair.

    Thread contract: :meth:`wake` and :meth:`close` from any thread; :meth:`drain`
    only by the thread that polls. ``_lock`` is a leaf (see ``_connection.py``): after
    :meth:`close` a late :meth:`wake` must not write to a descriptor number the process
    has since reused.
    """

    __slots__ = ("fileno", "_write_fd", "_others", "_lock", "_closed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._others: "tuple[socket.socket, ...]"
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)  # type: ignore[attr-defined]
            self.fileno, self._write_fd, self._others = fd, fd, ()
        else:  # pragma: no cover - platforms without eventfd
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self.fileno, self._write_fd, self._others = reader.fileno(), writer.fileno(), (reader, writer)

    def wake(self) -> None:
        """Make the next (or current) poll on :attr:`fileno` return; never blocks."""
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._write_fd, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:  # full (already awake) or being closed: nothing to add
                pass

    def drain(self) -> None:
        """Consume the wake-ups so the next poll waits again."""
        try:
            os.read(self.fileno, 4096)
        except OSError:  # nothing there (another poll drained it) or closed
            pass

    def close(self) -> None:
        """Release the descriptor(s); later wakes do nothing. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._others:  # pragma: no cover - socket pair
                for sock in self._others:
                    sock.close()
            else:
                os.close(self.fileno)


def readable_waiter(sock: Any, waker: Optional[Waker] = None) -> Callable[[float], bool]:
    """Return ``wait(timeout) -> bool``: True when ``sock`` has data (or EOF/error) to read.

    With a ``waker``, the wait also ends early (returning False) when it is woken.
    Uses ``poll()`` (no 1024-descriptor limit, unlike ``select()``); bytes TLS has
    already decrypted count as readable.
    """
    tls_pending = getattr(sock, "pending", None)
    if hasattr(select, "poll"):
        poller = select.poll()
        sock_fd = sock.fileno()
        poller.register(sock_fd, select.POLLIN | select.POLLPRI)
        poll = poller.poll
        if waker is None:

            def wait(timeout: float) -> bool:
                if tls_pending is not None and tls_pending():
                    return True
                return bool(poll(timeout * 1000.0))

            return wait

        wake_fd = waker.fileno
        poller.register(wake_fd, select.POLLIN)
        drain = waker.drain

        def wait_or_wake(timeout: float) -> bool:
            if tls_pending is not None and tls_pending():
                return True
            ready = poll(timeout * 1000.0)
            if not ready:
                return False
            if len(ready) == 1 and ready[0][0] == sock_fd:
                return True
            readable = False
            for fd, _ in ready:
                if fd == wake_fd:
                    drain()
                else:
                    readable = True
            return readable

        return wait_or_wake

    wake_socket = waker._others[0] if waker is not None and waker._others else None

    def wait_select(timeout: float) -> bool:  # pragma: no cover - platforms without poll()
        if tls_pending is not None and tls_pending():
            return True
        watched = [sock] if wake_socket is None else [sock, wake_socket]
        readable, _, _ = select.select(watched, [], [], timeout)
        if wake_socket is not None and wake_socket in readable:
            waker.drain()  # type: ignore[union-attr]
        return sock in readable

    return wait_select


class WireSocket:
    """One open client WebSocket: websocket-client did the upgrade and writes frames;
    reading is ours (:class:`~._frames.FrameParser` over large reads).

    The rest of the core uses only this class, never websocket-client itself. Writes
    (``send``, ``ping``, ``pong``, ``send_close``) take the write lock given to
    :func:`open_websocket`. Reads happen on one thread at a time (the reader).
    Every failure is raised as an ``OSError`` (``TimeoutError`` for a send that timed
    out, ``ConnectionError`` for a dead socket), so callers need no websocket-client
    exception types.

    Attributes:
        sock: The underlying socket (for shutting it down from another thread).
        tick: Longest time :meth:`read` waits for data before returning empty-handed,
            so that the reader runs its keepalive checks even mid-frame.
        wait: ``wait(timeout) -> bool``: True once the socket has data; False after
            ``timeout`` seconds or as soon as the connection's :class:`Waker` is woken.
    """

    __slots__ = ("_ws", "sock", "parser", "tick", "wait", "_read", "_writable")

    _CHUNK = 65536

    def __init__(
        self, ws: "websocket.WebSocket", max_message_size: Optional[int], tick: float, waker: Optional[Waker] = None
    ) -> None:
        self._ws = ws
        sock = ws.sock
        assert sock is not None  # connected
        self.sock = sock
        self.parser = FrameParser(max_message_size)
        self.tick = tick
        self.wait = readable_waiter(sock, waker)
        self._writable = _writable_checker(sock)
        if isinstance(sock, ssl.SSLSocket) or os.name != "posix":
            # TLS must decrypt (websocket-client's _recv handles SSL want-read retries);
            # elsewhere socket descriptors are not files for os.read.
            raw_recv = ws._recv

            def read_socket(size: int) -> bytes:
                try:
                    data = raw_recv(size)
                except websocket.WebSocketTimeoutException:
                    return _SPURIOUS
                except websocket.WebSocketConnectionClosedException as exc:
                    raise ConnectionResetError("the peer closed the connection") from exc
                if not data:
                    raise ConnectionResetError("the peer closed the connection")
                return data

            self._read = read_socket
        else:
            # After poll() said readable, read the (non-blocking) descriptor directly:
            # socket.recv() on a socket with a timeout would poll a second time.
            fd = sock.fileno()

            def read_fd(size: int) -> bytes:
                try:
                    data = os.read(fd, size)
                except BlockingIOError:
                    return _SPURIOUS
                if not data:
                    raise ConnectionResetError("the peer closed the connection")
                return data

            self._read = read_fd

    def read(self) -> List[Frame]:
        """Wait up to :attr:`tick` for data; return the frames it completed (often none).

        Raises:
            ConnectionError: The peer closed TCP (end of stream) or the socket broke.
        """
        if not self.wait(self.tick):
            return []
        return self.read_ready()

    def read_ready(self) -> List[Frame]:
        """Read what :attr:`wait` said is there, without waiting; return the frames it completed.

        Raises:
            ConnectionError: The peer closed TCP (end of stream) or the socket broke.
        """
        data = self._read(self._CHUNK)
        if not data:
            return []
        return self.parser.feed(data)

    def can_write_now(self) -> bool:
        """True when the socket's send buffer has room: a small control frame will not block."""
        return self._writable()

    def send(self, payload: str) -> None:
        """Send one text frame (caller holds the write lock or accepts websocket-client's)."""
        with _mapped_errors():
            self._ws.send(payload)

    def ping(self, payload: bytes) -> None:
        """Send a ping frame."""
        with _mapped_errors():
            self._ws.ping(payload)

    def pong(self, payload: bytes) -> None:
        """Answer a ping."""
        with _mapped_errors():
            self._ws.pong(payload)

    def send_close(self, code: int, reason: bytes) -> None:
        """Send a close frame with ``code`` and an already validated ``reason``."""
        with _mapped_errors():
            self._ws.send_close(code, reason)

    def shutdown(self) -> None:
        """Close the socket (no close frame); safe to call twice, from any thread.

        Shut down before closing: closing alone does not wake a thread blocked in a
        send on this socket (a peer that stopped reading), shutting down does.
        """
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001 - already broken: nothing left to release
            pass


_SPURIOUS = b""


class _mapped_errors:
    """Context manager: websocket-client's write errors become ``OSError`` subclasses."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> "Literal[False]":
        if exc is None:
            return False
        if isinstance(exc, websocket.WebSocketTimeoutException):
            raise TimeoutError(f"send timed out ({exc})") from exc
        if isinstance(exc, websocket.WebSocketException):
            raise ConnectionResetError(f"the connection is broken ({exc.__class__.__name__})") from exc
        return False


def _writable_checker(sock: Any) -> Callable[[], bool]:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)

        def writable() -> bool:
            return bool(poller.poll(0))

        return writable

    def writable_select() -> bool:  # pragma: no cover - platforms without poll()
        _, ready, _ = select.select([], [sock], [], 0)
        return bool(ready)

    return writable_select


def open_websocket(
    request: HandshakeRequest,
    timeout: float,
    *,
    max_frame_size: Optional[int],
    write_lock: "threading.RLock",
    tick: float,
    io_timeout: float,
    created: Optional[Callable[["websocket.WebSocket"], None]] = None,
    waker: Optional[Waker] = None,
) -> WireSocket:
    """Open the WebSocket described by ``request``; raise our exceptions on failure.

    Args:
        request: URL, headers and subprotocols.
        timeout: Seconds for TCP connect, TLS and the HTTP upgrade together.
        max_frame_size: Largest accepted incoming message in bytes (all its fragments
            together), or None for no limit.
        write_lock: Installed as websocket-client's send lock so that our frames and
            the pongs/close echoes websocket-client writes itself share one lock.
        tick: Longest time a read waits before letting the reader run its checks.
        io_timeout: The socket's timeout once open: a send blocked on a peer that
            does not read fails after it.
        created: Called with the ``WebSocket`` before connecting, so that another
            thread can abort the upgrade by shutting down its ``sock`` once set.
        waker: Polled beside the socket, so another thread can end a read's wait.

    Raises:
        AuthenticationError: HTTP 401/403 on the upgrade.
        ConnectTimeout: The handshake did not finish within ``timeout``.
        ConnectError: Refused, DNS failure, TLS failure or any other HTTP status.
    """
    ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
    ws.lock = write_lock  # type: ignore[assignment] # an RLock: our writes nest websocket-client's
    if created is not None:
        created(ws)
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
    return WireSocket(ws, max_frame_size, tick, waker)


def _close_quietly(ws: "websocket.WebSocket") -> None:
    try:
        ws.shutdown()
    except Exception:  # noqa: BLE001 - best effort on an already failed socket
        pass
