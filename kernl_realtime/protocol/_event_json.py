"""The JSON form of realtime events: :func:`event_to_dict` and :func:`event_from_dict`.

kernl's camelCase object with ``"kind"``; nested items, parts, tools and configs use
their own JSON forms (:mod:`kernl_realtime.protocol._json`) and a ``ServerError`` its
``{"code", "message", ...}`` shape. Decoding checks every field it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from kernl_realtime.exceptions import ConfigurationError, ProtocolError, ServerError
from kernl_realtime.protocol._event_base import RealtimeEvent
from kernl_realtime.protocol._events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES
from kernl_realtime.protocol._json import decode_dataclass, encode_dataclass, register_json_codec
from kernl_realtime.protocol._validation import FieldProblem

__all__ = ["event_from_dict", "event_to_dict"]

_EVENT_TYPES: Dict[str, type] = {**CLIENT_EVENT_TYPES, **SERVER_EVENT_TYPES}


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
