"""Conversation items in the simulator: the accepted shapes and their validation.

``conversation.item.create`` payloads are checked here the way the OpenAI Realtime GA server
checks them (missing and invalid fields name the parameter; strict dialects refuse unknown
keys), and stored without their audio bytes.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Container, Dict, List, Tuple

from ._audio import AudioFormat, decode_b64
from ._dialect import ClientError, expect_type, reject_unknown

__all__ = ["ITEM_KEYS", "MESSAGE_PARTS", "PART_KEYS", "item_view", "validate_item"]


def item_view(item: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of an item without audio bytes."""
    view = copy.deepcopy(item)
    for part in view.get("content") or []:
        if isinstance(part, dict):
            part.pop("audio", None)
    return view


MESSAGE_PARTS = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text",),
}
PART_KEYS = {
    "input_text": ("type", "text"),
    "output_text": ("type", "text"),
    "input_audio": ("type", "audio", "transcript"),
    "input_image": ("type", "image_url", "detail"),
}
ITEM_KEYS = {
    "message": ("id", "type", "object", "status", "role", "content"),
    "function_call": ("id", "type", "object", "status", "call_id", "name", "arguments"),
    "function_call_output": ("id", "type", "object", "status", "call_id", "output"),
}


def validate_item(raw: Any, *, strict: bool, existing: Container[str],
                  new_item_id: Callable[[], str], input_format: AudioFormat
                  ) -> Tuple[Dict[str, Any], float]:
    """Check a client's ``item`` and build the stored item.

    Args:
        raw: The ``item`` field of ``conversation.item.create``.
        strict: Refuse keys the dialect does not know.
        existing: Ids already in the conversation (a client-chosen id must be new).
        new_item_id: Mints an id when the client chose none.
        input_format: The session's input audio format (for the audio duration).

    Returns:
        The stored item and the milliseconds of input audio it carries.

    Raises:
        ClientError: The item is malformed (the error names the field).
    """
    expect_type(raw, "object", "item")
    kind = raw.get("type")
    if kind is None:
        raise ClientError("missing_required_parameter",
                          "Missing required parameter: 'item.type'.", "item.type")
    if kind not in ITEM_KEYS:
        raise ClientError(
            "invalid_value",
            f"Invalid value: {kind!r}. Supported values are: 'message', 'function_call', "
            f"and 'function_call_output'.",
            "item.type",
        )
    if strict:
        reject_unknown(raw, ITEM_KEYS[kind], "item")
    item_id = raw.get("id")
    if item_id is not None:
        expect_type(item_id, "string", "item.id")
        if item_id in existing:
            raise ClientError("invalid_value",
                              f"Item with id '{item_id}' already exists.", "item.id")
    else:
        item_id = new_item_id()
    audio_ms = 0.0
    item: Dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": kind,
                            "status": "completed"}
    if kind == "message":
        role = raw.get("role")
        if role is None:
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'item.role'.", "item.role")
        if role not in MESSAGE_PARTS:
            raise ClientError(
                "invalid_value",
                f"Invalid value: {role!r}. Supported values are: 'user', 'system', "
                f"and 'assistant'.",
                "item.role",
            )
        content = raw.get("content")
        if content is None:
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'item.content'.", "item.content")
        expect_type(content, "array", "item.content")
        parts: List[Dict[str, Any]] = []
        for index, part in enumerate(content):
            where = f"item.content[{index}]"
            expect_type(part, "object", where)
            ptype = part.get("type")
            if ptype not in MESSAGE_PARTS[role]:
                allowed = ", ".join(f"'{p}'" for p in MESSAGE_PARTS[role])
                raise ClientError(
                    "invalid_value",
                    f"Invalid value: {ptype!r}. Supported values for {role} messages are: "
                    f"{allowed}.",
                    f"{where}.type",
                )
            if strict:
                reject_unknown(part, PART_KEYS[ptype], where)
            if ptype in ("input_text", "output_text"):
                if part.get("text") is None:
                    raise ClientError("missing_required_parameter",
                                      f"Missing required parameter: '{where}.text'.",
                                      f"{where}.text")
                expect_type(part["text"], "string", f"{where}.text")
            if ptype == "input_audio" and part.get("audio") is not None:
                expect_type(part["audio"], "string", f"{where}.audio")
                data = decode_b64(part["audio"])
                if data is None:
                    raise ClientError("invalid_value",
                                      f"Invalid '{where}.audio'. Expected base64-encoded "
                                      f"audio data.", f"{where}.audio")
                audio_ms += input_format.ms_for_bytes(len(data))
            stored = {k: copy.deepcopy(v) for k, v in part.items() if k != "audio"}
            if ptype == "input_audio":
                stored.setdefault("transcript", None)
            parts.append(stored)
        item["role"] = role
        item["content"] = parts
    else:
        keys = (("call_id", "name", "arguments") if kind == "function_call"
                else ("call_id", "output"))
        for key in keys:
            if raw.get(key) is None:
                raise ClientError("missing_required_parameter",
                                  f"Missing required parameter: 'item.{key}'.",
                                  f"item.{key}")
            expect_type(raw[key], "string", f"item.{key}")
            item[key] = raw[key]
    return item, audio_ms
