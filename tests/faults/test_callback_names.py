"""Issue 10, class 3: on()/once()/off() reject unknown names with a suggestion; off(name) clears a name."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from kernl_realtime import SERVER_EVENT_TYPES, ConfigurationError, RealtimeConnectOptions
from kernl_realtime.providers import openai
from servers import ScriptedServer, text_delta


@pytest.fixture
def conn(server: ScriptedServer) -> Any:
    connection = openai.realtime("gpt-realtime", api_key="sk-test-names", base_url=server.base_url).connect(
        RealtimeConnectOptions(pull=False), timeout=5
    )
    yield connection
    connection.close()


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("transcript.delta", "transcript.output.delta"),
        ("errors", "'error'"),
        ("Event", "'event'"),
        ("text.delta", "text.output.delta"),
        ("response_done", "response.done"),
        ("reconnect", "reconnected"),
    ],
)
@pytest.mark.parametrize("method", ["on", "once", "off"])
def test_unknown_names_are_rejected_with_a_suggestion(conn: Any, method: str, typo: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        getattr(conn, method)(typo, lambda *args: None)
    message = str(info.value)
    assert repr(typo) in message and "did you mean" in message and suggestion in message
    assert info.value.field == "name"


def test_decorator_form_rejects_the_name_before_decorating(conn: Any) -> None:
    with pytest.raises(ConfigurationError, match="did you mean"):
        conn.on("transcript.delta")


def test_hopeless_names_list_the_valid_ones(conn: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        conn.on("zzzz", print)
    assert "did you mean" not in str(info.value) and "'event'" in str(info.value)
    with pytest.raises(ConfigurationError):
        conn.on(42, print)  # type: ignore[arg-type]


def test_every_event_kind_and_notification_is_accepted(conn: Any) -> None:
    names = list(SERVER_EVENT_TYPES) + ["event", "error", "status", "interrupted", "reconnecting", "reconnected", "stalled", "*"]
    for name in names:
        conn.on(name, print)
        conn.off(name, print)


def test_off_without_a_function_removes_every_callback_of_that_name(server: ScriptedServer, conn: Any) -> None:
    old: List[str] = []
    new: List[str] = []
    kept: List[str] = []
    done = threading.Event()
    # A notebook cell run twice registers two different lambdas...
    conn.on("text.output.delta", lambda e: old.append(e.delta))
    conn.on("text.output.delta", lambda e: old.append(e.delta))
    conn.on("event", lambda e: kept.append(e.kind))
    # ...and the fixed cell clears the name first.
    conn.off("text.output.delta")
    conn.on("text.output.delta", lambda e: (new.append(e.delta), done.set()))
    server.accept().send(text_delta(7))
    assert done.wait(5)
    assert old == [] and new == ["7"]
    assert "text.output.delta" in kept  # other names untouched
    conn.off("text.output.delta")
    conn.off("text.output.delta")  # idempotent
