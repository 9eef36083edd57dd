"""InterruptGuard, without sockets: where Ctrl-C is raised while a consumer reads in the reader's place."""

from __future__ import annotations

import signal
import threading
from collections import deque
from typing import Any, Deque, List

import pytest

from kernl_realtime.connection._interrupts import NOTHING, InterruptGuard


def _sigint_now() -> None:
    signal.raise_signal(signal.SIGINT)  # the Python handler runs before the next line


def test_no_guard_off_the_main_thread() -> None:
    seen: List[Any] = []
    thread = threading.Thread(target=lambda: seen.append(InterruptGuard.enter()))
    thread.start()
    thread.join(5)
    assert seen == [None]


def test_no_guard_when_sigint_has_no_python_handler() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert InterruptGuard.enter() is None
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_a_wait_ctrl_c_is_kept_and_raised_at_exit_with_the_held_item_put_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    pushed_back: Deque[Any] = deque()
    guard = InterruptGuard.enter()
    assert guard is not None
    try:
        _sigint_now()  # lands while frames are handled: kept, not raised here
        guard.held = "event 7"
    except KeyboardInterrupt:  # pragma: no cover - the failure this test is about
        pytest.fail("KeyboardInterrupt raised while an event was in hand")
    with pytest.raises(KeyboardInterrupt):
        guard.exit(pushed_back)
    assert list(pushed_back) == ["event 7"]
    assert signal.getsignal(signal.SIGINT) is before


def test_in_a_wait_ctrl_c_is_raised_at_once_and_a_second_one_waits_for_exit() -> None:
    before = signal.getsignal(signal.SIGINT)
    pushed_back: Deque[Any] = deque()
    guard = InterruptGuard.enter()
    assert guard is not None
    guard.waiting = True
    with pytest.raises(KeyboardInterrupt):
        _sigint_now()
    # Unwinding from the wait (a lock being re-taken): a second Ctrl-C is kept.
    _sigint_now()
    assert guard.held is NOTHING
    with pytest.raises(KeyboardInterrupt):
        guard.exit(pushed_back)
    assert not pushed_back
    assert signal.getsignal(signal.SIGINT) is before


def test_a_quiet_guard_restores_the_handler_and_raises_nothing() -> None:
    before = signal.getsignal(signal.SIGINT)
    guard = InterruptGuard.enter()
    assert guard is not None and signal.getsignal(signal.SIGINT) is not before
    guard.held = "event 1"
    guard.exit(deque())
    assert signal.getsignal(signal.SIGINT) is before
