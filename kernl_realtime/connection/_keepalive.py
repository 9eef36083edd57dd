"""The keepalive clock: when to ping, and when a silent peer counts as dead.

Pure bookkeeping with no I/O, driven by the connection's reader thread: it asks
:meth:`KeepAliveClock.ping_due` on each tick, reports the ping it sent and the pongs it
received, and calls :meth:`KeepAliveClock.check` to learn whether the peer is dead.
"""

from __future__ import annotations

from typing import Optional

from ..protocol._settings import KeepAlive

__all__ = ["KeepAliveClock"]


class KeepAliveClock:
    """Ping schedule and dead-peer deadline for one connection (reader thread only).

    A ping is due ``interval`` seconds after the last pong (or start); the peer is dead
    when a ping stays unanswered for ``timeout`` seconds. A silent peer is therefore
    detected within ``interval + timeout`` seconds.
    """

    __slots__ = ("settings", "last_pong_at", "ping_sent_at", "last_rtt")

    def __init__(self, settings: KeepAlive, now: float) -> None:
        self.settings = settings
        self.last_pong_at = now
        self.ping_sent_at: Optional[float] = None
        self.last_rtt: Optional[float] = None

    def restart(self, now: float) -> None:
        """Start over, e.g. on a fresh socket after a reconnect."""
        self.last_pong_at = now
        self.ping_sent_at = None

    def ping_due(self, now: float) -> bool:
        """True when a ping should be sent now."""
        return (
            self.settings.enabled
            and self.ping_sent_at is None
            and now - self.last_pong_at >= self.settings.interval
        )

    def ping_sent(self, now: float) -> None:
        """Record that a ping went out at ``now``."""
        self.ping_sent_at = now

    def pong_received(self, now: float) -> None:
        """Record a pong: the peer is alive, and the round trip is measured."""
        if self.ping_sent_at is not None:
            self.last_rtt = now - self.ping_sent_at
        self.ping_sent_at = None
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
