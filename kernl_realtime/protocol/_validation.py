"""Type-hint-driven validation shared by every protocol type.

Protocol dataclasses declare their fields with ordinary type hints. Rules a type alone
cannot express (non-empty strings, numeric bounds, timezone-aware datetimes) ride along
as ``typing.Annotated`` metadata, e.g. ``Optional[NonNegativeInt]``. From those hints this
module compiles, once per class and once per hint (lazily, at first use, so importing the
protocol stays cheap), the functions that check and normalise values:
:class:`Validated` runs them in ``__post_init__`` (tuples become lists, enum values
become enum members). The JSON form is :mod:`kernl_realtime.protocol._json`'s job.

Errors inside this module are :class:`FieldProblem` (a path plus a detail); the public
entry points turn them into :class:`~kernl_realtime.exceptions.ConfigurationError`
(or ``ProtocolError`` for events), so messages always read ``<owner>.<path> <detail>``.
"""

from __future__ import annotations

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
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol._export import type_hints

__all__ = [
    "AwareDatetime",
    "ClassPlan",
    "Conformer",
    "FieldPlan",
    "NoneType",
    "class_plan",
    "conform_each",
    "conform_entries",
    "conformer",
    "identity",
    "mismatch",
    "short_repr",
    "Base64Str",
    "Base64Text",
    "Bounds",
    "Constraint",
    "FieldProblem",
    "NonEmpty",
    "NonEmptyStr",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "StringEnum",
    "TimezoneAware",
    "UnitInterval",
    "Validated",
    "check_value",
    "config_label",
    "is_base64",
]

_T = TypeVar("_T")
NoneType = type(None)
Conformer = Callable[[Any], Any]


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
    label = cls.__dict__.get("_config_label")
    if isinstance(label, str):  # the name of the options field that holds it, e.g. "keepalive"
        return label
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


def short_repr(value: Any, limit: int = 60) -> str:
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
                f"must be base64 text (or bytes, which are encoded for you), got a string of "
                f"{len(value)} characters that is not base64"
            )

    def __repr__(self) -> str:
        return "Base64Text()"


NonEmptyStr = Annotated[str, NonEmpty()]
Base64Str = Annotated[str, Base64Text()]
NonNegativeInt = Annotated[int, Bounds(ge=0)]
NonNegativeFloat = Annotated[float, Bounds(ge=0)]
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
        names = " or ".join(_type_name(member) for member in members if member is not NoneType)
        return f"{names} or None" if NoneType in members else names
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


def mismatch(hint: Any, value: Any) -> FieldProblem:
    detail = f"must be {_type_name(hint)}, got {type(value).__name__}"
    if isinstance(value, Mapping) and _expects_dataclass(hint):
        # Dicts are not coerced: a silently accepted snake/camel-case mix-up is worse
        # than an error that says where the JSON form goes.
        detail += " (construct the object, or convert a JSON form with its from_dict())"
    return FieldProblem(detail)


def identity(value: Any) -> Any:
    return value


def conform_each(conform_item: Conformer, values: Any) -> List[Any]:
    conformed = []
    for index, item in enumerate(values):
        try:
            conformed.append(conform_item(item))
        except FieldProblem as problem:
            raise problem.under(f"[{index}]") from None
    return conformed


def conform_entries(conform_key: Conformer, conform_entry: Conformer, mapping: Mapping[Any, Any]) -> Dict[Any, Any]:
    conformed = {}
    for key, entry in mapping.items():
        try:
            conformed[conform_key(key)] = conform_entry(entry)
        except FieldProblem as problem:
            raise problem.under(str(key)) from None
    return conformed


@functools.lru_cache(maxsize=None)
def conformer(hint: Any) -> Conformer:
    """Compile ``hint`` into a function that returns the normalised value or raises FieldProblem."""
    origin = get_origin(hint)
    args = get_args(hint)

    if hint is Any:
        return identity

    if origin is Annotated:
        conform_base = conformer(args[0])
        constraints = tuple(arg for arg in args[1:] if isinstance(arg, Constraint))

        def conform_annotated(value: Any) -> Any:
            value = conform_base(value)
            for constraint in constraints:
                constraint.check(value)
            return value

        return conform_annotated

    if origin is Union:
        allows_none = NoneType in args
        members = tuple(conformer(arg) for arg in args if arg is not NoneType)
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
            raise mismatch(hint, value)

        return conform_union

    if origin is Literal:

        def conform_literal(value: Any) -> Any:
            if isinstance(value, bool) or value not in args:
                raise FieldProblem(f"must be {_type_name(hint)}, got {short_repr(value)}")
            return value

        return conform_literal

    if origin in (list, List):
        conform_item = conformer(args[0]) if args else identity

        def conform_list(value: Any) -> Any:
            # Tuples are accepted for convenience; a fresh list also means the caller's
            # own list can be mutated later without changing a validated object.
            if not isinstance(value, (list, tuple)):
                raise mismatch(hint, value)
            return conform_each(conform_item, value)

        return conform_list

    if origin in (dict, Dict):
        conform_key = conformer(args[0]) if args else identity
        conform_entry = conformer(args[1]) if args else identity

        def conform_dict(value: Any) -> Any:
            if not isinstance(value, Mapping):
                raise mismatch(hint, value)
            return conform_entries(conform_key, conform_entry, value)

        return conform_dict

    if origin is collections.abc.Callable:

        def conform_callable(value: Any) -> Any:
            if not callable(value):
                raise mismatch(hint, value)
            return value

        return conform_callable

    if isinstance(hint, type):
        return _conformer_for_class(hint)

    raise TypeError(f"kernl_realtime.protocol cannot validate fields annotated {hint!r}")


def _conformer_for_class(cls: type) -> Conformer:
    if issubclass(cls, Enum):

        def conform_enum(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            try:
                return cls(value)
            except ValueError:
                raise FieldProblem(f"must be {_type_name(cls)}, got {short_repr(value)}") from None

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
            raise mismatch(cls, value)
        return value

    return conform_instance


def check_value(name: str, hint: Any, value: Any) -> Any:
    """Validate one value that is not a dataclass field (e.g. a ``timeout`` argument).

    The same rules and messages as fields: ``check_value("timeout", PositiveFloat, -1)``
    raises ``ConfigurationError("timeout must be > 0, got -1", field="timeout")``.

    Returns:
        The conformed value.
    """
    try:
        return conformer(hint)(value)
    except FieldProblem as problem:
        raised = problem.under(name)
        raise ConfigurationError(raised.describe(), field=raised.path) from None


# --------------------------------------------------------------------------- class plans


@dataclasses.dataclass(frozen=True)
class FieldPlan:
    name: str
    json_key: str
    hint: Any
    required: bool
    conform: Conformer


@dataclasses.dataclass(frozen=True)
class ClassPlan:
    fields: Tuple[FieldPlan, ...]
    tag: Optional[str]  # the ClassVar ``kind`` written as "kind" in JSON, if the class has one


_PLANS: Dict[type, ClassPlan] = {}


def class_plan(cls: type) -> ClassPlan:
    plan = _PLANS.get(cls)
    if plan is None:
        # Resolved lazily so forward references between modules are all defined by now.
        hints = type_hints(cls)
        fields = tuple(
            FieldPlan(
                name=field.name,
                json_key=_camel_case(field.name),
                hint=hints[field.name],
                required=field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING,
                conform=conformer(hints[field.name]),
            )
            for field in dataclasses.fields(cls)
        )
        field_names = {field.name for field in fields}
        tag = getattr(cls, "kind", None) if "kind" not in field_names else None
        plan = ClassPlan(fields=fields, tag=tag if isinstance(tag, str) and tag else None)
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
            for field in class_plan(type(self)).fields:
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
