"""Wire conformance: conversation items are encoded per role, against each provider's schema.

The schemas below are transcribed from the wire protocol doc (§1.4 OpenAI
``conversation.item.create``, §2.4 xAI "same JSON as OpenAI", no image input): every
item the codec produces must match them exactly, and every part a role cannot carry on
that wire must be refused with a ``ConfigurationError`` naming the role and the part.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Callable, Dict, FrozenSet

import pytest

from kernl_realtime import ConfigurationError, ItemCreateEvent
from kernl_realtime.protocol import DataPart, FilePart, Message, TextPart, ToolCall, ToolResult
from kernl_realtime.providers.openai import OpenAICodec
from kernl_realtime.providers.xai import XAICodec

PCM = b"\x00\x00\x01\x00\xff\xff"
B64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _base64(value: Any) -> bool:
    return isinstance(value, str) and B64.match(value) is not None


def _data_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^data:image/[a-z0-9.+-]+;base64,", value) is not None and _base64(
        value.split(",", 1)[1]
    )


#: part type -> (required fields, optional fields), each field -> check.
PART_SCHEMA: Dict[str, "tuple[Dict[str, Callable[[Any], bool]], Dict[str, Callable[[Any], bool]]]"] = {
    "input_text": ({"text": _string}, {}),
    "output_text": ({"text": _string}, {}),
    "input_audio": ({"audio": _base64}, {"transcript": _string}),
    "input_image": ({"image_url": _data_url}, {"detail": lambda v: v in ("auto", "low", "high")}),
}
ROLE_PARTS: Dict[str, Dict[str, FrozenSet[str]]] = {
    "openai": {
        "user": frozenset({"input_text", "input_audio", "input_image"}),
        "system": frozenset({"input_text"}),
        "assistant": frozenset({"output_text"}),
    },
    "xai": {
        "user": frozenset({"input_text", "input_audio"}),
        "system": frozenset({"input_text"}),
        "assistant": frozenset({"output_text"}),
    },
}
CODECS = {"openai": OpenAICodec, "xai": XAICodec}


def _check_object(obj: Any, required: Dict[str, Callable[[Any], bool]], optional: Dict[str, Callable[[Any], bool]]) -> None:
    assert isinstance(obj, dict), obj
    assert set(required) <= set(obj), f"missing {set(required) - set(obj)} in {obj}"
    extra = set(obj) - set(required) - set(optional) - {"type"}
    assert not extra, f"fields {extra} are not in the documented schema: {obj}"
    for name, check in {**required, **optional}.items():
        if name in obj:
            assert check(obj[name]), f"{name}={obj[name]!r} does not match the schema"


def validate_item(provider: str, item: Dict[str, Any]) -> None:
    """Raise AssertionError unless ``item`` matches the provider's documented item schema."""
    item_type = item.get("type")
    if item_type == "message":
        _check_object(item, {"role": lambda r: r in ROLE_PARTS[provider], "content": lambda c: isinstance(c, list)}, {})
        for part in item["content"]:
            assert part.get("type") in ROLE_PARTS[provider][item["role"]], f"{item['role']} cannot carry {part}"
            required, optional = PART_SCHEMA[part["type"]]
            _check_object(part, required, optional)
    elif item_type == "function_call":
        _check_object(item, {"call_id": _string, "name": _string, "arguments": _string}, {})
    elif item_type == "function_call_output":
        _check_object(item, {"call_id": _string, "output": _string}, {})
    else:
        raise AssertionError(f"undocumented item type {item_type!r}")


PARTS = {
    "text": (TextPart("hello"), "input_text"),
    "data": (DataPart({"city": "Paris"}), "input_text"),
    "audio-bytes": (FilePart("audio/pcm", data=PCM), "input_audio"),
    "audio-base64": (FilePart("audio/pcm", data=base64.b64encode(PCM).decode()), "input_audio"),
    "image": (FilePart("image/png", data=b"\x89PNG"), "input_image"),
    "image-uri": (FilePart("image/png", uri="https://example.com/cat.png"), None),
    "audio-uri": (FilePart("audio/wav", uri="https://example.com/hi.wav"), None),
    "pdf": (FilePart("application/pdf", data=b"%PDF"), None),
}


def _expected_type(label: str, role: str) -> Any:
    wire_type = PARTS[label][1]
    if wire_type in ("input_text", "input_audio") and role == "assistant":
        return "output_" + wire_type.split("_", 1)[1]  # what the role would need; absent from its schema
    return wire_type


@pytest.mark.parametrize("provider", sorted(CODECS))
@pytest.mark.parametrize("role", ["user", "system", "assistant"])
@pytest.mark.parametrize("label", sorted(PARTS))
def test_each_part_is_encoded_for_its_role_or_refused_naming_role_and_part(provider: str, role: str, label: str) -> None:
    part = PARTS[label][0]
    event = ItemCreateEvent(item=Message(role=role, content=[part]))
    wire_type = _expected_type(label, role)
    allowed = wire_type is not None and wire_type in ROLE_PARTS[provider][role]
    if allowed:
        (message,) = CODECS[provider]().encode(event)
        assert message["type"] == "conversation.item.create"
        validate_item(provider, message["item"])
        assert message["item"]["content"][0]["type"] == wire_type
    else:
        with pytest.raises(ConfigurationError) as caught:
            CODECS[provider]().encode(event)
        text = str(caught.value)
        assert f"role={role!r}" in text and type(part).__name__ in text, text
        assert caught.value.field == "item.content"


@pytest.mark.parametrize("provider", sorted(CODECS))
def test_text_of_each_role_uses_the_documented_part_type(provider: str) -> None:
    codec = CODECS[provider]()
    for role, wire_type in (("user", "input_text"), ("system", "input_text"), ("assistant", "output_text")):
        item = codec.encode(ItemCreateEvent(item=Message(role=role, content=[TextPart("x")])))[0]["item"]
        validate_item(provider, item)
        assert item["content"] == [{"type": wire_type, "text": "x"}]


@pytest.mark.parametrize("provider", sorted(CODECS))
def test_tool_items_match_the_documented_schema(provider: str) -> None:
    codec = CODECS[provider]()
    call = ToolCall(call_id="call_1", tool_id="get_weather", arguments='{"city":"Paris"}')
    result = ToolResult(call_id="call_1", tool_id="get_weather", result={"temp_c": 18})
    for item in (call, result):
        validate_item(provider, codec.encode(ItemCreateEvent(item=item))[0]["item"])


def test_a_mixed_user_message_encodes_every_part_in_order() -> None:
    item = Message(role="user", content=[TextPart("look:"), FilePart("image/png", data=b"\x89PNG"), FilePart("audio/pcm", data=PCM)])
    wire = OpenAICodec().encode(ItemCreateEvent(item=item))[0]["item"]
    validate_item("openai", wire)
    assert [part["type"] for part in wire["content"]] == ["input_text", "input_image", "input_audio"]


def test_the_validator_itself_rejects_what_the_schema_forbids() -> None:
    with pytest.raises(AssertionError):
        validate_item("openai", {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "x"}]})
    with pytest.raises(AssertionError):
        validate_item("openai", {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "%%"}]})
    with pytest.raises(AssertionError):
        validate_item("xai", {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]})
