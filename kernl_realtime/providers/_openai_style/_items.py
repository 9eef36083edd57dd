"""Conversation items in the OpenAI-style wire dialect, both directions.

Encoding follows the provider's documented ``conversation.item.create`` schema: each
message part is encoded according to the message's role (a user's text is
``input_text``, an assistant's ``output_text``), and a part a role cannot carry on the
provider's wire is a :class:`~kernl_realtime.exceptions.ConfigurationError` naming the
role and the part, never a request the server rejects later (or silently misreads).

Decoding reads every field through :func:`~kernl_realtime.providers._wire.field`, so a
malformed item is a ``ProtocolError`` naming ``item.<field>``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

from ...exceptions import ConfigurationError, ProtocolError, UnsupportedEventError
from ...protocol import Message, MessagePart, TextPart, ToolCall, ToolCallState, ToolResult
from ...protocol._validation import is_base64
from .._wire import field, wire_type_name

__all__ = ["PartTypes", "OPENAI_PART_TYPES", "decode_item", "encode_item", "encode_tool_output", "wire_text"]

#: For each message role, the wire part types the provider accepts in ``conversation.item.create``.
PartTypes = Mapping[str, FrozenSet[str]]

#: OpenAI GA (wire doc §1.4): user ``input_text``/``input_audio``/``input_image``, system
#: ``input_text``, assistant ``output_text`` only (assistant audio cannot be created).
OPENAI_PART_TYPES: PartTypes = {
    "user": frozenset({"input_text", "input_audio", "input_image"}),
    "system": frozenset({"input_text"}),
    "assistant": frozenset({"output_text"}),
}

_TEXT_PART_TYPES = frozenset({"input_text", "output_text", "text"})
_AUDIO_PART_TYPES = frozenset({"input_audio", "output_audio", "audio"})


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


def _describe_part(part: Any) -> str:
    mime = getattr(part, "mime_type", None)
    return f"{type(part).__name__}({mime!r})" if mime else type(part).__name__


def _wire_part(part: Any, role: str) -> Dict[str, Any]:
    """The wire form ``part`` would take in a message of ``role`` (not yet checked against the role)."""
    kind = part.kind
    text_type = "output_text" if role == "assistant" else "input_text"
    if kind == "text":
        return {"type": text_type, "text": part.text}
    if kind == "data":
        return {"type": text_type, "text": json.dumps(part.data, separators=(",", ":"), default=str)}
    if kind == "file":
        mime = part.mime_type.lower()
        data = part.data
        if isinstance(data, (bytes, bytearray)):
            data = base64.b64encode(data).decode("ascii")  # FilePart accepts raw bytes; the wire wants base64
        if mime.startswith("audio/"):
            if data is None:
                raise ConfigurationError(
                    f"Message(role={role!r}) content: an audio FilePart must carry its data inline "
                    "(base64 text or bytes); realtime providers do not fetch audio by uri",
                    field="item.content",
                )
            if not is_base64(data):
                raise ConfigurationError(
                    f"Message(role={role!r}) content: FilePart({part.mime_type!r}).data must be base64 text or bytes",
                    field="item.content",
                )
            return {"type": "output_audio" if role == "assistant" else "input_audio", "audio": data}
        if mime.startswith("image/") and data is not None:
            # Realtime image input is a data URL; the server does not fetch a uri.
            return {"type": "input_image", "image_url": f"data:{part.mime_type};base64,{data}"}
    return {"type": f"<{_describe_part(part)}{' by uri' if getattr(part, 'uri', None) else ''}>"}


def _encode_part(part: Any, role: str, allowed: PartTypes, provider: str) -> Dict[str, Any]:
    wire = _wire_part(part, role)
    role_parts = allowed.get(role, frozenset())
    if wire["type"] not in role_parts:
        accepted = ", ".join(sorted(role_parts)) or "nothing"
        raise UnsupportedEventError(
            f"Message(role={role!r}) cannot carry a {_describe_part(part)} part on {provider}'s wire "
            f"({role} messages take {accepted}{'; files must be inline data' if getattr(part, 'uri', None) else ''}); "
            + (
                "send the assistant's words as a TextPart (its transcript)"
                if role == "assistant"
                else "send text, base64 audio or data parts"
            ),
            field="item.content",
        )
    return wire


def encode_item(item: Any, *, part_types: PartTypes = OPENAI_PART_TYPES, provider: str = "the provider") -> Dict[str, Any]:
    """Protocol conversation item → wire item.

    Args:
        item: A ``Message``, ``ToolCall`` or ``ToolResult``.
        part_types: The wire part types each role may carry (the provider's item schema).
        provider: Provider name for error messages.

    Raises:
        ConfigurationError: A part the message's role cannot carry on this wire (naming
            role and part), or an item kind the provider has no wire form for.
    """
    kind = item.kind
    if kind == "message":
        content = [_encode_part(part, item.role, part_types, provider) for part in item.content]
        return {"type": "message", "role": item.role, "content": content}
    if kind == "tool.call":
        return {"type": "function_call", "call_id": item.call_id, "name": item.tool_id, "arguments": item.arguments}
    if kind == "tool.result":
        return {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": encode_tool_output(item.result, item.error),
        }
    raise UnsupportedEventError(f"conversation items of kind {kind!r} cannot be sent to a realtime model", field="item")


# -- decoding --------------------------------------------------------------------------


def wire_text(holder: Dict[str, Any], name: str) -> str:
    """A free-text or id field, as a string ("" when absent or null; numbers in text form)."""
    value = holder.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"field {name!r} must be a string, got {wire_type_name(value)}", field=name)


def _decode_part(part: Dict[str, Any]) -> TextPart:
    part_type = field(part, "type", str, "")
    if part_type in _TEXT_PART_TYPES:
        return TextPart(text=field(part, "text", str, ""))
    if part_type in _AUDIO_PART_TYPES:
        return TextPart(text=field(part, "transcript", str, ""))
    text = part.get("text") or part.get("transcript")
    return TextPart(text=text if isinstance(text, str) else "")


def decode_item(wire: Dict[str, Any]) -> Optional[Any]:
    """Wire item → protocol item, keeping the wire id; None for item types we lack.

    Raises:
        ProtocolError: A field the item type needs is missing or of the wrong type
            (the field path starts with ``item.``).
    """
    try:
        return _decode_item(wire)
    except ProtocolError as exc:
        path = f"item.{exc.field}" if exc.field else "item"
        raise ProtocolError(exc.message.replace(f"field {exc.field!r}", f"field {path!r}"), field=path) from None


def _decode_item(wire: Dict[str, Any]) -> Optional[Any]:
    item_type = wire.get("type")
    status = ToolCallState.COMPLETED if field(wire, "status", str, "completed") == "completed" else ToolCallState.IN_PROGRESS
    item_id = field(wire, "id", str, None)
    if item_type == "message":
        role = field(wire, "role", str, "assistant")
        if role not in ("user", "assistant", "system"):
            raise ProtocolError(f"field 'role' must be 'user', 'assistant' or 'system', got {role!r}", field="role")
        parts = field(wire, "content", list, [])
        content: List[MessagePart] = []
        for index, part in enumerate(parts):
            if not isinstance(part, dict):
                continue
            try:
                content.append(_decode_part(part))
            except ProtocolError as exc:
                path = f"content[{index}].{exc.field}"
                raise ProtocolError(exc.message.replace(f"field {exc.field!r}", f"field {path!r}"), field=path) from None
        if item_id:
            return Message(role=role, content=content, id=item_id)
        return Message(role=role, content=content)
    if item_type == "function_call":
        return ToolCall(
            call_id=field(wire, "call_id"),
            tool_id=field(wire, "name"),
            arguments=field(wire, "arguments", str, ""),
            state=status,
            id=item_id,
        )
    if item_type == "function_call_output":
        return ToolResult(
            call_id=field(wire, "call_id"),
            tool_id="",
            result=field(wire, "output", str, None),
            error=None,
            state=ToolCallState.COMPLETED,
            id=item_id,
        )
    return None
