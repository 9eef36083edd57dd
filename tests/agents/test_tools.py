"""@tool: JSON Schema from type hints, argument checking, Toolkit and agent validation."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple

import pytest

from kernl_realtime import ConfigurationError, RealtimeAgent, Tool, Toolkit, tool
from kernl_realtime.agents import ArgumentError


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Address:
    street: str
    zip_code: int
    tags: List[str] = field(default_factory=list)


@dataclass
class Order:
    item: str
    address: Address
    quantity: int = 1


def test_scalars_defaults_and_docstring() -> None:
    @tool
    def book(city: str, nights: int, budget: float, breakfast: bool = False) -> str:
        """Book a hotel room.

        Args:
            city: Where to stay.
            nights: How many nights.
        """
        return "ok"

    assert book.name == "book"
    assert book.description == "Book a hotel room."
    assert book.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Where to stay."},
            "nights": {"type": "integer", "description": "How many nights."},
            "budget": {"type": "number"},
            "breakfast": {"type": "boolean"},
        },
        "additionalProperties": False,
        "required": ["city", "nights", "budget"],
    }
    spec = book.spec()
    assert spec.name == "book" and spec.description == "Book a hotel room." and spec.parameters == book.parameters
    assert book("Paris", 2, 100.0) == "ok"  # still callable


def test_optional_containers_literal_enum() -> None:
    @tool
    def f(
        note: Optional[str],
        ids: List[int],
        pair: Tuple[str, int],
        many: Tuple[float, ...],
        scores: Dict[str, float],
        unit: Literal["c", "f"],
        color: Color,
        anything: Any = None,
    ) -> None:
        """Doc."""

    props = f.parameters["properties"]
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["ids"] == {"type": "array", "items": {"type": "integer"}}
    assert props["pair"]["prefixItems"] == [{"type": "string"}, {"type": "integer"}]
    assert props["pair"]["minItems"] == props["pair"]["maxItems"] == 2
    assert props["many"] == {"type": "array", "items": {"type": "number"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["unit"] == {"enum": ["c", "f"], "type": "string"}
    assert props["color"] == {"enum": ["red", "green"], "type": "string"}
    assert props["anything"] == {}
    assert f.parameters["required"] == ["note", "ids", "pair", "many", "scores", "unit", "color"]


def test_builtin_generics_and_pep604() -> None:
    @tool
    def g(a: "list[str]", b: "dict[str, int]", c: "int | None" = None) -> None:
        """Doc."""

    props = g.parameters["properties"]
    assert props["a"] == {"type": "array", "items": {"type": "string"}}
    assert props["b"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["c"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}


def test_nested_dataclasses_schema_and_conversion() -> None:
    received: List[Order] = []

    @tool
    def place(order: Order) -> str:
        """Place an order."""
        received.append(order)
        return "placed"

    schema = place.parameters["properties"]["order"]
    assert schema["title"] == "Order" and schema["required"] == ["item", "address"]
    address = schema["properties"]["address"]
    assert address["properties"]["zip_code"] == {"type": "integer"}
    assert address["required"] == ["street", "zip_code"]
    args = {"order": {"item": "tea", "address": {"street": "Main", "zip_code": 12345}}}
    assert place.invoke(None, json.dumps(args)) == "placed"
    assert received == [Order("tea", Address("Main", 12345), 1)]


def test_arguments_are_converted() -> None:
    @tool
    def h(color: Color, pair: Tuple[str, int], ratio: float, n: int) -> Any:
        """Doc."""
        return color, pair, ratio, n

    assert h.invoke(None, '{"color": "green", "pair": ["a", 1], "ratio": 2, "n": 3.0}') == (Color.GREEN, ("a", 1), 2.0, 3)


@pytest.mark.parametrize(
    "arguments, path, problem",
    [
        ('{"city": 3}', "city", "expected string"),
        ("{}", "city", "required field is missing"),
        ('{"city": "x", "unit": "k"}', "unit", "expected one of 'c', 'f'"),
        ('{"city": "x", "days": "2"}', "days", "expected integer"),
        ('{"city": "x", "days": true}', "days", "expected integer"),
        ('{"city": "x", "zzz": 1}', "zzz", "unknown field"),
        ('{"city": "x", "stops": ["a", 2]}', "stops[1]", "expected string"),
        ("not json", "", "not valid JSON"),
        ("[1]", "", "must be a JSON object"),
    ],
)
def test_invalid_arguments_name_the_field(arguments: str, path: str, problem: str) -> None:
    @tool
    def forecast(city: str, unit: Literal["c", "f"] = "c", days: int = 1, stops: Optional[List[str]] = None) -> str:
        """Doc."""
        raise AssertionError("must not run with invalid arguments")

    with pytest.raises(ArgumentError) as info:
        forecast.invoke(None, arguments)
    assert info.value.path == path
    assert problem in str(info.value)


def test_nested_field_path_in_error() -> None:
    @tool
    def place(order: Order) -> None:
        """Doc."""

    with pytest.raises(ArgumentError) as info:
        place.invoke(None, {"order": {"item": "tea", "address": {"street": "Main", "zip_code": "x"}}})
    assert info.value.path == "order.address.zip_code"


def test_context_parameter_is_not_in_the_schema() -> None:
    @tool
    def whoami(context: Dict[str, str], greeting: str = "hi") -> str:
        """Doc."""
        return f"{greeting} {context['user']}"

    assert "context" not in whoami.parameters["properties"]
    assert whoami.takes_context
    assert whoami.invoke({"user": "ada"}, '{"greeting": "hello"}') == "hello ada"


def test_explicit_schema_tool_is_validated() -> None:
    def lookup(**kwargs: Any) -> Any:
        return kwargs

    explicit = Tool(
        lookup,
        name="lookup",
        description="Find a thing",
        parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"], "additionalProperties": False},
    )
    assert explicit.invoke(None, '{"q": "x"}') == {"q": "x"}
    with pytest.raises(ArgumentError, match="q: required"):
        explicit.invoke(None, "{}")
    with pytest.raises(ArgumentError, match="q: expected string"):
        explicit.invoke(None, '{"q": 1}')


def test_unsupported_hints_and_bad_names_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not supported"):
        @tool
        def bad(x: complex) -> None:
            """Doc."""

    with pytest.raises(ConfigurationError, match=r"\*args"):
        @tool
        def star(*values: int) -> None:
            """Doc."""

    with pytest.raises(ConfigurationError, match="name"):
        Tool(lambda: None, name="has space")


def test_duplicate_tool_names_fail_when_the_agent_is_built() -> None:
    @tool
    def ping() -> str:
        """Doc."""
        return "pong"

    other = Tool(lambda: "x", name="ping")
    with pytest.raises(ConfigurationError, match="ping"):
        RealtimeAgent("a", tools=[ping], toolkits=[Toolkit([other], name="kit")])
    agent = RealtimeAgent("a", tools=[ping], toolkits=[Toolkit([lambda_tool()], name="kit")])
    assert [t.name for t in agent.tools] == ["ping", "helper"]
    assert agent.tool("helper") is not None and agent.tool("nope") is None


def lambda_tool() -> Tool:
    def helper(x: int) -> int:
        """Doubles."""
        return 2 * x

    return tool(helper)


def test_instructions_from_context() -> None:
    agent = RealtimeAgent("a", instructions=lambda ctx: f"Call the user {ctx['name']}.")
    assert agent.instructions({"name": "Ada"}) == "Call the user Ada."
    broken = RealtimeAgent("b", instructions=lambda ctx: ctx["missing"])
    with pytest.raises(ConfigurationError, match="instructions function raised"):
        broken.instructions({})
    with pytest.raises(ConfigurationError, match="name"):
        RealtimeAgent("  ")
