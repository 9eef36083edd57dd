"""RealtimeConnection: one WebSocket, one reader thread, two delivery paths.

Threads (all daemon, all owned and joined by the connection, none ever joins itself):

* ``kernl-realtime-<provider>-reader-<id>``: owns the socket. It reads frames,
  decodes them with the provider codec, updates bookkeeping and hands each event to
  the pull queue and the dispatcher queue; it sends keepalive pings, answers server
  pings, echoes close frames, runs the handshake, the reconnect loop and the end.
  The only user code it runs is the ``on_reconnecting`` hook, while reconnecting
  (there is no socket to read then).
* ``kernl-realtime-<provider>-dispatcher-<id>``: started on the first ``on()``/``once()``;
  runs callbacks in arrival order.

The waiting consumer reads (``_leading.py``): a thread that would block on an empty
queue — in ``recv()``/iteration, or the dispatcher between callbacks — reads and
handles frames itself while the reader is parked, so an event costs one wake-up.
Whoever holds ``_io`` runs the frame parser, the codec's decode and the delivery
bookkeeping; a leader hands every ending (close frame, end of stream, protocol
error, keepalive timeout) to the reader, and the reader takes the socket back for
close, reconnect, backpressure, or after a tick in which no consumer read.

Writes from any thread go through one lock (also installed as websocket-client's
own send lock, so pongs and close frames share it); JSON is serialised outside it.

Delivery rule (see the README's threading section): each path holds what arrives
before its first consumer. With the default ``pull=None`` the first consumer decides:
the pull queue is fed until callbacks have consumed ``max_queue`` events while
``recv()`` was never called, then it is switched off (``recv()`` then raises a
``ConfigurationError`` that says why); the callback hold is dropped once it is full
while ``recv()`` consumes and no callback exists. Only the reader ever waits for
queue space; every other thread queues notifications past the bound.

Locks, in the only order in which they may nest (outer first)::

    _io  ->  _state_lock  ->  _write_lock  ->  (websocket-client's send, which is _write_lock)
    _io  ->  _lead_lock  ->  Waker._lock
    _route_lock, _interrupt_lock, Dispatcher._lock, BoundedQueue._lock: leaves, never nested

``_io`` (who reads the socket) is held for as long as its holder reads; it is taken
under ``_lead_lock`` only without waiting, and waited for only by the reader, holding
nothing else.

The class is assembled from mixins, one room each: ``_sending.py`` (send, mute,
interrupt), ``_delivery.py`` (callbacks and the pull queue), ``_reader.py`` (the reader
thread) and ``_reconnecting.py`` (its reconnect path); ``_shell_state.py`` declares the
state they share and ``_internals.py`` holds module-level helpers. This docstring is
the one statement of the thread model and the lock order for all of them.

The object ``connect()`` returns shares its state with an inner object that the
threads use (see ``_public_handle``), so dropping it unclosed is noticed and closed.

Rule: never wait on a queue, a socket read, an Event, a thread or user code while
holding any of them. The one exception is ``_write_lock``, held while a frame is
written (bounded by ``send_timeout``); it is taken with a timeout or non-blocking
(keepalive) wherever waiting could stall the reader.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple

from ._codec import HandshakeRequest, ProviderCodec
from ._deadline import Deadline
from ._dispatch import Dispatcher
from ._liveness import PingPong
from ._session import SessionCore
from ._queue import BoundedQueue
from ._record import Recorder
from ._reconnect import ReconnectBudget
from ._stall import StallTracker
from ._stats import ConnectionStats, StatsRecorder
from ._close import CloseInfo
from ._transport import Waker, WireSocket, open_websocket
from ..exceptions import (
    APIStatusError,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    KernlRealtimeError,
    ServerError,
)
from ..protocol import (
    AudioFormat,
    RealtimeConnectOptions,
    SessionInfo,
    TransportStatus,
)
from ..protocol._export import export_from_root
from ._internals import (
    _close_dropped,
    _connection_ids,
    _open_recorder,
    _PULL_HOLD,
    _PULL_OFF,
    _PULL_ON,
    _State,
    ConnectionSettings,
    Reopen,
)
from ._closing import _ClosingMixin
from ._delivery import _DeliveryMixin
from ._reader import _ReaderLoop
from ._sending import _SendingMixin

__all__ = ["RealtimeConnection", "CloseInfo", "ConnectionSettings"]

logger = logging.getLogger(__name__)


class RealtimeConnection(_SendingMixin, _DeliveryMixin, _ClosingMixin, _ReaderLoop):
    """A live realtime session with one provider, over one WebSocket.

    Get one from ``model.connect()``; it is open and the session is confirmed. Events
    arrive in two ways, both in server order and each exactly once:

    * pull: ``recv(timeout)`` or ``for event in connection`` (bounded queue; while it is
      full the reader stops reading, so memory stays bounded). Disable with
      ``RealtimeConnectOptions(pull=False)`` when you only use callbacks.
    * callbacks: ``on(name, fn)`` where name is ``"event"``, ``"status"``, ``"error"``,
      ``"interrupted"``, ``"*"`` or an event kind such as ``"transcript.output.delta"``.
      Callbacks run on the connection's dispatcher thread, never on the reader.

    Thread contract: every public method is thread-safe and may be called from any
    thread, including from inside a callback. ``close()`` is idempotent.
    """

    def __init__(
        self,
        *,
        provider: str,
        codec: ProviderCodec,
        ws: WireSocket,
        waker: Waker,
        write_lock: "threading.RLock",
        settings: ConnectionSettings,
        reopen: Optional[Reopen] = None,
        connect_timeout: float,
    ) -> None:
        self._id = next(_connection_ids)
        self._provider = provider
        self._codec = codec
        self._ws = ws
        self._waker = waker
        self._write_lock = write_lock
        self._settings = settings
        self._log_prefix = f"[{provider}#{self._id}]"

        self._state_lock = threading.Lock()
        self._state = _State.CONNECTING
        self._close_requested = False
        self._close_sent = False
        self._close_info: Optional[CloseInfo] = None
        self._reader_done = threading.Event()
        # Set by close(): wakes a reconnect backoff at once.
        self._close_event = threading.Event()
        self._reopen = reopen
        self._connect_timeout = connect_timeout
        # Reconnect attempts and backoff, counted until a session stays healthy.
        self._budget = ReconnectBudget()
        self._previous_session_id: Optional[str] = None
        self._handshake_deadline: Optional[float] = None
        self._pending_failure: Optional[KernlRealtimeError] = None
        # True once the current socket delivered the server's close frame.
        self._closed_by_server = False

        self._handshake_done = threading.Event()
        self._handshake_error: Optional[KernlRealtimeError] = None

        self._muted = False

        # Guards the session core: the reader feeds it events, interrupt() runs anywhere.
        self._interrupt_lock = threading.Lock()
        self._core = SessionCore(codec.output_format, codec.session_config)
        # Set when the codec asked to move to a new socket (Gemini goAway) and it is safe now.
        self._switching = False
        # True while a reconnect continues the same server session (a resumption handle).
        self._resuming = False
        # Clear while reconnecting; senders of a resuming reconnect wait on it (bounded).
        self._not_reconnecting = threading.Event()
        self._not_reconnecting.set()
        self._barge_in_hook: Optional[Callable[[], Optional[float]]] = None

        # Delivery routing (see the module docstring): _route_lock guards the decisions.
        self._route_lock = threading.Lock()
        self._pull_state = {True: _PULL_ON, False: _PULL_OFF}.get(settings.pull, _PULL_HOLD)  # type: ignore[arg-type]
        self._pull_used = False
        self._queue: BoundedQueue[Any] = BoundedQueue(settings.max_queue)
        self._dispatcher = Dispatcher(
            f"kernl-realtime-{provider}-dispatcher-{self._id}",
            settings.max_queue,
            f"{provider}#{self._id}",
            self._pull_raises_errors,
            # pull=True: callbacks see events from their registration on; otherwise
            # what arrives before the first on() is held for it.
            hold=settings.pull is not True,
        )
        self._stall = StallTracker()
        # The websocket a reconnect is opening, so that close() can abort it.
        self._connecting_ws: Optional[Any] = None  # a websocket-client WebSocket
        # Closes the connection if the object connect() returned is dropped unclosed.
        self._finalizer: Optional[weakref.finalize] = None
        self._stats = StatsRecorder()
        self._recorder: Optional[Recorder] = None

        self._tick = settings.tick
        self._pings = PingPong(settings.keepalive, write_lock, lambda: self._close_sent, time.monotonic())
        self._next_keepalive_check = 0.0
        # Frames read while delivery waited for queue space (see _read_ahead), in order;
        # their auto-replies were already sent.
        self._ahead: Deque[Tuple[int, Any]] = deque()
        # Frames of the current socket read but not yet handled, oldest first.
        self._pending: Deque[Tuple[int, Any]] = deque()
        self._init_leading()
        self._dispatcher.await_item = self._await_item  # a callback-only connection: the dispatcher reads

        self._reader = threading.Thread(
            target=self._run_reader,
            name=f"kernl-realtime-{provider}-reader-{self._id}",
            # Daemon: a forgotten close() must not keep the interpreter alive.
            daemon=True,
        )

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        provider: str,
        request: HandshakeRequest,
        codec: ProviderCodec,
        options: RealtimeConnectOptions,
        timeout: float,
        reopen: Optional[Reopen] = None,
        model: str = "",
    ) -> "RealtimeConnection":
        """Open the socket, run the handshake and return a confirmed connection.

        Used by :meth:`RealtimeModel.connect`; blocks the calling thread.

        Raises:
            ConnectError, ConnectTimeout, AuthenticationError, ServerError: see ``connect()``.
        """
        abort = options.abort
        if abort is not None and abort.is_set():
            raise ConnectError("connect() was aborted before it started")
        settings = ConnectionSettings.from_options(options)
        deadline = Deadline(timeout)
        write_lock = threading.RLock()
        recorder = _open_recorder(options, provider, model, request, codec)
        waker = Waker()
        try:
            ws = open_websocket(
                request,
                timeout,
                max_frame_size=settings.max_frame_size,
                write_lock=write_lock,
                tick=settings.tick,
                io_timeout=settings.send_timeout,
                waker=waker,
            )
        except BaseException as exc:
            waker.close()
            if recorder is not None:
                recorder.finish("error", 1006, f"connect failed ({exc.__class__.__name__})")
            raise
        connection = cls(
            provider=provider,
            codec=codec,
            ws=ws,
            waker=waker,
            write_lock=write_lock,
            settings=settings,
            reopen=reopen,
            connect_timeout=timeout,
        )
        if recorder is not None:
            connection._attach_recorder(recorder)
        for name, callback in (options.callbacks or {}).items():
            connection.on(name, callback)
        connection._reader.start()
        try:
            try:
                for event in codec.opening_events():
                    connection._send_event(event)
            except ConnectionClosed:
                pass  # the server closed first: the handshake below reports its reason
            connection._await_handshake(deadline, abort)
        except BaseException:
            connection._abandon()
            raise
        return connection._public_handle()

    def _public_handle(self) -> "RealtimeConnection":
        """The object ``connect()`` returns: it shares this connection's state (the same
        ``__dict__``) but nothing the connection's threads hold refers to it, so when the
        user drops it without ``close()`` (a notebook cell run again) a finalizer notices,
        warns with a ``ResourceWarning`` and closes the connection, and threads and
        sockets do not pile up. The threads and every bound method stored in the state
        belong to ``self``, the inner object.
        """
        public: RealtimeConnection = object.__new__(type(self))
        public.__dict__ = self.__dict__
        finalizer = weakref.finalize(public, _close_dropped, self)
        finalizer.atexit = False  # at exit the daemon threads just stop; never delay it
        self._finalizer = finalizer
        return public

    def _attach_recorder(self, recorder: Recorder) -> None:
        self._recorder = recorder
        recorder.start(
            f"kernl-realtime-{self._provider}-recorder-{self._id}",
            lambda error: self._notify("recording", (error,)),
        )

    def _await_handshake(self, deadline: Deadline, abort: Optional[threading.Event]) -> None:
        # An abort Event cannot be waited on together with ours, so wait in short slices.
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise ConnectTimeout(
                    f"{self._provider} did not confirm the session in time "
                    "(no session.created/session.updated before the connect timeout)"
                )
            slice_ = remaining if abort is None else min(remaining, 0.05)
            if self._handshake_done.wait(slice_):
                break
            if abort is not None and abort.is_set():
                raise ConnectError("connect() was aborted during the handshake")
        if self._handshake_error is not None:
            raise self._handshake_error
        with self._state_lock:
            # RECONNECTING: the session was confirmed, then dropped before connect()
            # returned; the reconnect is under way and the user hears of it as usual.
            if self._state is not _State.OPEN and self._state is not _State.RECONNECTING:
                info = self._close_info
                if info is not None and isinstance(info.error, (ServerError, APIStatusError)):
                    raise info.error  # the provider's own reason, e.g. Gemini's 1007 setup rejection
                detail = f" (code {info.code}: {info.reason})" if info is not None else ""
                raise ConnectError(f"{self._provider} closed the connection during the handshake{detail}")

    def _abandon(self) -> None:
        """Tear down a connection whose connect() failed; leaves no thread or socket."""
        with self._state_lock:
            self._close_requested = True
            if self._state is not _State.CLOSED:
                self._state = _State.CLOSING
        self._abort_socket()
        if self._reader.ident is not None:
            self._reader.join(5.0)
        else:
            self._waker.close()  # the reader closes it when it ends
        self._finish(1006, "connect() failed", None)
        self._dispatcher.join(1.0)

    # -- public state -------------------------------------------------------------------

    @property
    def id(self) -> int:
        """Process-unique connection number (used in thread names and logs)."""
        return self._id

    @property
    def provider(self) -> str:
        """Provider id, e.g. ``"openai"``."""
        return self._provider

    @property
    def status(self) -> TransportStatus:
        """``connecting`` → ``connected`` → ``closed`` (stays ``connected`` while closing)."""
        state = self._state
        if state is _State.CONNECTING:
            return TransportStatus.CONNECTING
        if state is _State.CLOSED:
            return TransportStatus.CLOSED
        if state is _State.RECONNECTING:
            return TransportStatus.RECONNECTING
        return TransportStatus.CONNECTED

    @property
    def resumes_after_tool_result(self) -> bool:
        """True if the model continues by itself after a tool result (no ``response.create`` needed)."""
        return bool(getattr(self._codec, "resumes_after_tool_result", False))

    @property
    def muted(self) -> bool:
        """True while input audio (``audio.input.append``) is held back locally."""
        return self._muted

    @property
    def session_id(self) -> Optional[str]:
        """The provider's session id, from ``session.created``."""
        return self._core.session_id

    @property
    def session(self) -> Optional[SessionInfo]:
        """The latest session info reported by the server (``session.created/updated``)."""
        return self._core.session

    @property
    def input_format(self) -> Optional[AudioFormat]:
        """Format of the audio to send (``audio.input.append``), when the provider fixes it."""
        return self._codec.input_format

    @property
    def output_format(self) -> Optional[AudioFormat]:
        """Format of the audio the model sends (``audio.output.delta``), when known."""
        return self._codec.output_format

    @property
    def resume_handle(self) -> Optional[str]:
        """The provider's newest session resumption handle (Gemini), else None.

        Store it to continue the conversation from another process with
        ``RealtimeConnectOptions(resume=SessionResumeConfig(handle=...))``.
        """
        return self._codec.resume_handle

    @property
    def close_info(self) -> Optional[CloseInfo]:
        """How the connection ended, once ``status`` is ``closed``; else None."""
        return self._close_info

    @property
    def close_code(self) -> Optional[int]:
        """WebSocket close code once closed (1006 if the connection dropped)."""
        info = self._close_info
        return info.code if info is not None else None

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason once closed."""
        info = self._close_info
        return info.reason if info is not None else None

    def stats(self) -> ConnectionStats:
        """A snapshot of traffic and queue figures; cheap, thread-safe."""
        return self._stats.snapshot(
            queue_depth=len(self._queue),
            peak_queue_depth=self._queue.peak_depth,
            blocked_seconds=self._queue.blocked_seconds + self._dispatcher.queue.blocked_seconds,
        )

    def __repr__(self) -> str:
        return (
            f"<RealtimeConnection {self._provider}#{self._id} status={self.status.value} "
            f"session_id={self._core.session_id!r}>"
        )

    # -- context manager ----------------------------------------------------------------
    # (sending: _sending.py; delivery: _delivery.py; closing: _closing.py; reader: _reader.py)

    def __enter__(self) -> "RealtimeConnection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


export_from_root(globals(), ["RealtimeConnection"])
