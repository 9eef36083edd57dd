"""Callback registry and the per-connection dispatcher thread.

Callbacks never run on the reader thread: a slow callback must not delay reading the
socket (pongs, close frames, other events). They run, in arrival order, on one daemon
dispatcher thread per connection, started when the first callback is registered, so
pull-only users never pay for it.

Until then the dispatcher *holds* what arrives (up to its queue bound), so the events
between ``connect()`` returning and the first ``on()`` reach the first callbacks. When
the hold is full while the pull API is being consumed, the connection is pull-only:
the hold is dropped and later callbacks see events from their registration on.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from ._excepthook import report_unhandled
from ._queue import BoundedQueue, QueueClosed
from ..exceptions import CallbackError, ConfigurationError
from ..protocol import SERVER_EVENT_TYPES

__all__ = ["Dispatcher", "CATCH_ALL", "NOTIFICATION_NAMES", "check_callback_name", "is_error_handled"]

logger = logging.getLogger(__name__)

#: Handlers registered under this name get every notification as ``fn(name, *args)``.
CATCH_ALL = "*"

#: Callback names besides event kinds: what each notification is called.
NOTIFICATION_NAMES = (
    "event", "error", "status", "interrupted", "reconnecting", "reconnected", "stalled", "recording", CATCH_ALL,
)

_STOP = object()

#: The first callbacks get what was held once no on()/once() came for this long, or
#: as soon as the application does something else with the connection (settle()).
REGISTRATION_SETTLE_SECONDS = 0.2


def check_callback_name(name: object) -> str:
    """Return ``name`` if callbacks can be registered under it, else raise with suggestions.

    Raises:
        ConfigurationError: Not a notification name nor a server event kind.
    """
    if not isinstance(name, str):
        raise ConfigurationError(
            f"callback name must be a str such as 'event' or 'transcript.output.delta', got {type(name).__name__}",
            field="name",
        )
    if name in NOTIFICATION_NAMES or name in SERVER_EVENT_TYPES:
        return name
    known = list(NOTIFICATION_NAMES) + sorted(SERVER_EVENT_TYPES)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ConfigurationError(
        f"unknown callback name {name!r}: {hint}Use one of "
        f"{', '.join(repr(n) for n in NOTIFICATION_NAMES)} or a server event kind "
        f"such as 'transcript.output.delta' (all kinds: kernl_realtime.SERVER_EVENT_TYPES)",
        field="name",
    )


class _Handler:
    __slots__ = ("fn", "once")

    def __init__(self, fn: Callable[..., Any], once: bool) -> None:
        self.fn = fn
        self.once = once


class Dispatcher:
    """Registry of callbacks plus the thread that calls them.

    Thread contract: ``add``/``remove``/``submit``/``force_submit`` are thread-safe.
    Handler lists are immutable tuples swapped under a lock, so the dispatcher reads
    them without locking and never holds a library lock while user code runs.

    Args:
        thread_name: Name of the dispatcher thread.
        maxsize: Queue bound (backpressure for the reader).
        label: The connection's label for logs and unhandled-error reports.
        pull_raises: True while unhandled errors are raised by ``recv()`` instead, so
            they need no report here.
        hold: Keep notifications for the first callback until one is registered.
    """

    def __init__(
        self, thread_name: str, maxsize: int, label: str, pull_raises: Callable[[], bool], hold: bool = True
    ) -> None:
        self._thread_name = thread_name
        self._label = label
        self._pull_raises = pull_raises
        self._handlers: Dict[str, Tuple[_Handler, ...]] = {}
        self._lock = threading.Lock()
        self._queue: BoundedQueue[Any] = BoundedQueue(maxsize)
        self._thread: Optional[threading.Thread] = None
        self._holding = hold
        self._stopping = False
        self._last_add = 0.0
        # Set when the registrations are over (settle()) or the dispatcher stops.
        self._settled = threading.Event()
        self._settled_flag = False
        #: ``await_item(queue, deadline, guard)``: waits until the queue has an item, reading
        #: the connection's socket on this thread when it may (see ``_leading.py``), or
        #: returns early when another consumer reads (the wait on the queue follows).
        self.await_item: Optional[Callable[..., bool]] = None

    # -- registry ---------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True once a callback has been registered (the thread exists)."""
        return self._thread is not None

    @property
    def holding(self) -> bool:
        """True while notifications are kept for callbacks not registered yet."""
        return self._holding and self._thread is None

    @property
    def queue(self) -> "BoundedQueue[Any]":
        """The queue between the reader and the dispatcher thread."""
        return self._queue

    def add(self, name: str, fn: Callable[..., Any], once: bool) -> None:
        """Register ``fn`` for ``name``; registering the same function twice is a no-op.

        Raises:
            ConfigurationError: ``name`` is unknown (with a suggestion).
            TypeError: ``fn`` is not callable.
        """
        check_callback_name(name)
        if not callable(fn):
            raise TypeError(f"callback for {name!r} must be callable, got {type(fn).__name__}")
        with self._lock:
            current = self._handlers.get(name, ())
            if any(h.fn == fn for h in current):
                return
            self._handlers[name] = current + (_Handler(fn, once),)
            self._last_add = time.monotonic()
            if self._thread is None and not self._stopping:
                # Daemon: a forgotten close() must not keep the interpreter alive;
                # wait_closed() is the documented way for scripts to wait.
                thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
                self._thread = thread
                thread.start()

    def remove(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        """Unregister ``fn`` from ``name`` (every handler of ``name`` when ``fn`` is None).

        Unknown functions are ignored.

        Raises:
            ConfigurationError: ``name`` is unknown (with a suggestion).
        """
        check_callback_name(name)
        with self._lock:
            current = self._handlers.get(name, ())
            remaining = tuple(h for h in current if fn is not None and h.fn != fn)
            if remaining:
                self._handlers[name] = remaining
            else:
                self._handlers.pop(name, None)

    def handles(self, *names: str) -> bool:
        """True if any handler is registered under any of ``names``."""
        handlers = self._handlers
        return any(name in handlers for name in names)

    # -- delivery ---------------------------------------------------------------------

    def submit(self, name: str, args: Tuple[Any, ...], timeout: Optional[float] = None) -> bool:
        """Queue a notification for the dispatcher thread (waits while its queue is full).

        Returns False if the wait for space timed out; notifications submitted after
        ``stop()`` or after the hold was dropped (before any callback) are ignored.
        """
        if self._thread is None and not self._holding:
            return True
        try:
            return self._queue.put((name, args), timeout)
        except QueueClosed:
            return True

    def force_submit(self, name: str, args: Tuple[Any, ...]) -> None:
        """Queue a notification past the bound: never waits (for threads that must not)."""
        if self._thread is None and not self._holding:
            return
        try:
            self._queue.put_past_bound((name, args))
        except QueueClosed:
            pass

    def settle(self, force: bool = False) -> None:
        """The application moved on from registering callbacks (it sent, pulled, waited or
        closed): deliver what was held now instead of at the end of the settle time.

        Before the first callback there are no registrations to end, so this does
        nothing (unless ``force``): callbacks registered in a row after a ``send()``
        all see the held events.
        """
        if not force and self._thread is None:
            return
        if not self._settled_flag:
            self._settled_flag = True
            self._settled.set()

    def drop_hold(self) -> bool:
        """Stop holding for callbacks that were never registered; True if it did."""
        with self._lock:
            if self._thread is not None or not self._holding:
                return False
            self._holding = False
        self._queue.clear()
        logger.debug("%s no callbacks after %d events: pull-only, hold dropped", self._label, self._queue.maxsize)
        return True

    def stop_with(self, final: Iterable[Tuple[str, Tuple[Any, ...]]] = ()) -> None:
        """Queue ``final`` notifications past the bound, then let the thread finish
        what is queued and exit. Idempotent, never blocks."""
        with self._lock:
            self._stopping = True
            started = self._thread is not None
        self.settle(force=True)
        self._queue.close((list(final) if started else []) + [_STOP])

    def join(self, timeout: float) -> bool:
        """Wait for the thread to exit; never joins the current thread. True if it ended."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def on_own_thread(self) -> bool:
        """True when called from the dispatcher thread (i.e. from inside a callback)."""
        return self._thread is threading.current_thread()

    def _run(self) -> None:
        # Let a burst of on() calls finish before the held events go out, so that each
        # of the first callbacks (not only the very first) sees them.
        while not self._settled.is_set():
            remaining = self._last_add + REGISTRATION_SETTLE_SECONDS - time.monotonic()
            if remaining <= 0:
                break
            self._settled.wait(remaining)
        self._settled_flag = True
        queue = self._queue
        await_item = self.await_item
        while True:
            if await_item is not None and not queue.ready():
                try:
                    await_item(queue, None, None)
                except Exception as exc:  # noqa: BLE001 - a bug here must not end callbacks
                    report_unhandled(exc, self._label, "the dispatcher reading in the reader's place")
                    await_item = None  # the reader delivers from now on
            try:
                item = queue.get()
            except QueueClosed:
                return
            if item is _STOP:
                return
            name, args = item
            self.dispatch(name, args)

    def dispatch(self, name: str, args: Tuple[Any, ...]) -> None:
        """Call the handlers for one notification, in registration order.

        A server event (``name == "event"``) goes to ``event`` handlers, then to handlers
        of its ``kind``, then to ``*``. A ``session.error`` event is also reported to
        ``error`` handlers as its :class:`~kernl_realtime.ServerError`. An error nobody
        handles (and ``recv()`` will not raise) goes to ``kernl_realtime.excepthook``.
        """
        handlers = self._handlers
        if name == "event":
            event = args[0]
            self._call("event", handlers.get("event"), args)
            self._call(event.kind, handlers.get(event.kind), args)
            self._call_catch_all(handlers.get(CATCH_ALL), name, args)
            if event.kind == "session.error":
                self._deliver_error(event.error, "server 'error' event")
        elif name == "error":
            self._deliver_error(args[0], "error")
        else:
            self._call(name, handlers.get(name), args)
            self._call_catch_all(handlers.get(CATCH_ALL), name, args)

    def _deliver_error(self, error: Any, context: str) -> None:
        handlers = self._handlers
        entries = handlers.get("error")
        catch_all = handlers.get(CATCH_ALL)
        self._call("error", entries, (error,))
        if context == "error":
            self._call_catch_all(catch_all, "error", (error,))
        if not entries and not catch_all and isinstance(error, BaseException) and not self._pull_raises():
            report_unhandled(error, self._label, f"{context} with no 'error' callback")

    def _call_catch_all(self, entries: Optional[Tuple[_Handler, ...]], name: str, args: Tuple[Any, ...]) -> None:
        if entries:
            self._call(CATCH_ALL, entries, (name,) + args)

    def _call(self, name: str, entries: Optional[Tuple[_Handler, ...]], args: Tuple[Any, ...]) -> None:
        if not entries:
            return
        for handler in entries:
            if handler.once:
                self.remove(name, handler.fn)
            try:
                handler.fn(*args)
            except Exception as exc:  # noqa: BLE001 - user code; isolate every call
                self._report_callback_error(name, handler.fn, exc)

    def _report_callback_error(self, name: str, fn: Callable[..., Any], exc: Exception) -> None:
        what = f"callback {getattr(fn, '__qualname__', fn)!r} for {name!r}"
        logger.debug("%s %s raised", self._label, what, exc_info=exc)
        error_handlers = self._handlers.get("error", ())
        if name == "error" or not error_handlers:
            # Never re-enter a failing error handler; with none, the hook is the report.
            report_unhandled(exc, self._label, what)
            return
        error = CallbackError(f"{what} raised {exc!r}", callback_name=name)
        error.__cause__ = exc
        for handler in error_handlers:
            try:
                handler.fn(error)
            except Exception as handler_exc:  # noqa: BLE001
                report_unhandled(handler_exc, self._label, f"error callback {getattr(handler.fn, '__qualname__', handler.fn)!r}")


def is_error_handled(dispatcher: Dispatcher) -> bool:
    """True when some callback will see errors, so the pull API need not raise them."""
    return dispatcher.handles("error", CATCH_ALL)

