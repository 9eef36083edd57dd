"""Deadline: one budget shared by successive waits (close() and the handshake)."""

from __future__ import annotations

from typing import List

import pytest

from kernl_realtime.connection._deadline import Deadline


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_remaining_counts_down_and_never_goes_negative() -> None:
    clock = FakeClock()
    deadline = Deadline(2.0, clock=clock)
    assert deadline.expires_at == 102.0 and deadline.remaining() == 2.0 and not deadline.expired()
    clock.now = 101.5
    assert deadline.remaining() == pytest.approx(0.5)
    clock.now = 105.0
    assert deadline.remaining() == 0.0 and deadline.expired()


def test_a_negative_budget_is_already_spent() -> None:
    deadline = Deadline(-3.0, clock=FakeClock())
    assert deadline.remaining() == 0.0 and deadline.expired()


def test_a_share_is_a_fraction_of_what_is_left_now() -> None:
    clock = FakeClock()
    deadline = Deadline(4.0, clock=clock)
    clock.now = 102.0  # 2 s left
    half = deadline.share(0.5)
    assert half.remaining() == pytest.approx(1.0)
    clock.now = 104.5
    assert half.expired() and deadline.expired()
    with pytest.raises(ValueError, match="fraction"):
        deadline.share(1.5)


def test_successive_waits_share_one_budget() -> None:
    # What close() does: wait on several things in turn, each for what is left.
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    granted: List[float] = []
    for spent in (0.3, 0.3, 0.3, 0.3):
        granted.append(deadline.remaining())
        clock.now += spent
    assert granted == pytest.approx([1.0, 0.7, 0.4, 0.1])
    assert deadline.remaining() == 0.0
    assert "0.000 s left" in repr(deadline)


def test_at_most_slices_a_wait_and_gives_zero_once_spent() -> None:
    clock = FakeClock()
    deadline = Deadline(2.5, clock=clock)
    assert deadline.at_most(1.0) == 1.0  # a whole tick fits
    clock.now = 102.0
    assert deadline.at_most(1.0) == pytest.approx(0.5)  # the budget ends first
    clock.now = 103.0
    assert deadline.at_most(1.0) == 0.0
