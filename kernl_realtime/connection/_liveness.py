"""WebSocket pings and pongs for one connection, written without ever waiting for the
write lock (the I/O side of keepalive; the schedule and deadline are the pure
:class:`~._keepalive.KeepAliveClock`).

Why never wait: the only thread that reads pongs is the reader. If it waited for a
lock held by a send stuck on a peer that stopped reading, it would stop reading and
keepalive would go blind exactly when it is needed. So when the lock is taken (or the
socket's send buffer is full) a due ping still starts its deadline, a ping or pong
that could not be written is *owed*, and the next writer writes it after its own
frames (:meth:`PingPong.write_owed`), or the reader on its next check.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from ._keepalive import KeepAliveClock
from ._transport import WireSocket
from ..protocol._settings import KeepAlive

__all__ = ["PingPong"]

_PING_PAYLOAD = b"kernl"


class PingPong:
    """Keepalive pings, answers to the server's pings, and the clock that judges them.

    Thread contract: :meth:`check`, :meth:`answer_ping`, :meth:`pong_received`,
    :meth:`restart` and :meth:`excuse` run on the reader; :attr:`owed` and
    :meth:`write_owed` run on any writer while it holds the write lock.

    Args:
        settings: The keepalive configuration.
        write_lock: The connection's one write lock.
        writes_closed: Returns True once the close frame was sent (called under the lock):
            nothing may follow it.
        now: Monotonic seconds at the start.
    """

    __slots__ = ("clock", "_lock", "_writes_closed", "_ping_wanted", "_ping_written_at", "_pong_owed")

    def __init__(
        self, settings: KeepAlive, write_lock: "threading.RLock", writes_closed: Callable[[], bool], now: float
    ) -> None:
        self.clock = KeepAliveClock(settings, now)
        self._lock = write_lock
        self._writes_closed = writes_closed
        # Set by the reader when a due ping found the lock taken; a writer sends it and
        # records when in _ping_written_at, which the reader hands to the clock.
        self._ping_wanted = False
        self._ping_written_at: Optional[float] = None
        # The latest unanswered ping's payload (RFC 6455 lets an endpoint answer only
        # the latest one).
        self._pong_owed: Optional[bytes] = None

    @property
    def owed(self) -> bool:
        """True when a writer should call :meth:`write_owed` after its frames."""
        return self._ping_wanted or self._pong_owed is not None

    def write_owed(self, ws: WireSocket) -> None:
        """Write the ping/pong the reader could not (the caller holds the write lock)."""
        owed = self._pong_owed
        if owed is not None:
            self._pong_owed = None
            ws.pong(owed)
        if self._ping_wanted:
            self._ping_wanted = False
            # Recorded before the write: its pong cannot arrive before the reader sees this.
            self._ping_written_at = time.monotonic()
            ws.ping(_PING_PAYLOAD)

    def answer_ping(self, ws: WireSocket, payload: bytes) -> None:
        """Pong now if the socket is free; else leave it owed."""
        if not self._lock.acquire(blocking=False):
            self._pong_owed = payload
            return
        try:
            if self._writes_closed():
                self._pong_owed = None
            elif ws.can_write_now():
                self._pong_owed = None
                ws.pong(payload)
            else:
                self._pong_owed = payload
        finally:
            self._lock.release()

    def check(self, ws: WireSocket, now: float) -> bool:
        """Pay what is owed, ping when due; return True when the peer counts as dead."""
        clock = self.clock
        self._absorb_writer_ping()
        if self._pong_owed is not None:
            self.answer_ping(ws, self._pong_owed)
        if clock.ping_due(now):
            if self._lock.acquire(blocking=False):
                try:
                    if not self._writes_closed():
                        if ws.can_write_now():
                            self._ping_wanted = False
                            ws.ping(_PING_PAYLOAD)
                            clock.ping_sent(now)
                        else:  # the send buffer is full: the peer is not reading
                            clock.ping_blocked(now)
                finally:
                    self._lock.release()
            else:  # a send holds the socket: its deadline runs, the next writer pings
                clock.ping_blocked(now)
                self._ping_wanted = True
        return clock.peer_dead(now)

    def pong_received(self, now: float) -> Optional[float]:
        """Record a pong; return the latest round-trip time, if one was measured."""
        self._absorb_writer_ping()
        self.clock.pong_received(now)
        return self.clock.last_rtt

    def restart(self, now: float) -> None:
        """Start over on a fresh socket (nothing owed to the old one)."""
        self.clock.restart(now)
        self._ping_wanted = False
        self._ping_written_at = None
        self._pong_owed = None

    def excuse(self, now: float) -> None:
        """Time until ``now`` was the reader's fault (waiting for queue space), not the peer's."""
        self.clock.excuse(now)

    def _absorb_writer_ping(self) -> None:
        written = self._ping_written_at
        if written is not None:
            self._ping_written_at = None
            self.clock.ping_sent(written)
