"""RealtimeSession: an agent in a live conversation, driven from plain synchronous code."""

from __future__ import annotations

import base64
import itertools
import logging
import os
import threading
import time
import warnings
import weakref
from dataclasses import replace
from typing import Any, Callable, Iterator, List, Optional, TypeVar, Union, overload

from ..exceptions import ConfigurationError, ConnectionClosedOK, KernlRealtimeError, ReceiveTimeout, UnsupportedEventError
from ..protocol import (
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AudioInputCommitEvent,
    ClientCredential,
    InputTranscriptionConfig,
    ItemCreateEvent,
    Message,
    Modality,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    TransportStatus,
    TurnDetectionConfig,
)
from ._agent import RealtimeAgent
from ._audio import Resampler, is_pcm16, negotiated_format, pcm16_ms, pcm16_rate
from ._channel import ChannelSink, RealtimeChannel
from ._emitter import END, SessionEmitter
from ._engine import SessionEngine
from ._turns import SessionUsage, Turn, TurnBuilder

__all__ = ["RealtimeSession"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_session_ids = itertools.count(1)

_DEFAULT_TURN_DETECTION = TurnDetectionConfig(mode="server_vad")


class _Sink(ChannelSink):
    """Channel → session: resample captured audio to the provider's input rate."""

    def __init__(self, session: "RealtimeSession", channel_rate: int, provider_rate: int) -> None:
        self._session = session
        self._resampler = Resampler(channel_rate, provider_rate)
        self._lock = threading.Lock()

    def audio(self, pcm: bytes) -> None:
        with self._lock:
            converted = self._resampler.process(pcm)
        if converted:
            self._session._send_input(converted, from_channel=True)

    def commit(self) -> None:
        self._session._send_quietly(AudioInputCommitEvent())

    def interrupt(self) -> None:
        self._session.interrupt()


class RealtimeSession:
    """One live conversation of a :class:`RealtimeAgent` with a realtime model.

    ``connect()`` (or ``with``) opens the connection and returns once the server has
    confirmed the complete configuration: instructions, tools, voice, audio formats
    and turn detection. From then on the session runs the agent's tools by itself on a
    small worker pool, answers the model with their results and lets it continue,
    pipes audio between the model and the ``channel``, and handles barge-in.

    Args:
        agent: The agent (instructions, tools, voice).
        model: The :class:`~kernl_realtime.RealtimeModel` to talk to (default: ``agent.model``).
        channel: A :class:`~kernl_realtime.channels.RealtimeChannel` for audio, or None.
        context: Any object; passed to tools that take a context and to callable instructions.
        credential: A :class:`ClientCredential` to connect with instead of an API key.
        options: Connection options (keepalive, reconnect, queue sizes, ...); its
            ``session_config`` and ``pull`` are set by the session.
        turn_detection: Voice activity detection (default: server VAD).
        audio: Audio formats to request (default: the provider's own, learned from it).
        modalities: Output modalities, e.g. ``["text"]`` for a text-only assistant.
        input_transcription: Transcription of the user's audio.
        pull: Queue session events for ``recv()``/iteration (off by default, so a session
            used only through ``ask()`` or callbacks can never fill a queue).
        max_queue: Capacity of the pull queue.
        tool_timeout: Default seconds a tool may take (a tool's own ``timeout`` wins).
        tool_workers: Maximum tool calls running at once.
        connect_timeout: Seconds for the whole connect, confirmation included.
        record: Write the session's wire frames to this cassette file (shorthand for
            ``options=RealtimeConnectOptions(record=...)``; see ``kernl_realtime.testing``).

    Thread contract: every public method is thread-safe and may be called from a
    callback; callbacks run on the session's own dispatcher thread, in order.
    """

    def __init__(
        self,
        agent: RealtimeAgent,
        *,
        model: Any = None,
        channel: Optional[RealtimeChannel] = None,
        context: Any = None,
        credential: Optional[ClientCredential] = None,
        options: Optional[RealtimeConnectOptions] = None,
        turn_detection: Optional[TurnDetectionConfig] = _DEFAULT_TURN_DETECTION,
        audio: Optional[AudioConfig] = None,
        modalities: Optional[List[Modality]] = None,
        input_transcription: Optional[InputTranscriptionConfig] = None,
        pull: bool = False,
        max_queue: int = 1024,
        tool_timeout: Optional[float] = 60.0,
        tool_workers: int = 4,
        connect_timeout: float = 15.0,
        record: Union[str, "os.PathLike[str]", None] = None,
    ) -> None:
        if not isinstance(agent, RealtimeAgent):
            raise ConfigurationError(f"agent must be a RealtimeAgent, got {type(agent).__name__}", field="agent")
        self.model = model if model is not None else agent.model
        if self.model is None:
            raise ConfigurationError(
                "no model: pass RealtimeSession(agent, model=openai.realtime(...)) or RealtimeAgent(..., model=...)",
                field="model",
            )
        if not callable(getattr(self.model, "connect", None)):
            raise ConfigurationError(
                f"model must be a realtime model such as openai.realtime('gpt-realtime'), got {type(self.model).__name__}",
                field="model",
            )
        if channel is not None and not isinstance(channel, RealtimeChannel):
            raise ConfigurationError(f"channel must be a RealtimeChannel, got {type(channel).__name__}", field="channel")
        if options is not None and not isinstance(options, RealtimeConnectOptions):
            raise ConfigurationError(f"options must be RealtimeConnectOptions, got {type(options).__name__}", field="options")
        if tool_timeout is not None and (isinstance(tool_timeout, bool) or not isinstance(tool_timeout, (int, float)) or tool_timeout <= 0):
            raise ConfigurationError(f"tool_timeout must be a positive number or None, got {tool_timeout!r}", field="tool_timeout")
        if isinstance(tool_workers, bool) or not isinstance(tool_workers, int) or tool_workers < 1:
            raise ConfigurationError(f"tool_workers must be a positive int, got {tool_workers!r}", field="tool_workers")
        self.agent = agent
        self.channel = channel
        self.context = context
        self._credential = credential
        self._options = options if options is not None else RealtimeConnectOptions()
        if record is not None:
            self._options = replace(self._options, record=record)
        self._turn_detection = turn_detection
        self._audio = audio
        self._modalities = modalities
        self._input_transcription = input_transcription
        self._connect_timeout = connect_timeout
        self._number = next(_session_ids)
        stem = f"kernl-realtime-session-{self._number}"
        self._emitter = SessionEmitter(f"{stem}-callbacks", pull, max_queue)
        self._engine = SessionEngine(
            agent=agent,
            context=context,
            emitter=self._emitter,
            channel=channel,
            thread_stem=stem,
            tool_timeout=None if tool_timeout is None else float(tool_timeout),
            tool_workers=tool_workers,
        )
        self._conn: Any = None
        self._state_lock = threading.Lock()
        self._finalizer: Optional[weakref.finalize] = None
        self._state = "new"
        self.input_format: AudioFormat = AudioFormat.pcm16(24000)
        self.output_format: AudioFormat = AudioFormat.pcm16(24000)
        self.config: Optional[RealtimeSessionConfig] = None

    def __repr__(self) -> str:
        return f"<RealtimeSession #{self._number} agent={self.agent.name!r} state={self._state}>"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """The provider's session id once connected."""
        return self._conn.session_id if self._conn is not None else None

    @property
    def connection(self) -> Any:
        """The underlying :class:`~kernl_realtime.RealtimeConnection` (None before connect)."""
        return self._conn

    @property
    def status(self) -> TransportStatus:
        """``disconnected`` before connect, then the connection's status."""
        return self._conn.status if self._conn is not None else TransportStatus.DISCONNECTED

    @property
    def usage(self) -> SessionUsage:
        """Cumulative tokens and audio seconds over every response so far."""
        return self._engine.usage

    def build_config(self) -> RealtimeSessionConfig:
        """The session configuration the agent asks for (instructions evaluated now)."""
        return RealtimeSessionConfig(
            instructions=self.agent.instructions(self.context),
            tools=[t.spec() for t in self.agent.tools] or None,
            voice=self.agent.voice,
            turn_detection=self._turn_detection,
            audio=self._audio,
            modalities=self._modalities,
            input_transcription=self._input_transcription,
        )

    def connect(self) -> "RealtimeSession":
        """Open the connection; return once the server confirmed the whole configuration.

        Blocks the calling thread for at most ``connect_timeout`` seconds.

        Raises:
            ConfigurationError: A session can connect only once, or a bad config.
            ConnectError, ConnectTimeout, AuthenticationError, ServerError: see ``RealtimeModel.connect``.
        """
        with self._state_lock:
            if self._state != "new":
                raise ConfigurationError(f"this session is {self._state}; create a new RealtimeSession to connect again")
            self._state = "connecting"
        try:
            config = self.build_config()
            self.config = config
            callbacks = dict(self._options.callbacks or {})
            callbacks["*"] = self._engine.handle
            options = replace(
                self._options,
                session_config=config,
                pull=False,
                callbacks=callbacks,
                credential=self._credential if self._credential is not None else self._options.credential,
            )
            conn = self.model.connect(options, timeout=self._connect_timeout)
        except BaseException:
            with self._state_lock:
                self._state = "closed"
            self._engine.close(1.0)
            self._emitter.close()
            raise
        self._conn = conn
        self.input_format = negotiated_format(conn, "input_format", config)
        self.output_format = negotiated_format(conn, "output_format", config)
        channel = self.channel
        channel_out_rate = pcm16_rate(channel.output_format) if channel is not None else pcm16_rate(self.output_format)
        self._engine.attach(conn, pcm16_rate(self.output_format), channel_out_rate)
        # A session dropped unclosed (a notebook cell run again) must not leave its threads
        # and socket behind: the engine keeps the connection alive, so the session closes it.
        self._finalizer = weakref.finalize(self, _close_dropped_session, conn, self._engine, self._emitter)
        with self._state_lock:
            self._state = "open"
        if channel is not None:
            for name, fmt in (("input", self.input_format), ("output", self.output_format)):
                if not is_pcm16(fmt):
                    self.close()
                    raise ConfigurationError(
                        f"the provider's {name} format is {fmt.mime_type}; channels need PCM16 "
                        "(request AudioConfig with AudioFormat.pcm16(...))",
                        field="audio",
                    )
            conn.set_barge_in_hook(self._engine.on_barge_in)
            try:
                channel.start(_Sink(self, pcm16_rate(channel.input_format), pcm16_rate(self.input_format)))
            except BaseException:
                self.close()
                raise
        return self

    def __enter__(self) -> "RealtimeSession":
        if self._state == "new":
            self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the channel, close the connection, stop the tool pool; idempotent.

        Safe from any thread, including callbacks; bounded by ``timeout`` seconds.
        Tools still running after that are abandoned (their threads are daemons).
        """
        _check_timeout(timeout, allow_none=False)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._state_lock:
            if self._state in ("closing", "closed"):
                return
            self._state = "closing"
        # Wakes a connection callback blocked on a full pull queue, so the close can join it.
        self._engine.closed.set()
        if self._finalizer is not None:
            self._finalizer.detach()  # closed on purpose: no warning when dropped later
        if self.channel is not None:
            try:
                self.channel.close()
            except Exception:  # noqa: BLE001 - channel code; closing goes on
                logger.exception("channel.close() raised")
        if self._conn is not None:
            self._conn.close(timeout=max(0.0, (deadline - time.monotonic()) * 0.6))
        stuck = self._engine.close(max(0.0, (deadline - time.monotonic()) * 0.7))
        if stuck:
            logger.warning("tools still running at close (abandoned): %s", ", ".join(stuck))
        self._emitter.close()
        self._emitter.join(max(0.0, deadline - time.monotonic()))
        with self._state_lock:
            self._state = "closed"

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection has closed (either side). True if closed."""
        if self._conn is None:
            return self._state == "closed"
        return bool(self._conn.wait_closed(timeout))

    # -- sending -------------------------------------------------------------------------------

    def _require_open(self) -> Any:
        conn = self._conn
        if conn is None or self._state != "open":
            if self._state == "new":
                raise ConfigurationError("the session is not connected: call connect() or use `with RealtimeSession(...)`")
            raise ConnectionClosedOK("the session is closed")
        return conn

    def send_message(self, text: str, *, respond: bool = False) -> None:
        """Add a user text message to the conversation.

        Args:
            text: What the user says.
            respond: Also ask the model to answer now (``response.create``).
        """
        if not isinstance(text, str):
            raise ConfigurationError(f"text must be a string, got {type(text).__name__}", field="text")
        conn = self._require_open()
        conn.send(ItemCreateEvent(item=Message.user(text)))
        if respond:
            _request_response(conn)

    def send_audio(self, pcm: bytes) -> None:
        """Append user audio: PCM16 mono little-endian at ``session.input_format``'s rate."""
        if not isinstance(pcm, (bytes, bytearray, memoryview)):
            raise ConfigurationError(f"audio must be bytes of PCM16, got {type(pcm).__name__}", field="pcm")
        self._send_input(bytes(pcm), from_channel=False)

    def _send_input(self, pcm: bytes, *, from_channel: bool) -> None:
        if from_channel and self._state != "open":
            return
        conn = self._require_open()
        if not conn.muted:
            self._engine.count_input(pcm16_ms(len(pcm), pcm16_rate(self.input_format)) / 1000.0)
        try:
            conn.send(AudioInputAppendEvent(audio=base64.b64encode(pcm).decode("ascii")))
        except KernlRealtimeError as exc:
            if not from_channel:
                raise
            logger.debug("dropping channel audio: %s", exc)

    def _send_quietly(self, event: Any) -> None:
        try:
            self._require_open().send(event)
        except KernlRealtimeError as exc:
            logger.debug("channel request %s not sent: %s", event.kind, exc)

    def commit(self) -> None:
        """End the user's audio turn (manual turn detection)."""
        self._require_open().send(AudioInputCommitEvent())

    def respond(self) -> None:
        """Ask the model to answer now (``response.create``)."""
        self._require_open().send(ResponseCreateEvent())

    def interrupt(self) -> bool:
        """Stop the assistant now: flush playback, cancel the response, truncate what
        was not heard, stop waiting for running tools. True if anything was stopped."""
        if self._conn is None:
            if self.channel is not None:
                self.channel.interrupt()
            return False
        return self._engine.interrupt()

    def mute(self) -> None:
        """Stop sending input audio (dropped locally until ``unmute()``)."""
        self._require_open().mute()

    def unmute(self) -> None:
        """Resume sending input audio."""
        self._require_open().unmute()

    @property
    def muted(self) -> bool:
        """True while input audio is held back."""
        return bool(self._conn.muted) if self._conn is not None else False

    # -- one call per turn ---------------------------------------------------------------------

    def ask(self, text: str, timeout: Optional[float] = 60.0) -> Turn:
        """Say ``text`` and return the assistant's complete answer, tool calls included.

        Collects exactly this turn's output (matched by response id). Blocks the calling
        thread; Ctrl-C or the timeout cancels the response before raising.

        Raises:
            ReceiveTimeout: No complete answer within ``timeout`` (the response was cancelled).
            ServerError: The provider rejected the request.
            ConnectionClosed: The connection ended first.
            ReconnectingError: The connection was re-established on a new server session
                and this turn was lost (the session itself goes on).
        """
        if not isinstance(text, str):
            raise ConfigurationError(f"text must be a string, got {type(text).__name__}", field="text")
        _check_timeout(timeout, allow_none=True)  # before anything is sent
        conn = self._require_open()
        turn = TurnBuilder(pcm16_rate(self.output_format), user_text=text)
        self._engine.claim(turn)
        try:
            conn.send(ItemCreateEvent(item=Message.user(text)))
            _request_response(conn)
        except BaseException:
            self._engine.abandon(turn)
            raise
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            # Short slices so that Ctrl-C is seen promptly on every platform.
            while not turn.done.wait(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))):
                if deadline is not None and time.monotonic() >= deadline:
                    self._engine.abandon(turn)
                    self.interrupt()
                    raise ReceiveTimeout(f"no complete answer within {timeout:g} s; the response was cancelled")
        except KeyboardInterrupt:
            self._engine.abandon(turn)
            self.interrupt()
            raise
        if turn.error is not None:
            raise turn.error
        assert turn.turn is not None
        return turn.turn

    # -- events --------------------------------------------------------------------------------

    @overload
    def on(self, name: str) -> Callable[[F], F]: ...

    @overload
    def on(self, name: str, fn: F) -> F: ...

    def on(self, name: str, fn: Optional[F] = None) -> Any:
        """Register a callback, ``session.on("transcript", fn)`` or ``@session.on("turn")``.

        Names: ``"audio"``, ``"transcript"``, ``"text"``, ``"tool_call"``,
        ``"tool_result"``, ``"turn"``, ``"interrupted"``, ``"status"``, ``"error"``,
        ``"event"`` (every server event), a protocol event kind such as
        ``"transcript.output.delta"``, or ``"*"`` (everything as ``fn(name, *args)``).
        Callbacks run on the session's dispatcher thread in arrival order; one that
        raises is reported to ``error`` callbacks and later events still arrive.
        """
        if fn is None:
            def decorator(func: F) -> F:
                self._emitter.add(name, func, once=False)
                return func

            return decorator
        self._emitter.add(name, fn, once=False)
        return fn

    def once(self, name: str, fn: Optional[F] = None) -> Any:
        """Like :meth:`on`, removed after its first call."""
        if fn is None:
            def decorator(func: F) -> F:
                self._emitter.add(name, func, once=True)
                return func

            return decorator
        self._emitter.add(name, fn, once=True)
        return fn

    def off(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        """Unregister a callback, or with no ``fn`` every callback of ``name`` (a re-run cell)."""
        self._emitter.remove(name, fn)

    def recv(self, timeout: Optional[float] = None) -> Any:
        """The next item of the pull stream (needs ``pull=True``): server events, plus
        :class:`ToolCallRecord` (``kind == "tool_result"``) and :class:`Turn` (``kind == "turn"``).

        Raises:
            ReceiveTimeout, ConnectionClosed, ConfigurationError (pull off), or an error
            no ``error`` callback handled.
        """
        item = self._emitter.next(timeout)
        if item is END:
            raise ConnectionClosedOK("the session is closed")
        return item

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the pull stream until the session closes."""
        return self._emitter.iterate(None)

    def events(self, timeout: Optional[float] = None) -> Iterator[Any]:
        """Iterate over the pull stream; stop after ``timeout`` seconds of silence."""
        return self._emitter.iterate(timeout)


def _check_timeout(timeout: Any, allow_none: bool) -> None:
    if timeout is None and allow_none:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ConfigurationError(
            f"timeout must be a number of seconds >= 0{' or None' if allow_none else ''}, got {timeout!r}", field="timeout"
        )


def _close_dropped_session(conn: Any, engine: SessionEngine, emitter: SessionEmitter) -> None:
    """Finalizer of a session garbage-collected while open: warn, then close without waiting.

    Runs on whichever thread dropped the last reference, so it never blocks.
    """
    warnings.warn(
        "an unclosed RealtimeSession was garbage-collected; it is being closed now. Call close() "
        "(or use 'with RealtimeSession(...) as session:') when you are done with a session",
        ResourceWarning,
        stacklevel=2,
    )
    try:
        conn.close(timeout=0)
        engine.close(0.0)
        emitter.close()
    except Exception:  # noqa: BLE001 - a finalizer must not raise
        logger.debug("closing a dropped session failed", exc_info=True)


def _request_response(conn: Any) -> None:
    """Ask for an answer to the user's message, where the provider has such a request.

    An ElevenLabs agent answers every user message by itself and has no wire form for
    ``response.create``; that is not an error here.
    """
    try:
        conn.send(ResponseCreateEvent())
    except UnsupportedEventError:
        pass
