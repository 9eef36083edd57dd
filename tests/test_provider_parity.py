"""The provider seam: one conversation script, run unchanged against OpenAI, xAI, Google
and ElevenLabs.

``conversation()`` is written once against the provider-agnostic interface; the test
swaps only the model object, and every provider must produce the same observable
outcome against the simulator's dialects. The only differences allowed are the ones
the wire itself imposes, listed in ``DIFFERENCES`` (Gemini and ElevenLabs track playback
themselves, so nothing is truncated, and have no ``response.cancel`` to reject;
ElevenLabs streams no transcript deltas in voice mode and answers without being asked).
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any, Callable, Dict, Iterator, List

import pytest

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    ItemCreateEvent,
    KeepAlive,
    KernlRealtimeError,
    Message,
    RealtimeConnectOptions,
    RealtimeModel,
    RealtimeSessionConfig,
    ResponseCancelEvent,
    ResponseCreateEvent,
    ToolResultEvent,
    TurnDetectionConfig,
    UnsupportedEventError,
)
from kernl_realtime.providers import elevenlabs, google, openai, xai
from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator
from helpers import WEATHER, until_done

API_KEY = "sim-key"


def spoken(events: List[Any], rate: int) -> Dict[str, Any]:
    """What one spoken response amounted to (audio is PCM16 at ``rate`` Hz)."""
    audio = b"".join(base64.b64decode(e.audio) for e in events if e.kind == "audio.output.delta")
    deltas = "".join(e.delta for e in events if e.kind == "transcript.output.delta")
    finals = [e.text for e in events if e.kind == "transcript.output"]
    return {
        "transcript": finals,
        "deltas_add_up": finals == [deltas],
        # Long enough to be barged into at 500 ms.
        "audio_over_500ms": len(audio) / (rate * 2 / 1000) > 500,
        "status": events[-1].status.value,
    }


def respond(conn: Any) -> None:
    """Ask for an answer, where the provider has such a request (an ElevenLabs agent answers by itself)."""
    try:
        conn.send(ResponseCreateEvent())
    except UnsupportedEventError:
        pass


def conversation(model: RealtimeModel) -> Dict[str, Any]:
    """A user's script: configure, talk, barge in, use a tool, hit a provider error."""
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        tools=[WEATHER],
        turn_detection=TurnDetectionConfig(mode="server_vad"),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        # ElevenLabs signals no end of turn: a short silence ends it (other providers ignore this).
        provider_options={"elevenlabs": {"turn_end_silence": 0.3}},
    )
    outcome: Dict[str, Any] = {}
    options = RealtimeConnectOptions(session_config=config, keepalive=KeepAlive(interval=1.0, timeout=2.0))
    with model.connect(options, timeout=5) as conn:
        assert conn.session_id and conn.session is not None
        outcome["confirmed_instructions"] = conn.session.config.instructions
        rate = conn.output_format.sample_rate  # the provider's, never assumed

        conn.send(ItemCreateEvent(item=Message.user("Tell me about the sea")))
        respond(conn)
        outcome["reply"] = spoken(until_done(conn), rate)

        # Barge in while the reply is still playing; the audio sink says 500 ms were heard.
        outcome["interrupted"] = conn.interrupt(played_ms=500)

        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        respond(conn)
        turn = until_done(conn)
        # The server confirms the truncation before it answers the next request.
        truncated = next((e for e in turn if e.kind == "item.truncated"), None)
        outcome["truncated_at_ms"] = truncated.audio_end_ms if truncated is not None else None
        call = next(e for e in turn if e.kind == "tool.call")
        outcome["tool_call"] = (call.tool_id, json.loads(call.arguments))
        conn.send(ToolResultEvent(call_id=call.call_id, result='{"temp_c": 18}'))
        respond(conn)
        outcome["answer"] = spoken(until_done(conn), rate)

        errors: List[BaseException] = []
        seen = threading.Event()
        conn.on("error", lambda exc: (errors.append(exc), seen.set()))
        try:
            conn.send(ResponseCancelEvent())  # nothing is active: the provider reports an error
        except KernlRealtimeError as exc:  # ... or the provider has no such event at all
            errors.append(exc)
            seen.set()
        assert seen.wait(5)
        outcome["error"] = (type(errors[0]).__name__, getattr(errors[0], "code", None))
        outcome["still_open"] = conn.status.value
    outcome["finally"] = conn.status.value
    return outcome


EXPECTED = {
    "confirmed_instructions": "Be brief.",
    "reply": {
        "transcript": ["You said: Tell me about the sea."],
        "deltas_add_up": True,
        "audio_over_500ms": True,
        "status": "completed",
    },
    "interrupted": True,
    "truncated_at_ms": 500,
    "tool_call": ("get_weather", {"city": "Paris"}),
    "answer": {
        "transcript": ['The get_weather tool says {"temp_c": 18}.'],
        "deltas_add_up": True,
        "audio_over_500ms": True,
        "status": "completed",
    },
    "error": ("ServerError", "response_cancel_not_active"),
    "still_open": "connected",
    "finally": "closed",
}

PROVIDERS: Dict[str, Callable[[Simulator], RealtimeModel]] = {
    "openai": lambda sim: openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url),
    "xai": lambda sim: xai.realtime("grok-voice-latest", api_key=API_KEY, base_url=sim.xai_base_url),
    "google": lambda sim: google.realtime("gemini-3.8-live", api_key=API_KEY, base_url=sim.google_base_url),
    "elevenlabs": lambda sim: elevenlabs.realtime("agent_parity", api_key=API_KEY, base_url=sim.elevenlabs_base_url),
}

#: The ElevenLabs agent the script talks to: its client tool is declared in ElevenLabs.
PARITY_AGENT = ElevenLabsAgent(
    "agent_parity",
    private=True,
    tools=[{"name": WEATHER.name, "description": WEATHER.description, "parameters": WEATHER.parameters}],
)

#: What the wire itself makes different: Gemini tracks playback on the server (no
#: truncate) and stops replies only on barge-in (no response.cancel).
DIFFERENCES: Dict[str, Dict[str, Any]] = {
    "google": {"truncated_at_ms": None, "error": ("UnsupportedEventError", None)},
    # ElevenLabs sends the agent's text whole (agent_response), never as deltas.
    "elevenlabs": {
        "truncated_at_ms": None,
        "error": ("UnsupportedEventError", None),
        "reply": {**EXPECTED["reply"], "deltas_add_up": False},  # type: ignore[dict-item]
        "answer": {**EXPECTED["answer"], "deltas_add_up": False},  # type: ignore[dict-item]
    },
}


def wire_check(provider: str, sim: Simulator) -> None:
    """Each provider spoke its own dialect on the wire."""
    info = sim.session_info()
    assert info["dialect"] == provider
    received = sim.received()
    if provider == "elevenlabs":
        initiation = received[0]
        assert initiation["type"] == "conversation_initiation_client_data"
        assert initiation["conversation_config_override"]["agent"]["prompt"]["prompt"] == "Be brief."
        kinds = [m.get("type") for m in received]
        assert "client_tool_result" in kinds and "response.create" not in kinds
        assert info["client_secret"] is True  # the key fetched a signed URL; it never went on the socket
        return
    if provider == "google":
        setup = received[0]["setup"]
        assert setup["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert "toolResponse" in {key for message in received for key in message}
        return
    assert info["config"]["instructions"] == "Be brief."
    kinds = [m["type"] for m in received]
    assert kinds[0] == "session.update" and "conversation.item.truncate" in kinds


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=API_KEY, speed=0, elevenlabs=ElevenLabsOptions(agents=[PARITY_AGENT])) as simulator:
        yield simulator


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_one_script_same_outcome(sim: Simulator, provider: str) -> None:
    model = PROVIDERS[provider](sim)
    assert conversation(model) == {**EXPECTED, **DIFFERENCES.get(provider, {})}
    wire_check(provider, sim)
