"""ElevenLabs agent events (server -> client) as protocol events.

ElevenLabs has no response objects: an agent *turn* is the run of agent events sharing one
integer ``event_id`` (its ``agent_response``, its ``audio`` chunks, its
``client_tool_call``). The decoder turns that into kernl's response lifecycle:
``response.created`` at a turn's first event (``response_id`` ``"turn_<event_id>"``),
``response.done`` (completed) when the next agent turn starts, the user's final
transcript arrives, or the agent has been silent for ``turn_end_silence`` seconds (the
wire never says a turn ended; :meth:`TurnDecoder.poll` watches the clock), and
``response.interrupted`` + ``response.done`` (cancelled) on ``interruption``. A late
chunk of a turn ended by silence is still delivered under its response id, without a
second ``response.created``. Agent audio of an interrupted turn that still arrives
(``event_id`` at or below the interruption's, as elevenlabs-python drops it) is
delivered raw, never played.

Every field is type-checked before any state changes (:func:`~kernl_realtime.providers._wire.field`),
so a bad frame becomes one ``ProtocolError`` naming the field and the next one decodes.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from ...exceptions import ServerError
from ...protocol import (
    AudioConfig,
    AudioFormat,
    AudioOutputDeltaEvent,
    RealtimeSessionConfig,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseInterruptedEvent,
    ResponseStatus,
    SessionCreatedEvent,
    SessionErrorEvent,
    SessionInfo,
    TextOutputDeltaEvent,
    TextOutputEvent,
    ToolCallEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputEvent,
    UnknownEvent,
)
from .._wire import BASE64, field, optional

__all__ = ["TurnDecoder", "parse_audio_format"]

_PCM = re.compile(r"^pcm_(\d+)$")
_G711 = {"ulaw_8000": "audio/pcmu", "alaw_8000": "audio/pcma"}


def parse_audio_format(name: str) -> Optional[AudioFormat]:
    """``"pcm_16000"`` -> 16 kHz PCM16 mono; ``"ulaw_8000"`` -> G.711 µ-law; else None."""
    match = _PCM.match(name)
    if match is not None and int(match.group(1)) > 0:
        return AudioFormat.pcm16(int(match.group(1)))
    mime = _G711.get(name)
    return AudioFormat(mime, sample_rate=8000, channels=1) if mime is not None else None


def _turn_id(event_id: int) -> str:
    return f"turn_{event_id}"


_E = TypeVar("_E")


def _tag(event: _E, wire_id: Any, metadata: Optional[Dict[str, Any]] = None) -> _E:
    """``event`` with the wire ``event_id`` as its ``id`` (and provider metadata).

    Events are frozen and their trailing ``id``/``provider_metadata`` fields are not in
    their typed constructors; this is how dataclasses themselves set fields.
    """
    object.__setattr__(event, "id", str(wire_id))
    if metadata is not None:
        object.__setattr__(event, "provider_metadata", metadata)
    return event


class TurnDecoder:
    """Stateful decoding of one connection's server messages (reader thread only).

    Args:
        session_config: The config the connection was opened with (echoed, with the
            agent's real audio formats, in ``session.created``).
        turn_end_silence: Seconds without agent output after which a turn counts as ended.
    """

    def __init__(self, session_config: Optional[RealtimeSessionConfig], turn_end_silence: float = 1.5) -> None:
        self._session_config = session_config
        self._turn_end_silence = turn_end_silence
        self._last_output = 0.0  # time.monotonic() of the open turn's newest event
        self.input_format: Optional[AudioFormat] = None
        self.output_format: Optional[AudioFormat] = None
        self.conversation_id: Optional[str] = None
        self._turn: Optional[int] = None  # event_id of the open agent turn
        self._newest_turn = -1
        self._interrupted_through = -1
        self._tentative = ""  # the user's in-progress transcript so far
        self._chat_text: List[str] = []
        self._decoders: Dict[str, Callable[[Dict[str, Any]], List[Any]]] = {
            "conversation_initiation_metadata": self._metadata,
            "audio": self._audio,
            "agent_response": self._agent_response,
            "agent_chat_response_part": self._chat_part,
            "user_transcript": self._user_transcript,
            "tentative_user_transcript": self._tentative_transcript,
            "interruption": self._interruption,
            "client_tool_call": self._tool_call,
            "ping": self._ping,
            "error": self._error,
        }

    @property
    def turn_open(self) -> bool:
        """True while an agent turn has started and nothing has ended it yet."""
        return self._turn is not None

    def poll(self, now: float) -> Sequence[Any]:
        """``response.done`` for a turn whose agent has been silent long enough."""
        if self._turn is not None and now - self._last_output >= self._turn_end_silence:
            return self._close_turn(ResponseStatus.COMPLETED)
        return ()

    def decode(self, message: Dict[str, Any]) -> Sequence[Any]:
        """Protocol events for one server message (unknown types as ``UnknownEvent``)."""
        wire_type = message.get("type")
        decoder = self._decoders.get(wire_type) if isinstance(wire_type, str) else None
        if decoder is None:
            return (UnknownEvent(type=str(wire_type), data=message),)
        return decoder(message)

    # -- turns ---------------------------------------------------------------------------

    def _stale(self, event_id: int) -> bool:
        """Agent output of a turn that was interrupted or already replaced by a newer one."""
        return event_id <= self._interrupted_through or event_id < self._newest_turn

    def _enter_turn(self, event_id: int, wire_id: str) -> List[Any]:
        self._last_output = time.monotonic()
        if self._turn == event_id:
            return []
        if self._turn is None and event_id == self._newest_turn:
            return []  # a late event of a turn that silence already ended
        events = self._close_turn(ResponseStatus.COMPLETED)
        self._turn = event_id
        self._newest_turn = event_id
        self._chat_text = []
        events.append(_tag(ResponseCreatedEvent(response_id=_turn_id(event_id)), wire_id))
        return events

    def _close_turn(self, status: ResponseStatus) -> List[Any]:
        if self._turn is None:
            return []
        response_id = _turn_id(self._turn)
        self._turn = None
        return [ResponseDoneEvent(response_id=response_id, status=status)]

    # -- decoders ------------------------------------------------------------------------

    def _metadata(self, message: Dict[str, Any]) -> List[Any]:
        conversation_id = field(message, "conversation_initiation_metadata_event.conversation_id")
        output_name = field(message, "conversation_initiation_metadata_event.agent_output_audio_format")
        # The JS client falls back to pcm_16000 when the input format is absent.
        input_name = field(message, "conversation_initiation_metadata_event.user_input_audio_format", str, "pcm_16000")
        if not conversation_id:
            return [UnknownEvent(type="conversation_initiation_metadata", data=message)]
        self.conversation_id = conversation_id
        self.input_format = parse_audio_format(input_name)
        self.output_format = parse_audio_format(output_name)
        sent = self._session_config
        config = RealtimeSessionConfig(
            instructions=sent.instructions if sent is not None else None,
            voice=sent.voice if sent is not None else None,
            modalities=sent.modalities if sent is not None else None,
            audio=AudioConfig(input_format=self.input_format, output_format=self.output_format),
        )
        formats = {"user_input_audio_format": input_name, "agent_output_audio_format": output_name}
        created = SessionCreatedEvent(session=SessionInfo(id=conversation_id, config=config))
        object.__setattr__(created, "provider_metadata", {"elevenlabs": formats})
        return [created]

    def _audio(self, message: Dict[str, Any]) -> List[Any]:
        audio = field(message, "audio_event.audio_base_64", BASE64)
        event_id = field(message, "audio_event.event_id", int)
        alignment = optional(message, "audio_event.alignment", dict)
        if self._stale(event_id):
            return [UnknownEvent(type="audio", data=message)]
        events = self._enter_turn(event_id, str(event_id))
        response_id = _turn_id(event_id)
        metadata = {"elevenlabs": {"alignment": alignment}} if alignment is not None else None
        events.append(_tag(AudioOutputDeltaEvent(response_id=response_id, item_id=response_id, audio=audio), event_id, metadata))
        return events

    def _agent_response(self, message: Dict[str, Any]) -> List[Any]:
        text = field(message, "agent_response_event.agent_response")
        event_id = field(message, "agent_response_event.event_id", int)
        if self._stale(event_id):
            return [UnknownEvent(type="agent_response", data=message)]
        events = self._enter_turn(event_id, str(event_id))
        response_id = _turn_id(event_id)
        events.append(_tag(TranscriptOutputEvent(response_id=response_id, item_id=response_id, text=text), event_id))
        return events

    def _chat_part(self, message: Dict[str, Any]) -> List[Any]:
        text = field(message, "text_response_part.text", str, "")
        part_type = field(message, "text_response_part.type")
        event_id = field(message, "text_response_part.event_id", int)
        if self._stale(event_id) or part_type not in ("start", "delta", "stop"):
            return [UnknownEvent(type="agent_chat_response_part", data=message)]
        events = self._enter_turn(event_id, str(event_id))
        response_id = _turn_id(event_id)
        if part_type == "delta":
            self._chat_text.append(text)
            events.append(_tag(TextOutputDeltaEvent(response_id=response_id, item_id=response_id, delta=text), event_id))
        elif part_type == "stop":
            whole = "".join(self._chat_text)
            events.append(_tag(TextOutputEvent(response_id=response_id, item_id=response_id, text=whole), event_id))
        return events

    def _user_transcript(self, message: Dict[str, Any]) -> List[Any]:
        text = field(message, "user_transcription_event.user_transcript")
        event_id = field(message, "user_transcription_event.event_id", int)
        events = self._close_turn(ResponseStatus.COMPLETED)
        self._tentative = ""
        events.append(_tag(TranscriptInputEvent(item_id=f"user_{event_id}", text=text), event_id))
        return events

    def _tentative_transcript(self, message: Dict[str, Any]) -> List[Any]:
        text = field(message, "tentative_user_transcription_event.user_transcript")
        event_id = field(message, "tentative_user_transcription_event.event_id", int)
        previous, self._tentative = self._tentative, text
        if len(text) > len(previous) and text.startswith(previous):
            return [_tag(TranscriptInputDeltaEvent(item_id=f"user_{event_id}", delta=text[len(previous) :]), event_id)]
        # A revised hypothesis is not a delta: delivered raw (the final transcript follows).
        return [UnknownEvent(type="tentative_user_transcript", data=message)]

    def _interruption(self, message: Dict[str, Any]) -> List[Any]:
        event_id = field(message, "interruption_event.event_id", int)
        interrupted = self._turn if self._turn is not None else event_id
        self._interrupted_through = max(self._interrupted_through, event_id, interrupted)
        events: List[Any] = [_tag(ResponseInterruptedEvent(response_id=_turn_id(interrupted)), event_id)]
        events.extend(self._close_turn(ResponseStatus.CANCELLED))
        return events

    def _tool_call(self, message: Dict[str, Any]) -> List[Any]:
        name = field(message, "client_tool_call.tool_name")
        call_id = field(message, "client_tool_call.tool_call_id")
        parameters = field(message, "client_tool_call.parameters", dict)
        event_id = field(message, "client_tool_call.event_id", int)
        arguments = json.dumps(parameters, separators=(",", ":"))
        events = [] if self._stale(event_id) else self._enter_turn(event_id, str(event_id))
        events.append(_tag(ToolCallEvent(call_id=call_id, tool_id=name, arguments=arguments), event_id))
        return events

    def _ping(self, message: Dict[str, Any]) -> List[Any]:
        field(message, "ping_event.event_id", int)
        optional(message, "ping_event.ping_ms", float)
        return [UnknownEvent(type="ping", data=message)]

    def _error(self, message: Dict[str, Any]) -> List[Any]:
        code = field(message, "error_event.code", int)
        error_type = optional(message, "error_event.error_type")
        text = optional(message, "error_event.message") or optional(message, "error_event.reason")
        details: Dict[str, Any] = {"close_code": code}
        for key in ("reason", "debug_message", "details"):
            value = (message.get("error_event") or {}).get(key)
            if value is not None:
                details[key] = value
        error = ServerError(
            text or f"ElevenLabs reported an error (code {code})",
            code=error_type or str(code),
            type=error_type,
            details=details,
        )
        return [SessionErrorEvent(error=error)]
