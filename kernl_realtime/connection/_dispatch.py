"""Callback registry and the per-connection dispatcher thread.

Callbacks never run on the reader thread: a slow callback must not delay reading the
socket (pongs, close frames, other events). They run, in arrival order, on one daemon
dispatcher thread per connection, started when the first callback is registered, so
pull-only users never pay for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from ._queue import BoundedQueue, QueueClosed
from ..exceptions import CallbackError

__all__ = ["Dispatcher", "CATCH_ALL", "is_error_handled"]

logger = logging.getLogger(__name__)

#: Handlers registered under this name get every notification as ``fn(name, *args)``.
CATCH_ALL = "*"

_STOP = object()


class _Handler:
    __slots__ = ("fn", "once")

    def __init__(self, fn: Callable[..., Any], once: bool) -> None:
        self.fn = fn
        self.once = once


class Dispatcher:
    """Registry of callbacks plus the thread that calls them.

    Thread contract: ``on``/``off``/``once``/``submit`` are thread-safe. Handler lists
    are immutable tuples swapped under a lock, so the dispatcher reads them without
    locking and never holds a library lock while user code runs.
    """

    def __init__(self, thread_name: str, maxsize: int, log_prefix: str) -> None:
        self._thread_name = thread_name
        self._log_prefix = log_prefix
        self._handlers: Dict[str, Tuple[_Handler, ...]] = {}
        self._lock = threading.Lock()
        self._queue: BoundedQueue[Any] = BoundedQueue(maxsize)
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    # -- registry ---------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True once a callback has been registered (the thread exists)."""
        return self._thread is not None

    @property
    def queue(self) -> "BoundedQueue[Any]":
        """The queue between the reader and the dispatcher thread."""
        return self._queue

    def add(self, name: str, fn: Callable[..., Any], once: bool) -> None:
        """Register ``fn`` for ``name``; registering the same function twice is a no-op."""
        if not callable(fn):
            raise TypeError(f"callback for {name!r} must be callable, got {type(fn).__name__}")
        with self._lock:
            current = self._handlers.get(name, ())
            if any(h.fn == fn for h in current):
                return
            self._handlers[name] = current + (_Handler(fn, once),)
            if self._thread is None and not self._stopping:
                # Daemon: a forgotten close() must not keep the interpreter alive;
                # wait_closed() is the documented way for scripts to wait.
                thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
                self._thread = thread
                thread.start()

    def remove(self, name: str, fn: Callable[..., Any]) -> None:
        """Unregister ``fn`` from ``name``; unknown functions are ignored."""
        with self._lock:
            current = self._handlers.get(name, ())
            remaining = tuple(h for h in current if h.fn != fn)
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
        """Queue a notification for the dispatcher thread (blocks while its queue is full).

        Returns False if the wait for space timed out; notifications submitted after
        ``stop()`` are ignored.
        """
        if self._thread is None:
            return True
        try:
            return self._queue.put((name, args), timeout)
        except QueueClosed:
            return True

    def stop_with(self, final: Iterable[Tuple[str, Tuple[Any, ...]]] = ()) -> None:
        """Queue ``final`` notifications past the bound, then let the thread finish
        what is queued and exit. Idempotent, never blocks."""
        with self._lock:
            self._stopping = True
            started = self._thread is not None
        self._queue.close((list(final) if started else []) + [_STOP])

    def join(self, timeout: float) -> bool:
        """Wait for the thread to exit; never joins the current thread. True if it ended."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        queue = self._queue
        while True:
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
        ``error`` handlers as its :class:`~kernl_realtime.ServerError`.
        """
        handlers = self._handlers
        if name == "event":
            event = args[0]
            self._call("event", handlers.get("event"), args)
            self._call(event.kind, handlers.get(event.kind), args)
            self._call_catch_all(handlers.get(CATCH_ALL), name, args)
            if event.kind == "session.error":
                self._call("error", handlers.get("error"), (event.error,))
        else:
            self._call(name, handlers.get(name), args)
            self._call_catch_all(handlers.get(CATCH_ALL), name, args)

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
        logger.exception("%s callback %r for %r raised", self._log_prefix, fn, name)
        if name == "error":
            # Never re-enter a failing error handler: the traceback above is the report.
            return
        error = CallbackError(f"callback {getattr(fn, '__qualname__', fn)!r} for {name!r} raised {exc!r}", callback_name=name)
        error.__cause__ = exc
        for handler in self._handlers.get("error", ()):
            try:
                handler.fn(error)
            except Exception:  # noqa: BLE001
                logger.exception("%s error callback %r raised while handling a callback error", self._log_prefix, handler.fn)


def is_error_handled(dispatcher: Dispatcher) -> bool:
    """True when some callback will see errors, so the pull API need not raise them."""
    return dispatcher.handles("error", CATCH_ALL)

