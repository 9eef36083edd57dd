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
from kernl_realtime.protocol._constraints import (
    AwareDatetime,
    Base64Str,
    Base64Text,
    Bounds,
    Constraint,
    FieldProblem,
    NonEmpty,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringEnum,
    TimezoneAware,
    UnitInterval,
    config_label,
    is_base64,
    short_repr,
)
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


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


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
