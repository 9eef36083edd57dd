"""The OpenAI-style realtime wire dialect, shared by every provider that speaks it.

OpenAI Realtime (GA) and xAI's Grok voice API use the same ``"type"``-discriminated
JSON events for almost everything: audio buffers, conversation items, responses,
transcripts, tool calls and errors. This module holds that common ground once:
the event tables in both directions, the item codec, tool and audio-format
encoders, and lenient session decoding helpers. A provider subclasses
:class:`DialectCodec` and supplies only what is genuinely its own (session shape,
quirks of individual events).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._codec import ProviderCodec, WireMessage
from .exceptions import ConfigurationError, ServerError, UnsupportedEventError
from .protocol import (
    AudioFormat,
    AudioInputClearedEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    FunctionToolSpec,
    InputTranscriptionConfig,
    ItemCreatedEvent,
    ItemDeletedEvent,
    ItemTruncatedEvent,
    Message,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RealtimeUsage,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseStatus,
    SessionCreatedEvent,
    SessionErrorEvent,
    SessionInfo,
    SessionUpdatedEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolCallState,
    ToolChoice,
    ToolDeltaEvent,
    ToolResult,
    ToolStartEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    TurnDetectionConfig,
    UnknownEvent,
    VoiceConfig,
)

__all__ = [
    "DialectCodec",
    "Decoder",
    "encode_audio_format",
    "decode_audio_format",
    "encode_tools",
    "decode_tools",
    "encode_item",
    "decode_item",
    "encode_tool_output",
    "lenient",
]

logger = logging.getLogger(__name__)

#: Turns one wire message into protocol events.
Decoder = Callable[[WireMessage], Sequence[Any]]

_RESPONSE_STATUS = {
    "completed": ResponseStatus.COMPLETED,
    "cancelled": ResponseStatus.CANCELLED,
    "failed": ResponseStatus.FAILED,
    # "incomplete" ends a response early (token limit, content filter): not a success.
    "incomplete": ResponseStatus.FAILED,
    "in_progress": ResponseStatus.FAILED,
}

_TEXT_PART_TYPES = frozenset({"input_text", "output_text", "text"})
_AUDIO_PART_TYPES = frozenset({"input_audio", "output_audio", "audio"})


def lenient(build: Callable[[], Any]) -> Any:
    """Return ``build()``, or None if the server sent a value our types reject.

    Server-reported configs are informational; a value outside our validation (a
    new voice format, a new VAD type) must not make the whole event undecodable.
    """
    try:
        return build()
    except (ConfigurationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.debug("ignoring a server config value we cannot represent: %s", exc)
        return None


# -- shared encoders / decoders ------------------------------------------------------------


def encode_audio_format(audio_format: AudioFormat) -> Dict[str, Any]:
    """``AudioFormat`` → ``{"type": mime, "rate": hz}`` (rate omitted when unknown)."""
    wire: Dict[str, Any] = {"type": audio_format.mime_type}
    if audio_format.sample_rate is not None:
        wire["rate"] = audio_format.sample_rate
    return wire


def decode_audio_format(wire: Any) -> Optional[AudioFormat]:
    """``{"type": mime, "rate": hz}`` → ``AudioFormat`` (None if absent or unusable)."""
    if not isinstance(wire, dict) or not isinstance(wire.get("type"), str):
        return None
    return lenient(lambda: AudioFormat(mime_type=wire["type"], sample_rate=wire.get("rate")))


def encode_tools(tools: Sequence[Any]) -> List[Dict[str, Any]]:
    """Function tool specs → wire tools; provider-defined tools are not ours to send."""
    wire = []
    for tool in tools:
        if tool.kind != "function":
            logger.debug("not sending provider-defined tool %r: providers run those themselves", tool.name)
            continue
        entry: Dict[str, Any] = {"type": "function", "name": tool.name, "parameters": tool.parameters}
        if tool.description is not None:
            entry["description"] = tool.description
        wire.append(entry)
    return wire


def decode_tools(wire: Any) -> Optional[List[Any]]:
    """Wire tools → ``FunctionToolSpec`` list (non-function tools are skipped)."""
    if not isinstance(wire, list):
        return None
    tools = []
    for entry in wire:
        if isinstance(entry, dict) and entry.get("type") == "function":
            tool = lenient(
                lambda e=entry: FunctionToolSpec(
                    name=e["name"],
                    parameters=e.get("parameters") or {"type": "object", "properties": {}},
                    description=e.get("description"),
                )
            )
            if tool is not None:
                tools.append(tool)
    return tools


def decode_tool_choice(wire: Any) -> Optional[ToolChoice]:
    """``"auto"|"none"|"required"`` → ``ToolChoice``; other shapes → None."""
    if isinstance(wire, str):
        return lenient(lambda: ToolChoice(kind=wire))
    return None


def encode_tool_output(result: Any, error: Optional[str]) -> str:
    """The ``output`` string of a ``function_call_output`` item.

    The error wins; strings pass through; anything else is JSON-encoded (never
    ``str(obj)``); a missing result is the empty string.
    """
    if error is not None:
        return error
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return json.dumps(result, separators=(",", ":"), default=str)


def _encode_part(part: Any, role: str) -> Dict[str, Any]:
    kind = part.kind
    if kind == "text":
        return {"type": "output_text" if role == "assistant" else "input_text", "text": part.text}
    if kind == "file" and part.mime_type.startswith("audio/") and isinstance(part.data, str):
        return {"type": "input_audio", "audio": part.data}
    if kind == "data":
        return {"type": "input_text", "text": json.dumps(part.data, separators=(",", ":"), default=str)}
    raise UnsupportedEventError(
        f"message parts of kind {kind!r} ({getattr(part, 'mime_type', '')}) cannot be sent to a realtime model; "
        "send text, base64 audio, or data parts",
        field="item.content",
    )


def encode_item(item: Any) -> Dict[str, Any]:
    """Protocol conversation item → wire item."""
    kind = item.kind
    if kind == "message":
        return {"type": "message", "role": item.role, "content": [_encode_part(p, item.role) for p in item.content]}
    if kind == "tool.call":
        return {"type": "function_call", "call_id": item.call_id, "name": item.tool_id, "arguments": item.arguments}
    if kind == "tool.result":
        return {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": encode_tool_output(item.result, item.error),
        }
    raise UnsupportedEventError(f"conversation items of kind {kind!r} cannot be sent to a realtime model", field="item")


def _decode_part(part: Dict[str, Any]) -> TextPart:
    part_type = part.get("type")
    if part_type in _TEXT_PART_TYPES:
        return TextPart(text=part.get("text") or "")
    if part_type in _AUDIO_PART_TYPES:
        return TextPart(text=part.get("transcript") or "")
    return TextPart(text=part.get("text") or part.get("transcript") or "")


def decode_item(wire: Dict[str, Any]) -> Optional[Any]:
    """Wire item → protocol item, keeping the wire id; None for item types we lack."""
    item_type = wire.get("type")
    status = ToolCallState.COMPLETED if wire.get("status", "completed") == "completed" else ToolCallState.IN_PROGRESS
    if item_type == "message":
        role = wire.get("role", "assistant")
        content = [_decode_part(p) for p in wire.get("content") or [] if isinstance(p, dict)]
        if wire.get("id"):
            return Message(role=role, content=content, id=wire["id"])
        return Message(role=role, content=content)
    if item_type == "function_call":
        return ToolCall(
            call_id=wire.get("call_id", ""),
            tool_id=wire.get("name", ""),
            arguments=wire.get("arguments") or "",
            state=status,
            id=wire.get("id"),
        )
    if item_type == "function_call_output":
        return ToolResult(
            call_id=wire.get("call_id", ""),
            tool_id="",
            result=wire.get("output"),
            error=None,
            state=ToolCallState.COMPLETED,
            id=wire.get("id"),
        )
    return None


def decode_usage(wire: Any) -> Optional[RealtimeUsage]:
    """Wire usage → ``RealtimeUsage`` (None when absent or empty)."""
    if not isinstance(wire, dict) or not wire:
        return None
    return RealtimeUsage(
        input_tokens=wire.get("input_tokens"),
        output_tokens=wire.get("output_tokens"),
        total_tokens=wire.get("total_tokens"),
    )


def decode_transcription(wire: Any) -> Optional[InputTranscriptionConfig]:
    """Wire input-transcription settings → ``InputTranscriptionConfig``."""
    if not isinstance(wire, dict) or not isinstance(wire.get("model"), str):
        return None
    return lenient(
        lambda: InputTranscriptionConfig(model=wire["model"], language=wire.get("language"), prompt=wire.get("prompt"))
    )


def encode_transcription(config: InputTranscriptionConfig) -> Dict[str, Any]:
    """``InputTranscriptionConfig`` → wire ``{"model", "language"?, "prompt"?}``."""
    wire: Dict[str, Any] = {"model": config.model}
    if config.language is not None:
        wire["language"] = config.language
    if config.prompt is not None:
        wire["prompt"] = config.prompt
    return wire


_VAD_KNOBS = ("threshold", "silence_duration_ms", "prefix_padding_ms", "create_response", "interrupt_response")


def encode_server_vad(detection: TurnDetectionConfig) -> Dict[str, Any]:
    """Server-VAD settings → ``{"type": "server_vad", ...knobs that are set}``."""
    wire: Dict[str, Any] = {"type": "server_vad"}
    for knob in _VAD_KNOBS:
        value = getattr(detection, knob)
        if value is not None:
            wire[knob] = value
    return wire


def decode_turn_detection(wire: Any) -> Optional[TurnDetectionConfig]:
    """Wire turn detection → config: a ``type`` of server/semantic VAD is ``server_vad``,
    ``null`` (or a null type) is ``manual``."""
    if wire is None or (isinstance(wire, dict) and wire.get("type") in (None, "none")):
        return TurnDetectionConfig(mode="manual")
    if not isinstance(wire, dict):
        return None
    return lenient(
        lambda: TurnDetectionConfig(mode="server_vad", **{k: wire[k] for k in _VAD_KNOBS if wire.get(k) is not None})
    )


def encode_voice_id(voice: VoiceConfig) -> str:
    """The wire voice name of a ``VoiceConfig``."""
    return voice.voice_id


# -- the codec --------------------------------------------------------------------------


class DialectCodec(ProviderCodec):
    """A :class:`ProviderCodec` for OpenAI-style realtime APIs.

    Subclasses implement :meth:`encode_session`, :meth:`decode_session_config`,
    :meth:`session_id` and may extend :attr:`decoders` (per instance) or override
    :meth:`encode_response_config` for their quirks.
    """

    def __init__(self, session_config: Optional[RealtimeSessionConfig] = None) -> None:
        super().__init__(session_config)
        self.decoders: Dict[str, Decoder] = {
            "error": self._decode_error,
            "session.created": self._decode_session_created,
            "session.updated": self._decode_session_updated,
            "input_audio_buffer.committed": lambda m: (AudioInputCommittedEvent(item_id=m.get("item_id", "")),),
            "input_audio_buffer.cleared": lambda m: (AudioInputClearedEvent(),),
            "input_audio_buffer.speech_started": lambda m: (
                SpeechStartedEvent(audio_start_ms=m.get("audio_start_ms", 0), item_id=m.get("item_id", "")),
            ),
            "input_audio_buffer.speech_stopped": lambda m: (
                SpeechStoppedEvent(audio_end_ms=m.get("audio_end_ms", 0), item_id=m.get("item_id", "")),
            ),
            "conversation.item.added": self._decode_item_created,
            "conversation.item.created": self._decode_item_created,
            "conversation.item.deleted": lambda m: (ItemDeletedEvent(item_id=m["item_id"]),),
            "conversation.item.truncated": lambda m: (
                ItemTruncatedEvent(item_id=m["item_id"], audio_end_ms=m["audio_end_ms"]),
            ),
            "conversation.item.input_audio_transcription.delta": lambda m: (
                TranscriptInputDeltaEvent(item_id=m["item_id"], delta=m["delta"]),
            ),
            "conversation.item.input_audio_transcription.completed": lambda m: (
                TranscriptInputEvent(item_id=m["item_id"], text=m.get("transcript") or ""),
            ),
            "response.created": lambda m: (ResponseCreatedEvent(response_id=m["response"]["id"]),),
            "response.done": self._decode_response_done,
            "response.output_audio.delta": lambda m: (
                AudioOutputDeltaEvent(response_id=m["response_id"], item_id=m["item_id"], audio=m["delta"]),
            ),
            "response.output_audio.done": lambda m: (
                AudioOutputDoneEvent(response_id=m["response_id"], item_id=m["item_id"]),
            ),
            "response.output_audio_transcript.delta": lambda m: (
                TranscriptOutputDeltaEvent(response_id=m["response_id"], item_id=m["item_id"], delta=m["delta"]),
            ),
            "response.output_audio_transcript.done": self._decode_output_transcript_done,
            "response.output_text.delta": lambda m: (
                TextOutputDeltaEvent(response_id=m["response_id"], item_id=m["item_id"], delta=m["delta"]),
            ),
            "response.output_text.done": lambda m: (
                TextOutputEvent(response_id=m["response_id"], item_id=m["item_id"], text=m.get("text") or ""),
            ),
            "response.output_item.added": self._decode_output_item_added,
            "response.function_call_arguments.delta": lambda m: (
                ToolDeltaEvent(call_id=m["call_id"], delta=m["delta"]),
            ),
            "response.function_call_arguments.done": lambda m: (
                ToolCallEvent(call_id=m["call_id"], tool_id=m["name"], arguments=m.get("arguments") or ""),
            ),
        }
        self.current_session_id: Optional[str] = None

    # -- decoding ---------------------------------------------------------------------

    def decode(self, message: WireMessage) -> Sequence[Any]:
        """Decode one wire message; unknown types become ``UnknownEvent``."""
        message_type = message.get("type")
        decoder = self.decoders.get(message_type) if isinstance(message_type, str) else None
        if decoder is None:
            return (UnknownEvent(type=str(message_type), data=message),)
        return decoder(message)

    def _decode_error(self, message: WireMessage) -> Sequence[Any]:
        error = message.get("error") or {}
        known = {"message", "code", "type", "event_id", "param"}
        details = {k: v for k, v in error.items() if k not in known} or None
        server_error = ServerError(
            str(error.get("message") or "the provider reported an error without a message"),
            code=str(error.get("code") or error.get("type") or ""),
            type=error.get("type"),
            event_id=error.get("event_id"),
            param=error.get("param"),
            details=details,
        )
        return (SessionErrorEvent(error=server_error),)

    def _decode_session_created(self, message: WireMessage) -> Sequence[Any]:
        session = message.get("session") or {}
        session_id = self.session_id(message)
        self.current_session_id = session_id
        return (SessionCreatedEvent(session=SessionInfo(id=session_id, config=self.decode_session_config(session))),)

    def _decode_session_updated(self, message: WireMessage) -> Sequence[Any]:
        session = message.get("session") or {}
        session_id = session.get("id") or self.current_session_id or ""
        return (SessionUpdatedEvent(session=SessionInfo(id=session_id, config=self.decode_session_config(session))),)

    def _decode_item_created(self, message: WireMessage) -> Sequence[Any]:
        item = decode_item(message.get("item") or {})
        if item is None:
            return (UnknownEvent(type=message["type"], data=message),)
        return (ItemCreatedEvent(item=item, previous_item_id=message.get("previous_item_id")),)

    def _decode_response_done(self, message: WireMessage) -> Sequence[Any]:
        response = message.get("response") or {}
        status = _RESPONSE_STATUS.get(response.get("status"), ResponseStatus.FAILED)
        usage = decode_usage(response.get("usage")) or decode_usage(message.get("usage"))
        return (ResponseDoneEvent(response_id=response.get("id", ""), status=status, usage=usage),)

    def _decode_output_transcript_done(self, message: WireMessage) -> Sequence[Any]:
        return (
            TranscriptOutputEvent(
                response_id=message["response_id"], item_id=message["item_id"], text=message.get("transcript") or ""
            ),
        )

    def _decode_output_item_added(self, message: WireMessage) -> Sequence[Any]:
        item = message.get("item") or {}
        if item.get("type") == "function_call":
            return (
                ToolStartEvent(
                    response_id=message.get("response_id", ""), call_id=item.get("call_id", ""), tool_id=item.get("name", "")
                ),
            )
        return (UnknownEvent(type=message["type"], data=message),)

    def session_id(self, created_message: WireMessage) -> str:
        """The session id carried by a ``session.created``-like message."""
        return str((created_message.get("session") or {}).get("id") or "")

    def decode_session_config(self, session: Dict[str, Any]) -> RealtimeSessionConfig:
        """The provider's session object → ``RealtimeSessionConfig`` (lenient)."""
        raise NotImplementedError

    # -- encoding ---------------------------------------------------------------------

    def encode(self, event: Any) -> Sequence[WireMessage]:
        """Encode one protocol client event to wire messages."""
        kind = event.kind
        if kind == "audio.input.append":
            return ({"type": "input_audio_buffer.append", "audio": event.audio},)
        if kind == "audio.input.commit":
            return ({"type": "input_audio_buffer.commit"},)
        if kind == "audio.input.clear":
            return ({"type": "input_audio_buffer.clear"},)
        if kind == "session.update":
            return ({"type": "session.update", "session": self.encode_session(event.config)},)
        if kind == "item.create":
            message: Dict[str, Any] = {"type": "conversation.item.create", "item": encode_item(event.item)}
            if event.previous_item_id is not None:
                message["previous_item_id"] = event.previous_item_id
            return (message,)
        if kind == "item.delete":
            return ({"type": "conversation.item.delete", "item_id": event.item_id},)
        if kind == "item.truncate":
            return (
                {
                    "type": "conversation.item.truncate",
                    "item_id": event.item_id,
                    "content_index": 0,
                    "audio_end_ms": event.audio_end_ms,
                },
            )
        if kind == "response.create":
            message = {"type": "response.create"}
            if event.config is not None:
                message["response"] = self.encode_response_config(event.config)
            return (message,)
        if kind == "response.cancel":
            message = {"type": "response.cancel"}
            if event.response_id is not None:
                message["response_id"] = event.response_id
            return (message,)
        if kind == "tool.result":
            return (
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": event.call_id,
                        "output": encode_tool_output(event.result, event.error),
                    },
                },
            )
        raise UnsupportedEventError(
            f"{self.provider} has no wire form for {kind!r} events "
            "(manual activity events are for providers with client-side VAD signalling)",
            field="kind",
        )

    def encode_session(self, config: RealtimeSessionConfig) -> Dict[str, Any]:
        """``RealtimeSessionConfig`` → the provider's ``session`` object."""
        raise NotImplementedError

    def encode_response_config(self, config: RealtimeResponseConfig) -> Dict[str, Any]:
        """Per-response overrides → the provider's ``response`` object."""
        raise NotImplementedError
