"""Small frozen config objects for connection behaviour: keepalive and reconnect."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from kernl_realtime.exceptions import ConfigurationError

__all__ = ["KeepAlive", "ReconnectPolicy"]


def _require_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {type(value).__name__}", field=name)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{name} must be {bound}, got {value!r}", field=name)


@dataclass(frozen=True)
class KeepAlive:
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

    interval: float = 20.0
    timeout: float = 20.0
    enabled: bool = True

    def __post_init__(self) -> None:
        _require_positive("keepalive.interval", self.interval)
        _require_positive("keepalive.timeout", self.timeout)

    @classmethod
    def disabled(cls) -> "KeepAlive":
        """A KeepAlive that sends no pings."""
        return cls(enabled=False)


@dataclass(frozen=True)
class ReconnectPolicy:
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

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    healthy_after: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(
                f"reconnect.max_attempts must be an int >= 1, got {self.max_attempts!r}", field="reconnect.max_attempts"
            )
        _require_positive("reconnect.initial_delay", self.initial_delay, allow_zero=True)
        _require_positive("reconnect.max_delay", self.max_delay, allow_zero=True)
        _require_positive("reconnect.jitter", self.jitter, allow_zero=True)
        _require_positive("reconnect.healthy_after", self.healthy_after, allow_zero=True)
        if self.jitter > 1:
            raise ConfigurationError(f"reconnect.jitter must be <= 1, got {self.jitter!r}", field="reconnect.jitter")

    def delay(self, attempt: int, rng: Optional[random.Random] = None) -> float:
        """Seconds to wait before ``attempt`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * (2 ** (attempt - 1)))
        factor = 1.0 - self.jitter * (rng or random).random()
        return base * factor
