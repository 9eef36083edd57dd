"""A bounded, closable FIFO used for both delivery paths (pull queue and dispatcher).

``queue.Queue`` cannot be closed: a consumer blocked in ``get()`` only wakes on a
sentinel, and a sentinel cannot be put into a full queue without blocking. This queue
has an explicit ``close()`` that wakes every waiter at once, lets consumers drain what
is left, and lets the owner append final items (an error, then the end) regardless of
the bound.

It is built on the C-level ``queue.SimpleQueue``: an uncontended put+get costs a few
hundred nanoseconds and waking a blocked consumer is one C lock release, which matters
because every event crosses this queue. Only a producer that finds the queue full
takes the slower Python ``Condition`` path.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Generic, Iterable, Optional, TypeVar

__all__ = ["BoundedQueue", "QueueClosed", "QueueEmpty"]

T = TypeVar("T")

# Travels through the SimpleQueue after close(); each getter that meets it puts it
# back so that every other blocked getter wakes up too.
_CLOSED = object()


class QueueClosed(Exception):
    """Raised by ``get()`` when the queue is closed and drained, and by ``put()`` after close."""


class QueueEmpty(Exception):
    """Raised by ``get()`` when its timeout expires with nothing to return."""


class BoundedQueue(Generic[T]):
    """FIFO holding at most ``maxsize`` items; ``put`` blocks while it is full.

    Thread contract: any number of producers and consumers. ``peak_depth`` and
    ``blocked_seconds`` are monitoring figures, updated by producers.
    """

    __slots__ = (
        "_items", "_maxsize", "_lock", "_not_full", "_waiting_putters", "_closed", "_no_waiting", "_wakes",
        "peak_depth", "blocked_seconds", "ready",
    )

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._items: "queue.SimpleQueue[object]" = queue.SimpleQueue()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._waiting_putters = 0
        self._closed = False
        self._no_waiting = False
        self._wakes = 0
        self.peak_depth = 0
        self.blocked_seconds = 0.0
        #: ``ready()``: non-zero when ``get()`` would return at once (an item, or the end
        #: after ``close()``); a C-level call, for the consumers' per-event checks.
        self.ready = self._items.qsize

    @property
    def maxsize(self) -> int:
        """The bound."""
        return self._maxsize

    def __len__(self) -> int:
        size = self._items.qsize()
        return size - 1 if self._closed and size else size

    def put(self, item: T, timeout: Optional[float] = None) -> bool:
        """Append ``item``, waiting while the queue is full.

        Args:
            item: The item to append.
            timeout: Longest wait for space in seconds; ``None`` waits until space or close.

        Returns:
            True when appended, False when the timeout expired first.

        Raises:
            QueueClosed: The queue was closed before the item could be appended.
        """
        items = self._items
        if items.qsize() >= self._maxsize and not self._wait_for_space(timeout):
            return False
        if self._closed:
            raise QueueClosed()
        items.put(item)
        depth = items.qsize()
        if depth > self.peak_depth:
            self.peak_depth = depth
        return True

    def _wait_for_space(self, timeout: Optional[float]) -> bool:
        started = time.monotonic()
        with self._lock:
            # Registered before re-checking, so a consumer that frees a slot after the
            # check is guaranteed to see us and notify.
            self._waiting_putters += 1
            wakes = self._wakes
            try:
                while self._items.qsize() >= self._maxsize and not self._closed:
                    if self._no_waiting or not self._not_full.wait(timeout) or self._wakes != wakes:
                        return False
                return True
            finally:
                self._waiting_putters -= 1
                self.blocked_seconds += time.monotonic() - started

    def put_past_bound(self, item: T) -> None:
        """Append ``item`` even if the queue is full; never waits.

        Raises:
            QueueClosed: The queue was closed.
        """
        if self._closed:
            raise QueueClosed()
        self._items.put(item)

    def stop_waiting(self) -> None:
        """Make every waiting ``put`` give up at once, and later ones not wait (close() uses it)."""
        with self._lock:
            self._no_waiting = True
            self._not_full.notify_all()

    def wake_putters(self) -> None:
        """Wake every waiting ``put`` so its caller can re-check its own conditions."""
        with self._lock:
            self._wakes += 1
            self._not_full.notify_all()

    def clear(self) -> None:
        """Drop every item (the owner decided nobody will read them)."""
        items = self._items
        while True:
            try:
                item = items.get_nowait()
            except queue.Empty:
                break
            if item is _CLOSED:
                items.put(_CLOSED)
                break
        with self._lock:
            self._not_full.notify_all()

    def get(self, timeout: Optional[float] = None) -> T:
        """Remove and return the oldest item.

        Args:
            timeout: Longest wait in seconds; ``None`` waits until an item or close.

        Raises:
            QueueEmpty: The timeout expired.
            QueueClosed: The queue is closed and holds nothing more.
        """
        try:
            item = self._items.get(True, timeout)
        except queue.Empty:
            raise QueueEmpty() from None
        if item is _CLOSED:
            self._items.put(_CLOSED)
            raise QueueClosed()
        if self._waiting_putters:
            with self._lock:
                self._not_full.notify()
        return item  # type: ignore[return-value]

    def close(self, final_items: Iterable[T] = ()) -> None:
        """Close the queue, append ``final_items`` past the bound, and wake every waiter.

        Idempotent; a second call appends nothing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for item in final_items:
                self._items.put(item)
            self._items.put(_CLOSED)
            self._not_full.notify_all()
