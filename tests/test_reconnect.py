"""Opt-in reconnect: recoverable closes only, interruptible backoff, state-loss notice."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, List

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    AuthenticationError,
    ClientCredential,
    ConnectError,
    ConnectionClosedError,
    ConnectionReconnected,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ReconnectAttempt,
    ReconnectingError,
    ReconnectPolicy,
    TransportStatus,
)
from kernl_realtime.providers import openai
from servers import RawServer, ScriptedServer, session_created

FAST = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0)


def connect(server: ScriptedServer, **options: Any) -> Any:
    model = openai.realtime("gpt-realtime", api_key="sk-first", base_url=server.base_url)
    return model.connect(RealtimeConnectOptions(**options), timeout=5)


def test_drop_reconnects_resends_config_and_announces_state_loss() -> None:
    with ScriptedServer(auto_update=True) as srv:
        statuses: List[Any] = []
        reconnected = threading.Event()
        conn = connect(srv, reconnect=FAST, session_config=RealtimeSessionConfig(instructions="Be brief."))
        conn.on("status", statuses.append)
        conn.on("reconnected", lambda notice: reconnected.set())
        first = srv.accept()
        assert first.recv_until("session.update")["session"]["instructions"] == "Be brief."
        first.drop()
        assert reconnected.wait(5)
        second = srv.accept()
        assert second.recv_until("session.update")["session"]["instructions"] == "Be brief."
        kinds = []
        while True:
            event = conn.recv(timeout=5)
            kinds.append(event.kind)
            if isinstance(event, ConnectionReconnected):
                assert event.state_lost and event.attempt == 1
                break
        # Events of the first session, then the second session's handshake, then the notice.
        assert kinds == ["session.created", "session.updated", "session.created", "session.updated", "connection.reconnected"]
        conn.send(AudioInputAppendEvent(audio="AAAA"))
        assert second.recv_until("input_audio_buffer.append")["audio"] == "AAAA"
        assert conn.status == TransportStatus.CONNECTED
        conn.close()
        # The first handshake's "connected" was held for the first callback.
        assert statuses[:3] == [TransportStatus.CONNECTED, TransportStatus.RECONNECTING, TransportStatus.CONNECTED]


def test_sends_while_reconnecting_raise() -> None:
    with ScriptedServer() as srv:
        outcome: List[BaseException] = []

        def hook(attempt: ReconnectAttempt) -> None:
            try:
                conn.send(AudioInputAppendEvent(audio="AAAA"))
            except BaseException as exc:  # noqa: BLE001
                outcome.append(exc)

        conn = connect(srv, reconnect=FAST, on_reconnecting=hook)
        srv.accept().drop()
        srv.accept()
        conn.close()
        assert isinstance(outcome[0], ReconnectingError)


def test_normal_close_never_reconnects() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, reconnect=FAST)
        srv.accept().close(1000, "done")
        assert conn.wait_closed(5)
        assert conn.close_code == 1000
        assert srv.peers.empty()


def test_close_interrupts_backoff_at_once() -> None:
    with ScriptedServer() as srv:
        attempt_started = threading.Event()
        conn = connect(
            srv,
            reconnect=ReconnectPolicy(max_attempts=3, initial_delay=30, max_delay=30, jitter=0),
            on_reconnecting=lambda attempt: attempt_started.set(),
        )
        srv.accept().drop()
        assert attempt_started.wait(5)
        started = time.monotonic()
        conn.close(timeout=5)
        assert time.monotonic() - started < 1.0
        assert conn.status == TransportStatus.CLOSED


def test_hook_can_supply_a_fresh_credential_or_abort() -> None:
    fresh = ClientCredential.from_token("ek_fresh", datetime.now(timezone.utc) + timedelta(minutes=5))
    with ScriptedServer() as srv:
        conn = connect(srv, reconnect=FAST, on_reconnecting=lambda attempt: fresh)
        srv.accept().drop()
        second = srv.accept()
        assert second.request_headers["Authorization"] == "Bearer ek_fresh"
        conn.close()

    with ScriptedServer() as srv:
        errors: List[Exception] = []
        conn = connect(srv, reconnect=FAST, on_reconnecting=lambda attempt: False)
        conn.on("error", errors.append)
        srv.accept().drop()
        assert conn.wait_closed(5)
        assert conn.close_info is not None and conn.close_info.initiator == "error"
        assert srv.peers.empty()
        conn.close()


def test_auth_failure_while_reconnecting_stops_at_once() -> None:
    with ScriptedServer() as srv:
        errors: List[Exception] = []
        attempts: List[int] = []
        conn = connect(srv, reconnect=FAST, on_reconnecting=lambda attempt: attempts.append(attempt.attempt))
        conn.on("error", errors.append)
        peer = srv.accept()
        srv.reject_status = 401
        peer.drop()
        assert conn.wait_closed(5)
        conn.close()
        assert attempts == [1]
        assert isinstance(conn.close_info.error.__cause__ or conn.close_info.error, AuthenticationError) or any(
            isinstance(e.__cause__, AuthenticationError) or isinstance(e, AuthenticationError) for e in errors
        )


def test_gives_up_after_max_attempts() -> None:
    raw = RawServer(lambda peer: peer.send_json(session_created()))
    attempts: List[int] = []
    conn = connect(raw, reconnect=FAST, on_reconnecting=lambda attempt: attempts.append(attempt.attempt))
    raw.close()  # stops listening first, then drops the connection: every attempt is refused
    assert conn.wait_closed(10)
    assert attempts == [1, 2, 3]
    assert conn.status == TransportStatus.CLOSED
    assert conn.recv(timeout=1).kind == "session.created"
    with pytest.raises(ConnectionClosedError, match="reconnect failed: could not connect") as info:
        conn.recv(timeout=1)
    assert isinstance(info.value.__cause__, ConnectError)
    conn.close()


def test_policy_validation_and_backoff() -> None:
    policy = ReconnectPolicy(max_attempts=5, initial_delay=0.5, max_delay=2.0, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="max_attempts"):
        ReconnectPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        ReconnectPolicy(jitter=1.5)
