"""RealtimeSession end to end against the simulator: config, ask(), tools, events, usage."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import pytest

from kernl_realtime import (
    ConfigurationError,
    FunctionToolSpec,
    RealtimeAgent,
    RealtimeSession,
    RealtimeSessionConfig,
    ReceiveTimeout,
    SessionUpdateEvent,
    Tool,
    ToolCallRecord,
    Turn,
    tool,
)
from kernl_realtime.simulator import Simulator

from agent_helpers import API_KEY, dialect, make_model, sim, tone  # noqa: F401 - fixtures


@tool
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


def response_creates(sim: Simulator) -> int:
    return sum(1 for m in sim.received() if m["type"] == "response.create")


def test_connect_returns_after_the_full_config_is_confirmed(sim: Simulator, dialect: str) -> None:
    agent = RealtimeAgent("helper", instructions=lambda ctx: f"Help {ctx}.", tools=[get_weather], voice="Ara" if dialect == "xai" else "marin")
    with RealtimeSession(agent, model=make_model(sim, dialect), context="Ada") as session:
        config = sim.session_info()["config"]
        assert config["instructions"] == "Help Ada."
        assert [t["name"] for t in config["tools"]] == ["get_weather"]
        assert session.id and session.status == "connected"
        assert session.output_format.sample_rate == 24000
    assert session.status == "closed"


def test_tool_turn_ends_with_the_spoken_answer_without_manual_response_create(sim: Simulator, dialect: str) -> None:
    agent = RealtimeAgent("helper", "Be brief.", tools=[get_weather])
    with RealtimeSession(agent, model=make_model(sim, dialect)) as session:
        turn = session.ask("What is the weather in Paris?", timeout=10)
    assert turn.status == "completed"
    assert turn.text == 'The get_weather tool says {"city": "Paris", "temp_c": 18}.'
    assert [(c.name, c.arguments, c.result, c.status) for c in turn.tool_calls] == [
        ("get_weather", {"city": "Paris"}, {"city": "Paris", "temp_c": 18}, "completed")
    ]
    assert len(turn.audio) > 0 and turn.sample_rate == 24000 and len(turn.response_ids) == 2
    # One response.create from ask(), one from the session after the tool result.
    assert response_creates(sim) == 2
    kinds = [m["type"] for m in sim.received()]
    assert kinds.index("conversation.item.create", kinds.index("response.create") + 1) < len(kinds) - 1


def test_two_calls_in_one_response_run_concurrently_and_the_model_continues_once(sim: Simulator) -> None:
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def get_time(city: str) -> str:
        """Local time in a city."""
        barrier.wait()  # both calls must be running at the same time
        return "12:00"

    @tool
    def weather(city: str) -> str:
        """Weather in a city."""
        barrier.wait()
        return "sunny"

    agent = RealtimeAgent("helper", tools=[get_time, weather])
    with RealtimeSession(agent, model=make_model(sim, "openai"), tool_workers=2) as session:
        turn = session.ask("What is the weather and the time in Paris?", timeout=10)
    assert sorted(c.name for c in turn.tool_calls) == ["get_time", "weather"]
    assert all(c.status == "completed" for c in turn.tool_calls)
    sent = [m for m in sim.received() if m["type"] in ("response.create", "conversation.item.create")]
    outputs = [i for i, m in enumerate(sent) if m.get("item", {}).get("type") == "function_call_output"]
    creates = [i for i, m in enumerate(sent) if m["type"] == "response.create"]
    assert len(outputs) == 2 and len(creates) == 2
    assert creates[1] > max(outputs)  # the model is asked to continue once, after both results
    assert turn.status == "completed" and "tool says" in turn.text


def test_raising_tool_becomes_an_error_result(sim: Simulator, dialect: str) -> None:
    @tool
    def explode(city: str) -> str:
        """Explode."""
        raise RuntimeError("kaboom")

    agent = RealtimeAgent("helper", tools=[explode])
    with RealtimeSession(agent, model=make_model(sim, dialect)) as session:
        turn = session.ask("Please explode Paris", timeout=10)
    (call,) = turn.tool_calls
    assert call.status == "failed" and call.result is None
    assert call.error == "Tool 'explode' failed: RuntimeError: kaboom"
    assert "kaboom" in turn.text and turn.status == "completed"


def test_timing_out_tool_is_abandoned_and_the_model_continues(sim: Simulator) -> None:
    release = threading.Event()

    @tool(timeout=0.2)
    def slow_lookup(city: str) -> str:
        """Slow."""
        release.wait(5)
        return "late"

    agent = RealtimeAgent("helper", tools=[slow_lookup])
    try:
        with RealtimeSession(agent, model=make_model(sim, "openai")) as session:
            started = time.monotonic()
            turn = session.ask("Do a slow lookup for Paris", timeout=10)
            assert time.monotonic() - started < 3
            release.set()  # let the abandoned thread end so close() can join it
    finally:
        release.set()
    (call,) = turn.tool_calls
    assert call.status == "timeout" and "timed out after 0.2 s" in (call.error or "")
    assert "timed out" in turn.text and response_creates(sim) == 2


def test_unknown_tool_and_invalid_arguments_are_reported_to_the_model(sim: Simulator, dialect: str) -> None:
    @tool
    def count_words(text: str) -> int:
        """Count words."""
        return len(text.split())

    agent = RealtimeAgent("helper", tools=[count_words])
    with RealtimeSession(agent, model=make_model(sim, dialect)) as session:
        # The server learns of a tool the agent does not have, and a wrong schema for one it has.
        session.connection.send(SessionUpdateEvent(config=RealtimeSessionConfig(tools=[
            FunctionToolSpec(name="mystery", parameters={"type": "object", "properties": {}}),
            FunctionToolSpec(name="count_words", parameters={
                "type": "object", "properties": {"text": {"type": "integer"}}, "required": ["text"]}),
        ])))
        sim.wait_for(lambda ms: sum(m["type"] == "session.update" for m in ms) == 2)
        time.sleep(0.05)
        unknown = session.ask("Call the mystery tool", timeout=10)
        invalid = session.ask("Please count words of 7", timeout=10)
    assert unknown.tool_calls[0].error == "Unknown tool: mystery. Available tools: count_words."
    assert "Unknown tool: mystery" in unknown.text
    (call,) = invalid.tool_calls
    assert call.status == "failed"
    assert call.error is not None and "text: expected string, got number 7" in call.error
    assert "text: expected string" in invalid.text


def test_five_asks_return_their_own_turns_including_after_an_interrupted_one() -> None:
    agent = RealtimeAgent("helper", tools=[get_weather])
    with Simulator(api_key=API_KEY, speed=20) as sim:
        with RealtimeSession(agent, model=make_model(sim, "openai")) as session:
            first = session.ask("Hello one", timeout=10)
            with pytest.raises(ReceiveTimeout):
                session.ask("Tell me a long story " + "about the sea and the sky " * 8, timeout=0.3)
            third = session.ask("Hello three", timeout=10)
            fourth = session.ask("What is the weather in Rome?", timeout=10)
            fifth = session.ask("Hello five", timeout=10)
            assert session.usage.responses == 6
    assert first.text == "You said: Hello one."
    assert third.text == "You said: Hello three."
    assert fourth.text.startswith("The get_weather tool says") and fourth.tool_calls[0].arguments == {"city": "Rome"}
    assert fifth.text == "You said: Hello five." and fifth.tool_calls == ()
    # 60 ms of reply audio per character, in 40 ms chunks, 48 bytes per ms at 24 kHz.
    for turn in (first, third, fifth):
        expected_ms = -(-max(400, 60 * len(turn.text)) // 40) * 40
        assert len(turn.audio) == expected_ms * 48
    ids = [rid for turn in (first, third, fourth, fifth) for rid in turn.response_ids]
    assert len(ids) == len(set(ids)) == 5


def test_callbacks_pull_and_usage(sim: Simulator) -> None:
    agent = RealtimeAgent("helper", tools=[get_weather])
    seen: List[str] = []
    turns: List[Turn] = []
    done = threading.Event()
    with RealtimeSession(agent, model=make_model(sim, "openai"), pull=True) as session:
        session.on("transcript", lambda event: seen.append(f"transcript:{event.text}"))
        session.on("tool_call", lambda record: seen.append(f"call:{record.name}"))
        session.on("tool_result", lambda record: seen.append(f"result:{record.status}"))

        @session.on("turn")
        def finished(turn: Turn) -> None:
            turns.append(turn)
            done.set()

        session.send_message("What is the weather in Oslo?", respond=True)
        assert done.wait(10)
        pulled = list(session.events(timeout=0.5))
        usage = session.usage
    assert seen[:2] == ["call:get_weather", "result:completed"]
    assert seen[-1].startswith("transcript:The get_weather tool says")
    assert turns[0].tool_calls[0].result == {"city": "Oslo", "temp_c": 18}
    kinds = [item.kind for item in pulled]
    assert "tool.call" in kinds and "tool_result" in kinds and kinds[-1] == "turn"
    assert isinstance(pulled[kinds.index("tool_result")], ToolCallRecord)
    assert usage.responses == 2 and usage.total_tokens > 0 and usage.output_audio_seconds > 0


def test_pull_is_off_by_default_and_misuse_is_explained(sim: Simulator) -> None:
    agent = RealtimeAgent("helper")
    with pytest.raises(ConfigurationError, match="model"):
        RealtimeSession(agent)
    session = RealtimeSession(agent, model=make_model(sim, "openai"))
    with pytest.raises(ConfigurationError, match="connect"):
        session.ask("hi")
    with session:
        with pytest.raises(ConfigurationError, match="pull=True"):
            session.recv(timeout=0.1)
        with pytest.raises(ConfigurationError, match="connect"):
            session.connect()
    session.close()  # idempotent


def test_context_reaches_tools(sim: Simulator) -> None:
    @tool
    def whoami(context: dict, city: str) -> str:
        """Who is asking, per city."""
        return f"{context['user']} in {city}"

    agent = RealtimeAgent("helper", tools=[whoami])
    with RealtimeSession(agent, model=make_model(sim, "openai"), context={"user": "ada"}) as session:
        turn = session.ask("Tell me whoami in Lima", timeout=10)
    assert turn.tool_calls[0].result == "ada in Lima"


def test_tool_cancelled_by_barge_in(sim: Simulator) -> None:
    release = threading.Event()
    started = threading.Event()

    @tool
    def long_search(city: str) -> str:
        """Search for a long time."""
        started.set()
        release.wait(5)
        return "found"

    results: List[ToolCallRecord] = []
    resolved = threading.Event()
    agent = RealtimeAgent("helper", tools=[long_search])
    try:
        with RealtimeSession(agent, model=make_model(sim, "openai")) as session:
            session.on("tool_result", lambda record: (results.append(record), resolved.set()))
            session.send_message("Run a long search in Paris", respond=True)
            assert started.wait(5)
            session.send_audio(tone(300))  # the user starts speaking: server VAD speech_started
            assert resolved.wait(5)
            sim.wait_for(lambda ms: any(m.get("item", {}).get("type") == "function_call_output" for m in ms))
            release.set()
    finally:
        release.set()
    assert results[0].status == "cancelled" and "user started speaking" in (results[0].error or "")
    # Nobody asked the model to continue after a cancelled call.
    assert response_creates(sim) == 1
