"""Ctrl-C while a consumer reads the socket in the reader's place: raised only where nothing is lost.

A thread waiting in ``recv()`` may read the socket itself (see ``_leading.py``). On
the main thread that is where ``KeyboardInterrupt`` lands, and Python raises it at
any bytecode: between reading bytes and parsing them, or between taking an event
from the queue and returning it, it would lose data. While a consumer on the main
thread waits, :class:`InterruptGuard` replaces the SIGINT handler with one that raises
(through the original handler) only while the consumer is blocked in a wait, where it
holds nothing, and otherwise records the signal and raises it on :meth:`~InterruptGuard.exit`,
after the event in hand was put back for the next ``recv()``.

Only the main thread runs Python signal handlers, so other threads need no guard.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Deque, Optional

__all__ = ["InterruptGuard", "NOTHING"]

#: ``InterruptGuard.held`` when no event is in hand.
NOTHING: Any = object()

_MAIN_THREAD_ID = threading.main_thread().ident


class InterruptGuard:
    """Defers SIGINT on the main thread except while :attr:`waiting` is True.

    Attributes:
        waiting: True while the consumer is blocked in a wait (a poll or a condition):
            a SIGINT then runs the original handler at once, so ``KeyboardInterrupt``
            ends the wait.
        held: The item taken from the queue but not yet returned, or ``NOTHING``.
    """

    __slots__ = ("_previous", "_caught", "waiting", "held")

    def __init__(self, previous: Callable[[int, Any], Any]) -> None:
        self._previous = previous
        self._caught: Optional[tuple] = None
        self.waiting = False
        self.held: Any = NOTHING

    @classmethod
    def enter(cls) -> "Optional[InterruptGuard]":
        """Install a guard on the main thread; None elsewhere, or when SIGINT has no Python handler."""
        if threading.get_ident() != _MAIN_THREAD_ID:
            return None
        try:
            previous = signal.getsignal(signal.SIGINT)
            if not callable(previous):
                return None
            guard = cls(previous)
            signal.signal(signal.SIGINT, guard._handle)
        except ValueError:  # not the main interpreter
            return None
        return guard

    def _handle(self, signum: int, frame: Any) -> None:
        if self.waiting:
            # Raise once; a second Ctrl-C while this one unwinds through the wait's own
            # clean-up (a lock being re-taken) is kept for exit(), never raised in there.
            self.waiting = False
            self._previous(signum, frame)
        else:
            self._caught = (signum, frame)

    def exit(self, pushed_back: "Deque[Any]") -> None:
        """Restore the handler; if a SIGINT came meanwhile, put the held item back and run it."""
        signal.signal(signal.SIGINT, self._previous)
        caught = self._caught
        if caught is None:
            return
        if self.held is not NOTHING:
            pushed_back.append(self.held)
            self.held = NOTHING
        self._previous(*caught)
