"""A time budget that several waits share: :class:`Deadline`.

``close(timeout)`` and the handshake each promise to finish within one budget while
they wait on several things in turn (a write lock, the reader, the dispatcher). Writing
``max(0.0, deadline - time.monotonic())`` at every wait is easy to get subtly wrong
(a negative timeout, a share of the wrong remainder); this object says it once.
"""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["Deadline"]


class Deadline:
    """A point in (monotonic) time by which a sequence of waits must be over.

    Immutable; any thread may use it.
    """

    __slots__ = ("_expires_at", "_clock")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Start a budget of ``seconds`` from now (a negative budget counts as 0)."""
        self._clock = clock
        self._expires_at = clock() + max(0.0, seconds)

    @property
    def expires_at(self) -> float:
        """The clock reading at which the budget is spent."""
        return self._expires_at

    def remaining(self) -> float:
        """Seconds left, never negative: pass it straight to a ``wait``/``join``/``acquire``."""
        return max(0.0, self._expires_at - self._clock())

    def at_most(self, seconds: float) -> float:
        """The next slice of a sliced wait: ``seconds``, or less when the budget ends
        sooner (0 once it is spent)."""
        return min(seconds, self.remaining())

    def expired(self) -> bool:
        """True once the budget is spent."""
        return self._clock() >= self._expires_at

    def share(self, fraction: float) -> "Deadline":
        """A deadline for ``fraction`` (0..1) of the time that is left now.

        ``close()`` gives the close handshake half its budget so a stuck write cannot
        eat the time needed to force the socket down and join the threads.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {fraction!r}")
        return Deadline(self.remaining() * fraction, clock=self._clock)

    def __repr__(self) -> str:
        return f"<Deadline {self.remaining():.3f} s left>"
