"""Record a session against the simulator, replay it with kernl_realtime.testing.Cassette."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from kernl_realtime import (
    KernlRealtimeError,
    FunctionToolSpec,
    ItemCreateEvent,
    Message,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    ToolResultEvent,
    event_to_dict,
)
from kernl_realtime.providers import elevenlabs, google, openai, xai
from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator
from kernl_realtime.testing import Cassette, CassetteError, CassetteMismatch, load_cassette
from helpers import until_done

KEY = "sk-sim-recording-key-0123456789"
WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONFIG = RealtimeSessionConfig(instructions="Be brief.", tools=[WEATHER])


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=KEY, speed=0, record_messages=False) as simulator:
        yield simulator


def weather_call(model: Any, options: RealtimeConnectOptions, *, temp: int = 18, extra: bool = False) -> List[Any]:
    """The client code under test: a tool-call turn and the answer that follows."""
    with model.connect(options, timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        first = until_done(conn)
        call = next(e for e in first if e.kind == "tool.call")
        conn.send(ToolResultEvent(call_id=call.call_id, result=json.dumps({"temp_c": temp})))
        if extra:
            conn.send(ItemCreateEvent(item=Message.user("And tomorrow?")))
        conn.send(ResponseCreateEvent())
        return first + until_done(conn)


MODELS = {
    "openai": lambda sim: openai.realtime("gpt-realtime", api_key=KEY, base_url=sim.base_url),
    "xai": lambda sim: xai.realtime(api_key=KEY, base_url=sim.xai_base_url),
    "google": lambda sim: google.realtime(api_key=KEY, base_url=sim.google_base_url),
}


@pytest.fixture(params=sorted(MODELS))
def recorded(request: Any, sim: Simulator, tmp_path: Path) -> "tuple[Path, List[Any], str]":
    path = tmp_path / "calls" / f"{request.param}.jsonl"
    live = weather_call(MODELS[request.param](sim), RealtimeConnectOptions(session_config=CONFIG, record=path))
    return path, live, request.param


@pytest.mark.parametrize("speed", [0.0, 1.0])
def test_replay_gives_the_same_events_at_both_paces(recorded: Any, speed: float) -> None:
    path, live, provider = recorded
    assert any(e.kind == "audio.output.delta" for e in live)
    with Cassette(path, speed=speed) as cassette:
        assert cassette.provider == provider
        replayed = weather_call(cassette.model(), RealtimeConnectOptions(session_config=CONFIG))
        assert cassette.wait_done(5)
    assert [e.kind for e in replayed] == [e.kind for e in live]
    assert comparable(replayed) == comparable(live)


def comparable(events: List[Any]) -> List[str]:
    """Events as compared across runs. Everything must be identical except the ids a codec
    invents where the wire has none (Gemini: the session id, ``resp_<n>``/``item_<n>`` from
    a process-wide counter), which are renumbered in order of appearance."""
    names: Dict[str, str] = {}

    def rename(match: Any) -> str:
        return names.setdefault(match.group(0), f"{match.group(1)}_#{len(names)}")

    out = []
    for event in events:
        if event.kind == "session.created":
            event = dataclasses.replace(event, session=dataclasses.replace(event.session, id="-"))
        text = json.dumps(event_to_dict(event), sort_keys=True)
        out.append(re.sub(r"\b(resp|item)_\d+\b", rename, text))
    return out


def test_cassette_header_and_frames(recorded: Any) -> None:
    path, _, provider = recorded
    assert KEY not in path.read_text()  # Bearer header (OpenAI, xAI), x-goog-api-key (Gemini)
    cassette = load_cassette(path)
    assert cassette.provider == provider and cassette.model
    assert cassette.header["session_config"]["instructions"] == "Be brief."
    (connection,) = cassette.connections
    assert connection.close is not None and connection.close["initiator"] == "client"
    origins = {frame.origin for frame in connection.frames}
    assert origins == {"client", "server"}
    times = [frame.t for frame in connection.frames]
    assert times == sorted(times)
    assert connection.negotiated is not None and connection.negotiated["session_id"]
    assert connection.negotiated["output_format"]["mimeType"] == "audio/pcm"
    server_frames = [frame for frame in connection.frames if frame.origin == "server"]
    # Gemini sends its JSON in binary frames; the others in text frames.
    assert {frame.binary for frame in server_frames} == {provider == "google"}


def test_a_different_tool_result_fails_showing_the_frame(recorded: Any) -> None:
    path, _, _ = recorded
    cassette = Cassette(path)
    try:
        # The client sees the cassette close the connection (1008), however its provider reports it.
        with pytest.raises(KernlRealtimeError) as closed:
            weather_call(cassette.model(), RealtimeConnectOptions(session_config=CONFIG), temp=30)
        assert "cassette mismatch" in str(closed.value)
    finally:
        cassette.close()
    with pytest.raises(CassetteMismatch) as caught:
        cassette.check()
    first, expected, actual = str(caught.value).splitlines()
    assert "temp_c" in first and "18" in first and "30" in first
    assert expected.startswith("  expected: ") and "temp_c" in expected and "18" in expected
    assert actual.startswith("  actual:   ") and "30" in actual and "18" not in actual


def test_an_extra_message_fails_showing_expected_and_actual(recorded: Any) -> None:
    path, _, provider = recorded
    cassette = Cassette(path)
    try:
        weather_call(cassette.model(), RealtimeConnectOptions(session_config=CONFIG), extra=True)
    except KernlRealtimeError as exc:
        assert "cassette mismatch" in str(exc)  # the cassette closed the connection on the client
    else:
        # Gemini resumes by itself after a tool result: the answer was complete before the
        # extra message reached the cassette, which still reports it.
        assert provider == "google"
    finally:
        cassette.close()
    with pytest.raises(CassetteMismatch) as caught:
        cassette.check()
    first, expected, actual = str(caught.value).splitlines()
    if provider != "google":  # Gemini's wire has no response.create: its next frame has the same key
        assert "event type: expected 'response.create', got 'conversation.item.create'" in first
        assert "response.create" in expected
    assert expected.startswith("  expected: ") and actual.startswith("  actual:   ")
    assert "And tomorrow?" in actual and "And tomorrow?" not in expected


def test_type_matching_accepts_a_different_tool_result(recorded: Any) -> None:
    path, live, _ = recorded
    with Cassette(path, match="type") as cassette:
        replayed = weather_call(cassette.model(), RealtimeConnectOptions(session_config=CONFIG), temp=30)
    assert comparable(replayed) == comparable(live)  # the server side is the recording's, whatever the client sent


def test_elided_audio_replays_as_silence_of_the_same_length(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "elided.jsonl"
    options = RealtimeConnectOptions(session_config=CONFIG, record=path, record_audio="elide")
    live = weather_call(MODELS["openai"](sim), options)
    text = path.read_text()
    assert '"$audio_bytes"' in text
    with Cassette(path) as cassette:
        replayed = weather_call(cassette.model(), RealtimeConnectOptions(session_config=CONFIG))
    audio = [(a, b) for a, b in zip(live, replayed) if a.kind == "audio.output.delta"]
    assert audio and all(len(a.audio) == len(b.audio) and a.audio != b.audio for a, b in audio)
    assert [e.kind for e in replayed] == [e.kind for e in live]


def test_a_client_that_stops_early_is_reported(recorded: Any) -> None:
    path, _, _ = recorded
    cassette = Cassette(path, timeout=5)
    try:
        with cassette.model().connect(RealtimeConnectOptions(session_config=CONFIG), timeout=5):
            pass  # closes without sending the recorded messages
        assert cassette.wait_done(5)
    finally:
        cassette.close()
    with pytest.raises(CassetteMismatch, match="the client closed the connection instead"):
        cassette.check()


def test_bad_cassette_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(CassetteError, match="cannot read cassette"):
        Cassette(missing)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kernl_cassette": 1, "provider": "openai"}\n{not json\n')
    with pytest.raises(CassetteError, match=r"bad.jsonl:2: not JSON"):
        load_cassette(bad)
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(CassetteError, match="not a kernl cassette header"):
        load_cassette(other)


# -- ElevenLabs: a private agent (signed URL), client tools, server pings answered automatically


def elevenlabs_weather_call(model: Any, *, temp: int = 18) -> List[Any]:
    events: List[Any] = []
    with model.connect(timeout=5) as conn:
        for event in conn:  # let the server ping first (answered on the reader, recorded)
            events.append(event)
            if getattr(event, "type", "") == "ping":
                break
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        for event in conn:
            events.append(event)
            if event.kind == "tool.call":
                conn.send(ToolResultEvent(call_id=event.call_id, result=json.dumps({"temp_c": temp})))
            if event.kind == "transcript.output" and "temp_c" in event.text:
                return events
    raise AssertionError("closed before the answer")


@pytest.mark.parametrize("speed", [0.0, 1.0])
def test_elevenlabs_signed_url_session_replays_with_its_pings(tmp_path: Path, speed: float) -> None:
    agent = ElevenLabsAgent("agent_weather", private=True, tools=[
        {"name": "get_weather", "description": WEATHER.description, "parameters": WEATHER.parameters}])
    path = tmp_path / "elevenlabs.jsonl"
    options = ElevenLabsOptions(agents=[agent], ping_interval=0.01)
    with Simulator(api_key=KEY, speed=0, record_messages=False, elevenlabs=options) as sim:
        model = elevenlabs.realtime("agent_weather", api_key=KEY, base_url=sim.elevenlabs_base_url)
        recording = model.connect  # record through the real model: key -> signed URL -> socket

        def connect(options: Any = None, *, timeout: float = 15.0) -> Any:
            return recording(RealtimeConnectOptions(record=path), timeout=timeout)

        model.connect = connect  # type: ignore[method-assign]
        live = elevenlabs_weather_call(model)
    text = path.read_text()
    assert KEY not in text and "conversation_signature" not in text
    frames = load_cassette(path).connections[0].frames
    assert any(f.auto and f.key == "pong" for f in frames), "no ping was answered while recording"
    with Cassette(path, speed=speed) as cassette:
        assert cassette.provider == "elevenlabs"
        replayed = elevenlabs_weather_call(cassette.model())  # a public-agent model: no key, no REST
    assert comparable(replayed) == comparable(live)


# -- the agent layer: RealtimeSession(record=...) and the same agent replayed


def weather_agent(temp: int) -> Any:
    from kernl_realtime import RealtimeAgent, tool

    @tool
    def get_weather(city: str) -> Dict[str, int]:
        """Current weather for a city."""
        return {"temp_c": temp}

    return RealtimeAgent("weather", instructions="Be brief.", tools=[get_weather])


def ask_weather(model: Any, temp: int = 18, **kwargs: Any) -> Any:
    from kernl_realtime import RealtimeSession

    with RealtimeSession(weather_agent(temp), model=model, modalities=["text"], **kwargs) as session:
        return session.ask("What is the weather in Paris?", timeout=10)


def test_an_agent_session_records_and_replays(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "agent.jsonl"
    live = ask_weather(MODELS["openai"](sim), record=str(path))
    assert "18" in live.text
    with Cassette(path) as cassette:
        replayed = ask_weather(cassette.model())
    assert replayed.text == live.text and replayed.status == live.status
    cassette = Cassette(path, timeout=3)
    try:
        with pytest.raises(KernlRealtimeError):
            ask_weather(cassette.model(), temp=30)  # the tool now answers differently
    finally:
        cassette.close()
    with pytest.raises(CassetteMismatch, match="temp_c"):
        cassette.check()


def test_recorded_pace_keeps_the_gaps_and_fast_pace_drops_them(tmp_path: Path) -> None:
    path = tmp_path / "paced.jsonl"
    lines = [
        {"kernl_cassette": 1, "provider": "openai", "model": "gpt-realtime"},
        {"t": 0.0, "event": "open", "endpoint": "wss://api.openai.com/v1/realtime"},
        {"t": 0.01, "from": "server", "frame": "text", "json": {
            "type": "session.created", "session": {"type": "realtime", "object": "realtime.session", "id": "s1"}}},
        {"t": 0.61, "from": "server", "frame": "text", "json": {"type": "x.later"}},
        {"t": 0.62, "event": "close", "initiator": "client", "code": 1000, "reason": ""},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    elapsed = {}
    for speed in (0.0, 1.0, 2.0):
        with Cassette(path, speed=speed) as cassette:
            with cassette.model().connect(timeout=5) as conn:
                started = time.monotonic()
                event = conn.recv(timeout=5)
                while event.kind != "unknown":
                    event = conn.recv(timeout=5)
                elapsed[speed] = time.monotonic() - started
                assert event.type == "x.later"
    # 0.6 s between the frames when recorded: as fast as possible, 0.6 s, then 0.3 s at 2x
    # (measured from connect() returning, which is a little after the first frame was sent).
    assert elapsed[0.0] < 0.4 and elapsed[1.0] >= 0.45 and 0.2 <= elapsed[2.0] < elapsed[1.0]
