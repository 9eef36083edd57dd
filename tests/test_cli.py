"""The command line: talk (text mode, offline), inspect, replay; exit codes and --json."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    AudioInputCommitEvent,
    FunctionToolSpec,
    ItemCreateEvent,
    Message,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    ToolResultEvent,
)
from kernl_realtime.cli import main
from kernl_realtime.providers import openai
from kernl_realtime.simulator import Simulator
from helpers import until_done

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-cli-test-key-0123456789"
WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONFIG = RealtimeSessionConfig(tools=[WEATHER])
KEY_VARIABLES = ("OPENAI_API_KEY", "XAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "ELEVENLABS_API_KEY")


def cli(*args: str, stdin: str = "", timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES and not k.endswith("_BASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "kernl_realtime", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=KEY, speed=0, record_messages=False) as simulator:
        yield simulator


def tool_session(model: Any, options: RealtimeConnectOptions) -> List[Any]:
    with model.connect(options, timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        first = until_done(conn)
        call = next(e for e in first if e.kind == "tool.call")
        conn.send(ToolResultEvent(call_id=call.call_id, result=json.dumps({"temp_c": 18})))
        conn.send(ResponseCreateEvent())
        return first + until_done(conn)


@pytest.fixture(scope="module")
def tool_cassette(sim: Simulator, tmp_path_factory: Any) -> "tuple[Path, List[Any]]":
    path = tmp_path_factory.mktemp("cli") / "tool.jsonl"
    model = openai.realtime("gpt-realtime", api_key=KEY, base_url=sim.base_url)
    live = tool_session(model, RealtimeConnectOptions(session_config=CONFIG, record=path))
    return path, live


# -- talk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "xai", "google", "elevenlabs"])
def test_talk_in_text_mode_against_the_simulator(provider: str) -> None:
    # ElevenLabs ends an agent turn only after some silence: one turn is enough there.
    said = ["hello there"] if provider == "elevenlabs" else ["hello there", "what is up"]
    stdin = "\n\n".join(said) + "\n/quit\nnot sent\n"
    result = cli("talk", "--text", "--provider", provider, "--sim-speed", "0", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"assistant: You said: {text}." for text in said]
    assert "talking to the offline simulator" in result.stderr  # no key in the environment
    assert "[connected]" in result.stderr and "[closed]" in result.stderr


def test_talk_shows_a_tool_call_in_the_status_line() -> None:
    result = cli("talk", "--text", stdin="What time is it?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("assistant: The get_time tool says ")
    assert "[connected] tool running: get_time" in result.stderr.splitlines()


def test_talk_in_voice_mode_uses_the_local_audio_channel(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    streams: List[Any] = []

    class RawStream:  # PortAudio stands in: the channel opens one full-duplex stream
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            streams.append(self)

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    fake = types.ModuleType("sounddevice")
    fake.RawStream = RawStream  # type: ignore[attr-defined]
    fake.query_devices = lambda kind=None: {"name": f"fake {kind}"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\n"))
    assert main(["talk", "--provider", "openai", "--sim-speed", "0"]) == 0
    out, err = capsys.readouterr()
    assert len(streams) == 1 and streams[0].kwargs["channels"] == 1
    assert "speak or type" in err and "text mode" not in err
    assert out.splitlines()[-1] == "assistant: You said: hello there."


def test_talk_records_a_cassette_that_inspect_reads(tmp_path: Path) -> None:
    path = tmp_path / "talk.jsonl"
    result = cli("talk", "--text", "--record", str(path), "--quiet", stdin="hello there\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no status line
    inspected = cli("inspect", str(path), "--json")
    assert inspected.returncode == 0, inspected.stderr
    timeline = json.loads(inspected.stdout)
    assert timeline["turns"][0]["user"] == ["hello there"]
    assert timeline["turns"][0]["assistant"] == "You said: hello there."


def test_talk_json_prints_one_event_per_line() -> None:
    result = cli("talk", "--text", "--json", "--quiet", stdin="hi\n")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["kind"] for event in events]
    assert "response.created" in kinds and kinds[-1] == "response.done"


def test_talk_exit_codes_for_usage_and_connection_failures() -> None:
    assert cli("talk", "--provider", "nope").returncode == 2
    env_key = cli("talk", "--text", "--model", "x", stdin="hi\n")  # the simulator accepts any model id
    assert env_key.returncode == 0
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(PYTHONPATH=str(ROOT), OPENAI_API_KEY="sk-x", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    refused = subprocess.run([sys.executable, "-m", "kernl_realtime", "talk", "--text"], input="hi\n",
                             capture_output=True,
                             text=True, timeout=60, cwd=ROOT, env=env)
    assert refused.returncode == 1 and "could not connect" in refused.stderr


# -- inspect ------------------------------------------------------------------------------


def test_inspect_prints_the_tool_call_turn(tool_cassette: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = tool_cassette
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith("openai gpt-realtime - recorded ")
    turn1 = lines.index(next(line for line in lines if line.startswith("turn 1 ")))
    assert "completed" in lines[turn1]
    assert lines[turn1 + 1] == "  user       What is the weather in Paris?"
    assert lines[turn1 + 2].startswith('  tool       get_weather({"city": "Paris"}) -> {"temp_c": 18}  in ')
    assert any(line.startswith("  assistant  The get_weather tool says") for line in lines)
    assert any(line.startswith("  first audio after ") for line in lines)
    assert "session    2 turns, 1 tool call, 0 interruptions, 0 errors" in lines


def test_inspect_json_matches_the_live_session(tool_cassette: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, live = tool_cassette
    assert main(["inspect", str(path), "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["provider"] == "openai" and timeline["model"] == "gpt-realtime"
    assert timeline["session_id"] == live[0].session.id  # from the negotiated line
    assert timeline["output_format"]["sampleRate"] == 24000
    first, second = timeline["turns"]
    (call,) = first["tool_calls"]
    live_call = next(e for e in live if e.kind == "tool.call")
    assert (call["name"], call["call_id"], json.loads(call["arguments"])) == ("get_weather", live_call.call_id,
                                                                               {"city": "Paris"})
    assert call["result"] == '{"temp_c": 18}' and 0 <= call["duration"] < 5
    done = [e for e in live if e.kind == "response.done"]
    assert [t["total_tokens"] for t in timeline["turns"]] == [e.usage.total_tokens for e in done]
    assert timeline["totals"]["total_tokens"] == sum(e.usage.total_tokens for e in done)
    audio_bytes = sum(len(base64.b64decode(e.audio)) for e in live if e.kind == "audio.output.delta")
    assert second["output_audio_seconds"] == round(audio_bytes / 48000, 3) > 0  # 24 kHz PCM16
    assert second["time_to_first_audio"] is not None and first["time_to_first_audio"] is None
    assert timeline["totals"]["tool_calls"] == 1 and timeline["errors"] == []


def test_inspect_counts_an_interruption_and_input_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "interrupted.jsonl"
    with Simulator(api_key=KEY, speed=1.0, record_messages=False) as paced:
        model = openai.realtime("gpt-realtime", api_key=KEY, base_url=paced.base_url)
        config = RealtimeSessionConfig(turn_detection=None)
        with model.connect(RealtimeConnectOptions(session_config=config, record=path), timeout=5) as conn:
            for _ in range(5):  # 0.5 s of 24 kHz PCM16 silence
                conn.send(AudioInputAppendEvent(audio=bytes(4800)))
            conn.send(AudioInputCommitEvent())
            conn.send(ItemCreateEvent(item=Message.user("Tell me a long story about the sea and the wind")))
            conn.send(ResponseCreateEvent())
            for event in conn:
                if event.kind == "audio.output.delta":
                    assert conn.interrupt()
                    break
            until_done(conn)
    assert main(["inspect", str(path), "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["turns"][0]["interrupted"] and timeline["totals"]["interruptions"] == 1
    assert timeline["turns"][0]["input_audio_seconds"] == 0.5 == timeline["totals"]["input_audio_seconds"]
    assert main(["inspect", str(path)]) == 0
    assert "INTERRUPTED" in capsys.readouterr().out


def test_inspect_exit_code_for_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "missing.jsonl")]) == 4
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert main(["inspect", str(bad)]) == 4
    assert "error:" in capsys.readouterr().err


# -- replay -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_replay(path: Path, client: Any, capsys: pytest.CaptureFixture[str]) -> "tuple[int, Dict[str, Any]]":
    port = free_port()
    codes: List[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["replay", str(path), "--port", str(port), "--speed", "0", "--json",
                                          "--timeout", "5"])),
        name="test-replay-cli",
    )
    thread.start()
    deadline = time.monotonic() + 10
    while True:  # wait until the command listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "replay never listened"
            time.sleep(0.02)
    try:
        model = openai.realtime("gpt-realtime", api_key="any", base_url=f"http://127.0.0.1:{port}/v1")
        client(model)
    finally:
        thread.join(15)
    assert codes, "replay did not end"
    return codes[0], json.loads(capsys.readouterr().out)


def test_replay_serves_a_cassette_until_the_client_is_done(tool_cassette: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, live = tool_cassette
    replayed: List[Any] = []
    code, result = run_replay(path, lambda model: replayed.extend(
        tool_session(model, RealtimeConnectOptions(session_config=CONFIG))), capsys)
    assert code == 0 and result["ok"] and result["connections_served"] == 1
    assert replayed == live


def test_replay_exits_3_when_the_client_deviates(tool_cassette: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = tool_cassette

    def deviating(model: Any) -> None:
        with model.connect(RealtimeConnectOptions(session_config=CONFIG), timeout=5) as conn:
            conn.send(ItemCreateEvent(item=Message.user("What is the weather in Rome?")))
            try:
                conn.recv(timeout=5)
                conn.recv(timeout=5)
            except Exception:  # noqa: BLE001 - the cassette closes the connection
                pass

    code, result = run_replay(path, deviating, capsys)
    assert code == 3 and not result["ok"]
    assert "Rome" in result["mismatches"][0] and "Paris" in result["mismatches"][0]


def test_help_lists_the_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("talk", "simulate", "replay", "inspect"):
        assert command in result.stdout
    assert cli("inspect").returncode == 2  # argparse: missing FILE


def test_talk_falls_back_to_text_without_an_audio_device(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    fake = types.ModuleType("sounddevice")

    def no_device(kind: Any = None) -> Any:
        raise OSError("Error querying device -1")  # what PortAudio says on a server

    fake.query_devices = no_device  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\n"))
    assert main(["talk", "--sim-speed", "0"]) == 0
    out, err = capsys.readouterr()
    assert "text mode" in err and out.splitlines() == ["assistant: You said: hello there."]
