"""Reporting a delivery stall: the reader has waited too long for queue space.

Backpressure is by design (memory stays bounded, nothing is dropped), but a wait of
more than a few seconds almost always means a consumer is missing or stuck. It is
reported three ways, so it is never silent: a WARNING log record, a
:class:`DeliveryStalled` notice to ``stalled`` callbacks, and a
:class:`DeliveryStalledWarning` through :mod:`warnings` (printed to stderr once per
process by Python's default filters, even when logging is not configured).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Optional

from ..protocol._export import export_from_root

__all__ = ["DeliveryStalled", "DeliveryStalledWarning", "StallTracker", "STALL_REPORT_SECONDS", "warn_stalled"]

logger = logging.getLogger(__name__)

#: A wait for queue space longer than this (seconds) is reported.
STALL_REPORT_SECONDS = 3.0


class DeliveryStalledWarning(RuntimeWarning):
    """Issued when a connection's reader has waited for a consumer for several seconds."""


@dataclass(frozen=True)
class DeliveryStalled:
    """Notice to ``stalled`` callbacks: the reader is paused because a queue stays full.

    Attributes:
        queue: ``"pull"`` (the ``recv()`` queue) or ``"callbacks"`` (the dispatcher's).
        seconds: How long the reader had waited when this was reported.
        cause: What is (not) consuming.
        fix: What to change.
    """

    kind = "delivery.stalled"

    queue: str
    seconds: float
    cause: str
    fix: str

    @property
    def message(self) -> str:
        """One line with cause and fix."""
        return (
            f"event delivery stalled for {self.seconds:.1f} s: {self.cause}. Fix: {self.fix}. "
            "The reader is paused meanwhile (no event is lost, keepalive is suspended)."
        )


class StallTracker:
    """Times one wait for queue space and says when to report it (once per wait).

    Thread contract: used by the reader thread only.
    """

    __slots__ = ("_since", "_reported", "report_after")

    def __init__(self, report_after: Optional[float] = None) -> None:
        self._since: Optional[float] = None
        self._reported = False
        self.report_after = STALL_REPORT_SECONDS if report_after is None else report_after

    def waiting(self, now: float, started: float) -> Optional[float]:
        """Record that the reader is still waiting; return the wait's length when due for a report."""
        if self._since is None:
            self._since = started
        if self._reported or now - self._since < self.report_after:
            return None
        self._reported = True
        return now - self._since

    def done(self, now: float, label: str) -> None:
        """The wait ended (the item was queued, or the path was switched off)."""
        since = self._since
        if since is not None and self._reported:
            logger.warning("%s event delivery resumed after %.1f s", label, now - since)
        self._since = None
        self._reported = False


def warn_stalled(label: str, notice: DeliveryStalled) -> None:
    """Log and warn about ``notice`` (the caller delivers it to callbacks)."""
    logger.warning("%s %s", label, notice.message)
    warnings.warn(f"kernl_realtime {label}: {notice.message}", DeliveryStalledWarning, stacklevel=2)


export_from_root(globals(), ["DeliveryStalled", "DeliveryStalledWarning"])
