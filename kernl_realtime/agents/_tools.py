"""Tools the model can call: plain Python functions with a derived JSON schema.

``@tool`` reads the function's name, docstring and type hints; ``Tool(fn, parameters=...)``
takes an explicit JSON Schema instead. Either way the model's arguments are checked
before the function runs, and a mistake comes back to the model as an error naming
the field, so it can correct itself.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar, Union, overload

from ..exceptions import ConfigurationError
from ..protocol import FunctionToolSpec
from ._schema import ArgumentError, Converter, converter_for, object_schema, validate_json_schema

__all__ = ["Tool", "Toolkit", "tool", "ArgumentError"]

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTEXT_NAMES = ("context", "ctx")
_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_SECTION_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: Optional[str]) -> Tuple[str, Dict[str, str]]:
    """``(description, {param: description})`` from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: List[str] = []
    params: Dict[str, str] = {}
    index = 0
    while index < len(lines) and not _SECTION_HEADER.match(lines[index]):
        summary.append(lines[index])
        index += 1
    current: Optional[str] = None
    in_args = False
    for line in lines[index:]:
        if _ARGS_HEADER.match(line):
            in_args, current = True, None
            continue
        if _SECTION_HEADER.match(line) and not line.startswith((" ", "\t")):
            in_args, current = False, None
            continue
        if not in_args:
            continue
        match = _ARG_LINE.match(line)
        indent = len(line) - len(line.lstrip())
        if match and indent <= 4:
            current = match.group(1).lstrip("*")
            params[current] = match.group(3).strip()
        elif current is not None and line.strip():
            params[current] = (params[current] + " " + line.strip()).strip()
    return "\n".join(summary).strip(), params


class Tool:
    """A function the model may call.

    Build one with :func:`tool` (schema from type hints) or directly with an explicit
    JSON Schema: ``Tool(fn, name="lookup", parameters={...})``. A ``Tool`` stays
    callable like the function it wraps.

    Args:
        fn: The function. Its first parameter receives the session's ``context`` when it
            is named ``context`` or ``ctx`` (or ``takes_context=True``).
        name: Tool name for the model (default: the function's name).
        description: What the tool does (default: the docstring's text before ``Args:``).
        parameters: Explicit JSON Schema of the arguments (default: derived from the hints).
        timeout: Seconds the session waits for this tool before answering the model
            with a timeout error (default: the session's ``tool_timeout``).
        takes_context: Override the detection of the context parameter.

    Raises:
        ConfigurationError: Bad name, unsupported parameter type, or no way to derive a schema.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        parameters: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
        takes_context: Optional[bool] = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"a tool needs a callable, got {type(fn).__name__}", field="fn")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"tool name {self.name!r} is invalid: use 1-64 letters, digits, '_' or '-'", field="name"
            )
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ConfigurationError(f"tool {self.name!r}: timeout must be a positive number, got {timeout!r}", field="timeout")
        self.timeout = None if timeout is None else float(timeout)
        doc_description, doc_params = _parse_docstring(getattr(fn, "__doc__", None))
        self.description = description if description is not None else doc_description
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        if takes_context is None:
            takes_context = bool(params) and params[0].name in _CONTEXT_NAMES
        self.takes_context = takes_context
        if takes_context:
            params = params[1:]
        self._converter: Optional[Converter] = None
        if parameters is not None:
            if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
                raise ConfigurationError(f"tool {self.name!r}: parameters must be a JSON Schema object", field="parameters")
            self.parameters = parameters
        else:
            self._converter = self._derive(fn, params, doc_params)
            self.parameters = self._converter.schema

    def _derive(self, fn: Callable[..., Any], params: Sequence[inspect.Parameter], docs: Dict[str, str]) -> Converter:
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # noqa: BLE001 - a forward reference that cannot resolve
            raise ConfigurationError(f"tool {self.name!r}: cannot resolve type hints ({exc})", field=self.name) from exc
        fields = []
        self._positional: List[str] = []
        for param in params:
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise ConfigurationError(
                    f"tool {self.name!r}: *args/**kwargs cannot be described to the model; "
                    "name each parameter or pass parameters=<JSON Schema>",
                    field=f"{self.name}.{param.name}",
                )
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                self._positional.append(param.name)
            hint = hints.get(param.name, Any if param.annotation is inspect.Parameter.empty else param.annotation)
            conv = converter_for(hint, f"{self.name}.{param.name}")
            required = param.default is inspect.Parameter.empty
            fields.append((param.name, conv, required, docs.get(param.name)))
        return object_schema(fields, lambda values: values)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    def spec(self) -> FunctionToolSpec:
        """The declaration sent to the model in the session config."""
        return FunctionToolSpec(name=self.name, parameters=self.parameters, description=self.description or None)

    def parse_arguments(self, arguments: Union[str, Dict[str, Any], None]) -> Dict[str, Any]:
        """Decode and check the model's JSON arguments.

        Returns:
            Keyword arguments for the function (converted: enums, dataclasses, tuples).

        Raises:
            ArgumentError: Not JSON, not an object, or a field that does not match.
        """
        if arguments is None or arguments == "":
            value: Any = {}
        elif isinstance(arguments, str):
            try:
                value = json.loads(arguments)
            except ValueError as exc:
                raise ArgumentError("", f"arguments are not valid JSON ({exc})") from None
        else:
            value = arguments
        if not isinstance(value, dict):
            raise ArgumentError("", f"arguments must be a JSON object, got {type(value).__name__}")
        if self._converter is not None:
            return dict(self._converter.convert(value, ""))
        validate_json_schema(value, self.parameters)
        return value

    def invoke(self, context: Any, arguments: Union[str, Dict[str, Any], None]) -> Any:
        """Check the arguments and run the function on the calling thread.

        Raises:
            ArgumentError: Invalid arguments (the function did not run).
            Exception: Whatever the function raised.
        """
        kwargs = self.parse_arguments(arguments)
        positional = [kwargs.pop(name) for name in getattr(self, "_positional", ()) if name in kwargs]
        if self.takes_context:
            return self.fn(context, *positional, **kwargs)
        return self.fn(*positional, **kwargs)


@overload
def tool(fn: F) -> Tool: ...


@overload
def tool(
    fn: None = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    timeout: Optional[float] = None,
    takes_context: Optional[bool] = None,
) -> Callable[[F], Tool]: ...


def tool(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    timeout: Optional[float] = None,
    takes_context: Optional[bool] = None,
) -> Any:
    """Turn a function into a :class:`Tool`; usable as ``@tool`` or ``@tool(timeout=5)``.

    The schema comes from the type hints (parameters with defaults are optional), the
    description from the docstring, parameter descriptions from its ``Args:`` section.

    Example::

        @tool
        def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
            \"\"\"Current weather for a city.\"\"\"
            return {"city": city, "temp": 18, "unit": unit}
    """
    def wrap(func: Callable[..., Any]) -> Tool:
        return Tool(func, name=name, description=description, timeout=timeout, takes_context=takes_context)

    if fn is not None:
        return wrap(fn)
    return wrap


class Toolkit:
    """A named group of tools, added to an agent with ``toolkits=[...]``.

    Args:
        tools: Tools or plain functions (wrapped with :func:`tool`).
        name: A label for error messages and logs.
    """

    def __init__(self, tools: Iterable[Union[Tool, Callable[..., Any]]] = (), *, name: str = "toolkit") -> None:
        self.name = name
        self.tools: List[Tool] = [as_tool(t) for t in tools]

    def __iter__(self) -> typing.Iterator[Tool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    def __repr__(self) -> str:
        return f"Toolkit(name={self.name!r}, tools={[t.name for t in self.tools]!r})"


def as_tool(value: Union[Tool, Callable[..., Any]]) -> Tool:
    """A :class:`Tool` as is; a plain function through :func:`tool`."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool(value)
    raise ConfigurationError(f"expected a Tool or a function, got {type(value).__name__}", field="tools")
