"""ElevenLabsCodec: kernl protocol events <-> the ElevenLabs Agents WebSocket messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence

from ...exceptions import UnsupportedEventError
from ...protocol import AudioFormat, RealtimeSessionConfig
from ..base import HandshakeStep, ProviderCodec, WireMessage
from ._decode import TurnDecoder
from ._initiation import build_initiation

__all__ = ["ElevenLabsCodec"]

_DONE = HandshakeStep(done=True)
_WAIT = HandshakeStep()

# Why each protocol event has no ElevenLabs wire form, for UnsupportedEventError messages.
_UNSUPPORTED = {
    "session.update": "the session config can only be given at connect time "
    "(RealtimeConnectOptions(session_config=...)); send background information as a contextual update",
    "response.create": "the agent answers by itself (after user speech, a user message or a tool result)",
    "response.cancel": "the agent is interrupted by the user's speech, server-side",
    "item.truncate": "the server tracks what was played and sends agent_response_correction",
    "item.delete": "the conversation history cannot be edited",
    "audio.input.commit": "turn-taking is server-side",
    "audio.input.clear": "turn-taking is server-side",
    "activity.start": "turn-taking is server-side",
    "activity.end": "turn-taking is server-side",
}


@dataclass(frozen=True)
class _Initiation:
    """Marker sent by the core when the socket opens: encodes to the initiation message."""

    kind: ClassVar[str] = "elevenlabs.initiation"


def _text_of(item: Any) -> Optional[str]:
    """The text of a message made only of text parts (None otherwise)."""
    texts = []
    for part in item.content:
        if part.kind != "text":
            return None
        texts.append(part.text)
    return " ".join(text for text in texts if text)


def _result_text(result: Any) -> str:
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return json.dumps(result, separators=(",", ":"), default=str)


class ElevenLabsCodec(ProviderCodec):
    """Codec for ElevenLabs Agents (``wss://api.elevenlabs.io/v1/convai/conversation``).

    Opening: the core sends ``conversation_initiation_client_data`` (built from the
    session config and ``provider_options["elevenlabs"]``) as soon as the socket opens;
    ``conversation_initiation_metadata`` confirms the session and announces the agent's
    audio formats (:attr:`input_format`, :attr:`output_format`). ``ping`` is answered with
    ``pong`` by :meth:`auto_reply` on the reader.

    Encoding: ``audio.input.append`` -> ``user_audio_chunk``; ``item.create`` of a user
    text message -> ``user_message``, of a system message -> ``contextual_update``, of a
    tool result -> ``client_tool_result``; ``tool.result`` -> ``client_tool_result``
    (``is_error`` when it carries an error); and the ElevenLabs events of
    :mod:`._events`. Anything else raises :class:`UnsupportedEventError` naming the
    provider. Decoding: see :class:`._decode.TurnDecoder`.

    Thread contract: as :class:`ProviderCodec`; encoding keeps no state.
    """

    provider = "elevenlabs"
    resumes_after_tool_result = True

    def __init__(
        self,
        session_config: Optional[RealtimeSessionConfig] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(session_config)
        # Built now so that a config ElevenLabs cannot take fails before any network I/O.
        options = options or {}
        self._initiation = build_initiation(session_config, options)
        self._decoder = TurnDecoder(session_config, float(options.get("turn_end_silence", 1.5)))

    @property
    def input_format(self) -> Optional[AudioFormat]:
        """The agent's ``user_input_audio_format`` once the handshake announced it."""
        return self._decoder.input_format

    @property
    def output_format(self) -> Optional[AudioFormat]:
        """The agent's ``agent_output_audio_format`` once the handshake announced it."""
        return self._decoder.output_format

    @property
    def idle(self) -> bool:
        """True when no agent turn is in progress."""
        return not self._decoder.turn_open

    @property
    def initiation(self) -> Dict[str, Any]:
        """The ``conversation_initiation_client_data`` message this connection sends."""
        return dict(self._initiation)

    # -- handshake ---------------------------------------------------------------------

    def opening_events(self) -> Sequence[Any]:
        """The initiation message goes first, before the server says anything."""
        return (_Initiation(),)

    def handshake_step(self, event: Any) -> HandshakeStep:
        """Done at ``session.created`` (``conversation_initiation_metadata``)."""
        return _DONE if event.kind == "session.created" else _WAIT

    def auto_reply(self, message: WireMessage) -> Optional[WireMessage]:
        """``ping`` -> ``{"type": "pong", "event_id": <the ping's>}``; a ping without an
        integer ``event_id`` gets no answer (decoding reports it)."""
        if message.get("type") != "ping":
            return None
        ping = message.get("ping_event")
        event_id = ping.get("event_id") if isinstance(ping, dict) else None
        if not isinstance(event_id, int) or isinstance(event_id, bool):
            return None
        return {"type": "pong", "event_id": event_id}

    # -- decoding ----------------------------------------------------------------------

    def decode(self, message: WireMessage) -> Sequence[Any]:
        """Protocol events for one server message (see :class:`._decode.TurnDecoder`)."""
        return self._decoder.decode(message)

    def poll(self, now: float) -> Sequence[Any]:
        """``response.done`` once the agent has been silent for ``turn_end_silence`` seconds."""
        return self._decoder.poll(now)

    # -- encoding ----------------------------------------------------------------------

    def encode(self, event: Any) -> Sequence[WireMessage]:
        """Wire messages for one client event.

        Raises:
            UnsupportedEventError: ElevenLabs agents have no wire form for the event.
        """
        kind = event.kind
        if kind == "audio.input.append":
            return ({"user_audio_chunk": event.audio},)
        if kind == "tool.result":
            return (self._tool_result(event.call_id, event.result, event.error),)
        if kind == "item.create":
            return (self._item(event.item),)
        if kind == "elevenlabs.initiation":
            return (dict(self._initiation),)
        if kind == "elevenlabs.contextual_update":
            message: Dict[str, Any] = {"type": "contextual_update", "text": event.text}
            if event.context_id is not None:
                message["context_id"] = event.context_id
            return (message,)
        if kind == "elevenlabs.user_activity":
            return ({"type": "user_activity"},)
        if kind == "elevenlabs.feedback":
            if event.score not in ("like", "dislike", None):
                raise UnsupportedEventError(
                    f"score: ElevenLabs feedback is 'like', 'dislike' or None, got {event.score!r}", field="score"
                )
            return ({"type": "feedback", "event_id": event.event_id, "score": event.score},)
        reason = _UNSUPPORTED.get(kind, "it is not part of the ElevenLabs Agents protocol")
        raise UnsupportedEventError(f"ElevenLabs agents have no wire form for {kind!r} events: {reason}", field="kind")

    @staticmethod
    def _tool_result(call_id: str, result: Any, error: Optional[str]) -> WireMessage:
        # The schema wants a string result; the error text wins, flagged with is_error.
        if error is not None:
            return {"type": "client_tool_result", "tool_call_id": call_id, "result": error, "is_error": True}
        return {"type": "client_tool_result", "tool_call_id": call_id, "result": _result_text(result), "is_error": False}

    def _item(self, item: Any) -> WireMessage:
        if item.kind == "tool.result":
            return self._tool_result(item.call_id, item.result, item.error)
        if item.kind == "message" and item.role in ("user", "system"):
            text = _text_of(item)
            if text is not None:
                if item.role == "user":
                    return {"type": "user_message", "text": text}
                return {"type": "contextual_update", "text": text}
        what = f"{item.role} messages" if item.kind == "message" else f"{item.kind!r} items"
        raise UnsupportedEventError(
            f"ElevenLabs agents take user text (user_message), system text (contextual_update) and tool "
            f"results in item.create; not {what} or non-text parts",
            field="item",
        )
