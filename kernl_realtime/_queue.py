"""A bounded, closable FIFO used for both delivery paths (pull queue and dispatcher).

``queue.Queue`` cannot be closed: a consumer blocked in ``get()`` only wakes on a
sentinel, and a sentinel cannot be put into a full queue without blocking. This queue
has an explicit ``close()`` that wakes every waiter at once, lets consumers drain what
is left, and lets the owner append final items (an error, then the end) regardless of
the bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Deque, Generic, Iterable, Optional, TypeVar

__all__ = ["BoundedQueue", "QueueClosed", "QueueEmpty"]

T = TypeVar("T")


class QueueClosed(Exception):
    """Raised by ``get()`` when the queue is closed and drained, and by ``put()`` after close."""


class QueueEmpty(Exception):
    """Raised by ``get()`` when its timeout expires with nothing to return."""


class BoundedQueue(Generic[T]):
    """FIFO holding at most ``maxsize`` items; ``put`` blocks while it is full.

    Thread contract: any number of producers and consumers. Counters
    (``peak_depth``, ``blocked_seconds``) are updated under the queue's lock.
    """

    __slots__ = ("_items", "_maxsize", "_lock", "_not_empty", "_not_full", "_closed", "peak_depth", "blocked_seconds")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._items: Deque[T] = deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closed = False
        self.peak_depth = 0
        self.blocked_seconds = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

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
        with self._lock:
            items = self._items
            if len(items) >= self._maxsize and not self._closed:
                started = time.monotonic()
                try:
                    while len(items) >= self._maxsize and not self._closed:
                        if not self._not_full.wait(timeout):
                            return False
                finally:
                    self.blocked_seconds += time.monotonic() - started
            if self._closed:
                raise QueueClosed()
            items.append(item)
            depth = len(items)
            if depth > self.peak_depth:
                self.peak_depth = depth
            self._not_empty.notify()
            return True

    def get(self, timeout: Optional[float] = None) -> T:
        """Remove and return the oldest item.

        Args:
            timeout: Longest wait in seconds; ``None`` waits until an item or close.

        Raises:
            QueueEmpty: The timeout expired.
            QueueClosed: The queue is closed and holds nothing more.
        """
        with self._lock:
            items = self._items
            if not items:
                if self._closed:
                    raise QueueClosed()
                deadline = None if timeout is None else time.monotonic() + timeout
                while not items:
                    if self._closed:
                        raise QueueClosed()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise QueueEmpty()
                    self._not_empty.wait(remaining)
            item = items.popleft()
            self._not_full.notify()
            return item

    def close(self, final_items: Iterable[T] = ()) -> None:
        """Close the queue, append ``final_items`` past the bound, and wake every waiter.

        Idempotent; items given to a second call are still appended.
        """
        with self._lock:
            self._closed = True
            self._items.extend(final_items)
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def clear(self) -> None:
        """Drop every queued item (used when the owner shuts down without consumers)."""
        with self._lock:
            self._items.clear()
            self._not_full.notify_all()

