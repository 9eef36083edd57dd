"""Per-connection traffic counters and the snapshot returned by ``stats()``."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Deque, Dict, Optional, Tuple, Type, TypeVar, Union

from ..protocol._export import export_from_root

if TYPE_CHECKING:
    from dataclasses_json import DataClassJsonMixin

__all__ = ["ConnectionStats", "StatsRecorder"]

_S = TypeVar("_S", bound="ConnectionStats")

# Events/s is averaged over this many whole seconds.
_RATE_WINDOW = 5


@dataclass(frozen=True)
class ConnectionStats:
    """A point-in-time snapshot of one connection's figures.

    ``to_dict()``/``to_json()`` give a form ready for logs, metrics or plots.

    Attributes:
        events_received: Server messages received.
        bytes_received: Payload bytes of those messages.
        events_sent: Wire messages sent (including internal ones such as truncates).
        bytes_sent: Payload bytes sent.
        events_per_second: Messages received per second over the last few seconds.
        queue_depth: Events waiting in the pull queue now.
        peak_queue_depth: Highest pull-queue depth so far.
        blocked_seconds: Time the reader spent waiting for queue space (backpressure).
        last_ping_rtt: Round-trip time of the last keepalive ping, seconds.
        uptime: Seconds since the connection object was created.
        muted_audio_dropped: ``audio.input.append`` events dropped while muted.
    """

    events_received: int
    bytes_received: int
    events_sent: int
    bytes_sent: int
    events_per_second: float
    queue_depth: int
    peak_queue_depth: int
    blocked_seconds: float
    last_ping_rtt: Optional[float]
    uptime: float
    muted_audio_dropped: int

    # dataclasses-json (~25 ms to import) is loaded by the first call that needs it,
    # not by ``import kernl_realtime``.

    def to_dict(self, encode_json: bool = False) -> Dict[str, Any]:
        """Return the figures as a dict (field names as keys). Any thread."""
        return _json_mixin().to_dict(self, encode_json)  # type: ignore[arg-type]

    def to_json(self, **dumps_options: Any) -> str:
        """Return the figures as a JSON string (``json.dumps`` options accepted). Any thread."""
        return _json_mixin().to_json(self, **dumps_options)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: Type[_S], data: Dict[str, Any]) -> _S:
        """Build a snapshot back from :meth:`to_dict`'s form."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls: Type[_S], text: Union[str, bytes]) -> _S:
        """Build a snapshot back from :meth:`to_json`'s form."""
        return cls.from_dict(json.loads(text))  # type: ignore[attr-defined, no-any-return]


def _json_mixin() -> "Type[DataClassJsonMixin]":
    from dataclasses_json import DataClassJsonMixin

    return DataClassJsonMixin



class StatsRecorder:
    """Mutable counters updated by the reader and senders; plain int updates only.

    Received counters are written only by the reader thread and sent counters only
    under the write lock, so no extra locking is needed; a snapshot may be a few
    events stale, which is fine for monitoring.
    """

    __slots__ = (
        "events_received",
        "bytes_received",
        "events_sent",
        "bytes_sent",
        "last_ping_rtt",
        "muted_audio_dropped",
        "_created_at",
        "_bucket",
        "_bucket_count",
        "_history",
    )

    def __init__(self) -> None:
        self.events_received = 0
        self.bytes_received = 0
        self.events_sent = 0
        self.bytes_sent = 0
        self.last_ping_rtt: Optional[float] = None
        self.muted_audio_dropped = 0
        self._created_at = time.monotonic()
        self._bucket = int(self._created_at)
        self._bucket_count = 0
        self._history: Deque[Tuple[int, int]] = deque(maxlen=_RATE_WINDOW + 1)

    def record_received(self, nbytes: int, now: float) -> None:
        """Count one received message of ``nbytes`` at monotonic time ``now``."""
        self.events_received += 1
        self.bytes_received += nbytes
        second = int(now)
        if second != self._bucket:
            self._history.append((self._bucket, self._bucket_count))
            self._bucket = second
            self._bucket_count = 0
        self._bucket_count += 1

    def record_sent(self, count: int, nbytes: int) -> None:
        """Count ``count`` sent messages totalling ``nbytes``."""
        self.events_sent += count
        self.bytes_sent += nbytes

    def _rate(self, now: float) -> float:
        current = int(now)
        earliest = current - _RATE_WINDOW
        total = sum(count for second, count in list(self._history) if earliest <= second < current)
        if self._bucket < current and self._bucket >= earliest:
            total += self._bucket_count
        span = min(_RATE_WINDOW, max(1.0, now - self._created_at))
        return total / span

    def snapshot(self, *, queue_depth: int, peak_queue_depth: int, blocked_seconds: float) -> ConnectionStats:
        """Freeze the current figures."""
        now = time.monotonic()
        return ConnectionStats(
            events_received=self.events_received,
            bytes_received=self.bytes_received,
            events_sent=self.events_sent,
            bytes_sent=self.bytes_sent,
            events_per_second=self._rate(now),
            queue_depth=queue_depth,
            peak_queue_depth=peak_queue_depth,
            blocked_seconds=blocked_seconds,
            last_ping_rtt=self.last_ping_rtt,
            uptime=now - self._created_at,
            muted_audio_dropped=self.muted_audio_dropped,
        )


export_from_root(globals(), ["ConnectionStats"])
