"""Contract with websocket-client: the internals ``connection/_transport.py`` relies on.

If an upgrade of websocket-client changes any of these, this test fails loudly and
names what moved, instead of the reader misbehaving at run time. setup.cfg bounds the
dependency to the major version tested here.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import socket
import threading
import time
from typing import Any, List

import pytest
import websocket

from kernl_realtime.connection._codec import HandshakeRequest
from kernl_realtime.connection._frames import OP_PONG, OP_TEXT
from kernl_realtime.connection._transport import WireSocket, open_websocket
from servers import ScriptedServer, frame


def test_major_version_is_the_one_setup_cfg_allows() -> None:
    assert websocket.__version__.split(".")[0] == "1", (
        f"websocket-client {websocket.__version__}: connection/_transport.py is tested with 1.x; "
        "re-check its internals and the bound in setup.cfg"
    )


def test_private_recv_exists_with_a_size_argument() -> None:
    recv = getattr(websocket.WebSocket, "_recv", None)
    assert callable(recv), "WebSocket._recv is gone: WireSocket reads TLS through it"
    assert list(inspect.signature(recv).parameters)[1:] == ["bufsize"], inspect.signature(recv)


def test_bad_status_exception_carries_status_code_and_body() -> None:
    exc = websocket.WebSocketBadStatusException("Handshake status %d %s", 401, "Unauthorized", {}, b"body")
    assert exc.status_code == 401 and exc.resp_body == b"body"


class CountingLock:
    """A write lock that counts how often websocket-client takes it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.entered = 0

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        self.entered += 1
        return self._lock.acquire(*args, **kwargs)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> "CountingLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def test_writes_take_the_installed_lock_and_reads_see_the_servers_frames() -> None:
    with ScriptedServer(greeting=[]) as srv:
        lock = CountingLock()
        wire = open_websocket(
            HandshakeRequest(url=f"ws://127.0.0.1:{srv.port}/v1/realtime"),
            5,
            max_frame_size=None,
            write_lock=lock,  # type: ignore[arg-type]
            tick=0.05,
            io_timeout=5,
        )
        try:
            assert isinstance(wire, WireSocket)
            peer = srv.accept()
            for write in (lambda: wire.send('{"type":"x"}'), lambda: wire.ping(b"k"), lambda: wire.pong(b"p")):
                before = lock.entered
                write()
                assert lock.entered > before, "websocket-client no longer writes under WebSocket.lock"
            assert peer.recv_json() == {"type": "x"}
            peer.send({"type": "y"})
            frames: List[Any] = []
            deadline = time.monotonic() + 5
            while len(frames) < 2 and time.monotonic() < deadline:
                frames += wire.read()
            assert (OP_PONG, b"k") in frames and (OP_TEXT, '{"type": "y"}') in frames
            before = lock.entered
            wire.send_close(1000, b"bye")
            assert lock.entered > before
        finally:
            wire.shutdown()


def test_the_upgrade_reads_no_byte_past_the_http_response() -> None:
    """A frame in the same TCP segment as the 101 response must reach our parser."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")][0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(b'{"type":"first"}')
        )
        done.wait(5)
        conn.close()

    done = threading.Event()
    server = threading.Thread(target=serve, name="test-contract-server", daemon=True)
    server.start()
    wire = open_websocket(
        HandshakeRequest(url=f"ws://127.0.0.1:{port}/"),
        5,
        max_frame_size=None,
        write_lock=threading.RLock(),
        tick=0.05,
        io_timeout=5,
    )
    try:
        frames: List[Any] = []
        deadline = time.monotonic() + 5
        while not frames and time.monotonic() < deadline:
            frames = wire.read()
        assert frames == [(OP_TEXT, '{"type":"first"}')], "the upgrade swallowed bytes of the first frame"
    finally:
        done.set()
        wire.shutdown()
        server.join(5)
        listener.close()


def test_end_of_stream_is_a_connection_error() -> None:
    with ScriptedServer(greeting=[]) as srv:
        wire = open_websocket(
            HandshakeRequest(url=f"ws://127.0.0.1:{srv.port}/v1/realtime"),
            5,
            max_frame_size=None,
            write_lock=threading.RLock(),
            tick=0.05,
            io_timeout=5,
        )
        try:
            srv.accept().drop()
            with pytest.raises(ConnectionError):
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    wire.read()
        finally:
            wire.shutdown()
