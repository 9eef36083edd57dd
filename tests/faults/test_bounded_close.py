"""Issue 10, classes 6 and 9: delivery never deadlocks, close(timeout) is always bounded,
and a send interrupted mid-frame fails the connection loudly.

``close(timeout=t)`` must return within ``t`` and the reader thread must have ended by
then — also while a reconnect waits for its HTTP upgrade and while the reader waits to
hand a notification to a callback that is stuck. A callback that calls ``interrupt()``,
``send()`` or ``close()`` while its own queue is full must not wait on itself.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import threading
import time
from typing import Any, List

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    ConnectionClosedError,
    ReconnectPolicy,
    RealtimeConnectOptions,
    TransportStatus,
)
from kernl_realtime.providers import openai
from helpers import wait_until
from servers import RawServer, ScriptedServer, assert_next_connection_works, frame, greet, session_created, text_delta, wire
import json

FAST = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0)
# close() may overrun its budget by scheduling noise on a loaded 2-core machine, never by a wait.
_SLACK = 0.4


def model_for(server: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-test-close", base_url=server.base_url)


def reader_threads(conn: Any) -> List[str]:
    return [t.name for t in threading.enumerate() if t.name == f"kernl-realtime-openai-reader-{conn.id}"]


def assert_closed_within(conn: Any, budget: float) -> float:
    started = time.monotonic()
    conn.close(timeout=budget)
    took = time.monotonic() - started
    assert took < budget + _SLACK, f"close(timeout={budget}) took {took:.2f} s"
    assert conn.wait_closed(0), "close() returned before the connection ended"
    assert not reader_threads(conn), "the reader thread outlived close(timeout)"
    assert conn.status == TransportStatus.CLOSED
    return took


class HangingUpgradeServer:
    """First connection: upgraded and greeted; every later one: accepted, never answered."""

    _GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.first: "socket.socket | None" = None
        self.hanging = threading.Event()
        self.sockets: List[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="test-hanging-upgrade", daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            self.sockets.append(sock)
            if self.first is not None:
                self.hanging.set()  # read nothing, answer nothing
                continue
            request = b""
            while b"\r\n\r\n" not in request:
                request += sock.recv(4096)
            key = next(
                line.split(":", 1)[1].strip()
                for line in request.decode("latin-1").split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1((key + self._GUID).encode()).digest()).decode()
            self.first = sock  # before the reply: connect() may return before this thread runs on
            sock.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
                + frame(json.dumps(session_created()).encode())
            )

    def drop_first(self) -> None:
        assert self.first is not None
        self.first.shutdown(socket.SHUT_RDWR)
        self.first.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        for sock in self.sockets:
            sock.close()


def test_close_while_a_reconnect_waits_for_its_upgrade_is_bounded() -> None:
    server = HangingUpgradeServer()
    try:
        # The reconnect's upgrade may wait for the whole connect timeout (10 s) unless close() stops it.
        conn = model_for(server).connect(RealtimeConnectOptions(reconnect=FAST), timeout=10)
        server.drop_first()
        assert server.hanging.wait(5), "the reconnect never reached the server"
        wait_until(lambda: conn.status == TransportStatus.RECONNECTING, what="reconnecting")
        time.sleep(0.1)  # let the reconnect block inside the upgrade
        assert_closed_within(conn, 1.0)
        assert conn.close_info is not None and conn.close_info.initiator == "client"
    finally:
        server.close()
    assert_next_connection_works()


def test_close_while_the_reader_waits_for_a_stuck_callback_is_bounded(server: ScriptedServer) -> None:
    conn = model_for(server).connect(RealtimeConnectOptions(max_queue=2, pull=False), timeout=5)
    gate = threading.Event()
    inside = threading.Event()

    def stuck(event: Any) -> None:
        inside.set()
        gate.wait(10)

    conn.on("text.output.delta", stuck)
    peer = server.accept()
    try:
        for i in range(10):
            peer.send(text_delta(i))
        assert inside.wait(5)
        # session.created + the one in the callback + a full queue + the one the reader holds.
        wait_until(lambda: conn.stats().events_received == 1 + 1 + 2 + 1, what="the reader to block")
        assert_closed_within(conn, 0.5)
    finally:
        gate.set()
    assert conn.wait_closed(5)


def test_close_while_a_reconnect_notice_waits_for_a_stuck_callback_is_bounded(server: ScriptedServer) -> None:
    # The reconnect announces "reconnecting" to callbacks whose queue is full; close() must
    # still get through (it once waited forever for a lock held across that wait).
    conn = model_for(server).connect(RealtimeConnectOptions(max_queue=2, pull=False, reconnect=FAST), timeout=5)
    gate = threading.Event()
    inside = threading.Event()

    def stuck(event: Any) -> None:
        inside.set()
        gate.wait(10)

    conn.on("text.output.delta", stuck)
    peer = server.accept()
    try:
        for i in range(3):  # one in the callback, two fill the queue
            peer.send(text_delta(i))
        assert inside.wait(5)
        wait_until(lambda: conn.stats().events_received == 1 + 3, what="the queue to fill")
        peer.drop()
        wait_until(lambda: conn.status == TransportStatus.RECONNECTING, what="reconnecting")
        time.sleep(0.1)  # the reader now waits to queue the "reconnecting" notices
        assert_closed_within(conn, 0.5)
    finally:
        gate.set()
    assert conn.wait_closed(5)


def test_a_callback_calling_interrupt_send_and_close_while_its_queue_is_full_never_waits(server: ScriptedServer) -> None:
    conn = model_for(server).connect(RealtimeConnectOptions(max_queue=2, pull=False), timeout=5)
    took: List[float] = []
    results: List[Any] = []
    done = threading.Event()

    def on_created(event: Any) -> None:
        # Wait (bounded) until the reader is blocked on this very queue, then act.
        wait_until(lambda: conn.stats().blocked_seconds > 0, what="the queue to fill")
        started = time.monotonic()
        results.append(conn.interrupt())
        conn.send(AudioInputAppendEvent(audio="AAAA"))
        took.append(time.monotonic() - started)

    def on_delta(event: Any) -> None:
        if event.delta == "5":
            started = time.monotonic()
            conn.close(timeout=2)
            took.append(time.monotonic() - started)
            done.set()

    conn.on("response.created", on_created)
    conn.on("text.output.delta", on_delta)
    peer = server.accept()
    peer.send(wire("response.created", response={"id": "resp_1", "object": "realtime.response", "status": "in_progress"}))
    for i in range(10):
        peer.send(text_delta(i))
    assert done.wait(10)
    assert results == [True]
    assert took[0] < 0.5 and took[1] < 0.5, took
    assert peer.recv_until("response.cancel")["type"] == "response.cancel"
    assert peer.recv_until("input_audio_buffer.append")["audio"] == "AAAA"
    assert conn.wait_closed(5)
    assert conn.close_info is not None and conn.close_info.initiator == "client"


def test_keyboard_interrupt_mid_send_fails_the_connection_loudly() -> None:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - xdist and friends
        pytest.skip("signals reach only the main thread")
    with RawServer(greet, recv_buffer=4096) as srv:  # a peer that never reads: the send blocks mid-frame
        conn = model_for(srv).connect(timeout=5)
        audio = base64.b64encode(bytes(8 * 1024 * 1024)).decode()
        main = threading.main_thread().ident
        assert main is not None
        timer = threading.Timer(0.5, signal.pthread_kill, args=(main, signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                conn.send(AudioInputAppendEvent(audio=audio))
        finally:
            timer.cancel()
        with pytest.raises(ConnectionClosedError) as info:
            conn.send(AudioInputAppendEvent(audio="AAAA"))
        assert "interrupted by KeyboardInterrupt" in str(info.value)
        assert conn.wait_closed(5)
        assert conn.close_info is not None and conn.close_info.initiator == "error"
        assert "interrupted" in str(conn.close_info.error)
        conn.close(timeout=0.5)
    assert_next_connection_works()
