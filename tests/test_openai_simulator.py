"""OpenAI provider end to end against the embedded simulator (GA wire protocol)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Iterator

import pytest

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AuthenticationError,
    CredentialExpiredError,
    ItemCreateEvent,
    Message,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    ResponseStatus,
    ToolResultEvent,
    TurnDetectionConfig,
    VoiceConfig,
)
from kernl_realtime.providers import openai
from kernl_realtime.simulator import Simulator
from helpers import WEATHER, until_done

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api_key="sk-sim", speed=0) as simulator:
        yield simulator


def model(sim: Simulator) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-sim", base_url=sim.base_url)


def test_full_turn_with_configured_session(sim: Simulator) -> None:
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        voice=VoiceConfig(voice_id="marin", speed=1.1),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        turn_detection=TurnDetectionConfig(mode="server_vad", silence_duration_ms=400, threshold=0.6),
        tools=[WEATHER],
    )
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        # connect() returned only after the server confirmed the complete config.
        effective = sim.session_info()["config"]
        assert effective["instructions"] == "Be brief."
        assert effective["audio"]["output"]["voice"] == "marin"
        assert effective["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 400
        assert effective["tools"][0]["name"] == "get_weather"
        assert conn.session is not None and conn.session.config.voice.voice_id == "marin"

        conn.send(ItemCreateEvent(item=Message.user("Tell me a joke")))
        conn.send(ResponseCreateEvent())
        events = until_done(conn)
    kinds = [e.kind for e in events]
    assert "response.created" in kinds and "item.created" in kinds
    audio = b"".join(base64.b64decode(e.audio) for e in events if e.kind == "audio.output.delta")
    assert len(audio) > 0 and len(audio) % 2 == 0
    transcript = "".join(e.delta for e in events if e.kind == "transcript.output.delta")
    final = [e for e in events if e.kind == "transcript.output"][0]
    assert transcript == final.text == "You said: Tell me a joke."
    done = events[-1]
    assert done.status == ResponseStatus.COMPLETED
    assert done.usage is not None and done.usage.total_tokens > 0


def test_text_only_session(sim: Simulator) -> None:
    config = RealtimeSessionConfig(modalities=["text"])
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("hello")))
        conn.send(ResponseCreateEvent())
        events = until_done(conn)
    text = [e for e in events if e.kind == "text.output"]
    assert text and text[0].text == "You said: hello."
    assert not [e for e in events if e.kind == "audio.output.delta"]


def test_tool_call_turn_then_answer(sim: Simulator) -> None:
    config = RealtimeSessionConfig(tools=[WEATHER])
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        first = until_done(conn)
        starts = [e for e in first if e.kind == "tool.start"]
        calls = [e for e in first if e.kind == "tool.call"]
        assert starts and starts[0].tool_id == "get_weather"
        assert calls[0].tool_id == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
        conn.send(ToolResultEvent(call_id=calls[0].call_id, result=json.dumps({"temp_c": 18})))
        conn.send(ResponseCreateEvent())
        second = until_done(conn)
    answer = [e for e in second if e.kind == "transcript.output"][0].text
    assert "get_weather" in answer and "18" in answer
    outputs = [m for m in sim.received() if m["type"] == "conversation.item.create"]
    assert outputs[-1]["item"] == {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp_c": 18}'}


def test_authenticate_then_connect_with_the_ephemeral_credential(sim: Simulator) -> None:
    config = RealtimeSessionConfig(instructions="From the token.")
    credential = model(sim).authenticate(RealtimeAuthenticateOptions(session_config=config, expires_in=60))
    assert credential.kind == "token" and not credential.expired
    assert 50 < credential.expires_in <= 61
    client_side = openai.realtime("gpt-realtime", base_url=sim.base_url)  # no API key at all
    with client_side.connect(RealtimeConnectOptions(credential=credential), timeout=5) as conn:
        assert conn.session_id
        assert conn.session is not None and conn.session.config.instructions == "From the token."
    assert "sk-sim" not in repr(credential) and credential.token not in repr(credential)


def test_expired_and_wrong_kind_credentials_fail_before_connecting(sim: Simulator) -> None:
    from datetime import datetime, timedelta, timezone

    from kernl_realtime import ClientCredential, ConfigurationError

    expired = ClientCredential.from_token("ek_old", datetime.now(timezone.utc) - timedelta(seconds=1))
    signed = ClientCredential.from_url("wss://example.invalid/x?sig=secret", datetime.now(timezone.utc) + timedelta(minutes=1))
    with pytest.raises(CredentialExpiredError):
        model(sim).connect(RealtimeConnectOptions(credential=expired))
    with pytest.raises(ConfigurationError, match="token"):
        model(sim).connect(RealtimeConnectOptions(credential=signed))
    assert sim.sessions == 0


def test_wrong_api_key_is_rejected_on_upgrade(sim: Simulator) -> None:
    bad = openai.realtime("gpt-realtime", api_key="sk-wrong", base_url=sim.base_url)
    with pytest.raises(AuthenticationError) as info:
        bad.connect(timeout=5)
    assert "sk-wrong" not in str(info.value)


@pytest.mark.slow  # real time: pacing or many cycles
def test_interrupt_cancels_and_truncates_at_audio_played() -> None:
    # speed=1: audio arrives in real time, as from the real service.
    with Simulator(api_key="sk-sim", speed=1.0) as sim:
        conn = model(sim).connect(timeout=5)
        interrupted = threading.Event()
        conn.on("interrupted", interrupted.set)
        conn.send(ItemCreateEvent(item=Message.user("Please tell me a rather long story about the sea")))
        conn.send(ResponseCreateEvent())
        delivered_ms = 0.0
        item_id = None
        for event in conn:
            if event.kind == "audio.output.delta":
                item_id = event.item_id
                delivered_ms += len(base64.b64decode(event.audio)) / 48.0
                if delivered_ms >= 200:
                    break
        assert conn.interrupt() is True
        assert interrupted.wait(5)
        messages = sim.wait_for(lambda ms: any(m["type"] == "conversation.item.truncate" for m in ms))
        kinds = [m["type"] for m in messages]
        assert kinds.index("response.cancel") < kinds.index("conversation.item.truncate")
        truncate = [m for m in messages if m["type"] == "conversation.item.truncate"][0]
        assert truncate["item_id"] == item_id and truncate["content_index"] == 0
        # Played ≈ received at real-time pace; never more than what was delivered.
        assert 0 < truncate["audio_end_ms"] <= delivered_ms + 40
        assert truncate["audio_end_ms"] >= delivered_ms - 150
        done = [e for e in conn.events(timeout=5) if e.kind in ("response.done", "item.truncated")]
        assert {e.kind for e in done} == {"response.done", "item.truncated"}
        assert [e for e in done if e.kind == "response.done"][0].status == ResponseStatus.CANCELLED
        # Nothing is playing any more: a second interrupt sends nothing.
        before = len(sim.received())
        assert conn.interrupt() is False
        conn.close()
        assert len(sim.received()) == before


def test_interrupt_uses_reported_playback_position_for_g711() -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(output_format=AudioFormat.pcmu()))
    with Simulator(api_key="sk-sim", speed=0) as sim:
        with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
            conn.send(ItemCreateEvent(item=Message.user("Say something long enough to interrupt")))
            conn.send(ResponseCreateEvent())
            received_ms = 0.0
            for event in conn:
                if event.kind == "audio.output.delta":
                    received_ms += len(base64.b64decode(event.audio)) / 8.0  # µ-law: 8 bytes per ms
                if event.kind == "response.done":
                    break
            assert received_ms > 300
            assert conn.interrupt(played_ms=250) is True
            truncate = sim.wait_for(lambda ms: any(m["type"] == "conversation.item.truncate" for m in ms))[-1]
            assert truncate["audio_end_ms"] == 250
            # The response already finished: no cancel was sent for it.
            assert not [m for m in sim.received() if m["type"] == "response.cancel"]


def test_mute_stops_audio_reaching_the_server(sim: Simulator) -> None:
    chunk = base64.b64encode(b"\x00\x00" * 480).decode()
    with model(sim).connect(timeout=5) as conn:
        conn.send(AudioInputAppendEvent(audio=chunk))
        conn.mute()
        assert conn.muted
        for _ in range(5):
            conn.send(AudioInputAppendEvent(audio=chunk))
        conn.unmute()
        conn.send(ItemCreateEvent(item=Message.user("marker")))
        sim.wait_for(lambda ms: any(m["type"] == "conversation.item.create" for m in ms))
        assert conn.stats().muted_audio_dropped == 5
    appends = [m for m in sim.received() if m["type"] == "input_audio_buffer.append"]
    assert len(appends) == 1


@pytest.mark.slow  # real time: pacing or many cycles
def test_quickstart_runs_offline_and_writes_a_playable_wav(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENAI_API_KEY"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "You said: Hello! Who are you" in result.stdout
    with wave.open(str(out)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2 and wav.getframerate() == 24000
        assert wav.getnframes() > 24000 * 0.5
    assert time.monotonic() - started < 60
