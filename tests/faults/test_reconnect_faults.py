"""Reconnect is bounded (issue 10, class 7): a server that confirms every new session and
then drops it meets a growing backoff and, after ``max_attempts``, a
ConnectionClosedError; the attempt count resets only after a session stayed healthy for
``ReconnectPolicy.healthy_after`` seconds."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

from kernl_realtime import (
    ConfigurationError,
    ConnectionClosedError,
    ReconnectAttempt,
    RealtimeConnectOptions,
    ReconnectPolicy,
    TransportStatus,
)
from kernl_realtime.providers import openai
from servers import RawPeer, RawServer, session_created


def confirm_then_drop(peer: RawPeer) -> None:
    """Confirm the session, then cut TCP at once (a flapping server)."""
    peer.send_json(session_created())
    peer.close_socket()


def connect(server: Any, policy: ReconnectPolicy, attempts: List[ReconnectAttempt]) -> Any:
    model = openai.realtime("gpt-realtime", api_key="sk-test-flap", base_url=server.base_url)
    options = RealtimeConnectOptions(reconnect=policy, on_reconnecting=attempts.append)
    return model.connect(options, timeout=5)


@pytest.mark.parametrize("mode", ["pull", "callback"])
def test_a_server_that_confirms_then_drops_every_session_ends_after_max_attempts(mode: str) -> None:
    policy = ReconnectPolicy(max_attempts=4, initial_delay=0.01, max_delay=10, jitter=0)
    attempts: List[ReconnectAttempt] = []
    with RawServer(confirm_then_drop) as raw:
        model = openai.realtime("gpt-realtime", api_key="sk-test-flap", base_url=raw.base_url)
        options = RealtimeConnectOptions(reconnect=policy, on_reconnecting=attempts.append, pull=mode == "pull")
        conn = model.connect(options, timeout=5)
        errors: List[BaseException] = []
        reconnected: List[Any] = []
        if mode == "callback":
            conn.on("error", errors.append)
            conn.on("reconnected", reconnected.append)
        assert conn.wait_closed(10), "reconnects never ended"
        accepted = raw.peers.qsize()
    # Every reconnect succeeded (the session was confirmed each time), yet the count grew.
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    delays = [a.delay for a in attempts]
    assert delays == sorted(delays) and delays[-1] == pytest.approx(0.08)  # backoff kept growing
    assert accepted == 1 + 4
    info = conn.close_info
    assert info is not None and info.initiator == "error"
    assert isinstance(info.error, ConnectionClosedError)
    assert conn.status == TransportStatus.CLOSED
    if mode == "pull":
        kinds = []
        with pytest.raises(ConnectionClosedError):
            while True:
                event = conn.recv(timeout=2)
                kinds.append(event.kind)
        assert kinds.count("connection.reconnected") == 4
    else:
        assert len(reconnected) == 4
        assert any(isinstance(e, ConnectionClosedError) for e in errors)
    conn.close()


def test_the_attempt_count_resets_after_a_session_stayed_healthy() -> None:
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.01, max_delay=10, jitter=0, healthy_after=0.3)
    sessions: List[RawPeer] = []
    arrived = threading.Semaphore(0)

    def confirm(peer: RawPeer) -> None:
        peer.send_json(session_created())
        sessions.append(peer)
        arrived.release()

    attempts: List[ReconnectAttempt] = []
    with RawServer(confirm) as raw:
        conn = connect(raw, policy, attempts)
        try:
            assert arrived.acquire(timeout=5)
            # Two quick drops use up both attempts...
            for _ in range(2):
                sessions[-1].close_socket()
                assert arrived.acquire(timeout=5)
            assert [a.attempt for a in attempts] == [1, 2]
            # ...then a session that stays up past healthy_after earns a fresh count.
            time.sleep(policy.healthy_after + 0.2)
            sessions[-1].close_socket()
            assert arrived.acquire(timeout=5)
            assert [a.attempt for a in attempts] == [1, 2, 1]
            assert conn.status != TransportStatus.CLOSED
        finally:
            conn.close(timeout=0.5)


def test_healthy_after_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="healthy_after"):
        ReconnectPolicy(healthy_after=-1)
