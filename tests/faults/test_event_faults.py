"""Faults in what the server says and in what user code does, against real local servers.

Malformed and unknown frames, server ``error`` events, slow consumers, raising callbacks,
``close()`` from callbacks and sends after close. Each test checks that nothing received
is lost or reordered, and that the next connection works.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, List, Type

import pytest
import websockets.exceptions

import kernl_realtime

from kernl_realtime import (
    AudioInputAppendEvent,
    CallbackError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    KernlRealtimeError,
    RealtimeConnectOptions,
    ServerError,
    TransportStatus,
    UnknownEvent,
)
from helpers import openai_model, wait_until
from servers import ScriptedServer, assert_next_connection_works, text_delta, wire

MODES = ["pull", "callback"]


class Recorder:
    """Everything a connection delivers, in one ordered list: events, and errors as ("error", exc)."""

    def __init__(self, conn: Any, mode: str, expected: int) -> None:
        self.conn = conn
        self.mode = mode
        self.items: List[Any] = []
        self.expected = expected
        self.done = threading.Event()
        if mode == "callback":
            conn.on("event", self._add)
            conn.on("error", lambda exc: self._add(("error", exc)))

    def _add(self, item: Any) -> None:
        self.items.append(item)
        if len(self.items) >= self.expected:
            self.done.set()

    def take(self, timeout: float = 5.0) -> List[Any]:
        """Wait for ``expected`` items; in pull mode errors raised by recv() are recorded."""
        if self.mode == "pull":
            while len(self.items) < self.expected:
                try:
                    self._add(self.conn.recv(timeout=timeout))
                except KernlRealtimeError as exc:
                    self._add(("error", exc))
        assert self.done.wait(timeout), f"got only {self.items!r}"
        return self.items


def labels(items: List[Any]) -> List[str]:
    """Compact labels: delta text, ``unknown:<type>``, ``error:<Class>``, or the event kind."""
    out = []
    for item in items:
        if isinstance(item, tuple):
            out.append(f"error:{type(item[1]).__name__}")
        elif isinstance(item, UnknownEvent):
            out.append(f"unknown:{item.type}")
        elif item.kind == "text.output.delta":
            out.append(item.delta)
        else:
            out.append(item.kind)
    return out


def assert_still_open(conn: Any, server: ScriptedServer, peer: Any) -> None:
    """The connection survived: a send reaches the server."""
    assert conn.status == TransportStatus.CONNECTED
    conn.send(AudioInputAppendEvent(audio="AAAA"))
    assert peer.recv_json() == {"type": "input_audio_buffer.append", "audio": "AAAA"}


# -- bad frames -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_malformed_frames_are_reported_in_place_and_skipped(mode: str) -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=(mode == "pull")), timeout=5)
        # Callbacks registered after connect() also get session.created (held for them).
        recorder = Recorder(conn, mode, expected=8)
        peer = srv.accept()
        peer.send(text_delta(0))
        peer.send("{not json")
        peer.send(text_delta(1))
        peer.send("[1, 2]")  # JSON, but not an object
        peer.send(text_delta(2))
        # A known type missing a required field: the decoder fails, the reader lives on.
        peer.send(wire("response.output_text.delta", item_id="item_1", delta="lost"))
        peer.send(text_delta(3))
        items = recorder.take()
        assert items[0].kind == "session.created"
        got = labels(items[1:])
        assert got == ["0", "error:ProtocolError", "1", "error:ProtocolError", "2", "error:ProtocolError", "3"]
        errors = [item[1] for item in items if isinstance(item, tuple)]
        assert "not valid JSON" in str(errors[0]) and "frame skipped" in str(errors[0])
        assert "not an object" in str(errors[1])
        assert "could not decode" in str(errors[2]) and "response_id" in str(errors[2])
        assert_still_open(conn, srv, peer)
        conn.close()
    assert_next_connection_works()


@pytest.mark.parametrize("mode", MODES)
def test_unknown_events_are_delivered_in_order_never_dropped(mode: str) -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=(mode == "pull")), timeout=5)
        unknown_by_kind: List[Any] = []
        if mode == "callback":
            conn.on("unknown", unknown_by_kind.append)
        recorder = Recorder(conn, mode, expected=7)
        peer = srv.accept()
        peer.send(text_delta(0))
        peer.send(wire("rate_limits.updated", rate_limits=[{"name": "tokens", "remaining": 9}]))
        peer.send(text_delta(1))
        peer.send(wire("response.brand_new_thing", payload={"nested": [1, 2]}))
        peer.send(wire("conversation.created", conversation={"id": "conv_1"}))
        peer.send(text_delta(2))
        items = recorder.take()
        assert items[0].kind == "session.created"
        got = labels(items[1:])
        assert got == [
            "0",
            "unknown:rate_limits.updated",
            "1",
            "unknown:response.brand_new_thing",
            "unknown:conversation.created",
            "2",
        ]
        unknown = [item for item in items if isinstance(item, UnknownEvent)]
        assert unknown[1].data == {
            "type": "response.brand_new_thing",
            "event_id": "event_response.brand_new_thing",
            "payload": {"nested": [1, 2]},
        }
        if mode == "callback":
            assert unknown_by_kind == unknown
        assert_still_open(conn, srv, peer)
        conn.close()
    assert_next_connection_works()


# -- server error events --------------------------------------------------------------------------

_SERVER_ERROR = wire(
    "error",
    error={
        "type": "invalid_request_error",
        "code": "conversation_already_has_active_response",
        "message": "Conversation already has an active response in progress",
        "param": None,
        "event_id": "evt_client_7",
    },
)


def assert_is_the_server_error(error: Any) -> None:
    assert isinstance(error, ServerError)
    assert error.code == "conversation_already_has_active_response"
    assert error.type == "invalid_request_error" and error.event_id == "evt_client_7"
    assert "active response" in str(error)


def test_server_error_event_is_raised_to_an_unhandled_puller_and_the_session_goes_on(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(timeout=5)
    peer = server.accept()
    peer.send(text_delta(0))
    peer.send(_SERVER_ERROR)
    peer.send(text_delta(1))
    assert conn.recv(timeout=5).kind == "session.created"
    assert conn.recv(timeout=5).delta == "0"
    with pytest.raises(ServerError) as info:
        conn.recv(timeout=5)
    assert_is_the_server_error(info.value)
    assert conn.recv(timeout=5).delta == "1"
    assert_still_open(conn, server, peer)
    conn.close()
    assert_next_connection_works()


def test_server_error_event_goes_to_error_callbacks_and_the_session_goes_on(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
    recorder = Recorder(conn, "callback", expected=5)
    peer = server.accept()
    peer.send(text_delta(0))
    peer.send(_SERVER_ERROR)
    peer.send(text_delta(1))
    items = recorder.take()[1:]  # after session.created
    # The event callback sees the session.error event, then the error callback its ServerError.
    assert labels(items) == ["0", "session.error", "error:ServerError", "1"]
    assert_is_the_server_error(items[2][1])
    assert items[1].error is items[2][1]
    assert_still_open(conn, server, peer)
    conn.close()
    assert_next_connection_works()


# -- slow consumers -------------------------------------------------------------------------------

_MAX_QUEUE = 8
_BURST = 200


def test_puller_that_stops_reading_blocks_the_reader_with_bounded_memory(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(max_queue=_MAX_QUEUE), timeout=5)
    peer = server.accept()
    # The first recv() makes the connection pull-only (nothing is held for callbacks).
    assert conn.recv(timeout=5).kind == "session.created"
    for i in range(_BURST):
        peer.send(text_delta(i))
    # blocked_seconds is accounted each time a wait for space gives up (once per reader tick).
    wait_until(lambda: conn.stats().blocked_seconds > 0, what="the reader to block")
    first = conn.stats()
    wait_until(lambda: conn.stats().blocked_seconds > first.blocked_seconds, what="blocked_seconds to grow")
    second = conn.stats()
    for snapshot in (first, second):
        assert snapshot.queue_depth == _MAX_QUEUE and snapshot.peak_queue_depth == _MAX_QUEUE
        # session.created, the queue, and the one event the reader holds: the socket is left unread.
        assert snapshot.events_received == 1 + _MAX_QUEUE + 1
    pulled = [conn.recv(timeout=5) for _ in range(_BURST)]
    assert [e.delta for e in pulled] == [str(i) for i in range(_BURST)]
    stats = conn.stats()
    assert stats.peak_queue_depth == _MAX_QUEUE and stats.events_received == _BURST + 1
    conn.close()
    assert_next_connection_works()


def test_callback_that_blocks_makes_the_reader_wait_with_bounded_memory(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(max_queue=_MAX_QUEUE, pull=False), timeout=5)
    gate = threading.Event()
    seen: List[str] = []
    all_seen = threading.Event()

    def slow(event: Any) -> None:
        gate.wait(10)  # a consumer stuck in user code (a sleep, a lock, slow I/O)
        seen.append(event.delta)
        if len(seen) == _BURST:
            all_seen.set()

    conn.on("text.output.delta", slow)
    peer = server.accept()
    for i in range(_BURST):
        peer.send(text_delta(i))
    # session.created (delivered to the held callbacks) + one in the callback + a full queue + one held.
    expected = 1 + 1 + _MAX_QUEUE + 1
    try:
        wait_until(lambda: conn.stats().events_received == expected, what="the queue to fill")
        first = conn.stats()
        wait_until(lambda: conn.stats().blocked_seconds > first.blocked_seconds, what="blocked_seconds to grow")
        second = conn.stats()
        assert first.events_received == second.events_received == expected
    finally:
        gate.set()
    assert all_seen.wait(10)
    assert seen == [str(i) for i in range(_BURST)]
    conn.close()
    assert_next_connection_works()


# -- user code that misbehaves --------------------------------------------------------------------


def test_raising_callback_is_isolated_and_reported(server: ScriptedServer) -> None:
    hooked: List[Any] = []
    previous = kernl_realtime.set_excepthook(hooked.append)
    conn = openai_model(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
    seen: List[str] = []
    errors: List[BaseException] = []
    done = threading.Event()

    def explode(event: Any) -> None:
        seen.append(event.delta)
        if event.delta == "1":
            raise RuntimeError("boom in user code")
        if event.delta == "3":
            done.set()

    def broken_error_handler(exc: BaseException) -> None:
        errors.append(exc)
        raise ValueError("the error handler is broken too")

    conn.on("text.output.delta", explode)
    conn.on("error", broken_error_handler)
    peer = server.accept()
    for i in range(4):
        peer.send(text_delta(i))
    assert done.wait(5)
    assert seen == ["0", "1", "2", "3"]
    # Reported once (the failing error handler is not re-entered), with the original as cause.
    assert len(errors) == 1 and isinstance(errors[0], CallbackError)
    assert isinstance(errors[0].__cause__, RuntimeError) and "boom in user code" in str(errors[0])
    assert errors[0].callback_name == "text.output.delta"
    # The broken error handler has nobody to report to: it goes to kernl_realtime.excepthook.
    assert_still_open(conn, server, peer)
    conn.close()
    kernl_realtime.set_excepthook(previous)
    assert [str(args.exc_value) for args in hooked] == ["the error handler is broken too"]
    assert hooked[0].exc_traceback is not None and "broken_error_handler" in hooked[0].context
    assert_next_connection_works()


def test_close_from_inside_a_callback_returns_promptly(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
    statuses: List[Any] = []
    closed = threading.Event()
    took: List[float] = []

    def on_delta(event: Any) -> None:
        if event.delta == "1":
            started = time.monotonic()
            conn.close(timeout=2)
            took.append(time.monotonic() - started)

    def on_status(status: Any) -> None:
        statuses.append(status)
        if status == TransportStatus.CLOSED:
            closed.set()

    conn.on("text.output.delta", on_delta)
    conn.on("status", on_status)
    peer = server.accept()
    for i in range(3):
        try:
            peer.send(text_delta(i))
        except websockets.exceptions.ConnectionClosed:
            break  # the callback already closed the connection after delta 1
    assert closed.wait(5)
    assert took and took[0] < 0.5
    assert statuses[-1] == TransportStatus.CLOSED
    assert conn.close_info is not None and conn.close_info.initiator == "client" and conn.close_code == 1000
    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
        while True:
            peer.connection.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000
    assert_next_connection_works()


def test_close_from_inside_a_callback_under_backpressure_returns_promptly(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(max_queue=4, pull=False), timeout=5)
    gate = threading.Event()
    took: List[float] = []

    def on_delta(event: Any) -> None:
        if event.delta == "0":
            gate.wait(5)
            started = time.monotonic()
            conn.close(timeout=3)
            took.append(time.monotonic() - started)

    conn.on("text.output.delta", on_delta)
    peer = server.accept()
    for i in range(20):
        peer.send(text_delta(i))
    # session.created + the event in the callback + a full queue + the event the reader holds.
    wait_until(lambda: conn.stats().events_received == 1 + 1 + 4 + 1, what="the queue to fill")
    gate.set()
    assert conn.wait_closed(5)
    conn.close()
    # Well inside the timeout: at most one reader tick (<= 1 s) to notice the close.
    assert took and took[0] < 1.5, took


def test_close_while_the_pull_queue_is_full_ends_the_reader(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(max_queue=4), timeout=5)
    peer = server.accept()
    assert conn.recv(timeout=5).kind == "session.created"  # pull-only from here on
    for i in range(20):
        peer.send(text_delta(i))
    wait_until(lambda: conn.stats().events_received == 1 + 4 + 1, what="the queue to fill")
    try:
        started = time.monotonic()
        conn.close(timeout=3)
        # Well inside the timeout: at most one reader tick (<= 1 s) to notice the close.
        assert time.monotonic() - started < 1.5
        assert conn.status == TransportStatus.CLOSED
    finally:
        # Free a reader that close() could not stop, so the thread-leak guard stays meaningful.
        list(conn.events(timeout=0.2))
        conn.wait_closed(2)


@pytest.mark.parametrize(
    "how, expected, code",
    [
        ("client_close", ConnectionClosedOK, 1000),
        ("server_close_1000", ConnectionClosedOK, 1000),
        ("server_close_1011", ConnectionClosedError, 1011),
        ("tcp_drop", ConnectionClosedError, 1006),
    ],
)
def test_send_after_close_raises_a_clear_error(
    server: ScriptedServer, how: str, expected: Type[ConnectionClosed], code: int
) -> None:
    conn = openai_model(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
    peer = server.accept()
    if how == "client_close":
        conn.close()
    elif how == "tcp_drop":
        peer.drop()
    else:
        peer.close(int(how.rsplit("_", 1)[1]), "bye")
    assert conn.wait_closed(5)
    with pytest.raises(expected) as info:
        conn.send(AudioInputAppendEvent(audio="AAAA"))
    assert info.value.code == code
    assert "closed" in str(info.value) and str(code) in str(info.value)
    conn.close()
    assert_next_connection_works()
