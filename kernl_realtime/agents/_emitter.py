"""Delivery of session events: callbacks on one thread, and an optional pull queue.

Same rules as the connection: callbacks run in arrival order on a dedicated daemon
thread (never on the connection's reader), started by the first ``on()``; a callback
that raises is logged and reported to ``error`` callbacks as a ``CallbackError``; the
pull queue is bounded and, when full, the session waits (backpressure), so nothing is
dropped. An error nobody handles (no ``error`` callback, no puller) is written to
stderr through :data:`unhandled_error_hook`.
"""

from __future__ import annotations

import difflib
import logging
import queue
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..exceptions import CallbackError, ConfigurationError, ReceiveTimeout
from ..protocol import SERVER_EVENT_TYPES

__all__ = ["SessionEmitter", "unhandled_error_hook", "report_unhandled"]

logger = logging.getLogger(__name__)

_STOP = object()
_END = object()

#: Callbacks start once no on() came for this long after the first one.
_REGISTRATION_SETTLE_SECONDS = 0.2


class _Raise:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _default_unhandled(error: BaseException) -> None:
    print(f"kernl_realtime: unhandled session error: {type(error).__name__}: {error}", file=sys.stderr)


#: Called with an error that no ``error`` callback and no puller will see. Replace it
#: (``kernl_realtime.agents.set_unhandled_error_hook(fn)``) to route such errors elsewhere.
unhandled_error_hook: Callable[[BaseException], None] = _default_unhandled


def set_unhandled_error_hook(fn: Callable[[BaseException], None]) -> None:
    """Route errors nobody handles to ``fn`` instead of stderr."""
    global unhandled_error_hook
    unhandled_error_hook = fn


def report_unhandled(error: BaseException) -> None:
    """Pass ``error`` to the unhandled-error hook (a failing hook is logged)."""
    try:
        unhandled_error_hook(error)
    except Exception:  # noqa: BLE001
        logger.exception("the unhandled-error hook raised")


#: What session callbacks can be registered under, besides server event kinds.
SESSION_CALLBACK_NAMES = (
    "audio", "transcript", "text", "tool_call", "tool_result", "turn", "interrupted", "status", "error", "event",
    "reconnecting", "reconnected", "stalled", "recording", "*",
)


def _check_name(name: object) -> None:
    """A typo in on("transcripts") would wait forever in silence: refuse it, with suggestions."""
    if not isinstance(name, str):
        raise ConfigurationError(f"callback name must be a str such as 'transcript', got {type(name).__name__}", field="name")
    if name in SESSION_CALLBACK_NAMES or name in SERVER_EVENT_TYPES:
        return
    close = difflib.get_close_matches(name, list(SESSION_CALLBACK_NAMES) + sorted(SERVER_EVENT_TYPES), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ConfigurationError(
        f"unknown session callback name {name!r}: {hint}Use one of {', '.join(repr(n) for n in SESSION_CALLBACK_NAMES)} "
        "or a server event kind such as 'transcript.output.delta' (all kinds: kernl_realtime.SERVER_EVENT_TYPES)",
        field="name",
    )


class SessionEmitter:
    """Callback registry + dispatcher thread + pull queue for one session.

    Thread contract: every method is thread-safe. ``emit`` may block while the pull
    queue is full (backpressure) until ``close()``.
    """

    def __init__(self, thread_name: str, pull: bool, max_queue: int) -> None:
        self._thread_name = thread_name
        self._pull = pull
        self._handlers: Dict[str, Tuple[Tuple[Callable[..., Any], bool], ...]] = {}
        self._lock = threading.Lock()
        self._calls: "queue.Queue[Any]" = queue.Queue()
        self._pulled: "queue.Queue[Any]" = queue.Queue(maxsize=max_queue)
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._last_add = 0.0

    # -- registry -----------------------------------------------------------------------

    def add(self, name: str, fn: Callable[..., Any], once: bool) -> None:
        _check_name(name)
        if not callable(fn):
            raise ConfigurationError(f"callback for {name!r} must be callable, got {type(fn).__name__}", field="fn")
        with self._lock:
            current = self._handlers.get(name, ())
            if any(existing is fn for existing, _ in current):
                return
            self._handlers[name] = current + ((fn, once),)
            self._last_add = time.monotonic()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
                self._thread.start()

    def remove(self, name: str, fn: Optional[Callable[..., Any]]) -> None:
        _check_name(name)
        with self._lock:
            remaining = tuple(h for h in self._handlers.get(name, ()) if fn is not None and h[0] is not fn)
            if remaining:
                self._handlers[name] = remaining
            else:
                self._handlers.pop(name, None)

    def handles(self, *names: str) -> bool:
        return any(name in self._handlers for name in names)

    @property
    def error_handled(self) -> bool:
        """True if an ``error`` or ``*`` callback will see errors."""
        return self.handles("error", "*")

    # -- delivery -----------------------------------------------------------------------

    def emit(self, name: str, *args: Any) -> None:
        """Queue a notification for the callbacks (no-op when none are registered)."""
        if self._thread is not None and not self._closed:
            self._calls.put((name, args))

    def put_pull(self, item: Any, stop: Optional[threading.Event] = None) -> None:
        """Offer ``item`` to pullers, waiting while the queue is full (until ``stop``)."""
        if not self._pull or self._closed:
            return
        if stop is not None and stop.is_set() and self._pulled.full():
            return  # closing: later items go at once, not after a 0.1 s wait each
        while True:
            try:
                self._pulled.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._closed or (stop is not None and stop.is_set()):
                    return

    def report_error(self, error: BaseException, stop: Optional[threading.Event] = None) -> None:
        """Deliver a local error to ``error`` callbacks and pullers, or to the hook."""
        self.emit("error", error)
        if self._pull:
            self.put_pull(_Raise(error), stop)
        elif not self.error_handled:
            report_unhandled(error)

    def _run(self) -> None:
        # Let a run of on() calls finish before the first notification goes out, so that
        # each of them (not only the first) sees what follows the first on().
        while not self._closed:
            remaining = self._last_add + _REGISTRATION_SETTLE_SECONDS - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, 0.05))
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            name, args = item
            self._dispatch(name, args)

    def _dispatch(self, name: str, args: Tuple[Any, ...]) -> None:
        if name == "event":
            event = args[0]
            self._call("event", args)
            self._call(event.kind, args)
            self._call("*", (name,) + args)
        else:
            self._call(name, args)
            self._call("*", (name,) + args)

    def _call(self, name: str, args: Tuple[Any, ...]) -> None:
        for fn, once in self._handlers.get(name, ()):
            if once:
                self.remove(name, fn)
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - user code; isolate every call
                logger.exception("session callback %r for %r raised", fn, name)
                if name in ("error", "*"):
                    continue
                error = CallbackError(f"callback {getattr(fn, '__qualname__', fn)!r} for {name!r} raised {exc!r}", callback_name=name)
                error.__cause__ = exc
                for handler, _ in self._handlers.get("error", ()):
                    try:
                        handler(error)
                    except Exception:  # noqa: BLE001
                        logger.exception("error callback raised while handling a callback error")

    # -- pulling ------------------------------------------------------------------------

    def next(self, timeout: Optional[float]) -> Any:
        """The next pulled item, ``_END`` once closed and drained.

        Raises:
            ConfigurationError: pull is disabled.
            ReceiveTimeout: nothing within ``timeout``.
            KernlRealtimeError: an error nobody else handled.
        """
        if not self._pull:
            raise ConfigurationError(
                "the pull API is off for this session: pass RealtimeSession(..., pull=True), "
                "or use callbacks (session.on) or session.ask()",
                field="pull",
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._pulled.get(timeout=remaining)
            except queue.Empty:
                raise ReceiveTimeout(f"no session event within {timeout:g} s") from None
            if item is _END:
                self._pulled.put(_END)  # wake other pullers too
                return _END
            if type(item) is _Raise:
                if self.error_handled:
                    continue
                raise item.error
            if getattr(item, "kind", None) == "session.error" and not self.error_handled:
                raise item.error
            return item

    def iterate(self, timeout: Optional[float]) -> Iterator[Any]:
        while True:
            try:
                item = self.next(timeout)
            except ReceiveTimeout:
                if timeout is None:
                    raise
                return
            if item is _END:
                return
            yield item

    # -- closing ------------------------------------------------------------------------

    def close(self, final: Tuple[Tuple[str, Tuple[Any, ...]], ...] = ()) -> None:
        """Deliver ``final`` notifications, then stop the thread and end the pull stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started = self._thread is not None
        if started:
            for name, args in final:
                self._calls.put((name, args))
            self._calls.put(_STOP)
        if self._pull:
            # Past the bound on purpose: the end marker must always fit.
            with self._pulled.mutex:
                self._pulled.queue.append(_END)
                self._pulled.not_empty.notify_all()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))


END = _END
