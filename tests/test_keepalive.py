"""The keepalive clock (pure bookkeeping) and its config."""

from __future__ import annotations

import pytest

from kernl_realtime import ConfigurationError, KeepAlive
from kernl_realtime.connection._keepalive import KeepAliveClock


def test_ping_due_after_interval_and_dead_after_timeout() -> None:
    clock = KeepAliveClock(KeepAlive(interval=10, timeout=5), now=100.0)
    assert not clock.ping_due(109.9)
    assert clock.ping_due(110.0)
    clock.ping_sent(110.0)
    assert not clock.ping_due(111.0)  # one outstanding ping at a time
    assert not clock.peer_dead(114.9)
    assert clock.peer_dead(115.0)  # detected within interval + timeout


def test_pong_measures_rtt_and_restarts_the_interval() -> None:
    clock = KeepAliveClock(KeepAlive(interval=10, timeout=5), now=0.0)
    clock.ping_sent(10.0)
    clock.pong_received(10.25)
    assert clock.last_rtt == pytest.approx(0.25)
    assert not clock.peer_dead(100.0)
    assert not clock.ping_due(20.0) and clock.ping_due(20.25)


def test_time_under_backpressure_is_excused() -> None:
    clock = KeepAliveClock(KeepAlive(interval=1, timeout=1), now=0.0)
    clock.ping_sent(1.0)
    clock.excuse(30.0)  # the reader waited for queue space, reading no pongs
    assert not clock.peer_dead(30.5)
    assert clock.peer_dead(31.0)


def test_a_ping_blocked_by_a_stuck_send_still_runs_its_deadline() -> None:
    clock = KeepAliveClock(KeepAlive(interval=10, timeout=5), now=0.0)
    clock.ping_blocked(10.0)  # due, but a send holds the socket
    assert clock.ping_due(11.0)  # retried on every tick until written
    assert not clock.peer_dead(14.9)
    assert clock.peer_dead(15.0)  # interval + timeout, though no ping ever left


def test_a_blocked_ping_written_later_keeps_its_original_deadline() -> None:
    clock = KeepAliveClock(KeepAlive(interval=10, timeout=5), now=0.0)
    clock.ping_blocked(10.0)
    clock.ping_sent(13.0)  # written by the next writer
    assert not clock.ping_due(13.5)
    assert clock.peer_dead(15.0)
    clock.pong_received(13.5)
    assert clock.last_rtt == pytest.approx(0.5)  # measured from the write, not the due time
    assert not clock.peer_dead(100.0) and not clock.ping_due(23.4) and clock.ping_due(23.5)


def test_disabled_keepalive_never_pings_nor_declares_death() -> None:
    clock = KeepAliveClock(KeepAlive.disabled(), now=0.0)
    assert not clock.ping_due(1e9) and not clock.peer_dead(1e9)


@pytest.mark.parametrize("kwargs", [{"interval": 0}, {"timeout": -1}, {"interval": "5"}])
def test_invalid_keepalive_names_the_field(kwargs: dict) -> None:
    with pytest.raises(ConfigurationError, match="keepalive"):
        KeepAlive(**kwargs)
