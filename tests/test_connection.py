"""The Connection core against real local WebSocket servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, List

import pytest

from conftest import open_fd_count
from kernl_realtime import (
    AudioInputAppendEvent,
    AuthenticationError,
    CallbackError,
    ConnectError,
    ConnectionClosedError,
    ConnectionClosedOK,
    ConnectTimeout,
    ProtocolError,
    RealtimeConnectOptions,
    ReceiveTimeout,
    ServerError,
    TransportStatus,
    UnknownEvent,
)
from kernl_realtime.providers import openai
from servers import RawServer, ScriptedServer, session_created, wire


def model_for(server: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-test-secret", base_url=server.base_url)


def delta(n: int) -> dict:
    return wire("response.output_text.delta", response_id="resp_1", item_id="item_1", delta=str(n))


# -- connect ------------------------------------------------------------------------------


def test_connect_returns_confirmed_connection(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    try:
        assert conn.status == TransportStatus.CONNECTED
        assert conn.session_id == "sess_test"
        peer = server.accept()
        assert peer.request_headers["Authorization"] == "Bearer sk-test-secret"
        assert peer.path == "/v1/realtime?model=gpt-realtime"
        # The handshake event is not swallowed: it is the first event pulled.
        assert conn.recv(timeout=1).kind == "session.created"
    finally:
        conn.close()
    assert conn.status == TransportStatus.CLOSED


def test_connect_times_out_without_session_created() -> None:
    with ScriptedServer(greeting=[]) as srv:
        started = time.monotonic()
        with pytest.raises(ConnectTimeout) as info:
            model_for(srv).connect(timeout=0.5)
        assert time.monotonic() - started < 2.0
        assert isinstance(info.value, TimeoutError)


def test_connect_401_on_upgrade_is_authentication_error() -> None:
    with ScriptedServer(reject_status=401) as srv:
        with pytest.raises(AuthenticationError) as info:
            model_for(srv).connect(timeout=5)
    assert info.value.status_code == 401
    assert "sk-test-secret" not in str(info.value)


def test_connect_refused_port_is_connect_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    model = openai.realtime("gpt-realtime", api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ConnectError) as info:
        model.connect(timeout=5)
    assert "refused" in str(info.value)


def test_connect_aborted_before_start(server: ScriptedServer) -> None:
    abort = threading.Event()
    abort.set()
    with pytest.raises(ConnectError, match="aborted"):
        model_for(server).connect(RealtimeConnectOptions(abort=abort))
    assert server.peers.empty()


def test_server_error_during_handshake_is_raised() -> None:
    error = wire("error", error={"type": "invalid_request_error", "code": "invalid_value", "message": "bad voice"})
    with ScriptedServer(greeting=[error]) as srv:
        with pytest.raises(ServerError) as info:
            model_for(srv).connect(timeout=5)
    assert info.value.code == "invalid_value"


# -- close ----------------------------------------------------------------------------------


def test_close_twice_and_from_another_thread(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    closer = threading.Thread(target=conn.close, kwargs={"timeout": 2})
    closer.start()
    closer.join(3)
    assert not closer.is_alive()
    started = time.monotonic()
    conn.close(timeout=2)
    assert time.monotonic() - started < 0.5
    assert conn.close_info is not None and conn.close_info.initiator == "client"
    assert conn.close_code == 1000


def test_close_from_inside_a_callback(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    peer = server.accept()
    returned = threading.Event()

    def on_delta(event: Any) -> None:
        conn.close(timeout=2)
        returned.set()

    conn.on("text.output.delta", on_delta)
    peer.send(delta(1))
    assert returned.wait(5)
    assert conn.wait_closed(5)
    assert conn.status == TransportStatus.CLOSED


def test_close_against_peer_that_never_answers_close() -> None:
    def greet_then_ignore(peer: Any) -> None:
        peer.send_json(session_created())

    with RawServer(greet_then_ignore) as raw:
        conn = model_for(raw).connect(timeout=5)
        started = time.monotonic()
        conn.close(timeout=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert conn.status == TransportStatus.CLOSED


# -- server-side closes ----------------------------------------------------------------------


@pytest.mark.parametrize("code, abnormal", [(1000, False), (1011, True)])
def test_server_close_codes(server: ScriptedServer, code: int, abnormal: bool) -> None:
    conn = model_for(server).connect(timeout=5)
    errors: List[Exception] = []
    got_error = threading.Event()
    conn.on("error", lambda exc: (errors.append(exc), got_error.set()))
    peer = server.accept()
    peer.send(delta(1))
    peer.close(code, "bye")
    events = list(conn)  # iteration ends at close (errors go to the callback)
    assert [e.kind for e in events] == ["session.created", "text.output.delta"]
    assert conn.wait_closed(5)
    assert conn.status == TransportStatus.CLOSED
    assert conn.close_code == code and conn.close_reason == "bye"
    if abnormal:
        assert got_error.wait(5)
        assert isinstance(errors[0], ConnectionClosedError) and errors[0].code == 1011
    with pytest.raises(ConnectionClosedError if abnormal else ConnectionClosedOK):
        conn.recv(timeout=1)
    conn.close()


def test_tcp_drop_wakes_blocked_recv_and_raises_to_unhandled_puller(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    assert conn.recv(timeout=1).kind == "session.created"
    outcome: List[BaseException] = []

    def pull() -> None:
        try:
            conn.recv(timeout=10)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    puller = threading.Thread(target=pull)
    puller.start()
    server.accept().drop()
    puller.join(5)
    assert not puller.is_alive()
    assert isinstance(outcome[0], ConnectionClosedError) and outcome[0].code == 1006
    assert conn.status == TransportStatus.CLOSED
    conn.close()


# -- delivery ------------------------------------------------------------------------------


def test_ten_thousand_events_reach_queue_and_callbacks_in_order(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    seen: List[str] = []
    all_seen = threading.Event()

    def on_delta(event: Any) -> None:
        seen.append(event.delta)
        if len(seen) == 10_000:
            all_seen.set()

    conn.on("text.output.delta", on_delta)
    peer = server.accept()
    sender = threading.Thread(target=lambda: [peer.send(delta(i)) for i in range(10_000)])
    sender.start()
    pulled = [conn.recv(timeout=5) for _ in range(10_001)]
    sender.join(10)
    assert all_seen.wait(10)
    expected = [str(i) for i in range(10_000)]
    assert [e.delta for e in pulled[1:]] == expected
    assert seen == expected
    conn.close()


def test_malformed_json_and_unknown_events_keep_the_connection(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    errors: List[Exception] = []
    conn.on("error", errors.append)
    peer = server.accept()
    peer.send("{not json")
    peer.send(wire("rate_limits.updated", rate_limits=[]))
    peer.send(delta(7))
    events = [conn.recv(timeout=5) for _ in range(3)]
    assert [e.kind for e in events] == ["session.created", "unknown", "text.output.delta"]
    assert isinstance(events[1], UnknownEvent) and events[1].type == "rate_limits.updated"
    assert events[1].data["rate_limits"] == []
    conn.close()
    assert isinstance(errors[0], ProtocolError)


def test_malformed_json_is_raised_to_a_puller_without_error_callback(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    peer = server.accept()
    peer.send("{not json")
    peer.send(delta(1))
    assert conn.recv(timeout=5).kind == "session.created"
    with pytest.raises(ProtocolError, match="not valid JSON"):
        conn.recv(timeout=5)
    assert conn.recv(timeout=5).kind == "text.output.delta"
    conn.close()


def test_unhandled_server_error_event_is_raised_to_puller(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    peer = server.accept()
    peer.send(wire("error", error={"type": "invalid_request_error", "code": "response_cancel_not_active",
                                   "message": "no active response", "param": None, "event_id": "evt_9"}))
    conn.recv(timeout=5)
    with pytest.raises(ServerError) as info:
        conn.recv(timeout=5)
    assert info.value.code == "response_cancel_not_active" and info.value.event_id == "evt_9"
    conn.close()


def test_raising_callback_is_reported_and_later_events_arrive(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    errors: List[Exception] = []
    later = threading.Event()

    def explode(event: Any) -> None:
        if event.delta == "1":
            raise RuntimeError("boom")
        later.set()

    conn.on("text.output.delta", explode)
    conn.on("error", errors.append)
    peer = server.accept()
    peer.send(delta(1))
    peer.send(delta(2))
    assert later.wait(5)
    conn.close()
    assert isinstance(errors[0], CallbackError) and isinstance(errors[0].__cause__, RuntimeError)
    assert errors[0].__cause__.__traceback__ is not None  # the original traceback travels along


def test_decorator_once_off_and_catch_all(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    calls: List[str] = []
    done = threading.Event()

    @conn.on("text.output.delta")
    def every(event: Any) -> None:
        calls.append("every" + event.delta)

    conn.once("text.output.delta", lambda e: calls.append("once" + e.delta))
    removed = conn.on("text.output.delta", lambda e: calls.append("removed"))
    conn.off("text.output.delta", removed)
    conn.on("*", lambda name, *args: name == "status" and done.set())
    peer = server.accept()
    peer.send(delta(1))
    peer.send(delta(2))
    for _ in range(3):
        conn.recv(timeout=5)
    conn.close()
    assert done.wait(5)
    assert calls == ["every1", "once1", "every2"]


def test_send_after_close_raises(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    conn.close()
    with pytest.raises(ConnectionClosedOK):
        conn.send(AudioInputAppendEvent(audio="AAAA"))


def test_send_is_serialised_from_many_threads(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    peer = server.accept()
    threads = [
        threading.Thread(target=lambda: [conn.send(AudioInputAppendEvent(audio="AAAA")) for _ in range(100)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    received = [peer.recv_json() for _ in range(400)]
    assert all(m == {"type": "input_audio_buffer.append", "audio": "AAAA"} for m in received)
    conn.close()


def test_recv_timeout(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    conn.recv(timeout=1)
    with pytest.raises(ReceiveTimeout):
        conn.recv(timeout=0.05)
    conn.close()


def test_bounded_queue_applies_backpressure(server: ScriptedServer) -> None:
    conn = model_for(server).connect(RealtimeConnectOptions(max_queue=8), timeout=5)
    peer = server.accept()
    for i in range(50):
        peer.send(delta(i))
    # The reader fills the queue and waits; nothing is lost once we drain it.
    deadline = time.monotonic() + 5
    while conn.stats().queue_depth < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.stats().queue_depth == 8
    pulled = [conn.recv(timeout=5) for _ in range(51)]
    assert [e.delta for e in pulled[1:]] == [str(i) for i in range(50)]
    assert conn.stats().peak_queue_depth == 8
    conn.close()


def test_connect_close_cycles_leave_no_threads_or_fds(server: ScriptedServer) -> None:
    model = model_for(server)
    conn = model.connect(timeout=5)  # warm up lazily created resources
    conn.close()
    baseline_fds = open_fd_count()
    baseline_threads = threading.active_count()
    for _ in range(200):
        with model.connect(timeout=5) as conn:
            conn.on("event", lambda e: None)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (open_fd_count() > baseline_fds or threading.active_count() > baseline_threads):
        time.sleep(0.05)
    assert open_fd_count() <= baseline_fds
    assert not [t.name for t in threading.enumerate() if t.name.startswith("kernl-realtime-openai")]


def test_secrets_not_in_repr(server: ScriptedServer) -> None:
    model = model_for(server)
    conn = model.connect(timeout=5)
    assert "sk-test-secret" not in repr(model) + repr(conn)
    conn.close()


def test_wire_json_is_compact_and_complete(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    peer = server.accept()
    conn.send(AudioInputAppendEvent(audio="AAAA"))
    raw = peer.connection.recv(timeout=5)
    assert raw == json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}, separators=(",", ":"))
    conn.close()


def test_events_carry_the_wire_event_id(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    server.accept().send(delta(1))
    assert conn.recv(timeout=5).id == "event_session.created"
    assert conn.recv(timeout=5).id == "event_response.output_text.delta"
    conn.close()
