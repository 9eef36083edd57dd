"""The camelCase JSON form of protocol types (kernl's TypeScript object shape).

* :func:`encode_dataclass` turns an instance into its JSON form (``None`` fields
  omitted, ``kind`` first for kind-tagged classes);
* :func:`decode_dataclass` builds an instance back from that form, dispatching
  kind-tagged unions (items, parts, tools) on their ``"kind"`` key;
* :class:`JsonConvertible` gives validated dataclasses ``to_dict()``/``from_dict()``.

Decoders are compiled from the same type hints as the validators
(:mod:`kernl_realtime.protocol._validation`), once per hint, at first use.
dataclasses-json is deliberately not used: it cannot decode kind-tagged unions, knows
nothing of ``Annotated`` constraints, and would leave configs and events with two
different codecs. Its decoder is also far slower than these precompiled functions.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from enum import Enum
from typing import Annotated, Any, Callable, Dict, List, Mapping, Tuple, Type, TypeVar, Union, get_args, get_origin

from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol._validation import (
    Conformer,
    FieldProblem,
    NoneType,
    Validated,
    class_plan,
    conform_each,
    conform_entries,
    conformer,
    config_label,
    identity,
    mismatch,
    short_repr,
)

__all__ = ["JsonConvertible", "decode_dataclass", "encode_dataclass", "encode_value", "register_json_codec"]

_T = TypeVar("_T")


_CUSTOM_CODECS: Dict[type, Tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}


def register_json_codec(cls: type, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> None:
    """Teach the codec a non-dataclass type (e.g. ``ServerError``).

    ``decode`` receives the raw JSON value and raises :class:`FieldProblem` on bad input.
    """
    _CUSTOM_CODECS[cls] = (encode, decode)
    _decoder.cache_clear()


def encode_value(value: Any) -> Any:
    """Convert ``value`` to plain JSON data (dicts, lists, strings, numbers, booleans, None)."""
    if isinstance(value, Enum):  # before str: StringEnum members are also str
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode_dataclass(value)
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    if isinstance(value, Mapping):
        # Keys of free-form dicts (JSON schemas, provider options) are user data: never recased.
        return {key: encode_value(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    for cls, (encode, _) in _CUSTOM_CODECS.items():
        if isinstance(value, cls):
            return encode(value)
    return value


def encode_dataclass(instance: Any) -> Dict[str, Any]:
    """The camelCase JSON form of a protocol dataclass: ``kind`` first, ``None`` fields omitted."""
    plan = class_plan(type(instance))
    encoded: Dict[str, Any] = {}
    if plan.tag is not None:
        encoded["kind"] = plan.tag
    for field in plan.fields:
        value = getattr(instance, field.name)
        if value is not None:
            encoded[field.json_key] = encode_value(value)
    return encoded


def decode_dataclass(cls: Type[_T], data: Any) -> _T:
    """Build ``cls`` from its JSON form; raise :class:`FieldProblem` naming the bad field.

    Keys are matched by their camelCase names; unknown keys are ignored so newer peers
    can add fields, and ``null`` is treated like an absent key.
    """
    if not isinstance(data, Mapping):
        raise FieldProblem(f"must be a JSON object, got {type(data).__name__}")
    plan = class_plan(cls)
    if plan.tag is not None and data.get("kind", plan.tag) != plan.tag:
        raise FieldProblem(f"must be {plan.tag!r}, got {short_repr(data.get('kind'))}", "kind")
    arguments: Dict[str, Any] = {}
    for field in plan.fields:
        raw = data.get(field.json_key)
        if raw is None:
            if field.required:
                raise FieldProblem(f"is required (JSON key {field.json_key!r})", field.name)
            continue
        try:
            arguments[field.name] = _decoder(field.hint)(raw)
        except FieldProblem as problem:
            raise problem.under(field.name) from None
    try:
        return cls(**arguments)
    except ConfigurationError as error:
        raise FieldProblem.from_configuration_error(error, cls) from None


def _tagged_members(members: Tuple[Any, ...]) -> Dict[str, type]:
    tagged = {}
    for member in members:
        if isinstance(member, type) and dataclasses.is_dataclass(member):
            tag = getattr(member, "kind", None)
            if isinstance(tag, str):
                tagged[tag] = member
    return tagged if len(tagged) == len(members) else {}


@functools.lru_cache(maxsize=None)
def _decoder(hint: Any) -> Conformer:
    """Compile ``hint`` into a function from JSON data to the Python value (FieldProblem on error)."""
    origin = get_origin(hint)
    args = get_args(hint)

    if origin is Annotated:
        # Constraints are enforced by the constructor the decoded value is passed to.
        return _decoder(args[0])

    if origin is Union:
        members = tuple(arg for arg in args if arg is not NoneType)
        if len(members) == 1:
            return _decoder(members[0])
        by_kind = _tagged_members(members)
        if by_kind:
            return functools.partial(_decode_tagged, by_kind)
        return conformer(hint)

    if origin in (list, List):
        decode_item = _decoder(args[0]) if args else identity

        def decode_list(raw: Any) -> Any:
            if not isinstance(raw, list):
                raise mismatch(hint, raw)
            return conform_each(decode_item, raw)

        return decode_list

    if origin in (dict, Dict) and args:
        decode_key = conformer(args[0])
        decode_entry = _decoder(args[1])

        def decode_dict(raw: Any) -> Any:
            if not isinstance(raw, Mapping):
                raise mismatch(hint, raw)
            return conform_entries(decode_key, decode_entry, raw)

        return decode_dict

    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return functools.partial(decode_dataclass, hint)
        for cls, (_, decode) in _CUSTOM_CODECS.items():
            if issubclass(hint, cls):
                return decode

    return conformer(hint)


def _decode_tagged(by_kind: Dict[str, type], raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise FieldProblem(f"must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("kind")
    cls = by_kind.get(kind) if isinstance(kind, str) else None
    if cls is None:
        expected = ", ".join(repr(tag) for tag in by_kind)
        raise FieldProblem(f"must be one of {expected}, got {short_repr(kind)}", "kind")
    return decode_dataclass(cls, raw)


class JsonConvertible(Validated):
    """Mixin giving a validated dataclass its camelCase JSON form (kernl's TS object shape).

    ``to_dict()`` omits ``None`` fields and writes ``"kind"`` for kind-tagged classes;
    ``from_dict()`` validates on the way in and raises
    :class:`~kernl_realtime.exceptions.ConfigurationError` naming the offending field path.
    """

    def to_dict(self) -> Dict[str, Any]:
        """Return the JSON-ready dict form (camelCase keys, ``None`` omitted)."""
        return encode_dataclass(self)

    @classmethod
    def from_dict(cls: Type[_T], data: Mapping[str, Any]) -> _T:
        """Build an instance from its JSON-ready dict form.

        Raises:
            ConfigurationError: A value is missing, of the wrong type or out of range;
                ``field`` holds its dotted path (e.g. ``"turn_detection.threshold"``).
        """
        try:
            return decode_dataclass(cls, data)
        except FieldProblem as problem:
            raise problem.as_configuration_error(config_label(cls)) from None
