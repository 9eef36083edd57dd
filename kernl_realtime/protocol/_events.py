"""Client and server realtime events (spec §2.5–§2.7) and the unions that type them.

What an event is (validated frozen dataclass, ``kind``, trailing ``id`` and
``provider_metadata``) is defined in :mod:`kernl_realtime.protocol._event_base`; the JSON
form in :mod:`kernl_realtime.protocol._event_json`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Union, get_args

from kernl_realtime.exceptions import ConfigurationError, ServerError
from kernl_realtime.protocol._config import (
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RealtimeUsage,
    ResponseStatus,
    SessionInfo,
)
from kernl_realtime.protocol._event_base import ClientEvent, ServerEvent, event
from kernl_realtime.protocol._items import LanguageModelItem
from kernl_realtime.protocol._validation import Base64Str

__all__ = [
    "CLIENT_EVENT_TYPES",
    "SERVER_EVENT_TYPES",
    "ActivityEndEvent",
    "ActivityStartEvent",
    "AudioInputAppendEvent",
    "AudioInputClearEvent",
    "AudioInputClearedEvent",
    "AudioInputCommitEvent",
    "AudioInputCommittedEvent",
    "AudioOutputDeltaEvent",
    "AudioOutputDoneEvent",
    "ItemCreateEvent",
    "ItemCreatedEvent",
    "ItemDeleteEvent",
    "ItemDeletedEvent",
    "ItemTruncateEvent",
    "ItemTruncatedEvent",
    "RealtimeClientEvent",
    "RealtimeServerEvent",
    "ResponseCancelEvent",
    "ResponseCreateEvent",
    "ResponseCreatedEvent",
    "ResponseDoneEvent",
    "ResponseInterruptedEvent",
    "SessionCreatedEvent",
    "SessionErrorEvent",
    "SessionUpdateEvent",
    "SessionUpdatedEvent",
    "SpeechStartedEvent",
    "SpeechStoppedEvent",
    "TextOutputDeltaEvent",
    "TextOutputEvent",
    "ToolCallEvent",
    "ToolCancelledEvent",
    "ToolDeltaEvent",
    "ToolResultEvent",
    "ToolStartEvent",
    "TranscriptInputDeltaEvent",
    "TranscriptInputEvent",
    "TranscriptOutputDeltaEvent",
    "TranscriptOutputEvent",
    "UnknownEvent",
]

def _preview(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:17] + "...")


# --------------------------------------------------------------------------- client events


@event("session.update")
class SessionUpdateEvent(ClientEvent):
    """Replace or patch the session configuration."""

    config: RealtimeSessionConfig


@event("item.create")
class ItemCreateEvent(ClientEvent):
    """Add an item to the conversation, after ``previous_item_id`` when given."""

    item: LanguageModelItem
    previous_item_id: Optional[str] = None

    def __post_init__(self) -> None:
        if isinstance(self.item, str):
            raise ConfigurationError(
                "ItemCreateEvent.item must be a conversation item, got str; "
                f"for text use ItemCreateEvent(item=Message.user({_preview(self.item)}))",
                field="item",
            )
        super().__post_init__()


@event("item.delete")
class ItemDeleteEvent(ClientEvent):
    """Remove an item from the conversation."""

    item_id: str


@event("item.truncate")
class ItemTruncateEvent(ClientEvent):
    """Cut an assistant audio item, keeping audio up to ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int


@event("audio.input.append")
class AudioInputAppendEvent(ClientEvent):
    """Append audio to the input buffer: base64 text, or ``bytes`` (``repr`` shows only its length)."""

    _elided_fields = ("audio",)

    audio: Base64Str


@event("audio.input.commit")
class AudioInputCommitEvent(ClientEvent):
    """Commit the input buffer as a user turn."""


@event("audio.input.clear")
class AudioInputClearEvent(ClientEvent):
    """Discard buffered input audio."""


@event("activity.start")
class ActivityStartEvent(ClientEvent):
    """Manual VAD: the user started speaking (no current provider supports it)."""


@event("activity.end")
class ActivityEndEvent(ClientEvent):
    """Manual VAD: the user stopped speaking (no current provider supports it)."""


@event("response.create")
class ResponseCreateEvent(ClientEvent):
    """Ask the model to respond now, optionally with per-response overrides."""

    config: Optional[RealtimeResponseConfig] = None


@event("response.cancel")
class ResponseCancelEvent(ClientEvent):
    """Cancel the in-progress response (a specific one when ``response_id`` is given)."""

    response_id: Optional[str] = None


@event("tool.result")
class ToolResultEvent(ClientEvent):
    """Answer a tool call with a result, or error text (which wins on the wire).

    ``result`` is text, or any JSON-serialisable value (encoded as JSON on the wire).
    """

    call_id: str
    result: Any = None
    error: Optional[str] = None


# --------------------------------------------------------------------------- server events


@event("session.created")
class SessionCreatedEvent(ServerEvent):
    """The session is live."""

    session: SessionInfo


@event("session.updated")
class SessionUpdatedEvent(ServerEvent):
    """The server accepted a configuration change."""

    session: SessionInfo


@event("session.error")
class SessionErrorEvent(ServerEvent):
    """The provider reported an error; the session usually stays open."""

    error: ServerError


@event("item.created")
class ItemCreatedEvent(ServerEvent):
    """An item was added to the conversation."""

    item: LanguageModelItem
    previous_item_id: Optional[str] = None


@event("item.deleted")
class ItemDeletedEvent(ServerEvent):
    """An item was removed from the conversation."""

    item_id: str


@event("item.truncated")
class ItemTruncatedEvent(ServerEvent):
    """An assistant audio item was cut at ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int


@event("audio.input.committed")
class AudioInputCommittedEvent(ServerEvent):
    """The input buffer became the user item ``item_id``."""

    item_id: str


@event("audio.input.cleared")
class AudioInputClearedEvent(ServerEvent):
    """The input buffer was cleared."""


@event("speech.started")
class SpeechStartedEvent(ServerEvent):
    """Server VAD heard speech begin at ``audio_start_ms`` into the input stream."""

    audio_start_ms: int
    item_id: str


@event("speech.stopped")
class SpeechStoppedEvent(ServerEvent):
    """Server VAD heard speech end at ``audio_end_ms`` into the input stream."""

    audio_end_ms: int
    item_id: str


@event("audio.output.delta")
class AudioOutputDeltaEvent(ServerEvent):
    """A chunk of base64-encoded model audio (``repr`` shows only its length)."""

    _elided_fields = ("audio",)

    response_id: str
    item_id: str
    audio: Base64Str


@event("audio.output.done")
class AudioOutputDoneEvent(ServerEvent):
    """The model finished the audio of an item."""

    response_id: str
    item_id: str


@event("text.output.delta")
class TextOutputDeltaEvent(ServerEvent):
    """A chunk of model text output."""

    response_id: str
    item_id: str
    delta: str


@event("text.output")
class TextOutputEvent(ServerEvent):
    """The complete text output of an item."""

    response_id: str
    item_id: str
    text: str


@event("transcript.input.delta")
class TranscriptInputDeltaEvent(ServerEvent):
    """A chunk of the user's speech transcript."""

    item_id: str
    delta: str


@event("transcript.input")
class TranscriptInputEvent(ServerEvent):
    """The final transcript of the user's speech for an item."""

    item_id: str
    text: str


@event("transcript.output.delta")
class TranscriptOutputDeltaEvent(ServerEvent):
    """A chunk of the transcript of the model's speech."""

    response_id: str
    item_id: str
    delta: str


@event("transcript.output")
class TranscriptOutputEvent(ServerEvent):
    """The final transcript of the model's speech for an item."""

    response_id: str
    item_id: str
    text: str


@event("response.created")
class ResponseCreatedEvent(ServerEvent):
    """The model started a response."""

    response_id: str


@event("response.interrupted")
class ResponseInterruptedEvent(ServerEvent):
    """A response was interrupted (no current provider produces it)."""

    response_id: str


@event("response.done")
class ResponseDoneEvent(ServerEvent):
    """A response ended with ``status``; ``usage`` when the provider reports it."""

    response_id: str
    status: ResponseStatus
    usage: Optional[RealtimeUsage] = None


@event("tool.start")
class ToolStartEvent(ServerEvent):
    """The model began streaming a call to tool ``tool_id``."""

    response_id: str
    call_id: str
    tool_id: str


@event("tool.delta")
class ToolDeltaEvent(ServerEvent):
    """A chunk of a tool call's JSON arguments."""

    call_id: str
    delta: str


@event("tool.call")
class ToolCallEvent(ServerEvent):
    """The model wants tool ``tool_id`` run with the JSON ``arguments``."""

    call_id: str
    tool_id: str
    arguments: str


@event("tool.cancelled")
class ToolCancelledEvent(ServerEvent):
    """A tool call was cancelled (no current provider produces it)."""

    call_id: str


@event("unknown")
class UnknownEvent(ServerEvent):
    """A wire event with no protocol mapping, delivered raw rather than dropped.

    Attributes:
        type: The provider's wire ``type``.
        data: The whole decoded wire message.
    """

    type: str
    data: Dict[str, Any]


RealtimeClientEvent = Union[
    SessionUpdateEvent,
    ItemCreateEvent,
    ItemDeleteEvent,
    ItemTruncateEvent,
    AudioInputAppendEvent,
    AudioInputCommitEvent,
    AudioInputClearEvent,
    ActivityStartEvent,
    ActivityEndEvent,
    ResponseCreateEvent,
    ResponseCancelEvent,
    ToolResultEvent,
]

RealtimeServerEvent = Union[
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionErrorEvent,
    ItemCreatedEvent,
    ItemDeletedEvent,
    ItemTruncatedEvent,
    AudioInputCommittedEvent,
    AudioInputClearedEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    ResponseCreatedEvent,
    ResponseInterruptedEvent,
    ResponseDoneEvent,
    ToolStartEvent,
    ToolDeltaEvent,
    ToolCallEvent,
    ToolCancelledEvent,
    UnknownEvent,
]

# Derived from the unions so a new event class cannot be typed but left undecodable.
CLIENT_EVENT_TYPES: Dict[str, type] = {cls.kind: cls for cls in get_args(RealtimeClientEvent)}
SERVER_EVENT_TYPES: Dict[str, type] = {cls.kind: cls for cls in get_args(RealtimeServerEvent)}
