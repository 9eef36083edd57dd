"""The waiting consumer reads: one wake-up per event instead of two threads trading it.

A thread that would block on an empty delivery queue — a puller in ``recv()`` or
iteration, or the dispatcher with nothing to call back — reads the socket itself
until its queue has an item, while the reader thread is *parked*. Nobody is woken
to hand over the event: the consumer that needed it produced it.

Who holds the socket: ``_io``. The reader holds it from its start to its end except
while parked; a consumer takes it only while the reader is parked (``_lead_ok``) and
only without waiting. Whoever holds ``_io`` reads frames, runs the frame parser, the
codec's ``decode``/``poll``/``auto_reply`` and the delivery bookkeeping, exactly as
the reader does, so events reach both queues once and in order whichever thread read
them.

The reader parks at a frame boundary when a consumer asks (``_lead_wanted``) and the
connection is open, confirmed and not backed up. It takes the socket back (and reads
ahead into the queues as before) when a leader hands it an ending (close frame, end
of stream, a protocol error, a keepalive timeout: a leader never ends a socket
itself), when ``close()`` is called, when a leader's delivery found a queue full
(backpressure is the reader's job), or when it finds, on waking once a tick, that no
consumer has read for a quarter of a tick (user code is busy: pings must still be
answered, barge-ins noticed). The parked reader wakes only on that tick, not per
event; so while every consumer is away, frames wait in the kernel for up to a tick
(``ConnectionSettings.tick``: 1 s by default, a quarter of the keepalive interval;
0.2 s for providers whose application pings must be answered, ElevenLabs). A leader polls the connection's
:class:`~._transport.Waker` beside the socket, so the reader gets the socket back at
once. Lock order: ``_io -> _lead_lock -> Waker._lock``; ``_io`` is taken under
``_lead_lock`` only without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Optional

from ._codec import answers_automatically
from ._deadline import Deadline
from ._interrupts import InterruptGuard
from ._queue import BoundedQueue
from ._internals import _State
from ._shell_state import _ConnectionState

__all__ = ["_LeadMixin"]

#: The parked reader's tick for codecs with auto-replies (application pings to answer):
#: the reader takes the socket back within about this long once no consumer reads.
_ANSWERING_TICK = 0.2


class _LeadMixin(_ConnectionState):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    def _init_leading(self) -> None:
        self._io = threading.Lock()
        self._io.acquire()  # the reader's until it parks
        self._lead_lock = threading.Lock()
        self._reader_wake = threading.Condition(self._lead_lock)
        self._io_free = threading.Condition(self._lead_lock)
        self._lead_ok = False
        self._lead_wanted = 0
        self._lead_ended = 0.0
        self._leader = 0
        self._handoff = None
        # Items a KeyboardInterrupt took out of the queue before recv() could return them.
        self._pushed_back = deque()

    # -- consumers ----------------------------------------------------------------------

    def _await_item(self, queue: "BoundedQueue[Any]", deadline: Optional[Deadline], guard: Optional[InterruptGuard]) -> bool:
        """Return True once ``queue`` has an item or is closed, or ``deadline`` has passed;
        False when another consumer is reading the socket (then wait on ``queue`` itself:
        that consumer's delivery wakes this one).

        Reads the socket on this thread whenever the reader lets it; otherwise waits
        to be woken by whoever delivers. Any consumer thread; False only without a
        ``guard`` (a wait on the queue could take an event and lose it to Ctrl-C).
        """
        lock = self._lead_lock
        ready = queue.ready
        while True:
            with lock:
                while True:
                    if ready():
                        return True
                    wait = self._tick if deadline is None else deadline.at_most(self._tick)
                    if wait <= 0:
                        return True
                    if self._lead_ok:
                        if self._io.acquire(False):
                            self._leader = threading.get_ident()
                            break
                        if guard is None:
                            return False  # another consumer reads and delivers
                    if not self._lead_ok and self._may_park():
                        self._waker.wake()  # the reader is reading ahead: let it park now
                    self._lead_wanted += 1
                    if guard is not None:
                        guard.waiting = True
                    try:
                        self._io_free.wait(wait)
                    finally:
                        if guard is not None:
                            guard.waiting = False
                        self._lead_wanted -= 1
            try:
                self._lead(queue, deadline, guard)
            finally:
                with lock:
                    self._leader = 0
                    self._lead_ended = time.monotonic()
                    self._io.release()
                    if self._lead_wanted:
                        self._io_free.notify_all()
            if ready():
                return True

    def _lead(self, queue: "BoundedQueue[Any]", deadline: Optional[Deadline], guard: Optional[InterruptGuard]) -> None:
        """Holding ``_io``: read and handle frames until ``queue`` has an item, the
        deadline passes or the reader wants the socket back."""
        ws = self._ws
        wait = ws.wait
        pending = self._pending
        monotonic = time.monotonic
        tick = self._tick
        ready = queue.ready
        while self._lead_ok and not ready():
            if not pending:
                timeout = tick if deadline is None else deadline.at_most(tick)
                if timeout <= 0:
                    return
                if guard is not None:
                    guard.waiting = True
                try:
                    readable = wait(timeout)
                finally:
                    if guard is not None:
                        guard.waiting = False
                if not readable:
                    if monotonic() >= self._next_keepalive_check:
                        try:
                            self._check_keepalive(monotonic())
                        except Exception as exc:  # noqa: BLE001 - the reader ends the socket
                            self._hand_over(("raise", exc))
                            return
                    continue
            try:
                if not pending:
                    pending.extend(ws.read_ready())
                closed = self._handle_pending()
            except Exception as exc:  # noqa: BLE001 - the reader ends (or reconnects) the socket
                self._hand_over(("raise", exc))
                return
            if closed is not None:
                self._hand_over(("closed", closed))
                return

    def _hand_over(self, ending: tuple) -> None:
        """Leader: give the socket's ending to the reader, which runs the usual path."""
        with self._lead_lock:
            self._handoff = ending
            self._lead_ok = False
            self._reader_wake.notify()

    def _end_lead_early(self) -> None:
        """A delivery queue is full: if this thread leads, the reader takes over (backpressure)."""
        if self._leader == threading.get_ident():
            with self._lead_lock:
                self._lead_ok = False
                self._reader_wake.notify()

    def _wake_consumers(self) -> None:
        """Wake consumers waiting to read: their queue may have an item, or the state changed."""
        with self._lead_lock:
            self._io_free.notify_all()

    def _release_reader(self) -> None:
        """close() was called: the reader takes the socket back at once to see the close through."""
        with self._lead_lock:
            self._lead_ok = False
            self._reader_wake.notify()
            self._io_free.notify_all()
        self._waker.wake()

    # -- the reader -----------------------------------------------------------------------

    def _may_park(self) -> bool:
        """True when consumers may read the socket: open, confirmed, not closing, not backed up."""
        max_queue = self._settings.max_queue
        return (
            self._state is _State.OPEN
            and self._handshake_done.is_set()
            and not self._close_requested
            and not self._switching
            and self._pending_failure is None
            and not self._ahead
            and not self._pending
            and len(self._queue) < max_queue
            and len(self._dispatcher.queue) < max_queue
        )

    def _park(self) -> "Optional[tuple[int, str]]":
        """Reader: let waiting consumers read; return when the socket is the reader's again.

        Returns the close a leader handed over, raises the error a leader handed over,
        or returns None to go on reading.
        """
        lock = self._lead_lock
        tick = self._tick
        if answers_automatically(self._codec):
            # The provider expects its pings answered promptly (ElevenLabs): while the
            # consumer is away in user code the reader must take over sooner.
            tick = min(tick, _ANSWERING_TICK)
        linger = tick / 4
        with lock:
            self._lead_ok = True
            self._io.release()
            self._io_free.notify_all()
            self._lead_ended = time.monotonic()
            wait = linger
            while self._lead_ok and not self._close_requested:
                self._reader_wake.wait(wait)
                if self._io.locked() or self._lead_wanted:
                    wait = tick  # a consumer reads, or is about to
                    continue
                idle = time.monotonic() - self._lead_ended
                if idle >= linger:
                    break  # user code keeps the consumer away: read ahead, answer pings
                wait = linger - idle
            self._lead_ok = False
        # A leader waiting in poll() sees the wake-up and gives the socket back at once.
        while not self._io.acquire(False):
            self._waker.wake()
            if self._io.acquire(timeout=self._tick):
                break
        with lock:
            handoff, self._handoff = self._handoff, None
        if handoff is None:
            return None
        kind, value = handoff
        if kind == "closed":
            return value  # type: ignore[no-any-return]
        raise value
