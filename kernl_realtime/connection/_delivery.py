"""Event delivery for RealtimeConnection: callbacks (``on``/``once``/``off``) and the pull queue (``recv``, iteration).

The thread model, the lock order and the rule against waiting while holding a lock
are in ``_connection.py``'s module docstring; they apply here unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator, Optional, overload

from ._deadline import Deadline
from ._dispatch import check_callback_name, is_error_handled
from ._excepthook import report_unhandled
from ._interrupts import InterruptGuard
from ._queue import BoundedQueue, QueueClosed, QueueEmpty
from ._stall import DeliveryStalled, warn_stalled
from ..exceptions import (
    ConfigurationError,
    KernlRealtimeError,
    ReceiveTimeout,
)
from ..protocol import (
    RealtimeServerEvent,
)

from ._internals import (
    _END,
    _PULL_HOLD,
    _PULL_OFF,
    _PULL_ON,
    _Raise,
    _StopReading,
    F,
)
from ._shell_state import _ConnectionState

__all__ = ['_DeliveryMixin']

logger = logging.getLogger(__name__)


class _DeliveryMixin(_ConnectionState):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    # -- callbacks ----------------------------------------------------------------------

    @overload
    def on(self, name: str) -> Callable[[F], F]: ...

    @overload
    def on(self, name: str, fn: F) -> F: ...

    def on(self, name: str, fn: Optional[F] = None) -> Any:
        """Register a callback; usable as ``conn.on("event", fn)`` or ``@conn.on("event")``.

        Names: ``"event"`` (every server event), an event kind such as
        ``"transcript.output.delta"`` (events of that kind), ``"status"``
        (``TransportStatus``), ``"error"`` (a :class:`KernlRealtimeError`),
        ``"interrupted"`` (no arguments), ``"reconnecting"``/``"reconnected"``,
        ``"stalled"`` (a :class:`DeliveryStalled` notice), ``"*"`` (every notification
        as ``fn(name, *args)``). Events that arrived before the first callback was
        registered are held for it (see the delivery rule in the README).

        Callbacks run on the connection's dispatcher thread, in arrival order; a slow
        callback delays later callbacks (not the reader, up to the queue bound). A
        callback that raises is logged with its traceback and reported to ``error``
        callbacks as a :class:`CallbackError`; later events still arrive. Registering
        the same function twice for one name has no effect. Thread-safe.

        Returns:
            ``fn`` (so the decorator form leaves the function usable).

        Raises:
            ConfigurationError: ``name`` is not a callback name (with a "did you mean").
        """
        return self._register(name, fn, once=False)

    @overload
    def once(self, name: str) -> Callable[[F], F]: ...

    @overload
    def once(self, name: str, fn: F) -> F: ...

    def once(self, name: str, fn: Optional[F] = None) -> Any:
        """Like :meth:`on`, but the callback is removed after its first call."""
        return self._register(name, fn, once=True)

    def _register(self, name: str, fn: Optional[F], once: bool) -> Any:
        check_callback_name(name)  # before the decorator form, so a typo fails at once
        if fn is None:
            def decorator(func: F) -> F:
                self._add_callback(name, func, once)
                return func

            return decorator
        self._add_callback(name, fn, once)
        return fn

    def _add_callback(self, name: str, fn: Callable[..., Any], once: bool) -> None:
        self._dispatcher.add(name, fn, once=once)
        # A reader waiting on a full, unread pull queue re-checks the delivery rule now.
        self._queue.wake_putters()

    def off(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        """Unregister ``fn`` from ``name``; without ``fn``, every callback of ``name``.

        Unknown callbacks are ignored (so a notebook cell can run ``off`` then ``on``
        again). Thread-safe.

        Raises:
            ConfigurationError: ``name`` is not a callback name (with a suggestion).
        """
        self._dispatcher.remove(name, fn)

    def _notify(self, name: str, args: tuple) -> None:
        """Queue a notification for the callbacks.

        Only the reader waits while their queue is full (that is backpressure); any
        other thread — a callback calling ``interrupt()``, a user thread — queues past
        the bound, so it never waits on the dispatcher it may itself be running on.
        """
        dispatcher = self._dispatcher
        if not dispatcher.submit(name, args, 0):
            if threading.current_thread() is not self._reader:
                dispatcher.force_submit(name, args)
                self._end_lead_early()  # a leader hands backpressure to the reader
            else:
                self._wait_for_space("callbacks", lambda timeout: dispatcher.submit(name, args, timeout))
        if self._lead_wanted:
            self._wake_consumers()

    def _report_error(self, error: KernlRealtimeError) -> None:
        """Deliver a local error (not a server event) to error callbacks and pullers."""
        logger.debug("%s error: %s", self._log_prefix, error)
        self._report_if_nobody_can_see(error)
        self._notify("error", (error,))
        if self._pull_state is not _PULL_OFF:
            self._put_pull(_Raise(error))

    def _report_if_nobody_can_see(self, error: KernlRealtimeError) -> None:
        """Pass ``error`` to the excepthook at once when no path could ever show it:
        the pull API is off and not a single callback is registered."""
        if self._pull_state is _PULL_OFF and not self._dispatcher.active:
            report_unhandled(error, f"{self._provider}#{self._id}", "error with pull off and no callbacks")

    def _pull_raises_errors(self) -> bool:
        """True when unhandled errors reach the user through ``recv()``."""
        return self._pull_used and self._pull_state is _PULL_ON

    # -- pulling ------------------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> RealtimeServerEvent:
        """Return the next server event, waiting up to ``timeout`` seconds.

        Thread-safe (several pullers share one stream). While it waits on an empty
        queue, the calling thread reads and decodes the next frames itself (the reader
        thread is parked meanwhile), so an event costs one wake-up; on the main thread,
        Ctrl-C raises ``KeyboardInterrupt`` only where no event is in hand (one taken
        is returned by the next call). A provider ``error`` event, or a local error such
        as malformed JSON or an abnormal close, is *raised* here when no ``error``/``*``
        callback is registered, so errors are never silently skipped.

        Raises:
            ReceiveTimeout: Nothing arrived within ``timeout``.
            ServerError, ProtocolError, ConnectionClosedError: unhandled errors (see above).
            ConnectionClosed: The connection is closed and every event was consumed.
            ConfigurationError: The pull API was disabled with ``pull=False``.
        """
        item = self._next(timeout)
        if item is _END:
            raise self._closed_error()
        return item

    def __iter__(self) -> Iterator[RealtimeServerEvent]:
        """Iterate over server events until the connection closes (see :meth:`recv`)."""
        while True:
            item = self._next(None)
            if item is _END:
                return
            yield item

    def events(self, timeout: Optional[float] = None) -> Iterator[RealtimeServerEvent]:
        """Iterate like ``iter(connection)``, but stop after ``timeout`` seconds of silence."""
        while True:
            try:
                item = self._next(timeout)
            except ReceiveTimeout:
                return
            if item is _END:
                return
            yield item

    def _next(self, timeout: Optional[float]) -> Any:
        if not self._pull_used:
            self._begin_pulling()
        queue = self._queue
        pushed_back = self._pushed_back
        deadline = None if timeout is None else Deadline(timeout)
        while True:
            item: Any = QueueEmpty
            if pushed_back:
                try:
                    item = pushed_back.popleft()
                except IndexError:  # another puller took it
                    pass
            if item is QueueEmpty and queue.ready():
                try:
                    item = queue.get(0)
                except QueueEmpty:  # another puller took it
                    pass
                except QueueClosed:
                    return _END
            if item is QueueEmpty:
                item = self._wait_next(queue, deadline, timeout)
            if item is _END:
                return _END
            if type(item) is _Raise:
                if is_error_handled(self._dispatcher):
                    continue
                raise item.error
            if item.kind == "session.error" and not is_error_handled(self._dispatcher):
                raise item.error
            return item

    def _wait_next(self, queue: "BoundedQueue[Any]", deadline: Optional[Deadline], timeout: Optional[float]) -> Any:
        """The queue is empty: wait for the next item, reading the socket on this thread
        when the reader lets it (see ``_leading.py``); Ctrl-C loses nothing."""
        guard = InterruptGuard.enter()
        try:
            while True:
                if self._await_item(queue, deadline, guard):
                    wait = 0.0
                else:  # another consumer reads: its delivery wakes this one
                    wait = self._tick if deadline is None else deadline.at_most(self._tick)
                try:
                    item = queue.get(wait)
                except QueueClosed:
                    return _END
                except QueueEmpty:  # another puller took it, or the deadline passed
                    if deadline is not None and deadline.expired():
                        raise ReceiveTimeout(f"no event within {timeout:g} s") from None
                    continue
                if guard is not None:
                    guard.held = item
                return item
        finally:
            if guard is not None:
                guard.exit(self._pushed_back)

    def _begin_pulling(self) -> None:
        """The first ``recv()``/iteration: the pull path is now consumed (or refused)."""
        self._dispatcher.settle()
        with self._route_lock:
            state = self._pull_state
            if state is _PULL_HOLD:
                self._pull_state = state = _PULL_ON
            if state is _PULL_ON:
                self._pull_used = True
                # recv() came first: later callbacks start from their registration.
                self._dispatcher.drop_hold()
                return
        if self._settings.pull is False:
            raise ConfigurationError(
                "the pull API is disabled for this connection (pull=False); use callbacks, or connect "
                "without pull=False to use recv()/iteration",
                field="pull",
            )
        raise ConfigurationError(
            f"recv()/iteration cannot start now: callbacks consumed the first {self._queue.maxsize} events "
            "while recv() was never called, so this connection delivers to callbacks only (an unread pull "
            "queue would have stalled them). To use both, connect with RealtimeConnectOptions(pull=True) "
            "and start calling recv() before the queue fills.",
            field="pull",
        )

    def _put_pull(self, item: Any) -> None:
        queue = self._queue
        try:
            if queue.put(item, 0):
                pass
            elif threading.current_thread() is not self._reader:
                # Only the reader waits (backpressure). A consumer reading in its place
                # applies the delivery rule, then hands the socket back; an error
                # reported from a user thread's interrupt() goes in past the bound.
                if self._switch_pull_off():
                    return
                queue.put_past_bound(item)
                self._end_lead_early()
            else:
                self._wait_for_space("pull", lambda timeout: queue.put(item, timeout))
        except QueueClosed:
            return
        if self._lead_wanted:
            self._wake_consumers()

    def _wait_for_space(self, which: str, put: Callable[[float], bool]) -> None:
        """Reader only: wait until ``put`` succeeds, the delivery rule switches the full
        path off, or close() is called (then unwind with ``_StopReading``).

        Time spent here is our consumer's fault, not the peer's, so it does not count
        against the keepalive timeout; a wait longer than a few seconds is reported.
        """
        started = time.monotonic()
        try:
            while True:
                if self._close_requested:
                    raise _StopReading()
                if which == "pull" and self._switch_pull_off():
                    return
                if which == "callbacks" and self._drop_callback_hold():
                    return
                if put(self._tick):
                    return
                now = time.monotonic()
                self._pings.excuse(now)
                self._read_ahead()  # codecs with auto-replies must still answer the peer
                waited = self._stall.waiting(now, started)
                if waited is not None:
                    self._report_stall(which, waited)
        finally:
            self._stall.done(time.monotonic(), self._log_prefix)

    def _switch_pull_off(self) -> bool:
        """Default mode, pull queue full, callbacks registered, recv() never used:
        the connection is callback-only from now on. True if it switched."""
        if self._pull_state is not _PULL_HOLD or not self._dispatcher.active:
            return False
        with self._route_lock:
            if self._pull_state is not _PULL_HOLD:
                return False
            self._pull_state = _PULL_OFF
        self._queue.clear()
        logger.debug("%s callbacks consumed %d events without recv(): pull switched off", self._log_prefix, self._queue.maxsize)
        return True

    def _drop_callback_hold(self) -> bool:
        """Callback queue full with no callback registered while recv() consumes (a
        race with the first recv()): later callbacks start from their registration."""
        return self._pull_used and self._dispatcher.drop_hold()

    def _report_stall(self, which: str, waited: float) -> None:
        dispatcher = self._dispatcher
        max_queue = self._queue.maxsize
        if not self._pull_used and not dispatcher.active:
            cause = (
                f"nothing consumes this connection's events: {max_queue} are waiting and neither "
                "recv()/iteration nor on() has been used since connect()"
            )
            fix = "iterate the connection (for event in conn) or register callbacks with conn.on(...)"
        elif which == "pull" and not self._pull_used:
            cause = f"the pull queue is full ({max_queue} events) and recv() is never called, but pull=True was passed"
            fix = "call recv()/iterate the connection, or connect without pull=True to use callbacks only"
        elif which == "pull":
            cause = f"recv()/iteration has not taken an event for {waited:.1f} s and the pull queue is full ({max_queue} events)"
            fix = "call recv() more often (or from a dedicated thread), or raise max_queue"
        else:
            cause = f"a callback is slow: the callback queue has been full ({max_queue} events) for {waited:.1f} s"
            fix = "return from callbacks quickly and hand slow work (I/O, sleeps, model calls) to another thread"
        notice = DeliveryStalled(queue=which, seconds=round(waited, 1), cause=cause, fix=fix)
        warn_stalled(self._log_prefix, notice)
        dispatcher.force_submit("stalled", (notice,))

