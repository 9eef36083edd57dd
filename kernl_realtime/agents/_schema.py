"""JSON Schema from Python type hints, and validation of the model's arguments against them.

One :class:`Converter` per parameter type does both jobs, so the schema the model sees
and the check its arguments get can never disagree. Supported hints: ``str``, ``int``,
``float``, ``bool``, ``None``, ``Optional[T]``/``Union``, ``list[T]``/``List[T]``,
``tuple[T, ...]`` and fixed tuples, ``dict[str, T]``, ``Literal[...]``, ``Enum``
subclasses, dataclasses (nested), ``Any``.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..exceptions import ConfigurationError

__all__ = ["ArgumentError", "Converter", "converter_for", "object_schema", "validate_json_schema", "required_names"]

_NoneType = type(None)

if sys.version_info >= (3, 10):  # pragma: no cover - depends on the interpreter
    from types import UnionType as _UnionType
else:  # pragma: no cover
    _UnionType = None


class ArgumentError(ValueError):
    """An argument the model sent does not match the tool's parameters.

    Attributes:
        path: Where the bad value is, e.g. ``"items[2].name"`` (empty for the whole object).
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(path: str, key: Union[str, int]) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Converter:
    """Schema plus conversion for one type; ``convert`` raises :class:`ArgumentError`."""

    schema: Dict[str, Any]

    def convert(self, value: Any, path: str) -> Any:
        raise NotImplementedError


class _Scalar(Converter):
    def __init__(self, python_type: type) -> None:
        self.python_type = python_type
        self.schema = {
            str: {"type": "string"},
            int: {"type": "integer"},
            float: {"type": "number"},
            bool: {"type": "boolean"},
        }[python_type]

    def convert(self, value: Any, path: str) -> Any:
        kind = self.python_type
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif isinstance(value, str):
            return value
        raise ArgumentError(path, f"expected {self.schema['type']}, got {_json_type(value)} {_describe(value)}")


class _AnyValue(Converter):
    def __init__(self) -> None:
        self.schema = {}

    def convert(self, value: Any, path: str) -> Any:
        return value


class _NoneValue(Converter):
    def __init__(self) -> None:
        self.schema = {"type": "null"}

    def convert(self, value: Any, path: str) -> Any:
        if value is not None:
            raise ArgumentError(path, f"expected null, got {_describe(value)}")
        return None


class _Union(Converter):
    def __init__(self, options: Sequence[Converter]) -> None:
        self.options = list(options)
        non_null = [o for o in self.options if not isinstance(o, _NoneValue)]
        nullable = len(non_null) < len(self.options)
        if len(non_null) == 1 and nullable:
            # Optional[T]: T's schema, with null allowed.
            self.schema = {"anyOf": [non_null[0].schema, {"type": "null"}]}
        else:
            self.schema = {"anyOf": [o.schema for o in self.options]}

    def convert(self, value: Any, path: str) -> Any:
        non_null = [o for o in self.options if not isinstance(o, _NoneValue)]
        if value is not None and len(non_null) == 1:
            return non_null[0].convert(value, path)  # Optional[T]: T's own, precise error
        problems = []
        for option in self.options:
            try:
                return option.convert(value, path)
            except ArgumentError as exc:
                problems.append(exc.problem)
        raise ArgumentError(path, "matches none of the allowed types (" + "; ".join(problems) + ")")


class _Literal(Converter):
    def __init__(self, values: Sequence[Any]) -> None:
        self.values = list(values)
        self.schema = {"enum": list(values)}
        kinds = {_json_type(v) for v in values}
        if len(kinds) == 1 and "null" not in kinds:
            kind = kinds.pop()
            self.schema["type"] = "integer" if kind == "number" and all(isinstance(v, int) for v in values) else kind

    def convert(self, value: Any, path: str) -> Any:
        for allowed in self.values:
            if value == allowed and type(value) is type(allowed):
                return allowed
        choices = ", ".join(repr(v) for v in self.values)
        raise ArgumentError(path, f"expected one of {choices}, got {_describe(value)}")


class _Enum(Converter):
    def __init__(self, enum_type: "type[enum.Enum]") -> None:
        self.enum_type = enum_type
        self.literal = _Literal([member.value for member in enum_type])
        self.schema = dict(self.literal.schema)

    def convert(self, value: Any, path: str) -> Any:
        return self.enum_type(self.literal.convert(value, path))


class _List(Converter):
    def __init__(self, item: Converter, container: type = list) -> None:
        self.item = item
        self.container = container
        self.schema = {"type": "array", "items": item.schema}

    def convert(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise ArgumentError(path, f"expected array, got {_json_type(value)} {_describe(value)}")
        items = [self.item.convert(v, _join(path, i)) for i, v in enumerate(value)]
        return self.container(items)


class _FixedTuple(Converter):
    def __init__(self, items: Sequence[Converter]) -> None:
        self.items = list(items)
        self.schema = {
            "type": "array",
            "prefixItems": [c.schema for c in self.items],
            "items": False,
            "minItems": len(self.items),
            "maxItems": len(self.items),
        }

    def convert(self, value: Any, path: str) -> Any:
        if not isinstance(value, list) or len(value) != len(self.items):
            raise ArgumentError(path, f"expected an array of {len(self.items)} items, got {_describe(value)}")
        return tuple(c.convert(v, _join(path, i)) for i, (c, v) in enumerate(zip(self.items, value)))


class _Dict(Converter):
    def __init__(self, value: Converter) -> None:
        self.value = value
        self.schema = {"type": "object", "additionalProperties": value.schema}

    def convert(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise ArgumentError(path, f"expected object, got {_json_type(value)} {_describe(value)}")
        return {k: self.value.convert(v, _join(path, str(k))) for k, v in value.items()}


class _Fields(Converter):
    """An object with named fields: a dataclass, or a function's parameter list."""

    def __init__(
        self,
        fields: Sequence[Tuple[str, Converter, bool, Optional[str]]],
        build: Callable[[Dict[str, Any]], Any],
        title: Optional[str] = None,
    ) -> None:
        self.fields = {name: (conv, required) for name, conv, required, _ in fields}
        self.build = build
        properties: Dict[str, Any] = {}
        for name, conv, _, description in fields:
            prop = dict(conv.schema)
            if description:
                prop["description"] = description
            properties[name] = prop
        self.schema = {"type": "object", "properties": properties, "additionalProperties": False}
        required = [name for name, _, req, _ in fields if req]
        if required:
            self.schema["required"] = required
        if title:
            self.schema["title"] = title

    def convert(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise ArgumentError(path, f"expected object, got {_json_type(value)} {_describe(value)}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise ArgumentError(_join(path, str(unknown[0])), f"unknown field (expected one of {', '.join(self.fields) or 'none'})")
        converted: Dict[str, Any] = {}
        for name, (conv, required) in self.fields.items():
            if name in value:
                converted[name] = conv.convert(value[name], _join(path, name))
            elif required:
                raise ArgumentError(_join(path, name), "required field is missing")
        return self.build(converted)


def _dataclass_converter(cls: type, seen: Tuple[type, ...]) -> Converter:
    if cls in seen:
        raise ConfigurationError(f"recursive dataclass {cls.__name__} cannot be a tool parameter type", field=cls.__name__)
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING  # type: ignore[misc]
        conv = converter_for(hints.get(field.name, Any), f"{cls.__name__}.{field.name}", seen + (cls,))
        fields.append((field.name, conv, not has_default, field.metadata.get("description")))
    return _Fields(fields, lambda values: cls(**values), title=cls.__name__)


def converter_for(hint: Any, where: str, seen: Tuple[type, ...] = ()) -> Converter:
    """The converter for a type hint.

    Args:
        hint: A resolved type hint.
        where: Where the hint appears (for the error message of an unsupported hint).

    Raises:
        ConfigurationError: The hint is not supported.
    """
    if hint is Any or hint is object:
        return _AnyValue()
    if hint is None or hint is _NoneType:
        return _NoneValue()
    if hint in (str, int, float, bool):
        return _Scalar(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _Enum(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint, seen)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return converter_for(args[0], where, seen)
    if origin is Union or (_UnionType is not None and isinstance(hint, _UnionType)):
        return _Union([converter_for(a, where, seen) for a in args])
    if origin is typing.Literal:
        return _Literal(args)
    if hint is list or origin in (list, typing.List):
        return _List(converter_for(args[0], where, seen) if args else _AnyValue())
    if hint in (set, frozenset) or origin in (set, frozenset):
        return _List(converter_for(args[0], where, seen) if args else _AnyValue(), container=origin or hint)
    if hint is tuple or origin is tuple:
        if not args:
            return _List(_AnyValue(), container=tuple)
        if len(args) == 2 and args[1] is Ellipsis:
            return _List(converter_for(args[0], where, seen), container=tuple)
        return _FixedTuple([converter_for(a, where, seen) for a in args])
    if hint is dict or origin is dict:
        if args and args[0] is not str:
            raise ConfigurationError(f"{where}: dict keys must be str (JSON object keys), got {args[0]!r}", field=where)
        return _Dict(converter_for(args[1], where, seen) if args else _AnyValue())
    raise ConfigurationError(
        f"{where}: type {hint!r} is not supported for tool parameters (use str, int, float, bool, "
        "Optional, list, tuple, dict, Literal, an Enum or a dataclass; or pass an explicit JSON schema)",
        field=where,
    )


def object_schema(
    fields: Sequence[Tuple[str, Converter, bool, Optional[str]]], build: Callable[[Dict[str, Any]], Any]
) -> Converter:
    """A converter for a parameter list: ``(name, converter, required, description)`` each."""
    return _Fields(fields, build)


# -- explicit JSON Schema (Tool(parameters=...)) ------------------------------------------

_TYPE_CHECKS: Dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def validate_json_schema(value: Any, schema: Any, path: str = "") -> None:
    """Check ``value`` against the common subset of JSON Schema models use.

    Covers ``type`` (string or list), ``enum``, ``const``, ``properties``, ``required``,
    ``additionalProperties`` (bool or schema), ``items``, ``anyOf``/``oneOf``. Other
    keywords are accepted without checking.

    Raises:
        ArgumentError: naming the first offending field.
    """
    if not isinstance(schema, dict):
        return
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            problems = []
            for option in options:
                try:
                    validate_json_schema(value, option, path)
                    break
                except ArgumentError as exc:
                    problems.append(exc.problem)
            else:
                raise ArgumentError(path, "matches none of the allowed schemas (" + "; ".join(problems) + ")")
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_TYPE_CHECKS.get(t, lambda v: True)(value) for t in allowed):
            raise ArgumentError(path, f"expected {' or '.join(allowed)}, got {_json_type(value)} {_describe(value)}")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(v) for v in schema["enum"])
        raise ArgumentError(path, f"expected one of {choices}, got {_describe(value)}")
    if "const" in schema and value != schema["const"]:
        raise ArgumentError(path, f"expected {schema['const']!r}, got {_describe(value)}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                raise ArgumentError(_join(path, str(name)), "required field is missing")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                validate_json_schema(item, properties[name], _join(path, str(name)))
            elif extra is False:
                raise ArgumentError(_join(path, str(name)), "unknown field")
            elif isinstance(extra, dict):
                validate_json_schema(item, extra, _join(path, str(name)))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            validate_json_schema(item, schema["items"], _join(path, index))


def required_names(schema: Dict[str, Any]) -> List[str]:
    """The ``required`` list of an object schema (empty if none)."""
    return list(schema.get("required") or [])
