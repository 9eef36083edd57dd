"""The provider seam: what a provider fills in so the core can run its connections.

A provider supplies a :class:`HandshakeRequest` (where and how to connect) and a
:class:`ProviderCodec` (protocol event ⇄ wire JSON, and when the session counts as
confirmed). Providers never touch sockets, threads or queues.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from .._logging import REDACTED, redact_url
from ..exceptions import KernlRealtimeError
from ..protocol import AudioFormat, RealtimeSessionConfig, SessionUpdateEvent

__all__ = ["HandshakeRequest", "HandshakeStep", "ProviderCodec", "WireMessage", "answers_automatically"]

#: One JSON object as sent or received on the socket.
WireMessage = Dict[str, Any]


@dataclass(frozen=True)
class HandshakeRequest:
    """Everything needed to open a provider's WebSocket.

    Header values and subprotocols may carry secrets; ``repr()`` hides them and the
    URL's query string.

    Attributes:
        url: ``ws://`` or ``wss://`` URL.
        headers: Extra HTTP headers for the upgrade request.
        subprotocols: WebSocket subprotocols to offer.
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: Sequence[str] = ()

    def __repr__(self) -> str:
        headers = {name: REDACTED for name in self.headers}
        protocols = [p.split(".", 1)[0] + ("." + REDACTED if "." in p else "") for p in self.subprotocols]
        return f"HandshakeRequest(url={redact_url(self.url)!r}, headers={headers!r}, subprotocols={protocols!r})"


@dataclass(frozen=True)
class HandshakeStep:
    """What the core should do after a server event arrives during ``connect()``.

    Attributes:
        send: Client events to send now.
        done: True when the session is confirmed and ``connect()`` may return.
    """

    send: Tuple[Any, ...] = ()
    done: bool = False


def answers_automatically(codec: "ProviderCodec") -> bool:
    """True when ``codec`` overrides :meth:`ProviderCodec.auto_reply` (ElevenLabs' pongs):
    its peer expects answers that must not wait for a consumer."""
    return type(codec).auto_reply is not ProviderCodec.auto_reply


_CONTINUE = HandshakeStep()
_DONE = HandshakeStep(done=True)


class ProviderCodec(ABC):
    """Translates between protocol events and one provider's wire messages.

    One codec instance serves one connection, so it may keep per-connection state.
    Thread contract: ``decode``, ``handshake_step``, ``auto_reply``, ``poll`` and
    ``close_error`` run on one thread at a time, the one that holds the connection's
    socket: the reader thread, or a consumer reading in its place (a thread waiting in
    ``recv()``/iteration, or the callback dispatcher) while the reader is parked; the
    hand-over between them is under a lock, so state they keep needs no lock of its
    own. ``encode`` runs on whichever thread calls ``send()`` and must not touch state
    that ``decode`` mutates.
    """

    provider: ClassVar[str] = ""

    #: True when the provider sends JSON in binary frames too (Gemini Live): they are
    #: then decoded like text frames. Otherwise a binary frame is reported as a
    #: :class:`~kernl_realtime.ProtocolError` and skipped.
    accepts_binary: ClassVar[bool] = False

    #: True when the model continues by itself after a tool result (Gemini, ElevenLabs): the agent
    #: layer then sends no ``response.create`` after ``tool.result``.
    resumes_after_tool_result: ClassVar[bool] = False

    def __init__(self, session_config: Optional[RealtimeSessionConfig] = None) -> None:
        self.session_config = session_config
        self._update_sent = False

    @property
    def input_format(self) -> Optional[AudioFormat]:
        """Format of the audio the client sends (known after the handshake); default: the config's."""
        audio = self.session_config.audio if self.session_config is not None else None
        return audio.input_format if audio is not None else None

    @property
    def output_format(self) -> Optional[AudioFormat]:
        """Format of the audio the model sends (known after the handshake); default: the config's."""
        audio = self.session_config.audio if self.session_config is not None else None
        return audio.output_format if audio is not None else None

    @property
    def resume_handle(self) -> Optional[str]:
        """A handle that lets a new socket continue this session (Gemini); None: no resumption.

        Read by the core on the reader thread when it reconnects: a non-None handle is
        passed to the model's ``reopen`` and the reconnect keeps the conversation.
        """
        return None

    @property
    def wants_reconnect(self) -> bool:
        """True once the server announced the end of this socket (Gemini ``goAway``) and a
        :attr:`resume_handle` can continue the session on a new one. The core then
        switches sockets as soon as :attr:`idle` is true (or when the server closes),
        whatever the reconnect policy."""
        return False

    @property
    def idle(self) -> bool:
        """True when nothing is in flight, so switching sockets now loses nothing."""
        return True

    def abandon_in_flight(self) -> Sequence[Any]:
        """Events that end what was in flight when the socket was lost.

        Called on the reader thread before a reconnect, so that a response that will
        never finish still gets its ``response.done`` (and pending tool calls their
        ``tool.cancelled``) instead of leaving waiters hanging. Default: nothing.
        """
        return ()

    @abstractmethod
    def encode(self, event: Any) -> Sequence[WireMessage]:
        """Return the wire messages for a client event (usually exactly one).

        Raises:
            UnsupportedEventError: The provider has no wire form for this event.
        """

    @abstractmethod
    def decode(self, message: WireMessage) -> Sequence[Any]:
        """Return the protocol events for one wire message.

        Every message yields at least one event: messages without a protocol
        equivalent become :class:`~kernl_realtime.protocol.UnknownEvent`.
        """

    def opening_events(self) -> Sequence[Any]:
        """Client events to send as soon as the socket is open (before any server event)."""
        return ()

    def handshake_step(self, event: Any) -> HandshakeStep:
        """Advance ``connect()``'s handshake with one decoded server event.

        The default suits OpenAI-style providers: wait for ``session.created``; if a
        session config was given, send it as ``session.update`` and wait for
        ``session.updated``; otherwise the session is confirmed at once.
        """
        kind = event.kind
        if kind == "session.created":
            if self.session_config is None:
                return _DONE
            if not self._update_sent:
                self._update_sent = True
                return HandshakeStep(send=(SessionUpdateEvent(config=self.session_config),))
            return _CONTINUE
        if kind == "session.updated" and (self._update_sent or self.session_config is None):
            return _DONE
        return _CONTINUE

    def auto_reply(self, message: WireMessage) -> Optional[WireMessage]:
        """The wire message to send at once in answer to ``message``, if any.

        Called by the socket's reader for every received message before it is decoded and
        delivered, and also while delivery waits for a full queue, so the answer never
        waits for user code (ElevenLabs: ``ping`` -> ``pong`` with the same ``event_id``).
        Must be fast and must not raise for any input. Default: None.
        """
        return None

    def poll(self, now: float) -> Sequence[Any]:
        """Events that time alone produces, delivered like decoded ones (default: none).

        Called by whichever thread reads the socket, about once per tick (at most a second apart) once the
        session is confirmed, with ``time.monotonic()``. ElevenLabs uses it for the end of
        an agent turn, which its wire never signals.
        """
        return ()

    def close_error(self, code: int, reason: str) -> Optional[KernlRealtimeError]:
        """Map a close frame the server sent to the error the user should see.

        Called on the reader thread when the server closes the connection. Return None
        (the default) to let the core classify the close (1000/1001 end normally, any
        other code becomes a :class:`~kernl_realtime.ConnectionClosedError`). A returned
        error ends the connection with it (``close_info.error``, initiator ``"server"``)
        and is reported to error callbacks / raised to pullers. A ``ServerError``,
        ``ProtocolError`` or ``AuthenticationError`` is final (no reconnect); other
        errors follow the close code's usual reconnect rule. E.g. Gemini's 1008 "quota
        exceeded" as a ``ServerError``.

        Args:
            code: The close code (1005 when the frame carried none).
            reason: The close reason, already validated as UTF-8.
        """
        return None
