"""Small frozen config objects for connection behaviour: keepalive and reconnect."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, ClassVar, Optional

from kernl_realtime.protocol._validation import Bounds, NonNegativeFloat, PositiveFloat, UnitInterval, Validated

__all__ = ["KeepAlive", "ReconnectPolicy"]


@dataclass(frozen=True)
class KeepAlive(Validated):
    """Dead-peer detection with WebSocket pings.

    A ping is sent ``interval`` seconds after the last pong (or after connecting);
    if its pong does not arrive within ``timeout`` seconds the connection is closed
    with :class:`~kernl_realtime.KeepAliveTimeout`. A silent peer is therefore
    detected within ``interval + timeout`` seconds. Pings are sent by the reader
    thread (no extra thread) through the same write lock as every other frame.

    Usage::

        RealtimeConnectOptions(keepalive=KeepAlive(interval=10, timeout=5))
        RealtimeConnectOptions(keepalive=KeepAlive.disabled())

    Attributes:
        interval: Seconds between a pong and the next ping.
        timeout: Seconds to wait for a pong.
        enabled: False turns keepalive off.
    """

    _config_label: ClassVar[str] = "keepalive"  # errors read "keepalive.interval must be > 0"

    interval: PositiveFloat = 20.0
    timeout: PositiveFloat = 20.0
    enabled: bool = True

    @classmethod
    def disabled(cls) -> "KeepAlive":
        """A KeepAlive that sends no pings."""
        return cls(enabled=False)


@dataclass(frozen=True)
class ReconnectPolicy(Validated):
    """When and how fast to reconnect after a recoverable disconnect (off by default).

    Realtime sessions are stateful: after a reconnect the provider starts a *new*
    session, so the conversation so far is gone. The session config is re-sent, and a
    ``reconnected`` notification says that state was lost.

    The delay before attempt ``n`` (1-based) is
    ``min(max_delay, initial_delay * 2 ** (n - 1))`` scaled by a random factor in
    ``[1 - jitter, 1]``.

    Attempts are counted across disconnects until a session stays healthy: the count
    (and with it the backoff) resets only once a reconnected session has stayed open
    for ``healthy_after`` seconds. A server that confirms every new session and then
    drops it therefore meets a growing backoff, and after ``max_attempts`` reconnects
    the connection ends with :class:`~kernl_realtime.ConnectionClosedError`.

    Attributes:
        max_attempts: Attempts before giving up, counted until a session stays healthy.
        initial_delay: Seconds before the first attempt.
        max_delay: Upper bound of any delay.
        jitter: Fraction (0..1) of random reduction applied to each delay.
        healthy_after: Seconds a session must stay open before the attempt count resets.
    """

    _config_label: ClassVar[str] = "reconnect"

    max_attempts: Annotated[int, Bounds(ge=1)] = 5
    initial_delay: NonNegativeFloat = 0.5
    max_delay: NonNegativeFloat = 8.0
    jitter: UnitInterval = 0.25
    healthy_after: NonNegativeFloat = 30.0

    def delay(self, attempt: int, rng: Optional[random.Random] = None) -> float:
        """Seconds to wait before ``attempt`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * (2 ** (attempt - 1)))
        factor = 1.0 - self.jitter * (rng or random).random()
        return base * factor
