"""RealtimeSession on ElevenLabs agents: client tools without a response request, the
agent's own audio formats, barge-in flushing playback on ``interruption``."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any, Iterator

import pytest

from kernl_realtime import KeepAlive, RealtimeAgent, RealtimeConnectOptions, RealtimeSession, tool
from kernl_realtime.channels import MemoryChannel
from kernl_realtime.providers import elevenlabs
from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator

from agent_helpers import tone

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
AGENTS = [
    ElevenLabsAgent("agent_weather", tools=[WEATHER], output_format="pcm_22050"),
    ElevenLabsAgent("agent_talker", first_message="Once upon a time there was a long story about the sea. " * 4),
]
# A quick end of turn (and a quick reader tick to notice it) keeps these tests fast.
FAST = RealtimeConnectOptions(
    keepalive=KeepAlive(interval=1.0, timeout=1.0),
    provider_options={"elevenlabs": {"turn_end_silence": 0.3}},
)


@tool
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0, elevenlabs=ElevenLabsOptions(agents=AGENTS, ping_interval=0.5)) as simulator:
        yield simulator


def model(sim: Simulator, agent_id: str) -> Any:
    return elevenlabs.realtime(agent_id=agent_id, base_url=sim.elevenlabs_base_url)


def test_a_client_tool_turn_the_agent_answers_after_the_result_with_no_response_request(sim: Simulator) -> None:
    agent = RealtimeAgent("helper", "Be brief.", tools=[get_weather])
    with RealtimeSession(agent, model=model(sim, "agent_weather"), options=FAST) as session:
        turn = session.ask("What is the weather in Paris?", timeout=10)
    assert turn.status == "completed"
    assert turn.text == 'The get_weather tool says {"city": "Paris", "temp_c": 18}.'
    assert [(c.name, c.arguments, c.result, c.status) for c in turn.tool_calls] == [
        ("get_weather", {"city": "Paris"}, {"city": "Paris", "temp_c": 18}, "completed")
    ]
    assert len(turn.response_ids) == 2 and turn.sample_rate == 22050 and len(turn.audio) > 0
    kinds = [m.get("type") for m in sim.received()]
    assert "response.create" not in kinds  # the agent goes on by itself
    assert kinds.count("client_tool_result") == 1 and kinds.count("user_message") == 1


def test_the_session_uses_the_agents_audio_formats(sim: Simulator) -> None:
    channel = MemoryChannel(24000)  # the app's device rate; the agent speaks 22.05 kHz, hears 16 kHz
    agent = RealtimeAgent("helper")
    with RealtimeSession(agent, model=model(sim, "agent_weather"), channel=channel, options=FAST) as session:
        assert (session.input_format.sample_rate, session.output_format.sample_rate) == (16000, 22050)
        turn = session.ask("Hello there", timeout=10)
        reply_ms = len(turn.audio) / 2 / 22050 * 1000
        played_ms = channel.total_output_bytes / 2 / 24000 * 1000
        assert reply_ms > 400 and abs(played_ms - reply_ms) < 50  # resampled, same duration
        channel.write(tone(300, rate=24000))  # captured at 24 kHz, sent at the agent's 16 kHz
        sim.wait_for(lambda ms: sent_ms(ms) >= 250)
    # At 24 kHz the same 300 ms would read as 450 ms of 16 kHz audio.
    assert 250 <= sent_ms(sim.received()) <= 310


def sent_ms(messages: Any) -> float:
    """Milliseconds of 16 kHz PCM16 the client sent as user_audio_chunk."""
    return sum(len(base64.b64decode(m["user_audio_chunk"])) for m in messages if "user_audio_chunk" in m) / 32


def test_barge_in_flushes_playback_on_interruption() -> None:
    options = ElevenLabsOptions(agents=AGENTS, ping_interval=0)
    with Simulator(speed=1.0, elevenlabs=options) as sim:
        channel = MemoryChannel(16000)
        agent = RealtimeAgent("listener")
        with RealtimeSession(agent, model=model(sim, "agent_talker"), channel=channel, options=FAST) as session:
            interrupted = threading.Event()
            session.on("interrupted", interrupted.set)
            deadline = time.monotonic() + 5
            while channel.pending_bytes < 16000 and time.monotonic() < deadline:  # ~0.5 s of the story queued
                time.sleep(0.02)
            assert channel.pending_bytes >= 16000
            channel.read(200 * 32)  # the app played 200 ms
            channel.write(tone(300, rate=16000))  # the user talks over the agent
            assert interrupted.wait(5)
            assert channel.interruptions == 1 and channel.pending_bytes == 0
            assert channel.read(timeout=0.3) == b""  # nothing of the interrupted story plays after the flush
        kinds = [m.get("type") for m in sim.sent()]
        assert "interruption" in kinds and "agent_response_correction" in kinds
