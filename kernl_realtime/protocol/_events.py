"""Client and server realtime events (spec §2.5–§2.7) and their JSON form.

Events are frozen dataclasses with a ``kind`` class constant byte-identical to kernl's
protocol. Like configs they are validated on construction (precompiled per class, a few
microseconds): an event built with a wrong type fails at once, naming the field, whether
user code built it or a provider codec decoded it from what a peer sent.

Every event ends with two optional fields, ``id`` and ``provider_metadata``, appended by
the :func:`_event` decorator (Python 3.9 dataclasses cannot inherit defaulted fields
ahead of a subclass's required ones).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union, get_args

from kernl_realtime.exceptions import ConfigurationError, ProtocolError, ServerError
from kernl_realtime.protocol._config import (
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RealtimeUsage,
    ResponseStatus,
    SessionInfo,
)
from kernl_realtime.protocol._items import LanguageModelItem
from kernl_realtime.protocol._validation import (
    Base64Str,
    FieldProblem,
    Validated,
    decode_dataclass,
    encode_dataclass,
    register_json_codec,
)

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
    "ClientEvent",
    "ItemCreateEvent",
    "ItemCreatedEvent",
    "ItemDeleteEvent",
    "ItemDeletedEvent",
    "ItemTruncateEvent",
    "ItemTruncatedEvent",
    "RealtimeClientEvent",
    "RealtimeEvent",
    "RealtimeServerEvent",
    "ResponseCancelEvent",
    "ResponseCreateEvent",
    "ResponseCreatedEvent",
    "ResponseDoneEvent",
    "ResponseInterruptedEvent",
    "ServerEvent",
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
    "event_from_dict",
    "event_to_dict",
]

_E = TypeVar("_E", bound="RealtimeEvent")

if TYPE_CHECKING:
    # Tells type checkers that @_event(...) classes are frozen dataclasses, so users'
    # event constructors type-check; typing_extensions is only needed by the checker.
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_options: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator


class RealtimeEvent(Validated):
    """Base of every realtime event.

    Every field is checked against its type on construction, so an event built with
    the wrong types fails at once with a ``ConfigurationError`` naming the field
    (``ItemCreateEvent.item must be ...``). Audio fields take base64 text or ``bytes``
    (``bytes`` are base64-encoded for you).

    Attributes:
        kind: The protocol discriminator, e.g. ``"audio.output.delta"`` (a class constant).
        id: Event id, when the provider supplies one.
        provider_metadata: Provider-specific extras.
    """

    kind: ClassVar[str] = ""
    id: Optional[str]
    provider_metadata: Optional[Dict[str, Any]]
    #: Fields holding base64 audio: shown by length in ``repr``, accepted as bytes.
    _elided_fields: ClassVar[Tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._elided_fields:
            value = getattr(self, name)
            if isinstance(value, (bytes, bytearray, memoryview)):
                # Frozen: this is how dataclasses themselves set fields.
                object.__setattr__(self, name, base64.b64encode(value).decode("ascii"))
        super().__post_init__()


class ClientEvent(RealtimeEvent):
    """Base of the events a client sends to the model (see :data:`RealtimeClientEvent`)."""


class ServerEvent(RealtimeEvent):
    """Base of the events the model sends to a client (see :data:`RealtimeServerEvent`)."""


_TRAILING_FIELDS: Dict[str, Any] = {
    "id": Optional[str],
    "provider_metadata": Optional[Dict[str, Any]],
}


def _preview(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:17] + "...")


def _elided_repr(elided: Tuple[str, ...]) -> Callable[[Any], str]:
    """A dataclass-style ``__repr__`` that shows only the length of the ``elided`` fields.

    Audio payloads are user speech: they must not spill into log lines and tracebacks.
    """

    def __repr__(self: Any) -> str:
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in elided and isinstance(value, str):
                parts.append(f"{item.name}=<{len(value)} chars base64>")
            else:
                parts.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    return __repr__


@dataclass_transform(frozen_default=True)
def _event(kind: str) -> Callable[[Type[_E]], Type[_E]]:
    """Make ``cls`` a frozen event dataclass with ``kind`` and the trailing optional base fields."""

    def build(cls: Type[_E]) -> Type[_E]:
        # cls.__dict__, not cls.__annotations__: on Python 3.9 a class without annotations
        # of its own would hand back (and we would mutate) its base class's dict.
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        annotations.update(_TRAILING_FIELDS)
        cls.__annotations__ = annotations
        for name in _TRAILING_FIELDS:
            # Metadata, not content: two events saying the same thing compare equal.
            setattr(cls, name, field(default=None, compare=False))
        cls.kind = kind
        elided = cls._elided_fields
        built = dataclass(frozen=True, repr=not elided)(cls)
        if elided:
            built.__repr__ = _elided_repr(elided)  # type: ignore[assignment]
        return built

    return build


# --------------------------------------------------------------------------- client events


@_event("session.update")
class SessionUpdateEvent(ClientEvent):
    """Replace or patch the session configuration."""

    config: RealtimeSessionConfig


@_event("item.create")
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


@_event("item.delete")
class ItemDeleteEvent(ClientEvent):
    """Remove an item from the conversation."""

    item_id: str


@_event("item.truncate")
class ItemTruncateEvent(ClientEvent):
    """Cut an assistant audio item, keeping audio up to ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int


@_event("audio.input.append")
class AudioInputAppendEvent(ClientEvent):
    """Append audio to the input buffer: base64 text, or ``bytes`` (``repr`` shows only its length)."""

    _elided_fields = ("audio",)

    audio: Base64Str


@_event("audio.input.commit")
class AudioInputCommitEvent(ClientEvent):
    """Commit the input buffer as a user turn."""


@_event("audio.input.clear")
class AudioInputClearEvent(ClientEvent):
    """Discard buffered input audio."""


@_event("activity.start")
class ActivityStartEvent(ClientEvent):
    """Manual VAD: the user started speaking (no current provider supports it)."""


@_event("activity.end")
class ActivityEndEvent(ClientEvent):
    """Manual VAD: the user stopped speaking (no current provider supports it)."""


@_event("response.create")
class ResponseCreateEvent(ClientEvent):
    """Ask the model to respond now, optionally with per-response overrides."""

    config: Optional[RealtimeResponseConfig] = None


@_event("response.cancel")
class ResponseCancelEvent(ClientEvent):
    """Cancel the in-progress response (a specific one when ``response_id`` is given)."""

    response_id: Optional[str] = None


@_event("tool.result")
class ToolResultEvent(ClientEvent):
    """Answer a tool call with a result, or error text (which wins on the wire).

    ``result`` is text, or any JSON-serialisable value (encoded as JSON on the wire).
    """

    call_id: str
    result: Any = None
    error: Optional[str] = None


# --------------------------------------------------------------------------- server events


@_event("session.created")
class SessionCreatedEvent(ServerEvent):
    """The session is live."""

    session: SessionInfo


@_event("session.updated")
class SessionUpdatedEvent(ServerEvent):
    """The server accepted a configuration change."""

    session: SessionInfo


@_event("session.error")
class SessionErrorEvent(ServerEvent):
    """The provider reported an error; the session usually stays open."""

    error: ServerError


@_event("item.created")
class ItemCreatedEvent(ServerEvent):
    """An item was added to the conversation."""

    item: LanguageModelItem
    previous_item_id: Optional[str] = None


@_event("item.deleted")
class ItemDeletedEvent(ServerEvent):
    """An item was removed from the conversation."""

    item_id: str


@_event("item.truncated")
class ItemTruncatedEvent(ServerEvent):
    """An assistant audio item was cut at ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int


@_event("audio.input.committed")
class AudioInputCommittedEvent(ServerEvent):
    """The input buffer became the user item ``item_id``."""

    item_id: str


@_event("audio.input.cleared")
class AudioInputClearedEvent(ServerEvent):
    """The input buffer was cleared."""


@_event("speech.started")
class SpeechStartedEvent(ServerEvent):
    """Server VAD heard speech begin at ``audio_start_ms`` into the input stream."""

    audio_start_ms: int
    item_id: str


@_event("speech.stopped")
class SpeechStoppedEvent(ServerEvent):
    """Server VAD heard speech end at ``audio_end_ms`` into the input stream."""

    audio_end_ms: int
    item_id: str


@_event("audio.output.delta")
class AudioOutputDeltaEvent(ServerEvent):
    """A chunk of base64-encoded model audio (``repr`` shows only its length)."""

    _elided_fields = ("audio",)

    response_id: str
    item_id: str
    audio: Base64Str


@_event("audio.output.done")
class AudioOutputDoneEvent(ServerEvent):
    """The model finished the audio of an item."""

    response_id: str
    item_id: str


@_event("text.output.delta")
class TextOutputDeltaEvent(ServerEvent):
    """A chunk of model text output."""

    response_id: str
    item_id: str
    delta: str


@_event("text.output")
class TextOutputEvent(ServerEvent):
    """The complete text output of an item."""

    response_id: str
    item_id: str
    text: str


@_event("transcript.input.delta")
class TranscriptInputDeltaEvent(ServerEvent):
    """A chunk of the user's speech transcript."""

    item_id: str
    delta: str


@_event("transcript.input")
class TranscriptInputEvent(ServerEvent):
    """The final transcript of the user's speech for an item."""

    item_id: str
    text: str


@_event("transcript.output.delta")
class TranscriptOutputDeltaEvent(ServerEvent):
    """A chunk of the transcript of the model's speech."""

    response_id: str
    item_id: str
    delta: str


@_event("transcript.output")
class TranscriptOutputEvent(ServerEvent):
    """The final transcript of the model's speech for an item."""

    response_id: str
    item_id: str
    text: str


@_event("response.created")
class ResponseCreatedEvent(ServerEvent):
    """The model started a response."""

    response_id: str


@_event("response.interrupted")
class ResponseInterruptedEvent(ServerEvent):
    """A response was interrupted (no current provider produces it)."""

    response_id: str


@_event("response.done")
class ResponseDoneEvent(ServerEvent):
    """A response ended with ``status``; ``usage`` when the provider reports it."""

    response_id: str
    status: ResponseStatus
    usage: Optional[RealtimeUsage] = None


@_event("tool.start")
class ToolStartEvent(ServerEvent):
    """The model began streaming a call to tool ``tool_id``."""

    response_id: str
    call_id: str
    tool_id: str


@_event("tool.delta")
class ToolDeltaEvent(ServerEvent):
    """A chunk of a tool call's JSON arguments."""

    call_id: str
    delta: str


@_event("tool.call")
class ToolCallEvent(ServerEvent):
    """The model wants tool ``tool_id`` run with the JSON ``arguments``."""

    call_id: str
    tool_id: str
    arguments: str


@_event("tool.cancelled")
class ToolCancelledEvent(ServerEvent):
    """A tool call was cancelled (no current provider produces it)."""

    call_id: str


@_event("unknown")
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
_EVENT_TYPES: Dict[str, type] = {**CLIENT_EVENT_TYPES, **SERVER_EVENT_TYPES}


# --------------------------------------------------------------------------- JSON form


@dataclass(frozen=True)
class _ServerErrorForm:
    """The JSON shape of a :class:`ServerError`, decoded by the shared codec."""

    message: str
    code: str = ""
    type: Optional[str] = None
    event_id: Optional[str] = None
    param: Optional[str] = None
    details: Optional[Dict[str, Any]] = None


def _encode_server_error(error: ServerError) -> Dict[str, Any]:
    form = _ServerErrorForm(
        message=error.message,
        code=error.code,
        type=error.type,
        event_id=error.event_id,
        param=error.param,
        details=error.details,
    )
    return encode_dataclass(form)


def _decode_server_error(data: Any) -> ServerError:
    form = decode_dataclass(_ServerErrorForm, data)
    return ServerError(
        form.message,
        code=form.code,
        type=form.type,
        event_id=form.event_id,
        param=form.param,
        details=form.details,
    )


register_json_codec(ServerError, _encode_server_error, _decode_server_error)


def event_to_dict(event: RealtimeEvent) -> Dict[str, Any]:
    """Return the JSON-ready form of ``event``: kernl's camelCase object with ``"kind"``.

    ``None`` fields are omitted; items, parts, tools and configs are nested in their own
    JSON forms, a ``ServerError`` as ``{"code", "message", ...}``.

    Raises:
        ConfigurationError: ``event`` is not a realtime event.
    """
    if not isinstance(event, RealtimeEvent):
        raise ConfigurationError(f"expected a realtime event, got {type(event).__name__}")
    return encode_dataclass(event)


def event_from_dict(data: Mapping[str, Any]) -> RealtimeEvent:
    """Build the client or server event described by ``data`` (the :func:`event_to_dict` form).

    Unknown keys are ignored and ``null`` counts as absent.

    Raises:
        ProtocolError: ``data`` is not an object, its ``kind`` is unknown, or a field is
            missing or malformed; the message names the kind and the field.
    """
    if not isinstance(data, Mapping):
        raise ProtocolError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event kind {kind!r}")
    try:
        return decode_dataclass(cls, data)
    except FieldProblem as problem:
        raise ProtocolError(f"cannot decode {kind!r} event: {problem.describe()}") from None
