"""Transport faults against real local servers: drops, dead peers, oversized frames, stuck sends.

Every fault asserts the four promises of issue 6: a clear error or close notice, no event
received before the fault lost or reordered, no kernl-realtime thread left running (the
autouse fixture), and a working next connection to a healthy server.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from typing import Any, List

import pytest
import websockets.exceptions

from conftest import open_fd_count
from kernl_realtime import (
    AudioInputAppendEvent,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectTimeout,
    FrameTooLargeError,
    KeepAlive,
    KeepAliveTimeout,
    RealtimeConnectOptions,
    SendTimeout,
    TransportStatus,
)
from kernl_realtime.providers import openai
from helpers import openai_model
from servers import (
    OPCODE_PING,
    ClientFrameReader,
    Observer,
    RawServer,
    ScriptedServer,
    assert_next_connection_works,
    frame,
    greet,
    text_delta,
    wire,
)

MODES = ["pull", "callback"]


def options(mode: str, **fields: Any) -> RealtimeConnectOptions:
    return RealtimeConnectOptions(pull=(mode == "pull"), **fields)


def deltas(events: List[Any]) -> List[str]:
    """The text deltas among ``events``, in delivery order (drops the handshake event)."""
    return [e.delta for e in events if e.kind == "text.output.delta"]


def the_close_error(errors: List[BaseException]) -> ConnectionClosedError:
    """The single error that reported the end of the connection."""
    closed = [e for e in errors if isinstance(e, ConnectionClosed)]
    assert len(closed) == 1, f"expected one close notice, got {errors!r}"
    assert isinstance(closed[0], ConnectionClosedError), closed[0]
    return closed[0]


def assert_closed_promptly(conn: Any) -> None:
    started = time.monotonic()
    conn.close(timeout=2)
    assert time.monotonic() - started < 0.5
    assert conn.status == TransportStatus.CLOSED


# -- drops ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_abrupt_tcp_drop_mid_frame(mode: str) -> None:
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(options(mode), timeout=5)
        observer = Observer(conn, mode)
        peer = raw.accept()
        for i in range(3):
            peer.send_json(text_delta(i))
        half = frame(json.dumps(text_delta(3)).encode())
        peer.send_raw(half[: len(half) // 2])
        peer.close_socket()
        events, errors = observer.collect()
    assert deltas(events) == ["0", "1", "2"]
    error = the_close_error(errors)
    assert error.code == 1006 and "1006" in str(error)
    assert conn.status == TransportStatus.CLOSED and conn.close_code == 1006
    assert_closed_promptly(conn)
    assert_next_connection_works()


@pytest.mark.parametrize("mode", MODES)
def test_close_without_close_frame_is_1006(mode: str) -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(options(mode), timeout=5)
        observer = Observer(conn, mode)
        peer = srv.accept()
        for i in range(5):
            peer.send(text_delta(i))
        peer.drop()
        events, errors = observer.collect()
        assert deltas(events) == ["0", "1", "2", "3", "4"]
        error = the_close_error(errors)
        assert error.code == 1006 and "1006" in str(error)
        assert conn.close_info is not None and conn.close_info.error is error
        assert_closed_promptly(conn)
    assert_next_connection_works()


def test_dropped_connection_is_reported_as_error_initiated(server: ScriptedServer) -> None:
    conn = openai_model(server).connect(timeout=5)
    try:
        server.accept().drop()
        assert conn.wait_closed(5)
        info = conn.close_info
        assert info is not None and info.code == 1006
        assert info.initiator == "error"
    finally:
        conn.close(timeout=2)


# -- keepalive --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_keepalive_detects_half_open_peer(mode: str) -> None:
    keepalive = KeepAlive(interval=0.2, timeout=0.3)
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(options(mode, keepalive=keepalive), timeout=5)
        connected_at = time.monotonic()
        observer = Observer(conn, mode)
        peer = raw.accept()
        peer.send_json(text_delta(0))
        peer.send_json(text_delta(1))
        assert conn.wait_closed(3)
        elapsed = time.monotonic() - connected_at
        events, errors = observer.collect()
        # The peer never read: the client's ping is still in its buffer, unanswered.
        sent = [opcode for opcode, _ in ClientFrameReader(peer.sock).frames(0.2)]
    assert OPCODE_PING in sent
    # Detected within interval + timeout (+ scheduling slack), and not before the timeout ran.
    assert keepalive.timeout <= elapsed < keepalive.interval + keepalive.timeout + 0.5
    assert deltas(events) == ["0", "1"]
    error = the_close_error(errors)
    assert isinstance(error.__cause__, KeepAliveTimeout)
    assert "did not answer a ping" in str(error)
    assert conn.status == TransportStatus.CLOSED
    assert conn.close_info is not None and conn.close_info.initiator == "error"
    assert_closed_promptly(conn)
    assert_next_connection_works()


def test_keepalive_detects_peer_stalled_mid_frame() -> None:
    keepalive = KeepAlive(interval=0.2, timeout=0.3)
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(RealtimeConnectOptions(keepalive=keepalive), timeout=5)
        try:
            whole = frame(json.dumps(wire("rate_limits.updated", padding="x" * 500)).encode())
            raw.accept().send_raw(whole[:100])
            assert conn.wait_closed(keepalive.interval + keepalive.timeout + 1.0)
            assert isinstance(conn.close_info.error.__cause__, KeepAliveTimeout)  # type: ignore[union-attr]
        finally:
            conn.close(timeout=1)


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_keepalive_pings_only_when_enabled(enabled: bool) -> None:
    keepalive = KeepAlive(interval=0.1, timeout=5) if enabled else KeepAlive.disabled()
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(RealtimeConnectOptions(keepalive=keepalive), timeout=5)
        try:
            reader = ClientFrameReader(raw.accept().sock)
            # Enabled: the first ping comes after ~interval. Disabled: none in 5x that time.
            opcodes: List[int] = []
            deadline = time.monotonic() + 0.5
            while OPCODE_PING not in opcodes and time.monotonic() < deadline:
                got = reader.next_frame(max(0.0, deadline - time.monotonic()))
                if got is not None:
                    opcodes.append(got[0])
            assert (OPCODE_PING in opcodes) is enabled, opcodes
            # A silent peer is not a reason to close when nothing probes it.
            assert conn.status == TransportStatus.CONNECTED
        finally:
            conn.close(timeout=0.2)  # this peer never answers the close frame


# -- oversized frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_frame_too_large_closes_with_1009(mode: str) -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(options(mode, max_frame_size=1024), timeout=5)
        observer = Observer(conn, mode)
        peer = srv.accept()
        peer.send(text_delta(0))
        at_limit = wire("rate_limits.updated", padding="")
        at_limit["padding"] = "x" * (1024 - len(json.dumps(at_limit)))
        peer.send(json.dumps(at_limit))  # exactly max_frame_size bytes: accepted
        peer.send(text_delta(1))
        too_large = dict(text_delta(2), padding="x" * 4096)
        peer.send(too_large)  # 4 KiB: refused
        events, errors = observer.collect()
        # The client told the server why with a 1009 close frame.
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            peer.connection.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert [e.kind for e in events if e.kind != "session.created"] == [
        "text.output.delta",
        "unknown",
        "text.output.delta",
    ]
    assert deltas(events) == ["0", "1"]
    error = the_close_error(errors)
    assert error.code == 1009 and conn.close_code == 1009
    assert isinstance(error.__cause__, FrameTooLargeError)
    assert "max_frame_size=1024" in str(error)
    assert_closed_promptly(conn)
    assert_next_connection_works()


# -- handshake faults -----------------------------------------------------------------------


def test_server_that_never_sends_session_created() -> None:
    with ScriptedServer(greeting=[]) as srv:
        model = openai_model(srv)
        assert_next_connection_works()  # warm up lazily created resources before counting fds
        baseline_fds = open_fd_count()
        started = time.monotonic()
        with pytest.raises(ConnectTimeout) as info:
            model.connect(timeout=0.5)
        assert time.monotonic() - started < 1.5
        assert isinstance(info.value, TimeoutError)
        assert "did not confirm the session" in str(info.value)
        # The peer sees the socket go away: connect() did not leave it open.
        peer = srv.accept()
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            peer.connection.recv(timeout=5)
    deadline = time.monotonic() + 5
    while open_fd_count() > baseline_fds and time.monotonic() < deadline:
        time.sleep(0.01)
    assert open_fd_count() <= baseline_fds
    assert_next_connection_works()


def test_server_that_never_answers_the_upgrade() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the kernel completes TCP; nobody ever answers the HTTP upgrade
    try:
        port = listener.getsockname()[1]
        model = openai.realtime("gpt-realtime", api_key="sk-test-fault", base_url=f"http://127.0.0.1:{port}/v1")
        started = time.monotonic()
        with pytest.raises(ConnectTimeout, match="timed out after 0.5 s"):
            model.connect(timeout=0.5)
        assert time.monotonic() - started < 1.5
    finally:
        listener.close()
    assert_next_connection_works()


# -- a peer that stops reading ----------------------------------------------------------------

# 192 KiB of audio per append: a few of them fill the peer's small receive buffer and ours.
_BIG_AUDIO = base64.b64encode(os.urandom(192 * 1024)).decode("ascii")


def flood_until_send_timeout(conn: Any, budget: float = 10.0) -> SendTimeout:
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            conn.send(AudioInputAppendEvent(audio=_BIG_AUDIO))
        except SendTimeout as exc:
            return exc
    raise AssertionError("send never timed out against a peer that does not read")


@pytest.mark.parametrize("mode", MODES)
def test_peer_that_never_reads_makes_send_time_out(mode: str) -> None:
    with RawServer(greet, recv_buffer=4096) as raw:
        conn = openai_model(raw).connect(options(mode, send_timeout=0.5), timeout=5)
        observer = Observer(conn, mode)
        peer = raw.accept()
        peer.send_json(text_delta(0))
        peer.send_json(text_delta(1))
        started = time.monotonic()
        error = flood_until_send_timeout(conn)
        assert time.monotonic() - started < 5.0
        assert isinstance(error, TimeoutError) and "0.5 s" in str(error) and "stopped reading" in str(error)
        assert conn.wait_closed(2)
        events, errors = observer.collect()
        with pytest.raises(ConnectionClosedError):
            conn.send(AudioInputAppendEvent(audio="AAAA"))
        assert_closed_promptly(conn)
    assert deltas(events) == ["0", "1"]
    closed = the_close_error(errors)
    assert isinstance(closed.__cause__, SendTimeout)
    assert conn.close_info is not None and conn.close_info.initiator == "error"
    assert_next_connection_works()


def test_senders_on_many_threads_all_return_when_the_peer_stops_reading() -> None:
    with RawServer(greet, recv_buffer=4096) as raw:
        conn = openai_model(raw).connect(RealtimeConnectOptions(send_timeout=0.5), timeout=5)
        outcomes: List[BaseException] = []
        lock = threading.Lock()

        def flood() -> None:
            try:
                while True:
                    conn.send(AudioInputAppendEvent(audio=_BIG_AUDIO))
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
                with lock:
                    outcomes.append(exc)

        threads = [threading.Thread(target=flood, name=f"test-flood-{i}") for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert not any(thread.is_alive() for thread in threads), "a send blocked forever"
        assert len(outcomes) == 3
        assert sum(isinstance(exc, SendTimeout) for exc in outcomes) == 1, outcomes
        assert all(isinstance(exc, (SendTimeout, ConnectionClosed)) for exc in outcomes), outcomes
        assert conn.wait_closed(2)
        assert_closed_promptly(conn)
    assert_next_connection_works()


def start_stuck_sender(conn: Any) -> "tuple[threading.Thread, List[BaseException]]":
    """Flood ``conn`` from a thread until its send blocks on full socket buffers."""
    outcome: List[BaseException] = []

    def flood() -> None:
        try:
            while True:
                conn.send(AudioInputAppendEvent(audio=_BIG_AUDIO))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            outcome.append(exc)

    sender = threading.Thread(target=flood, name="test-flood")
    sender.start()
    # events_sent stops growing once the socket buffers are full and the send blocks.
    deadline = time.monotonic() + 5
    last = -1
    while time.monotonic() < deadline:
        sent = conn.stats().events_sent
        if sent == last and sent > 0:
            return sender, outcome
        last = sent
        time.sleep(0.2)
    raise AssertionError("the sender never blocked")


def test_close_while_a_send_is_stuck_returns_within_its_timeout() -> None:
    with RawServer(greet, recv_buffer=4096) as raw:
        # A long send_timeout: only close() can free the stuck sender.
        conn = openai_model(raw).connect(RealtimeConnectOptions(send_timeout=30), timeout=5)
        sender, outcome = start_stuck_sender(conn)
        started = time.monotonic()
        conn.close(timeout=1)
        assert time.monotonic() - started < 1.5
        sender.join(2)
        assert not sender.is_alive(), "close() did not free the stuck sender"
        assert isinstance(outcome[0], ConnectionClosed)
        assert conn.wait_closed(1)
    assert_next_connection_works()


def test_close_while_a_send_is_stuck_leaves_the_connection_closed() -> None:
    with RawServer(greet, recv_buffer=4096) as raw:
        conn = openai_model(raw).connect(RealtimeConnectOptions(send_timeout=30), timeout=5)
        sender, _ = start_stuck_sender(conn)
        try:
            started = time.monotonic()
            conn.close(timeout=1)
            elapsed = time.monotonic() - started
            # Forcing the socket down and joining the reader takes milliseconds: a close()
            # that keeps part of its budget for that returns early, with the connection closed.
            assert conn.status == TransportStatus.CLOSED
            assert elapsed < 0.9, elapsed
        finally:
            sender.join(2)
            conn.wait_closed(1)
