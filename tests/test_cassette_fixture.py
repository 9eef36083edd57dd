"""The realtime_cassette pytest fixture: records when missing (key set), replays otherwise."""

from __future__ import annotations

import configparser
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from kernl_realtime.simulator import Simulator

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "kernl_realtime.testing.pytest_plugin"
KEY = "sk-fixture-key-0123456789"

TEST_FILE = '''
import json
from kernl_realtime import (FunctionToolSpec, ItemCreateEvent, Message, RealtimeConnectOptions,
                            RealtimeSessionConfig, ResponseCreateEvent, ToolResultEvent)

WEATHER = FunctionToolSpec(name="get_weather", description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})

def until_done(conn):
    events = []
    for event in conn:
        events.append(event)
        if event.kind == "response.done":
            return events

def test_weather(realtime_cassette):
    model = realtime_cassette.model("openai", "gpt-realtime")
    options = RealtimeConnectOptions(session_config=RealtimeSessionConfig(tools=[WEATHER]))
    with model.connect(options, timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        call = next(e for e in until_done(conn) if e.kind == "tool.call")
        conn.send(ToolResultEvent(call_id=call.call_id, result=json.dumps({"temp_c": TEMP})))
        conn.send(ResponseCreateEvent())
        answer = [e for e in until_done(conn) if e.kind == "transcript.output"][0].text
    assert str(TEMP) in answer
    print("MODE", realtime_cassette.mode)
'''


def plugin_args() -> List[str]:
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    return ["-p", "no:cacheprovider", "-s"] + ([] if installed else ["-p", PLUGIN])


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=KEY, speed=0, record_messages=False) as simulator:
        yield simulator


def run(pytester: Any, temp: int) -> Any:
    pytester.makepyfile(test_call=TEST_FILE.replace("TEMP", str(temp)).replace("str(" + str(temp) + ")", f"'{temp}'"))
    return pytester.runpytest(*plugin_args())


def test_records_when_missing_then_replays_without_a_key(
    pytester: Any, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = pytester.path / "cassettes" / "test_call" / "test_weather.jsonl"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
    result = run(pytester, 18)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*MODE record*"])
    assert cassette.exists() and KEY not in cassette.read_text()
    sessions = sim.sessions

    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    result = run(pytester, 18)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*MODE replay*"])
    assert sim.sessions == sessions  # the replay never touched the "live" server

    result = run(pytester, 30)  # the code under test changed: a different tool result
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) >= 1
    result.stdout.fnmatch_lines(["*CassetteMismatch*", "*expected:*18*", "*actual:*30*"])


def test_skips_without_a_cassette_or_a_key(pytester: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run(pytester, 18)
    result.assert_outcomes(skipped=1)
    result = pytester.runpytest(*plugin_args(), "-rs", "--realtime-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*recording is off*"])


def test_the_plugin_is_registered_as_a_pytest_entry_point() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    entry = config["options.entry_points"]["pytest11"]
    assert f"kernl_realtime = {PLUGIN}" in entry
    assert "kernl-realtime = kernl_realtime.cli:main" in config["options.entry_points"]["console_scripts"]
