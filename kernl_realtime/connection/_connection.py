"""RealtimeConnection: one WebSocket, one reader thread, two delivery paths.

Threads (all daemon, all owned and joined by the connection, none ever joins itself):

* ``kernl-realtime-<provider>-reader-<id>``: reads frames, decodes them with the
  provider codec, updates bookkeeping and hands each event to the pull queue and
  the dispatcher queue. It also sends keepalive pings, answers server pings, echoes
  close frames and runs the reconnect loop. The only user code it runs is the
  ``on_reconnecting`` hook, while reconnecting (there is no socket to read then).
* ``kernl-realtime-<provider>-dispatcher-<id>``: started on the first ``on()``/``once()``;
  runs callbacks in arrival order.

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

    _state_lock  ->  _write_lock  ->  (websocket-client's send, which is _write_lock)
    _route_lock, _interrupt_lock, Dispatcher._lock, BoundedQueue._lock: leaves, never nested

The object ``connect()`` returns shares its state with an inner object that the
threads use (see ``_public_handle``), so dropping it unclosed is noticed and closed.

Rule: never wait on a queue, a socket read, an Event, a thread or user code while
holding any of them. The one exception is ``_write_lock``, held while a frame is
written (bounded by ``send_timeout``); it is taken with a timeout or non-blocking
(keepalive) wherever waiting could stall the reader.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Deque, Iterator, Optional, Sequence, Tuple, TypeVar, Union, overload

from ._codec import HandshakeRequest, ProviderCodec, WireMessage
from ._deadline import Deadline
from ._dispatch import Dispatcher, check_callback_name, is_error_handled
from ._excepthook import report_unhandled
from ._liveness import PingPong
from .._logging import summarize_message
from ._session import SessionCore
from ._queue import BoundedQueue, QueueClosed, QueueEmpty
from ._record import Recorder
from ._reconnect import ConnectionReconnected, ReconnectAttempt, ReconnectBudget, ReconnectHook, reconnect_wanted
from ..protocol._export import export_from_root
from ._stall import DeliveryStalled, StallTracker, warn_stalled
from ..protocol._settings import KeepAlive, ReconnectPolicy
from ._stats import ConnectionStats, StatsRecorder
from ._close import CloseInfo, classify_close, closed_error
from ._frames import OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT, FramingError, client_close_payload
from ._transport import WireSocket, open_websocket
from ..exceptions import (
    APIStatusError,
    CallbackError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectTimeout,
    FrameTooLargeError,
    KeepAliveTimeout,
    KernlRealtimeError,
    ProtocolError,
    ReceiveTimeout,
    ReconnectingError,
    SendTimeout,
    ServerError,
    TransportError,
)
from ..protocol import (
    AudioFormat,
    ClientCredential,
    ClientEvent,
    RealtimeClientEvent,
    RealtimeConnectOptions,
    RealtimeServerEvent,
    SessionInfo,
    TransportStatus,
)

__all__ = ["RealtimeConnection", "CloseInfo", "ConnectionSettings"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_connection_ids = itertools.count(1)

# How long the reader waits for the write lock to send a close frame of its own.
_CLOSE_FRAME_SECONDS = 1.0

#: ``reopen(credential, resume_handle) -> (request, codec)``: how to open a fresh socket for a reconnect.
Reopen = Callable[[Optional[ClientCredential], Optional[str]], "tuple[HandshakeRequest, ProviderCodec]"]

# Longest wait for more frames while reading ahead during backpressure (seconds).
_READ_AHEAD_WAIT = 0.05

#: Server events the session core keeps books on (the rest skip it).
_OBSERVED_KINDS = frozenset(
    {
        "audio.output.delta",
        "response.created",
        "response.done",
        "speech.started",
        "session.created",
        "session.updated",
        "response.interrupted",  # the server abandoned the response on a barge-in (Gemini)
    }
)


class _State(Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class ConnectionSettings:
    """Connection tuning taken from :class:`~kernl_realtime.RealtimeConnectOptions`.

    No defaults here on purpose: the options object is the one place that has them
    (build this with :meth:`from_options`).
    """

    max_queue: int
    pull: Optional[bool]
    keepalive: KeepAlive
    max_frame_size: Optional[int]
    send_timeout: float
    reconnect: Optional[ReconnectPolicy]
    on_reconnecting: Optional[ReconnectHook]

    @property
    def tick(self) -> float:
        """How often an idle reader wakes up to check keepalive deadlines (seconds)."""
        keepalive = self.keepalive
        if not keepalive.enabled:
            return 1.0
        return min(1.0, max(0.02, min(keepalive.interval, keepalive.timeout) / 4))

    @classmethod
    def from_options(cls, options: RealtimeConnectOptions) -> "ConnectionSettings":
        """Take the tuning fields of ``options``."""
        return cls(
            max_queue=options.max_queue,
            pull=options.pull,
            keepalive=options.keepalive,
            max_frame_size=options.max_frame_size,
            send_timeout=options.send_timeout,
            reconnect=options.reconnect,
            on_reconnecting=options.on_reconnecting,
        )


class _Raise:
    """Pull-queue item: an error to raise to a puller when no callback handles errors."""

    __slots__ = ("error",)

    def __init__(self, error: KernlRealtimeError) -> None:
        self.error = error


_END = object()


_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined] # the C scanner json.loads uses


def _parse_json(data: Union[bytes, str]) -> Any:
    """``json.loads`` for one frame, minus its per-call overhead on the common case.

    Providers send compact JSON, which the C scanner behind ``json.loads`` parses
    directly; anything unusual (surrounding whitespace, trailing data, invalid input)
    goes through ``json.loads`` itself for its exact result or error message. Decoding
    the bytes as UTF-8 validates them in C.
    """
    text = data.decode("utf-8") if type(data) is bytes else data
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def _not_a_client_event(value: Any) -> ConfigurationError:
    """The error for ``send(value)`` when ``value`` is not a client event, with the fix."""
    name = type(value).__name__
    if name in ("Message", "ToolCall", "ToolResult", "Reasoning"):
        return ConfigurationError(
            f"send() takes a client event, got a {name} (a conversation item); wrap it: "
            f"send(ItemCreateEvent(item=...)), e.g. send(ItemCreateEvent(item=Message.user('hi')))",
            field="event",
        )
    if getattr(value, "kind", None) and hasattr(value, "__dataclass_fields__"):
        return ConfigurationError(
            f"send() takes a client event, got {name}, which the server sends (it cannot be sent)", field="event"
        )
    return ConfigurationError(
        f"send() takes a protocol client event such as ItemCreateEvent or AudioInputAppendEvent, got {name}",
        field="event",
    )


def _as_protocol_error(exc: BaseException, provider: str, kind: Optional[str] = None) -> ProtocolError:
    """``exc`` (raised while handling what the peer sent) as the ProtocolError to report."""
    if isinstance(exc, ProtocolError):
        return exc
    what = f"the {kind!r} event" if kind else "a frame"
    error = ProtocolError(f"could not handle {what} from {provider}: {type(exc).__name__}: {exc}; skipped")
    error.__cause__ = exc
    return error


def _open_recorder(
    options: RealtimeConnectOptions, provider: str, model: str, request: HandshakeRequest, codec: ProviderCodec
) -> Optional[Recorder]:
    """The cassette writer for ``options.record`` (None when not recording)."""
    if options.record is None:
        return None
    return Recorder(
        options.record,
        provider=provider,
        model=model,
        request=request,
        credential=options.credential,
        session_config=codec.session_config,
        audio=options.record_audio,
    )


def _shutdown_quietly(ws: Any) -> None:
    """Shut ``ws``'s socket down (both directions) so blocked reads and writes wake up."""
    sock = getattr(ws, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close_dropped(connection: "RealtimeConnection") -> None:
    """Finalizer of a connection the user dropped without ``close()``: warn and close.

    Runs on whichever thread dropped the last reference (possibly during garbage
    collection on the reader), so it never waits: ``close(timeout=0)`` sends the close
    frame if the socket is free and shuts the socket down; the threads end by themselves.
    """
    if connection.status is TransportStatus.CLOSED:
        return
    warnings.warn(
        f"unclosed {connection!r} was garbage-collected; it is being closed now. Call close() "
        "(or use 'with model.connect() as conn:') when you are done with a connection",
        ResourceWarning,
        stacklevel=2,
    )
    try:
        connection.close(timeout=0)
        connection._abort_socket()  # also when this runs on the reader (close() then skips it)
    except Exception:  # noqa: BLE001 - a finalizer must not raise
        logger.debug("closing a dropped connection failed", exc_info=True)


class _StopReading(Exception):
    """Unwinds the reader when close() was called while it waited for queue space.

    Private control flow: raised only on the reader thread and caught by ``_run_reader``.
    """


# States of the pull path (see the delivery rule in the module docstring).
_PULL_HOLD = "hold"  # pull=None, no consumer decided yet: fed, recv() allowed
_PULL_ON = "on"  # fed; recv() allowed
_PULL_OFF = "off"  # not fed; recv() raises ConfigurationError


class _SwitchSocket(Exception):
    """Unwinds the reader to move the session to a new socket (the codec asked for it)."""


# What the decode guard lets through: the reader's own control flow and socket failures
# (an auto-reply that cannot be written), which end or switch the socket instead.
_READER_CONTROL = (_StopReading, _SwitchSocket, TransportError, OSError)


# Reconnect policy for resuming on a new socket when the user configured none.
_RESUME_POLICY = ReconnectPolicy(max_attempts=3, initial_delay=0.0, max_delay=1.0)


class RealtimeConnection:
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
        write_lock: "threading.RLock",
        settings: ConnectionSettings,
        reopen: Optional[Reopen] = None,
        connect_timeout: float,
    ) -> None:
        self._id = next(_connection_ids)
        self._provider = provider
        self._codec = codec
        self._ws = ws
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
        try:
            ws = open_websocket(
                request,
                timeout,
                max_frame_size=settings.max_frame_size,
                write_lock=write_lock,
                tick=settings.tick,
                io_timeout=settings.send_timeout,
            )
        except BaseException as exc:
            if recorder is not None:
                recorder.finish("error", 1006, f"connect failed ({exc.__class__.__name__})")
            raise
        connection = cls(
            provider=provider,
            codec=codec,
            ws=ws,
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

    # -- sending ------------------------------------------------------------------------

    def send(self, event: RealtimeClientEvent) -> None:
        """Encode a protocol client event and write it.

        Thread-safe; may be called from callbacks. While muted, ``audio.input.append``
        events are dropped locally and counted in ``stats().muted_audio_dropped``.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            UnsupportedEventError: The provider cannot express this event.
            SendTimeout: The peer stopped reading for ``send_timeout`` seconds (the
                connection is then closed).
            ReconnectingError: The connection is reconnecting to a new session. When
                it resumes the same session (Gemini's handle), send waits for the new
                socket instead, up to ``send_timeout`` seconds.
        """
        if not isinstance(event, ClientEvent):
            raise _not_a_client_event(event)
        self._dispatcher.settle()  # callbacks registered before this send are all in place
        kind = event.kind
        if kind == "audio.input.append" and self._muted:
            self._stats.muted_audio_dropped += 1
            return
        if self._state is _State.RECONNECTING and self._resuming:
            # The session survives this reconnect (a resumption handle): the event still
            # makes sense, so wait for the new socket instead of failing (bounded).
            self._not_reconnecting.wait(self._settings.send_timeout)
        if self._state is _State.RECONNECTING:
            raise ReconnectingError(
                "the connection is reconnecting; nothing is sent until the 'reconnected' notice "
                "(the new session does not know the old conversation)"
            )
        self._send_event(event)

    def _send_event(self, event: Any) -> None:
        messages = self._codec.encode(event)
        self._send_messages(messages)

    def _send_messages(self, messages: Sequence[WireMessage]) -> None:
        payloads = [json.dumps(message, separators=(",", ":")) for message in messages]
        if logger.isEnabledFor(logging.DEBUG):
            for message in messages:
                logger.debug("%s > %s", self._log_prefix, summarize_message(message))
        with self._write_lock:
            if self._close_requested or self._state is _State.CLOSED:
                raise self._closed_error()
            failure = self._pending_failure
            if failure is not None:
                raise ConnectionClosedError(f"the connection failed: {failure}", code=1006) from failure
            if self._recorder is not None:
                self._recorder.client_frames(payloads)
            try:
                for payload in payloads:
                    self._ws.send(payload)
                if self._pings.owed:
                    self._pings.write_owed(self._ws)
            except TimeoutError as exc:
                error = SendTimeout(
                    f"send did not complete within {self._settings.send_timeout:g} s: "
                    "the peer stopped reading; closing the connection"
                )
                self._fail_async(error)
                raise error from exc
            except OSError as exc:
                raise ConnectionClosedError(
                    f"could not send: the connection is broken ({exc.__class__.__name__})", code=1006
                ) from exc
            except BaseException as exc:
                # KeyboardInterrupt (a notebook's stop button) or any other exception in
                # the middle of a write may leave half a frame on the wire: the stream
                # is corrupt, so the connection fails loudly instead of sending on.
                self._fail_async(
                    ConnectionClosedError(
                        f"a send was interrupted by {exc.__class__.__name__} while writing a frame; "
                        "the WebSocket stream may hold half a frame, so the connection was closed "
                        "(open a new one)",
                        code=1006,
                        reason="send interrupted",
                    )
                )
                raise
            self._stats.record_sent(len(payloads), sum(map(len, payloads)))

    # -- mute / interrupt ---------------------------------------------------------------

    def mute(self) -> None:
        """Stop sending input audio: ``audio.input.append`` is dropped locally. Thread-safe."""
        self._muted = True

    def unmute(self) -> None:
        """Resume sending input audio. Thread-safe."""
        self._muted = False

    def interrupt(self, *, played_ms: Optional[float] = None) -> bool:
        """Stop the assistant: cancel the response in flight and truncate its audio.

        Sends ``response.cancel`` if a response is active and truncates the assistant
        audio item at the position actually played (``played_ms`` if the audio sink
        reports it, else the arrival-time estimate for the configured output format),
        then notifies ``interrupted``. With nothing active or playing, sends nothing,
        notifies nothing and returns False. Thread-safe.

        Args:
            played_ms: Milliseconds of the current item the user has heard, if known.

        Returns:
            True if something was interrupted.
        """
        return self._interrupt(played_ms=played_ms, server_cancels=False)

    def set_barge_in_hook(self, hook: Optional[Callable[[], Optional[float]]]) -> None:
        """Let the audio sink stop playback when the server hears the user start speaking.

        ``hook()`` runs on the reader thread for each ``speech.started``, before the
        connection truncates the assistant's audio: it must stop local playback at once
        (never block) and return the milliseconds of the current assistant item actually
        played, or None to use the arrival-time estimate. A raising hook is reported as a
        :class:`CallbackError` and the estimate is used. Pass None to remove it. Thread-safe.
        """
        if hook is not None and not callable(hook):
            raise ConfigurationError(f"the barge-in hook must be callable, got {type(hook).__name__}", field="hook")
        self._barge_in_hook = hook

    def _interrupt(self, *, played_ms: Optional[float], server_cancels: bool) -> bool:
        with self._interrupt_lock:
            events = self._core.interrupt(time.monotonic(), played_ms, server_cancels)
        if events is None:
            return False
        for event in events:
            try:
                self._send_event(event)
            except ConnectionClosed:
                break
            except KernlRealtimeError as exc:  # e.g. a provider without truncate
                logger.debug("%s interrupt could not send %s: %s", self._log_prefix, event.kind, exc)
        self._notify("interrupted", ())
        return True

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
        if dispatcher.submit(name, args, 0):
            return
        if threading.current_thread() is not self._reader:
            dispatcher.force_submit(name, args)
            return
        self._wait_for_space("callbacks", lambda timeout: dispatcher.submit(name, args, timeout))

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

        Thread-safe (several pullers share one stream). A provider ``error`` event, or a
        local error such as malformed JSON or an abnormal close, is *raised* here when no
        ``error``/``*`` callback is registered, so errors are never silently skipped.

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
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(remaining)
            except QueueEmpty:
                raise ReceiveTimeout(f"no event within {timeout:g} s") from None
            except QueueClosed:
                return _END
            if item is _END:
                return _END
            if type(item) is _Raise:
                if is_error_handled(self._dispatcher):
                    continue
                raise item.error
            if item.kind == "session.error" and not is_error_handled(self._dispatcher):
                raise item.error
            return item

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
                return
            if threading.current_thread() is not self._reader:
                # Only the reader waits (backpressure); e.g. an error reported from a
                # user thread's interrupt() goes in past the bound.
                queue.put_past_bound(item)
                return
            self._wait_for_space("pull", lambda timeout: queue.put(item, timeout))
        except QueueClosed:
            pass

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

    # -- closing ------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "", timeout: float = 5.0) -> None:
        """Close the connection and wait (at most ``timeout`` seconds) for it to end.

        Sends a close frame, waits for the peer's echo, and if it does not come in time
        shuts the socket down. Idempotent; safe from any thread, including callbacks
        (it never joins the thread it runs on). Pending events stay readable with
        ``recv()`` until consumed; then iteration ends.

        Args:
            code: WebSocket close code to send: 1000 (default), 1001, another code
                defined by RFC 6455 that an endpoint may send, or 3000-4999.
            reason: Close reason to send (UTF-8, cut to 123 bytes on a character
                boundary).

        Raises:
            ConfigurationError: ``code`` may not be sent by a client (e.g. 1005, 1006,
                1015, 2000) or ``reason`` is not a str.
            timeout: Upper bound for the whole call, in seconds.
        """
        client_close_payload(code, reason)  # ConfigurationError before anything changes
        deadline = Deadline(timeout)
        finalizer = self.__dict__.get("_finalizer")
        if finalizer is not None:
            finalizer.detach()  # closed on purpose: no warning when it is dropped later
        with self._state_lock:
            first = not self._close_requested and self._state is not _State.CLOSED
            self._close_requested = True
            if self._state is not _State.CLOSED:
                self._state = _State.CLOSING
        self._close_event.set()
        # A reader waiting for queue space gives up at once (and sees the close).
        self._queue.stop_waiting()
        self._dispatcher.queue.stop_waiting()
        current = threading.current_thread()
        reconnecting = self._state is _State.RECONNECTING
        if reconnecting:
            self._abort_socket()  # no session to close gracefully; stop the upgrade
        elif first:
            logger.debug("%s closing (code %d)", self._log_prefix, code)
            # Half the budget at most for the write lock: if a send is stuck on a peer
            # that does not read, the rest is needed to force the socket down and join.
            self._send_close_frame(code, reason, deadline.share(0.5))
        if current is not self._reader:
            # Leave a fifth of the budget for the forced path below.
            grace = deadline.share(0.8)
            while not self._reader_done.wait(min(0.05, grace.remaining())):
                if grace.expired():
                    break
                if self._state is _State.RECONNECTING:
                    # The upgrade's socket may have appeared since the last look.
                    self._abort_socket()
            if not self._reader_done.is_set():
                self._abort_socket()
                self._reader_done.wait(deadline.remaining())
            self._reader.join(deadline.remaining())
        self._dispatcher.join(deadline.remaining())

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection is closed (by either side or by failure).

        Scripts use this to stay alive while callbacks do the work, since the
        connection's threads are daemons. Thread-safe.

        Returns:
            True if closed, False if ``timeout`` expired first.
        """
        if threading.current_thread() is self._reader:
            return self._reader_done.is_set()
        self._dispatcher.settle()
        if not self._reader_done.wait(timeout):
            return False
        return True

    def __enter__(self) -> "RealtimeConnection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _send_close_frame(self, code: int, reason: str, deadline: Deadline) -> None:
        if not self._write_lock.acquire(timeout=deadline.remaining()):
            # A send is stuck on a peer that does not read; give up on the handshake.
            self._abort_socket()
            return
        try:
            if not self._close_sent and self._state is not _State.CLOSED:
                self._close_sent = True
                self._ws.send_close(*client_close_payload(code, reason))
        except Exception:  # noqa: BLE001 - the socket is already broken; force it down
            self._abort_socket()
        finally:
            self._write_lock.release()

    def _abort_socket(self) -> None:
        """Shut the socket down so a blocked reader or writer wakes up at once (also
        the one a reconnect is opening: its upgrade then fails at once)."""
        _shutdown_quietly(self._ws)
        connecting = self._connecting_ws
        if connecting is not None:
            _shutdown_quietly(connecting)

    def _fail_async(self, error: KernlRealtimeError) -> None:
        """Record a fatal error and make the reader end the connection with it.

        Called with ``_write_lock`` held, so it takes no other lock (the first failure
        wins; a concurrent second one is equally true).
        """
        if self._pending_failure is None:
            self._pending_failure = error
        self._abort_socket()

    def _closed_error(self) -> ConnectionClosed:
        return closed_error(self._close_info)

    # -- the reader ---------------------------------------------------------------------

    def _run_reader(self) -> None:
        code, reason, error = 1006, "connection dropped without a close frame", None
        try:
            while True:
                code, reason, error = self._read_one_socket()
                if not self._should_reconnect(code, error):
                    break
                try:
                    resumed, failure = self._reconnect(error or ConnectionClosedError(
                        f"{self._provider} closed the connection (code {code}: {reason or 'no reason'})",
                        code=code,
                        reason=reason,
                    ))
                except _StopReading:  # close() while a notice waited for queue space
                    resumed, failure = False, None
                if not resumed:
                    if failure is not None and not self._close_requested:
                        code, reason, error = 1006, f"reconnect failed: {failure}", failure
                    break
        except BaseException as exc:  # noqa: BLE001 - nothing may escape the reader thread
            code, reason, error = 1011, f"internal error in the reader: {exc!r}", ProtocolError(str(exc))
            logger.debug("%s reader failed", self._log_prefix, exc_info=True)
            report_unhandled(exc, f"{self._provider}#{self._id}", "the connection's reader thread")
        finally:
            self._finish(code, reason, error)

    def _read_one_socket(self) -> "tuple[int, str, Optional[KernlRealtimeError]]":
        """Read the current socket until it closes; return how it ended."""
        code, reason = 1006, "connection dropped without a close frame"
        error: Optional[KernlRealtimeError] = None
        try:
            code, reason = self._read_frames(self._ws)
            error = self._close_frame_error(code, reason)
        except FrameTooLargeError as exc:
            code, reason, error = 1009, str(exc), exc
            self._send_close_frame(1009, "frame too large", Deadline(_CLOSE_FRAME_SECONDS))
        except FramingError as exc:
            # RFC 6455 "fail the connection": say why in a close frame, then drop it.
            code, reason, error = exc.close_code, str(exc), exc
            self._send_close_frame(exc.close_code, "protocol error", Deadline(_CLOSE_FRAME_SECONDS))
        except KernlRealtimeError as exc:  # keepalive timeout, failed pong, reconnect handshake timeout
            code, reason, error = 1006, str(exc), exc
        except OSError as exc:
            reason = f"connection lost without a close frame ({exc.__class__.__name__})"
            error = ConnectionClosedError(f"{self._provider} {reason}; close code 1006", code=1006, reason=reason)
            error.__cause__ = exc
        except _StopReading:
            code, reason = 1000, "closed by the client"
        except _SwitchSocket:
            code, reason = 1000, "moving to a new socket to resume the session"
            self._send_close_frame(1000, "resuming elsewhere", Deadline(_CLOSE_FRAME_SECONDS))
        except Exception as exc:  # noqa: BLE001 - a bug must end the connection loudly, not silently
            logger.debug("%s reader failed unexpectedly", self._log_prefix, exc_info=True)
            report_unhandled(exc, f"{self._provider}#{self._id}", "the connection's reader thread")
            code, reason, error = 1011, f"internal error in the reader: {exc!r}", ProtocolError(str(exc))
        pending = self._pending_failure
        if pending is not None:
            self._pending_failure = None
            self._closed_by_server = False
            code, reason, error = 1006, str(pending), pending
        return code, reason, error

    def _close_frame_error(self, code: int, reason: str) -> Optional[KernlRealtimeError]:
        """The codec's error for the server's close frame (``ProviderCodec.close_error``)."""
        self._closed_by_server = True
        try:
            return self._codec.close_error(code, reason)
        except Exception as exc:  # noqa: BLE001 - a codec bug must not kill the reader
            logger.exception("%s codec.close_error raised", self._log_prefix)
            error = ProtocolError(f"could not classify the close frame (code {code}): {exc!r}")
            error.__cause__ = exc
            return error

    # -- reconnect (reader thread; its socket is dead, so it delays nothing) -------------------

    def _should_reconnect(self, code: int, error: Optional[KernlRealtimeError]) -> bool:
        if self._reopen is None or self._close_requested:
            return False
        return reconnect_wanted(
            code,
            error,
            policy=self._settings.reconnect,
            server_requested=self._switching or (self._codec.wants_reconnect and self._state is _State.OPEN),
            first_handshake=self._state is _State.CONNECTING and self._budget.attempt == 0,
        )

    def _reconnect(self, cause: KernlRealtimeError) -> "tuple[bool, Optional[KernlRealtimeError]]":
        """Try to open a new socket per the policy; True once one is open and handshaking.

        Returns:
            ``(resumed, last_error)``.
        """
        policy = self._settings.reconnect or _RESUME_POLICY
        assert self._reopen is not None
        self._switching = False
        handle = self._codec.resume_handle
        self._resuming = handle is not None
        with self._state_lock:
            if self._close_requested:
                return False, None
            first_attempt = self._state is not _State.RECONNECTING
            if first_attempt:
                self._budget.session_lost(time.monotonic(), policy)
                self._previous_session_id = self._core.session_id
                self._not_reconnecting.clear()
                self._state = _State.RECONNECTING
        if first_attempt:
            # Outside the lock: the reader may wait here for callback queue space.
            self._notify("status", (TransportStatus.RECONNECTING,))
        self._drop_socket()
        for event in self._codec.abandon_in_flight():
            self._deliver(event)
        with self._interrupt_lock:
            self._core.connection_lost()
        last_error: KernlRealtimeError = cause
        while True:
            planned = self._budget.next_attempt(policy)
            if planned is None:
                break
            attempt = ReconnectAttempt(attempt=planned[0], delay=planned[1], error=last_error)
            credential: Optional[ClientCredential] = None
            hook = self._settings.on_reconnecting
            if hook is not None:
                try:
                    decision = hook(attempt)
                except Exception as exc:  # noqa: BLE001 - user code: report and stop reconnecting
                    logger.exception("%s on_reconnecting hook raised; not reconnecting", self._log_prefix)
                    error = ReconnectingError(f"on_reconnecting raised {exc!r}; reconnect abandoned")
                    error.__cause__ = exc
                    return False, error
                if decision is False:
                    return False, last_error
                if isinstance(decision, ClientCredential):
                    credential = decision
            self._notify("reconnecting", (attempt,))
            logger.debug("%s reconnect attempt %d in %.2f s", self._log_prefix, attempt.attempt, attempt.delay)
            if self._close_event.wait(attempt.delay):
                return False, None
            try:
                request, codec = self._reopen(credential, handle)
                if self._recorder is not None:
                    self._recorder.reopened(request, credential)
                ws = open_websocket(
                    request,
                    self._connect_timeout,
                    max_frame_size=self._settings.max_frame_size,
                    write_lock=self._write_lock,
                    tick=self._tick,
                    io_timeout=self._settings.send_timeout,
                    created=self._track_connecting,
                )
            except KernlRealtimeError as exc:
                if self._close_requested:
                    return False, None  # close() aborted the upgrade
                last_error = exc
                if not exc.retriable:
                    return False, exc
                continue
            finally:
                self._connecting_ws = None
            with self._state_lock:
                if self._close_requested:
                    ws.shutdown()
                    return False, None
                with self._write_lock:
                    self._ws = ws
                    self._close_sent = False
                self._codec = codec
                self._closed_by_server = False
            self._handshake_done.clear()
            self._handshake_deadline = time.monotonic() + self._connect_timeout
            self._pings.restart(time.monotonic())
            for event in codec.opening_events():
                self._send_event(event)
            return True, None
        return False, last_error

    def _track_connecting(self, ws: Any) -> None:
        """Remember the websocket a reconnect is opening, so close() can abort it."""
        self._connecting_ws = ws
        if self._close_requested:
            _shutdown_quietly(ws)

    def _drop_socket(self) -> None:
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001 - already broken
            pass

    def _read_frames(self, ws: WireSocket) -> "tuple[int, str]":
        read = ws.read
        handle = self._handle_message
        stats = self._stats
        recorder = self._recorder
        monotonic = time.monotonic
        pending = self._pending
        pending.clear()
        self._ahead.clear()
        while True:
            if self._ahead:
                closed = self._handle_read_ahead()
                if closed is not None:
                    return closed
                continue
            pending.extend(read())
            now = monotonic()
            while pending:
                opcode, data = pending.popleft()
                if opcode == OP_TEXT:
                    stats.record_received(len(data), now)
                    if recorder is not None:
                        recorder.server_frame(data, False)
                    handle(data)
                elif opcode == OP_BINARY:
                    stats.record_received(len(data), now)
                    if recorder is not None:
                        recorder.server_frame(data, True)
                    if self._codec.accepts_binary:
                        handle(data)
                    else:
                        self._report_error(
                            ProtocolError(f"{self._provider} sent a binary frame ({len(data)} bytes); frame skipped")
                        )
                elif opcode == OP_PING:
                    self._pings.answer_ping(self._ws, data)
                elif opcode == OP_PONG:
                    self._on_pong(now)
                elif opcode == OP_CLOSE:
                    return self._on_close_frame(*data)
                else:  # OP_FAILED: a protocol violation, after every frame before it
                    assert opcode == OP_FAILED
                    raise data
            if now >= self._next_keepalive_check:
                self._check_keepalive(now)

    def _on_close_frame(self, code: int, reason: str) -> "tuple[int, str]":
        if not self._close_sent:
            # RFC 6455: echo the status code (an empty close frame is answered with 1000).
            echo = code if code != 1005 else 1000
            self._send_close_frame(echo, "", Deadline(_CLOSE_FRAME_SECONDS))
        return code, reason

    def _send_control(self, write: Callable[[], None]) -> None:
        if not self._write_lock.acquire(timeout=self._settings.send_timeout):
            raise SendTimeout("could not answer a ping: a send is stuck on a peer that does not read")
        try:
            if not self._close_sent:
                write()
        finally:
            self._write_lock.release()

    def _handle_read_ahead(self) -> "Optional[tuple[int, str]]":
        """Handle the frames :meth:`_read_ahead` kept, in order; the close, if one came."""
        ahead = self._ahead
        while ahead:
            opcode, data = ahead.popleft()
            if opcode == OP_CLOSE:
                return self._on_close_frame(*data)
            if opcode == OP_FAILED:
                raise data
            if opcode == OP_BINARY and not self._codec.accepts_binary:
                self._report_error(ProtocolError(f"{self._provider} sent a binary frame ({len(data)} bytes); frame skipped"))
            else:
                self._handle_message(data, answered=True)
        return None

    def _auto_reply(self, message: WireMessage) -> None:
        """Send the codec's immediate answer to ``message`` (ElevenLabs ping -> pong)."""
        try:
            reply = self._codec.auto_reply(message)
        except Exception:  # noqa: BLE001 - a codec bug must not kill the reader
            logger.exception("%s codec.auto_reply raised", self._log_prefix)
            return
        if reply is None:
            return
        payload = json.dumps(reply, separators=(",", ":"))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s > %s (auto reply)", self._log_prefix, summarize_message(reply))
        if self._recorder is not None:
            self._recorder.client_frames((payload,), auto=True)
        ws = self._ws
        self._send_control(lambda: ws.send(payload))
        self._stats.record_sent(1, len(payload))

    def _read_ahead(self) -> None:
        """Keep reading while delivery waits for queue space, so auto-replies still go out.

        Only for codecs with auto-replies: a provider that disconnects clients whose pongs
        are late (ElevenLabs) must be answered even while nobody consumes events. Frames
        read here are kept (at most ``max_queue``) and handled in order once delivery
        resumes; reading ahead stops at that bound (memory stays bounded) or at a close.
        """
        if type(self._codec).auto_reply is ProviderCodec.auto_reply:
            return
        ahead = self._ahead
        now = time.monotonic()
        pending = self._pending
        while pending:  # the rest of the batch the reader was handling when it blocked
            self._keep_ahead(*pending.popleft(), now)
        ws = self._ws
        tick = ws.tick
        # Take what is there without waiting a whole tick for more: the queue may free up.
        ws.tick = min(tick, _READ_AHEAD_WAIT)
        try:
            while len(ahead) < self._settings.max_queue and not (ahead and ahead[-1][0] in (OP_CLOSE, OP_FAILED)):
                frames = ws.read()
                if not frames:
                    return
                now = time.monotonic()
                for opcode, data in frames:
                    self._keep_ahead(opcode, data, now)
        finally:
            ws.tick = tick

    def _keep_ahead(self, opcode: int, data: Any, now: float) -> None:
        """Answer what must be answered now; keep data and close frames for later, in order."""
        if opcode == OP_PING:
            self._pings.answer_ping(self._ws, data)
            return
        if opcode == OP_PONG:
            self._on_pong(now)
            return
        if opcode == OP_TEXT or opcode == OP_BINARY:
            self._stats.record_received(len(data), now)
            try:
                message = _parse_json(data)
            except (ValueError, RecursionError):
                message = None  # reported when the frame is handled
            if type(message) is dict:
                self._auto_reply(message)
        elif opcode == OP_CLOSE:
            self._on_close_frame(*data)  # echoed now: the peer is waiting for it
        self._ahead.append((opcode, data))

    def _handle_message(self, data: Union[bytes, str], answered: bool = False) -> None:
        """Decode one data frame and deliver its events.

        Nothing the peer sent may raise out of here: parsing (JSON nested 100,000 deep
        makes ``json`` raise RecursionError), the DEBUG log of the frame and the codec run
        inside one guard, and any failure becomes a ``ProtocolError`` on the error path.
        The frame is skipped; the next one decodes normally. Only the reader's own control
        flow and socket failures (an auto-reply that cannot be sent) pass through.
        """
        try:
            events = self._decode_frame(data, answered)
        except _READER_CONTROL:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad frame is a protocol error, never a dead reader
            self._report_error(_as_protocol_error(exc, self._provider))
            return
        for event in events:
            self._deliver(event)
        codec = self._codec
        if codec.wants_reconnect and codec.idle and self._state is _State.OPEN and not self._close_requested:
            # Switch while nothing is in flight, before the server cuts the socket mid-turn.
            self._switching = True
            raise _SwitchSocket()

    def _decode_frame(self, data: Union[bytes, str], answered: bool = False) -> Sequence[Any]:
        try:
            message = _parse_json(data)
        except RecursionError:
            raise ProtocolError(f"{self._provider} sent JSON nested too deeply to decode; frame skipped") from None
        except ValueError as exc:  # also invalid UTF-8
            raise ProtocolError(f"{self._provider} sent a frame that is not valid JSON ({exc}); frame skipped") from None
        if type(message) is not dict:
            raise ProtocolError(f"{self._provider} sent JSON that is not an object; frame skipped")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s < %s", self._log_prefix, summarize_message(message))
        if not answered:
            self._auto_reply(message)
        wire_type = message.get("type")
        try:
            return self._codec.decode(message)
        except ProtocolError:
            raise
        except Exception as exc:  # noqa: BLE001 - a codec that trips over a value: skip the event
            # Messages without a "type" (Gemini) are named by their top-level keys.
            name = wire_type if isinstance(wire_type, str) else "/".join(str(key) for key in list(message)[:3])
            error = ProtocolError(
                f"could not decode {self._provider} event {name!r}: {type(exc).__name__}: {exc}; event skipped",
                wire_type=name,
                field=exc.field if isinstance(exc, ConfigurationError) else None,
            )
            raise error from exc

    def _run_bookkeeping(self, hook: Callable[[Any], None], event: Any) -> None:
        """Barge-in and session bookkeeping for one event, inside the same guard as decoding."""
        try:
            hook(event)
        except _READER_CONTROL:
            raise
        except Exception as exc:  # noqa: BLE001 - an odd value must not kill the reader
            self._report_error(_as_protocol_error(exc, self._provider, event.kind))

    def _deliver(self, event: Any) -> None:
        if event.kind in _OBSERVED_KINDS:
            self._run_bookkeeping(self._observe, event)
        if self._pull_state is not _PULL_OFF:
            self._put_pull(event)
        elif event.kind == "session.error" and isinstance(event.error, KernlRealtimeError):
            self._report_if_nobody_can_see(event.error)
        self._notify("event", (event,))
        if not self._handshake_done.is_set():
            # After delivery, so that notices the handshake emits follow the event.
            self._advance_handshake(event)

    def _advance_handshake(self, event: Any) -> None:
        step = SessionCore.handshake(event, self._codec)
        if step.error is not None:
            if self._state is _State.RECONNECTING:
                raise step.error  # the new session was rejected: ends this reconnect
            self._handshake_error = step.error
            self._handshake_done.set()
            return
        for client_event in step.send:
            self._send_event(client_event)
        if not step.done:
            return
        with self._state_lock:
            reconnected = self._state is _State.RECONNECTING
            if self._state in (_State.CONNECTING, _State.RECONNECTING):
                self._state = _State.OPEN
        self._not_reconnecting.set()
        self._handshake_deadline = None
        self._budget.session_confirmed(time.monotonic())
        if self._recorder is not None:
            self._recorder.negotiated(self._core.session, self._codec.input_format, self._codec.output_format)
        self._handshake_done.set()
        self._notify("status", (TransportStatus.CONNECTED,))
        if reconnected:
            notice = ConnectionReconnected(
                attempt=self._budget.attempt,
                previous_session_id=self._previous_session_id,
                session_id=self._core.session_id,
                state_lost=not self._resuming,
            )
            logger.debug("%s reconnected (conversation %s)", self._log_prefix,
                         "resumed" if self._resuming else "lost on the server side")
            self._notify("reconnected", (notice,))
            if self._pull_state is not _PULL_OFF:
                self._put_pull(notice)

    # -- bookkeeping (reader thread) ------------------------------------------------------

    def _observe(self, event: Any) -> None:
        """Feed the session core; on a barge-in, stop local playback and interrupt."""
        with self._interrupt_lock:
            barge_in = self._core.observe(event, time.monotonic())
        if barge_in is not None:  # whether the server cancels the response itself
            self._interrupt(played_ms=self._stop_local_playback(), server_cancels=barge_in)

    def _stop_local_playback(self) -> Optional[float]:
        """Run the barge-in hook: the sink stops playing and says how much was heard."""
        hook = self._barge_in_hook
        if hook is None:
            return None
        try:
            return hook()
        except Exception as exc:  # noqa: BLE001 - the audio sink's code: report, use the estimate
            logger.exception("%s barge-in hook raised", self._log_prefix)
            error = CallbackError(f"the barge-in hook raised {exc!r}", callback_name="barge_in")
            error.__cause__ = exc
            self._report_error(error)
            return None

    # -- keepalive and backpressure (reader thread) ----------------------------------------

    def _check_keepalive(self, now: float) -> None:
        """Run the periodic checks: reconnect handshake deadline, pings, dead peer."""
        self._next_keepalive_check = now + self._tick
        deadline = self._handshake_deadline
        if deadline is not None and now > deadline:
            raise ConnectTimeout(f"{self._provider} did not confirm the new session after reconnecting")
        if self._close_requested:
            return
        if self._handshake_done.is_set():
            self._poll_codec(now)
        if self._pings.check(self._ws, now):
            raise KeepAliveTimeout(
                f"{self._provider} did not answer a ping within {self._settings.keepalive.timeout:g} s; "
                "the connection is considered dead"
            )

    def _poll_codec(self, now: float) -> None:
        """Deliver the events the codec produces from the passing of time (``ProviderCodec.poll``)."""
        try:
            events = self._codec.poll(now)
        except Exception as exc:  # noqa: BLE001 - a codec bug must not kill the reader
            self._report_error(_as_protocol_error(exc, self._provider))
            return
        for event in events:
            self._deliver(event)

    def _on_pong(self, now: float) -> None:
        self._stats.last_ping_rtt = self._pings.pong_received(now)

    # -- the end ------------------------------------------------------------------------

    def _finish(self, code: int, reason: str, error: Optional[KernlRealtimeError]) -> None:
        """Record the close, release the socket and end both delivery paths. Runs once."""
        with self._state_lock:
            if self._state is _State.CLOSED:
                return
            was_connecting = self._state is _State.CONNECTING
            self._state = _State.CLOSED
            client_closed = self._close_requested
        self._not_reconnecting.set()
        info = classify_close(
            code,
            reason,
            error,
            client_closed=client_closed,
            closed_by_server=self._closed_by_server,
            provider=self._provider,
        )
        initiator, error = info.initiator, info.error
        self._close_info = info
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001
            pass
        with self._interrupt_lock:
            self._core.connection_lost()
        logger.debug("%s closed: initiator=%s code=%d", self._log_prefix, initiator, code)
        if self._recorder is not None:
            # Before the queues end, so the cassette is complete once iteration stops.
            self._recorder.finish(initiator, code, reason)
        if was_connecting:
            self._handshake_done.set()
        report = error is not None and initiator != "client"
        self._queue.close(([_Raise(error)] if report and error else []) + [_END])
        final = ([("error", (error,))] if report else []) + [("status", (TransportStatus.CLOSED,))]
        self._dispatcher.stop_with(final)
        self._reader_done.set()


export_from_root(globals(), ["RealtimeConnection"])
