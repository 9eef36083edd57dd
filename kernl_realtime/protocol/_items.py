"""Conversation items, message parts and tool specs referenced by realtime events (spec §2.4).

Each class carries a ``kind`` class constant, byte-identical to kernl's TypeScript
protocol, which is also the ``"kind"`` key of its JSON form and the discriminator used
to decode the unions :data:`MessagePart`, :data:`LanguageModelItem` and :data:`ToolSpec`.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Literal, Optional, Union

from kernl_realtime.protocol._json import JsonConvertible
from kernl_realtime.protocol._validation import (
    FieldProblem,
    NonEmptyStr,
    StringEnum,
)

__all__ = [
    "DataPart",
    "FilePart",
    "FunctionToolSpec",
    "LanguageModelItem",
    "Message",
    "MessagePart",
    "ProviderDefinedToolSpec",
    "Reasoning",
    "TextPart",
    "ToolCall",
    "ToolCallState",
    "ToolResult",
    "ToolSpec",
]


class ToolCallState(StringEnum):
    """Lifecycle state of a tool call or result; members equal their wire strings."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTIBLE = "interruptible"
    UNINTERRUPTIBLE = "uninterruptible"


# --------------------------------------------------------------------------- message parts


@dataclass(frozen=True)
class TextPart(JsonConvertible):
    """A text segment of a :class:`Message` (may be empty: audio parts decode to ``""``)."""

    kind: ClassVar[str] = "text"

    text: str
    metadata: Optional[Dict[str, Any]] = None
    provider_metadata: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class FilePart(JsonConvertible):
    """A file segment of a :class:`Message`: inline ``data`` or a ``uri``, exactly one of them.

    ``data`` is base64 text or raw bytes. The JSON form always holds base64 text, so bytes
    come back from ``from_dict()`` as their base64 string.
    """

    kind: ClassVar[str] = "file"

    mime_type: NonEmptyStr
    data: Optional[Union[str, bytes]] = None
    uri: Optional[NonEmptyStr] = None
    filename: Optional[str] = None
    metadata: Optional[Dict[str, Any]] = None
    provider_metadata: Optional[Dict[str, Any]] = None

    def _post_validate(self) -> None:
        if self.data is None and self.uri is None:
            raise FieldProblem("is required when uri is not set", "data")
        if self.data is not None and self.uri is not None:
            raise FieldProblem("must not be set together with data (give exactly one)", "uri")


@dataclass(frozen=True)
class DataPart(JsonConvertible):
    """A structured (JSON object) segment of a :class:`Message`."""

    kind: ClassVar[str] = "data"

    data: Dict[str, Any]
    metadata: Optional[Dict[str, Any]] = None
    provider_metadata: Optional[Dict[str, Any]] = None


MessagePart = Union[TextPart, FilePart, DataPart]


# --------------------------------------------------------------------------- items


def _new_message_id() -> str:
    # Same shape as kernl's message() helper: "msg_" + 24 hex characters.
    return "msg_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class Message(JsonConvertible):
    """A conversation message: a role plus content parts.

    ``Message.user("hi")`` builds the common one-text-part message. ``id`` defaults to a
    fresh ``msg_`` + 24-hex id, as kernl's ``message()`` helper does.
    """

    kind: ClassVar[str] = "message"

    role: Literal["system", "assistant", "user"]
    content: List[MessagePart]
    id: NonEmptyStr = dataclasses.field(default_factory=_new_message_id)
    metadata: Optional[Dict[str, Any]] = None
    provider_metadata: Optional[Dict[str, Any]] = None

    @classmethod
    def user(cls, text: str) -> "Message":
        """A user message holding one :class:`TextPart`."""
        return cls(role="user", content=[TextPart(text)])

    @classmethod
    def assistant(cls, text: str) -> "Message":
        """An assistant message holding one :class:`TextPart`."""
        return cls(role="assistant", content=[TextPart(text)])

    @classmethod
    def system(cls, text: str) -> "Message":
        """A system message holding one :class:`TextPart`."""
        return cls(role="system", content=[TextPart(text)])


@dataclass(frozen=True)
class Reasoning(JsonConvertible):
    """Model reasoning text carried in the conversation (neither provider can send it)."""

    kind: ClassVar[str] = "reasoning"

    text: str
    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class ToolCall(JsonConvertible):
    """A function call made by the model; ``arguments`` is the JSON-encoded argument object."""

    kind: ClassVar[str] = "tool.call"

    call_id: NonEmptyStr
    tool_id: NonEmptyStr
    arguments: str
    state: ToolCallState = ToolCallState.COMPLETED
    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class ToolResult(JsonConvertible):
    """The outcome of a tool call: a JSON ``result`` or an ``error`` text.

    ``tool_id`` may be empty: OpenAI's ``function_call_output`` items carry no tool name.
    """

    kind: ClassVar[str] = "tool.result"

    call_id: NonEmptyStr
    tool_id: str
    result: Any = None
    error: Optional[str] = None
    state: ToolCallState = ToolCallState.COMPLETED
    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None


LanguageModelItem = Union[Message, Reasoning, ToolCall, ToolResult]


# --------------------------------------------------------------------------- tools


def _empty_object_schema() -> Dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class FunctionToolSpec(JsonConvertible):
    """A function the model may call; ``parameters`` is a JSON Schema (draft-7) object."""

    kind: ClassVar[str] = "function"

    name: NonEmptyStr
    parameters: Dict[str, Any] = dataclasses.field(default_factory=_empty_object_schema)
    description: Optional[str] = None
    provider_options: Optional[Dict[str, Dict[str, Any]]] = None


@dataclass(frozen=True)
class ProviderDefinedToolSpec(JsonConvertible):
    """A tool hosted by the provider (``id`` is ``"<provider>.<name>"``); realtime providers drop it."""

    kind: ClassVar[str] = "provider-defined"

    id: NonEmptyStr
    name: NonEmptyStr
    args: Dict[str, Any] = dataclasses.field(default_factory=dict)


ToolSpec = Union[FunctionToolSpec, ProviderDefinedToolSpec]
