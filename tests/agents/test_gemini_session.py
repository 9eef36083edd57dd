"""The agent layer on Gemini Live: tools without a response request, 16 kHz in / 24 kHz out,
barge-in flushing playback on the server's ``interrupted``."""

from __future__ import annotations

import base64
import threading
from typing import Any, Dict, List

from kernl_realtime import RealtimeAgent, RealtimeSession, tool
from kernl_realtime.channels import MemoryChannel
from kernl_realtime.simulator import Simulator

from agent_helpers import make_model, sim, silence, tone  # noqa: F401 - fixtures


@tool
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


def top_keys(messages: List[Dict[str, Any]]) -> List[str]:
    return [next(iter(m)) for m in messages]


def test_a_tool_turn_continues_without_a_response_request(sim: Simulator) -> None:
    agent = RealtimeAgent("helper", "Be brief.", tools=[get_weather], voice="Puck")
    with RealtimeSession(agent, model=make_model(sim, "google")) as session:
        assert session.output_format.sample_rate == 24000 and session.input_format.sample_rate == 16000
        turn = session.ask("What is the weather in Paris?", timeout=10)
    assert turn.status == "completed"
    assert turn.text == 'The get_weather tool says {"city": "Paris", "temp_c": 18}.'
    assert [(c.name, c.arguments, c.result, c.status) for c in turn.tool_calls] == [
        ("get_weather", {"city": "Paris"}, {"city": "Paris", "temp_c": 18}, "completed")
    ]
    assert len(turn.audio) > 0 and turn.sample_rate == 24000 and len(turn.response_ids) == 2
    received = sim.received()
    setup = received[0]["setup"]
    assert setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Puck"
    assert [d["name"] for d in setup["tools"][0]["functionDeclarations"]] == ["get_weather"]
    # ask() completes the user's turn once; after the tool result nothing asks the model to go on.
    keys = top_keys(received)
    assert keys.count("toolResponse") == 1 and keys[-1] == "toolResponse"
    assert sum(1 for m in received if m.get("clientContent", {}).get("turnComplete")) == 1


def test_channel_audio_is_resampled_to_16_khz_and_replies_from_24_khz(sim: Simulator) -> None:
    channel = MemoryChannel(48000)  # e.g. a 48 kHz sound card, both ways
    turns: List[Any] = []
    done = threading.Event()
    with RealtimeSession(RealtimeAgent("listener"), model=make_model(sim, "google"), channel=channel) as session:
        session.on("turn", lambda turn: (turns.append(turn), done.set()))
        channel.write(silence(100, 48000) + tone(600, rate=48000) + silence(700, 48000))
        assert done.wait(10)
        reply = channel.read(timeout=1)
    (turn,) = turns
    assert turn.text.startswith("You said: (audio 0.")
    audio = [m["realtimeInput"]["audio"] for m in sim.received() if "audio" in m.get("realtimeInput", {})]
    assert {a["mimeType"] for a in audio} == {"audio/pcm;rate=16000"}
    sent_ms = sum(len(base64.b64decode(a["data"])) for a in audio) / 32.0  # 16 kHz PCM16: 32 bytes per ms
    assert abs(sent_ms - 1400) < 30  # all of it, at the provider's rate (minus the resampler's delay)
    assert len(reply) > 0 and len(reply) % 2 == 0  # played back at the channel's 48 kHz


def test_barge_in_flushes_playback_on_interrupted(sim: Simulator) -> None:
    channel = MemoryChannel(16000)
    with RealtimeSession(RealtimeAgent("talker"), model=make_model(sim, "google"), channel=channel) as session:
        done = threading.Event()
        session.on("turn", lambda turn: done.set())
        session.send_message("Tell me something rather long about the weather at sea", respond=True)
        assert done.wait(5)
        assert channel.pending_bytes > 16000 * 2  # more than a second queued for playback
        assert len(channel.read(300 * 32)) == 300 * 32  # the app played 300 ms
        interrupted = threading.Event()
        session.on("interrupted", interrupted.set)
        channel.write(tone(300, rate=16000))  # the user talks over it
        assert interrupted.wait(5)
        assert channel.pending_bytes == 0 and channel.interruptions == 1
        assert channel.read(timeout=0.2) == b""  # nothing of the interrupted answer plays on
    # Gemini tracks playback itself: it said "interrupted", and nothing was truncated or cancelled.
    assert {"serverContent": {"interrupted": True}} in sim.sent()
    assert sum(1 for m in sim.received() if m.get("clientContent", {}).get("turnComplete")) == 1
