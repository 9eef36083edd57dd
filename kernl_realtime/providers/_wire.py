"""Typed access to the fields of a received wire message, for provider codecs.

A peer may send anything: a ``delta`` of ``null`` or ``123``, an audio delta that is not
base64, a ``response`` that is a list. Decoders read every field through :func:`field`,
which checks it against the type the protocol event needs and raises a
:class:`~kernl_realtime.exceptions.ProtocolError` naming the field path otherwise. The
check happens *before* a decoder touches its own state (accumulated transcripts,
session ids), so a bad frame is skipped whole and the next one decodes normally.

``WireMessage`` values are JSON: dicts, lists, strings, numbers, booleans and ``None``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Union

from ..exceptions import ProtocolError
from ..protocol._event_base import checked_event
from ..protocol._validation import is_base64

__all__ = ["BASE64", "REQUIRED", "checked_event", "deep_merge", "field", "is_base64", "optional", "wire_type_name"]


class _Base64:
    """Marker type for :func:`field`: a string of standard base64 (audio payloads)."""

    def __repr__(self) -> str:
        return "BASE64"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: ``field(message, "delta", BASE64)``: the value must be base64 text.
BASE64 = _Base64()
#: Default of :func:`field`'s ``default``: the field must be present and not null.
REQUIRED: Any = _Required()

_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "an object", list: "an array"}
Expected = Union[type, _Base64]


def wire_type_name(value: Any) -> str:
    """How a JSON value's type reads in an error message (``null``, ``a string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for json_type, name in _JSON_NAMES.items():
        if isinstance(value, json_type):
            return name
    return type(value).__name__


def _matches(value: Any, expected: Expected) -> bool:
    if expected is BASE64:
        return isinstance(value, str) and is_base64(value)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)  # type: ignore[arg-type] # a type here


def _describe(expected: Expected) -> str:
    if isinstance(expected, _Base64):
        return "base64 text"
    return _JSON_NAMES.get(expected) or expected.__name__


def field(message: Mapping[str, Any], path: str, expected: Expected = str, default: Any = REQUIRED) -> Any:
    """The value at ``path`` in ``message``, checked against ``expected``.

    Args:
        message: A decoded wire message (or a nested object of one).
        path: Dotted field path, e.g. ``"delta"`` or ``"response.id"``.
        expected: ``str``, ``int``, ``float`` (any number), ``bool``, ``dict``, ``list``
            or :data:`BASE64`.
        default: Returned when the field (or an object on its path) is absent or
            ``null``; without it such a field is an error.

    Returns:
        The value (never ``None`` unless ``default`` is ``None``).

    Raises:
        ProtocolError: A value on the path has the wrong type, or a required field is
            missing; ``field`` holds the path.
    """
    if expected is str and "." not in path:  # the common case, without the walk
        value = message.get(path) if type(message) is dict else None
        if type(value) is str:
            return value
    value = message
    walked: List[str] = []
    for key in path.split("."):
        if not isinstance(value, dict):
            location = ".".join(walked)
            raise ProtocolError(f"field {location!r} must be an object, got {wire_type_name(value)}", field=location)
        walked.append(key)
        present = key in value
        value = value.get(key)
        if value is None:
            if default is REQUIRED:
                got = "null" if present else "no such field"
                raise ProtocolError(f"field {path!r} is required, got {got}", field=path)
            return default
    if not _matches(value, expected):
        shown = wire_type_name(value)
        if expected is BASE64 and isinstance(value, str):
            shown = "a string that is not base64"
        raise ProtocolError(f"field {path!r} must be {_describe(expected)}, got {shown}", field=path)
    return value


def optional(message: Mapping[str, Any], path: str, expected: Expected = str) -> Optional[Any]:
    """:func:`field` with a ``None`` default."""
    return field(message, path, expected, None)


def deep_merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """``base`` updated with ``extra``, merging nested objects instead of replacing them.

    Every provider merges ``provider_options[<provider>]`` into what it encoded from the
    config this way: ``{"audio": {"input": {"noise_reduction": ...}}}`` must add one knob,
    not wipe the formats, voice and turn detection already there.
    """
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
