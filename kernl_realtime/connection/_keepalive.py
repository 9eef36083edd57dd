"""The keepalive clock: when to ping, and when a silent peer counts as dead.

Pure bookkeeping with no I/O, driven by the connection's reader thread: it asks
:meth:`KeepAliveClock.ping_due` on each tick, reports the ping it sent (or could not
send, because a send holds the socket) and the pongs it received, and calls
:meth:`KeepAliveClock.peer_dead` to learn whether the peer is dead.
"""

from __future__ import annotations

from typing import Optional

from ..protocol._settings import KeepAlive

__all__ = ["KeepAliveClock"]


class KeepAliveClock:
    """Ping schedule and dead-peer deadline for one connection (reader thread only).

    A ping is due ``interval`` seconds after the last pong (or start); the peer is dead
    when ``timeout`` seconds pass after that without a pong. The deadline runs from
    the moment the ping was *due*, even if it could not be written then (another
    thread's send holds the socket, or the socket's send buffer is full): a send
    blocked on a peer that stopped reading is no sign of life. A silent peer is
    therefore detected within ``interval + timeout`` seconds (plus one reader tick).
    """

    __slots__ = ("settings", "last_pong_at", "ping_sent_at", "ping_unsent", "last_rtt", "_written_at")

    def __init__(self, settings: KeepAlive, now: float) -> None:
        self.settings = settings
        self.last_pong_at = now
        #: When the outstanding ping was due (sent or not); None when none is outstanding.
        self.ping_sent_at: Optional[float] = None
        #: True while the outstanding ping is still waiting to be written.
        self.ping_unsent = False
        self.last_rtt: Optional[float] = None
        self._written_at: Optional[float] = None

    def restart(self, now: float) -> None:
        """Start over, e.g. on a fresh socket after a reconnect."""
        self.last_pong_at = now
        self.ping_sent_at = None
        self.ping_unsent = False
        self._written_at = None

    def ping_due(self, now: float) -> bool:
        """True when a ping should be written now (a new one, or one that was blocked)."""
        if not self.settings.enabled:
            return False
        if self.ping_unsent:
            return True
        return self.ping_sent_at is None and now - self.last_pong_at >= self.settings.interval

    def ping_blocked(self, now: float) -> None:
        """Record that a due ping could not be written at ``now``; its deadline starts anyway."""
        if self.ping_sent_at is None:
            self.ping_sent_at = now
        self.ping_unsent = True

    def ping_sent(self, at: float) -> None:
        """Record that a ping was written at ``at`` (by the reader or by a writer)."""
        if not self.ping_unsent or self.ping_sent_at is None:
            self.ping_sent_at = at
        self.ping_unsent = False
        self._written_at = at

    def pong_received(self, now: float) -> None:
        """Record a pong: the peer is alive, and the round trip is measured."""
        if self._written_at is not None:
            self.last_rtt = now - self._written_at
        self._written_at = None
        self.ping_sent_at = None
        self.ping_unsent = False
        self.last_pong_at = now

    def peer_dead(self, now: float) -> bool:
        """True when the outstanding ping has waited longer than ``timeout``."""
        sent_at = self.ping_sent_at
        return self.settings.enabled and sent_at is not None and now - sent_at >= self.settings.timeout

    def excuse(self, now: float) -> None:
        """Don't count time until ``now`` against the peer.

        Used while the reader waits for queue space: it reads no pongs then, through
        no fault of the peer.
        """
        self.last_pong_at = now
        if self.ping_sent_at is not None:
            self.ping_sent_at = now
