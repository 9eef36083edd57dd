"""Type-hint-driven validation and JSON conversion shared by every protocol type.

Protocol dataclasses declare their fields with ordinary type hints. Rules a type alone
cannot express (non-empty strings, numeric bounds, timezone-aware datetimes) ride along
as ``typing.Annotated`` metadata, e.g. ``Optional[NonNegativeInt]``. From those hints this
module compiles, once per class and once per hint, the functions that do three jobs:

* :class:`Validated` checks and normalises every field in ``__post_init__``
  (tuples become lists, enum values become enum members);
* :func:`encode_dataclass` turns an instance into its camelCase JSON form
  (``None`` fields omitted, ``kind`` first for kind-tagged classes);
* :func:`decode_dataclass` builds an instance back from that form, dispatching
  kind-tagged unions (items, parts, tools) on their ``"kind"`` key.

dataclasses-json is deliberately not used: it cannot decode kind-tagged unions, knows
nothing of ``Annotated`` constraints, and would leave configs and events with two
different codecs. Its decoder is also far slower than these precompiled functions.

Errors inside this module are :class:`FieldProblem` (a path plus a detail); the public
entry points turn them into :class:`~kernl_realtime.exceptions.ConfigurationError`
(or ``ProtocolError`` for events), so messages always read ``<owner>.<path> <detail>``.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import functools
import re
from datetime import datetime
from enum import Enum
from typing import (
    Annotated,
    Any,
    Callable,
    Dict,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol._export import type_hints

__all__ = [
    "AwareDatetime",
    "Base64Str",
    "Base64Text",
    "Bounds",
    "Constraint",
    "FieldProblem",
    "JsonConvertible",
    "NonEmpty",
    "NonEmptyStr",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "StringEnum",
    "TimezoneAware",
    "UnitInterval",
    "Validated",
    "config_label",
    "decode_dataclass",
    "encode_dataclass",
    "encode_value",
    "is_base64",
    "register_json_codec",
]

_T = TypeVar("_T")
_NoneType = type(None)
_Conformer = Callable[[Any], Any]


class FieldProblem(Exception):
    """Internal signal that a value broke a rule; never escapes the package.

    Attributes:
        detail: What is wrong, phrased to follow the field path ("must be >= 0, got -5").
        path: Dotted path of the offending field relative to the object being checked
            (``""`` when the object itself is wrong).
    """

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.path = path

    def under(self, prefix: str) -> "FieldProblem":
        """Return the same problem seen from one level up (``prefix`` is a field name or ``[i]``)."""
        if not self.path:
            return FieldProblem(self.detail, prefix)
        separator = "" if self.path.startswith("[") else "."
        return FieldProblem(self.detail, f"{prefix}{separator}{self.path}")

    def describe(self) -> str:
        """Render as ``"<path> <detail>"`` (or just the detail when there is no path)."""
        return f"{self.path} {self.detail}" if self.path else self.detail

    def as_configuration_error(self, owner_label: str) -> ConfigurationError:
        """Build the public exception, naming the field as ``<owner_label>.<path>``."""
        location = f"{owner_label}.{self.path}" if self.path else owner_label
        return ConfigurationError(f"{location} {self.detail}", field=self.path or None)

    @classmethod
    def from_configuration_error(cls, error: ConfigurationError, owner: type) -> "FieldProblem":
        """Recover the problem behind an error that ``owner``'s constructor raised.

        Used when a nested object rejects its fields while a parent is being decoded, so
        the parent can report the full path (``turn_detection.silence_duration_ms``).
        """
        path = error.field or ""
        location = f"{config_label(owner)}.{path}" if path else config_label(owner)
        message = error.message
        detail = message[len(location) + 1:] if message.startswith(location + " ") else message
        return cls(detail, path)


def config_label(cls: type) -> str:
    """The snake_case name used for ``cls`` in error messages.

    ``TurnDetectionConfig`` → ``turn_detection``, ``RealtimeSessionConfig`` → ``session``,
    ``RealtimeConnectOptions`` → ``connect_options``: the name a user knows it by as a field.
    """
    name = cls.__name__
    if name.endswith("Event"):  # events are built by name: ItemCreateEvent.item
        return name
    if name.startswith("Realtime") and name != "Realtime":
        name = name[len("Realtime"):]
    if name.endswith("Config") and name != "Config":
        name = name[: -len("Config")]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StringEnum(str, Enum):
    """A ``str``-valued Enum whose members equal and print as their wire strings.

    ``ResponseStatus.COMPLETED == "completed"`` is true and ``str()`` / f-strings give
    ``"completed"`` on every Python version (3.11 changed the default ``__str__``).
    """

    def __str__(self) -> str:
        return str(self.value)


# --------------------------------------------------------------------------- constraints


class Constraint:
    """Base of the ``Annotated`` metadata this module enforces on top of a field's type."""

    def check(self, value: Any) -> None:
        """Raise :class:`FieldProblem` when ``value`` (already of the right type) is invalid."""
        raise NotImplementedError


class NonEmpty(Constraint):
    """The string must contain at least one character."""

    def check(self, value: Any) -> None:
        if not value:
            raise FieldProblem("must not be empty")

    def __repr__(self) -> str:
        return "NonEmpty()"


@dataclasses.dataclass(frozen=True)
class Bounds(Constraint):
    """Inclusive (``ge``, ``le``) or exclusive (``gt``) numeric bounds; ``None`` means unbounded."""

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None

    def check(self, value: Any) -> None:
        # Written as "not (x >= bound)" so NaN fails every bound instead of passing it.
        if self.ge is not None and not value >= self.ge:
            raise FieldProblem(f"must be >= {self.ge:g}, got {value!r}")
        if self.gt is not None and not value > self.gt:
            raise FieldProblem(f"must be > {self.gt:g}, got {value!r}")
        if self.le is not None and not value <= self.le:
            raise FieldProblem(f"must be <= {self.le:g}, got {value!r}")


class TimezoneAware(Constraint):
    """The datetime must carry a UTC offset; naive datetimes are ambiguous across machines."""

    def check(self, value: Any) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise FieldProblem("must be timezone-aware (e.g. datetime.now(timezone.utc)), got a naive datetime")

    def __repr__(self) -> str:
        return "TimezoneAware()"


# Standard alphabet, at most two "=" of padding at the very end (with whole 4-char quanta).
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def is_base64(text: str) -> bool:
    """True when ``text`` is standard, padded base64 (the empty string counts)."""
    return len(text) % 4 == 0 and _BASE64_TEXT.fullmatch(text) is not None


class Base64Text(Constraint):
    """The string must be standard, padded base64 (audio payloads on the wire)."""

    def check(self, value: Any) -> None:
        if not is_base64(value):
            raise FieldProblem(
                f"must be base64 text (or bytes, which are encoded for you), got a {len(value)}-character "
                "string that is not base64"
            )

    def __repr__(self) -> str:
        return "Base64Text()"


NonEmptyStr = Annotated[str, NonEmpty()]
Base64Str = Annotated[str, Base64Text()]
NonNegativeInt = Annotated[int, Bounds(ge=0)]
PositiveInt = Annotated[int, Bounds(gt=0)]
PositiveFloat = Annotated[float, Bounds(gt=0)]
UnitInterval = Annotated[float, Bounds(ge=0, le=1)]
AwareDatetime = Annotated[datetime, TimezoneAware()]


# --------------------------------------------------------------------------- conformers


def _type_name(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Annotated:
        return _type_name(get_args(hint)[0])
    if origin is Union:
        members = get_args(hint)
        names = " or ".join(_type_name(member) for member in members if member is not _NoneType)
        return f"{names} or None" if _NoneType in members else names
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    if origin is collections.abc.Callable:
        return "callable"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(repr(member.value) for member in hint)
    return getattr(hint, "__name__", str(hint))


def _expects_dataclass(hint: Any) -> bool:
    if get_origin(hint) in (Union, Annotated):
        return any(_expects_dataclass(arg) for arg in get_args(hint))
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _mismatch(hint: Any, value: Any) -> FieldProblem:
    detail = f"must be {_type_name(hint)}, got {type(value).__name__}"
    if isinstance(value, Mapping) and _expects_dataclass(hint):
        # Dicts are not coerced: a silently accepted snake/camel-case mix-up is worse
        # than an error that says where the JSON form goes.
        detail += " (construct the object, or convert a JSON form with its from_dict())"
    return FieldProblem(detail)


def _identity(value: Any) -> Any:
    return value


def _conform_each(conform_item: _Conformer, values: Any) -> List[Any]:
    conformed = []
    for index, item in enumerate(values):
        try:
            conformed.append(conform_item(item))
        except FieldProblem as problem:
            raise problem.under(f"[{index}]") from None
    return conformed


def _conform_entries(conform_key: _Conformer, conform_entry: _Conformer, mapping: Mapping[Any, Any]) -> Dict[Any, Any]:
    conformed = {}
    for key, entry in mapping.items():
        try:
            conformed[conform_key(key)] = conform_entry(entry)
        except FieldProblem as problem:
            raise problem.under(str(key)) from None
    return conformed


@functools.lru_cache(maxsize=None)
def _conformer(hint: Any) -> _Conformer:
    """Compile ``hint`` into a function that returns the normalised value or raises FieldProblem."""
    origin = get_origin(hint)
    args = get_args(hint)

    if hint is Any:
        return _identity

    if origin is Annotated:
        conform_base = _conformer(args[0])
        constraints = tuple(arg for arg in args[1:] if isinstance(arg, Constraint))

        def conform_annotated(value: Any) -> Any:
            value = conform_base(value)
            for constraint in constraints:
                constraint.check(value)
            return value

        return conform_annotated

    if origin is Union:
        allows_none = _NoneType in args
        members = tuple(_conformer(arg) for arg in args if arg is not _NoneType)
        if len(members) == 1:
            conform_present = members[0]

            def conform_optional(value: Any) -> Any:
                # Optional[X]: let X report its own, more precise, complaint.
                return None if value is None else conform_present(value)

            return conform_optional

        def conform_union(value: Any) -> Any:
            if value is None and allows_none:
                return None
            for conform_member in members:
                try:
                    return conform_member(value)
                except FieldProblem:
                    continue
            raise _mismatch(hint, value)

        return conform_union

    if origin is Literal:

        def conform_literal(value: Any) -> Any:
            if isinstance(value, bool) or value not in args:
                raise FieldProblem(f"must be {_type_name(hint)}, got {_short_repr(value)}")
            return value

        return conform_literal

    if origin in (list, List):
        conform_item = _conformer(args[0]) if args else _identity

        def conform_list(value: Any) -> Any:
            # Tuples are accepted for convenience; a fresh list also means the caller's
            # own list can be mutated later without changing a validated object.
            if not isinstance(value, (list, tuple)):
                raise _mismatch(hint, value)
            return _conform_each(conform_item, value)

        return conform_list

    if origin in (dict, Dict):
        conform_key = _conformer(args[0]) if args else _identity
        conform_entry = _conformer(args[1]) if args else _identity

        def conform_dict(value: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _mismatch(hint, value)
            return _conform_entries(conform_key, conform_entry, value)

        return conform_dict

    if origin is collections.abc.Callable:

        def conform_callable(value: Any) -> Any:
            if not callable(value):
                raise _mismatch(hint, value)
            return value

        return conform_callable

    if isinstance(hint, type):
        return _conformer_for_class(hint)

    raise TypeError(f"kernl_realtime.protocol cannot validate fields annotated {hint!r}")


def _conformer_for_class(cls: type) -> _Conformer:
    if issubclass(cls, Enum):

        def conform_enum(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            try:
                return cls(value)
            except ValueError:
                raise FieldProblem(f"must be {_type_name(cls)}, got {_short_repr(value)}") from None

        return conform_enum

    if cls is float:
        accepted: Tuple[type, ...] = (int, float)  # an int is a perfectly good float
    else:
        accepted = (cls,)
    rejects_bool = cls in (int, float)  # bool is an int subclass, but True is not a count

    def conform_instance(value: Any) -> Any:
        try:
            ok = isinstance(value, accepted) and not (rejects_bool and isinstance(value, bool))
        except TypeError:
            # A typing.Protocol without @runtime_checkable cannot be checked at runtime.
            return value
        if not ok:
            raise _mismatch(cls, value)
        return value

    return conform_instance


# --------------------------------------------------------------------------- class plans


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    name: str
    json_key: str
    hint: Any
    required: bool
    conform: _Conformer


@dataclasses.dataclass(frozen=True)
class _ClassPlan:
    fields: Tuple[_FieldPlan, ...]
    tag: Optional[str]  # the ClassVar ``kind`` written as "kind" in JSON, if the class has one


_PLANS: Dict[type, _ClassPlan] = {}


def _plan(cls: type) -> _ClassPlan:
    plan = _PLANS.get(cls)
    if plan is None:
        # Resolved lazily so forward references between modules are all defined by now.
        hints = type_hints(cls)
        fields = tuple(
            _FieldPlan(
                name=field.name,
                json_key=_camel_case(field.name),
                hint=hints[field.name],
                required=field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING,
                conform=_conformer(hints[field.name]),
            )
            for field in dataclasses.fields(cls)
        )
        field_names = {field.name for field in fields}
        tag = getattr(cls, "kind", None) if "kind" not in field_names else None
        plan = _ClassPlan(fields=fields, tag=tag if isinstance(tag, str) and tag else None)
        _PLANS[cls] = plan  # a racing thread computes the same plan; last write wins harmlessly
    return plan


class Validated:
    """Mixin for frozen dataclasses whose fields are checked against their type hints.

    Subclasses get a ``__post_init__`` that validates every field (types, ``Literal``
    choices, ``Annotated`` constraints), normalises it (tuple → list, enum value → member)
    and then calls :meth:`_post_validate` for rules that span several fields. Any failure
    raises :class:`~kernl_realtime.exceptions.ConfigurationError` naming the field.
    """

    def __post_init__(self) -> None:
        try:
            for field in _plan(type(self)).fields:
                value = getattr(self, field.name)
                try:
                    conformed = field.conform(value)
                except FieldProblem as problem:
                    raise problem.under(field.name) from None
                if conformed is not value:
                    object.__setattr__(self, field.name, conformed)  # frozen: only way to normalise
            self._post_validate()
        except FieldProblem as problem:
            raise problem.as_configuration_error(config_label(type(self))) from None

    def _post_validate(self) -> None:
        """Check rules spanning several fields; raise :class:`FieldProblem`. Default: none."""


# --------------------------------------------------------------------------- JSON codec

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
    plan = _plan(type(instance))
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
    plan = _plan(cls)
    if plan.tag is not None and data.get("kind", plan.tag) != plan.tag:
        raise FieldProblem(f"must be {plan.tag!r}, got {_short_repr(data.get('kind'))}", "kind")
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
def _decoder(hint: Any) -> _Conformer:
    """Compile ``hint`` into a function from JSON data to the Python value (FieldProblem on error)."""
    origin = get_origin(hint)
    args = get_args(hint)

    if origin is Annotated:
        # Constraints are enforced by the constructor the decoded value is passed to.
        return _decoder(args[0])

    if origin is Union:
        members = tuple(arg for arg in args if arg is not _NoneType)
        if len(members) == 1:
            return _decoder(members[0])
        by_kind = _tagged_members(members)
        if by_kind:
            return functools.partial(_decode_tagged, by_kind)
        return _conformer(hint)

    if origin in (list, List):
        decode_item = _decoder(args[0]) if args else _identity

        def decode_list(raw: Any) -> Any:
            if not isinstance(raw, list):
                raise _mismatch(hint, raw)
            return _conform_each(decode_item, raw)

        return decode_list

    if origin in (dict, Dict) and args:
        decode_key = _conformer(args[0])
        decode_entry = _decoder(args[1])

        def decode_dict(raw: Any) -> Any:
            if not isinstance(raw, Mapping):
                raise _mismatch(hint, raw)
            return _conform_entries(decode_key, decode_entry, raw)

        return decode_dict

    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return functools.partial(decode_dataclass, hint)
        for cls, (_, decode) in _CUSTOM_CODECS.items():
            if issubclass(hint, cls):
                return decode

    return _conformer(hint)


def _decode_tagged(by_kind: Dict[str, type], raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise FieldProblem(f"must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("kind")
    cls = by_kind.get(kind) if isinstance(kind, str) else None
    if cls is None:
        expected = ", ".join(repr(tag) for tag in by_kind)
        raise FieldProblem(f"must be one of {expected}, got {_short_repr(kind)}", "kind")
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
