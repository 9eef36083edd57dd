"""Reconnect decisions without sockets: the attempt budget and when to reconnect."""

from __future__ import annotations

import pytest

from kernl_realtime import (
    AuthenticationError,
    ConnectionClosedError,
    FrameTooLargeError,
    KeepAliveTimeout,
    ProtocolError,
    ReconnectPolicy,
    ServerError,
)
from kernl_realtime.connection._reconnect import ReconnectBudget, reconnect_wanted

POLICY = ReconnectPolicy(max_attempts=3, initial_delay=1, max_delay=100, jitter=0, healthy_after=10)


def test_attempts_are_counted_across_sessions_that_drop_at_once() -> None:
    budget = ReconnectBudget()
    budget.session_confirmed(0.0)
    plan = []
    now = 1.0
    while True:
        budget.session_lost(now, POLICY)
        step = budget.next_attempt(POLICY)
        if step is None:
            break
        plan.append(step)
        budget.session_confirmed(now + 0.1)  # confirmed, then dropped 0.1 s later
        now += 0.2
    assert plan == [(1, 1.0), (2, 2.0), (3, 4.0)]  # the backoff keeps growing, then it ends


def test_a_healthy_session_earns_a_fresh_count() -> None:
    budget = ReconnectBudget()
    budget.session_confirmed(0.0)
    budget.session_lost(1.0, POLICY)
    assert budget.next_attempt(POLICY) == (1, 1.0)
    assert budget.next_attempt(POLICY) == (2, 2.0)
    budget.session_confirmed(2.0)
    budget.session_lost(11.9, POLICY)  # 9.9 s: not yet healthy
    assert budget.next_attempt(POLICY) == (3, 4.0)
    budget.session_confirmed(12.0)
    budget.session_lost(22.0, POLICY)  # 10 s: healthy
    assert budget.attempt == 0 and budget.next_attempt(POLICY) == (1, 1.0)


def test_a_lost_session_that_was_never_confirmed_keeps_the_count() -> None:
    budget = ReconnectBudget()
    budget.next_attempt(POLICY)
    budget.session_lost(1000.0, POLICY)
    assert budget.attempt == 1


@pytest.mark.parametrize(
    "code, error, wanted",
    [
        (1006, None, True),
        (1006, KeepAliveTimeout("dead"), True),
        (1011, ConnectionClosedError("x", code=1011), True),
        (1012, None, True),
        (1000, None, False),
        (1002, ProtocolError("RSV"), False),
        (1007, ProtocolError("utf-8"), False),
        (1009, FrameTooLargeError("big"), False),
        (1008, ServerError("quota"), False),
        (1006, AuthenticationError("401", status_code=401), False),
        (4000, None, False),
    ],
)
def test_which_closes_reconnect(code: int, error: object, wanted: bool) -> None:
    assert reconnect_wanted(code, error, policy=POLICY, server_requested=False, first_handshake=False) is wanted  # type: ignore[arg-type]


def test_no_policy_no_reconnect_and_the_first_handshake_is_reported_by_connect() -> None:
    assert not reconnect_wanted(1006, None, policy=None, server_requested=False, first_handshake=False)
    assert not reconnect_wanted(1006, None, policy=POLICY, server_requested=False, first_handshake=True)


def test_a_server_requested_switch_resumes_without_a_policy_unless_credentials_fail() -> None:
    assert reconnect_wanted(1000, None, policy=None, server_requested=True, first_handshake=False)
    assert not reconnect_wanted(
        1006, AuthenticationError("401", status_code=401), policy=None, server_requested=True, first_handshake=False
    )
