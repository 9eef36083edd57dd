"""xAI provider: the model, connect()/authenticate(), and whole turns against the simulator.

The WebSocket tests run against the embedded simulator's xAI dialect (wire doc §2); the
REST error tests use ``responses``.
"""

from __future__ import annotations

import base64
import json
import math
import select
import socket
import threading
from typing import Any, Iterator, List

import pytest
import requests
import responses

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AuthenticationError,
    ConfigurationError,
    FunctionToolSpec,
    InputTranscriptionConfig,
    ItemCreateEvent,
    Message,
    ProtocolError,
    ProviderDefinedToolSpec,
    RateLimitError,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RequestTimeout,
    ResponseCancelEvent,
    ResponseCreateEvent,
    ResponseStatus,
    ServerError,
    ServiceUnavailableError,
    ToolResultEvent,
    TurnDetectionConfig,
    UnknownEvent,
    VoiceConfig,
)
from kernl_realtime.providers import xai
from kernl_realtime.simulator import Simulator
from helpers import until_done

API_KEY = "xai-test-SECRET-key"

WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(autouse=True)
def no_xai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real key or endpoint must never leak into these tests.
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    monkeypatch.delenv("XAI_BASE_URL", raising=False)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=API_KEY, speed=0) as simulator:
        yield simulator


def model(sim: Simulator, **kwargs: Any) -> xai.XAIRealtimeModel:
    kwargs.setdefault("api_key", API_KEY)
    return xai.realtime(base_url=sim.xai_base_url, **kwargs)


def pcm(ms: int, amplitude: float) -> bytes:
    """PCM16 24 kHz mono: a 440 Hz tone (silence when amplitude is 0)."""
    peak = amplitude * 32767
    return b"".join(
        int(peak * math.sin(2 * math.pi * 440 * n / 24000)).to_bytes(2, "little", signed=True) for n in range(24 * ms)
    )


# -- the model ---------------------------------------------------------------------------------


def test_model_basics_and_defaults() -> None:
    grok = xai.realtime()
    assert isinstance(grok, xai.XAIRealtimeModel)
    assert (grok.provider, grok.spec, grok.model_id) == ("xai", "1.0", "grok-voice-latest")
    assert grok.base_url == "https://api.x.ai/v1"
    assert xai.XAIRealtimeModel("grok-voice-think-fast-1.0").model_id == "grok-voice-think-fast-1.0"
    assert "SECRET" not in repr(xai.realtime(api_key=API_KEY))


def test_key_and_base_url_from_the_environment(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", API_KEY)
    monkeypatch.setenv("XAI_BASE_URL", sim.xai_base_url)
    with xai.realtime().connect(timeout=5) as conn:
        assert conn.session_id == "conv_1"
    info = sim.session_info()
    assert (info["dialect"], info["path"], info["model"]) == ("xai", "/xai/v1/realtime", "grok-voice-latest")
    # The API key travels as a bearer header; no subprotocol is offered.
    assert "authorization" in info["headers"] and info["subprotocol"] is None
    assert info["client_secret"] is False


def test_missing_key_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="XAI_API_KEY") as info:
        xai.realtime(base_url="http://127.0.0.1:9/v1").connect(timeout=5)
    assert info.value.field == "api_key"


def test_unknown_voice_raises_before_any_network_io() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        port = listener.getsockname()[1]
        grok = xai.realtime(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1")
        config = RealtimeSessionConfig(voice=VoiceConfig(voice_id="alloy"))
        with pytest.raises(ConfigurationError) as info:
            grok.connect(RealtimeConnectOptions(session_config=config), timeout=5)
        assert info.value.field == "voice.voice_id" and "eve" in str(info.value)
        # No TCP connection was even attempted ...
        assert select.select([listener], [], [], 0)[0] == []
        # ... although one would have been seen.
        socket.create_connection(("127.0.0.1", port)).close()
        assert select.select([listener], [], [], 5)[0] == [listener]
    finally:
        listener.close()


# -- whole turns against the simulator -----------------------------------------------------------


def test_full_turn_text_in_audio_and_transcript_out(sim: Simulator) -> None:
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        voice=VoiceConfig(voice_id="Eve"),
        turn_detection=TurnDetectionConfig(mode="server_vad", silence_duration_ms=400),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16(16000)),
        tools=[WEATHER, ProviderDefinedToolSpec(id="xai.web_search", name="web_search")],
    )
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        # connect() returned only after the server confirmed the complete config.
        effective = sim.session_info()["config"]
        assert (effective["instructions"], effective["voice"]) == ("Be brief.", "Eve")
        assert effective["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 400}
        assert effective["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 16000}
        assert [t["type"] for t in effective["tools"]] == ["function", "web_search"]
        assert conn.session_id == "conv_1" and conn.session is not None
        assert conn.session.id == "conv_1" and conn.session.config.voice == VoiceConfig(voice_id="Eve")

        conn.send(ItemCreateEvent(item=Message.user("Tell me a joke")))
        conn.send(ResponseCreateEvent())
        events = until_done(conn)
    kinds = [e.kind for e in events]
    assert "response.created" in kinds and "item.created" in kinds and "audio.output.done" in kinds
    audio = b"".join(base64.b64decode(e.audio) for e in events if e.kind == "audio.output.delta")
    assert len(audio) > 0 and len(audio) % (16000 * 2 * 40 // 1000) == 0  # 40 ms chunks at 16 kHz
    transcript = "".join(e.delta for e in events if e.kind == "transcript.output.delta")
    final = [e for e in events if e.kind == "transcript.output"]
    # xAI's transcript done event carries no text: the final text is the deltas.
    assert len(final) == 1 and transcript == final[0].text == "You said: Tell me a joke."
    done = events[-1]
    assert done.status == ResponseStatus.COMPLETED and done.usage is not None and done.usage.total_tokens > 0


def test_text_response_under_both_event_names_arrives_once(sim: Simulator) -> None:
    with model(sim).connect(timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("hello grok")))
        conn.send(ResponseCreateEvent(config=RealtimeResponseConfig(modalities=["text"])))
        events = until_done(conn)
    deltas = "".join(e.delta for e in events if e.kind == "text.output.delta")
    finals = [e.text for e in events if e.kind == "text.output"]
    assert deltas == "You said: hello grok." and finals == ["You said: hello grok."]
    raw = {e.type for e in events if isinstance(e, UnknownEvent)}
    assert {"response.text.delta", "response.text.done"} <= raw
    assert sim.received()[-1] == {"type": "response.create", "response": {"modalities": ["text"]}}


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


def test_spoken_turn_with_server_vad_and_streaming_transcription(sim: Simulator) -> None:
    config = RealtimeSessionConfig(
        turn_detection=TurnDetectionConfig(mode="server_vad"),
        input_transcription=InputTranscriptionConfig(model="grok-transcribe"),
    )
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        audio = pcm(300, 0) + pcm(400, 0.3) + pcm(600, 0)
        for start in range(0, len(audio), 4800):
            conn.send(AudioInputAppendEvent(audio=base64.b64encode(audio[start:start + 4800]).decode("ascii")))
        events = until_done(conn)
    kinds = [e.kind for e in events]
    assert kinds.index("speech.started") < kinds.index("speech.stopped") < kinds.index("transcript.input")
    started = events[kinds.index("speech.started")]
    assert started.audio_start_ms == 0 and started.item_id  # xAI reports no offsets
    deltas = "".join(e.delta for e in events if e.kind == "transcript.input.delta")
    final = events[kinds.index("transcript.input")].text
    assert final and deltas == final


def test_interrupt_mid_response_cancels_and_truncates() -> None:
    # speed=1: audio arrives in real time, as from the real service.
    with Simulator(api_key=API_KEY, speed=1.0) as sim:
        with model(sim).connect(timeout=5) as conn:
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
            assert 0 < truncate["audio_end_ms"] <= delivered_ms + 40
            ends = {}
            for event in conn.events(timeout=5):
                if event.kind in ("response.done", "item.truncated"):
                    ends[event.kind] = event
                    if len(ends) == 2:
                        break
            assert ends["item.truncated"].item_id == item_id
            # Cancelled stays cancelled (kernl TS folded it into failed).
            assert ends["response.done"].status == ResponseStatus.CANCELLED


def test_authenticate_then_connect_with_the_client_secret(sim: Simulator) -> None:
    credential = model(sim).authenticate(RealtimeAuthenticateOptions(expires_in=120))
    assert credential.kind == "token" and not credential.expired
    assert 110 < credential.expires_in <= 121
    client_side = xai.realtime(base_url=sim.xai_base_url)  # no API key at all
    config = RealtimeSessionConfig(instructions="From the client.", voice=VoiceConfig(voice_id="ara"))
    with client_side.connect(RealtimeConnectOptions(session_config=config, credential=credential), timeout=5) as conn:
        assert conn.session_id == "conv_1"
        assert conn.session is not None and conn.session.config.instructions == "From the client."
    info = sim.session_info()
    # The secret goes as xAI's documented subprotocol, not as a header.
    assert info["client_secret"] is True and "authorization" not in info["headers"]
    assert info["subprotocol"] == f"xai-client-secret.{credential.token}"
    assert API_KEY not in repr(credential) and credential.token not in repr(credential)


def test_newer_servers_session_created_is_delivered_raw() -> None:
    with Simulator(api_key=API_KEY, speed=0, xai_session_created=True, xai_ping_interval=0.02) as sim:
        config = RealtimeSessionConfig(instructions="Be brief.")
        with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
            first = [conn.recv(timeout=5) for _ in range(3)]
            assert [e.kind for e in first] == ["session.created", "unknown", "session.updated"]
            assert first[1].type == "session.created" and first[1].data["session"]["id"] == "sess_1"
            assert conn.session_id == "conv_1" and first[2].session.id == "conv_1"
            # Keep-alive pings are delivered raw, never dropped.
            ping = next(e for e in conn.events(timeout=5) if e.kind == "unknown" and e.type == "ping")
            assert isinstance(ping.data["timestamp"], int)


def test_server_error_event_reaches_an_error_callback(sim: Simulator) -> None:
    with model(sim).connect(timeout=5) as conn:
        errors: List[BaseException] = []
        seen = threading.Event()

        def on_error(exc: BaseException) -> None:
            errors.append(exc)
            seen.set()

        conn.on("error", on_error)
        conn.send(ResponseCancelEvent())  # nothing is active: xAI answers with an error event
        assert seen.wait(5)
        assert isinstance(errors[0], ServerError) and errors[0].code == "response_cancel_not_active"
        assert "no active response" in str(errors[0])
        assert conn.status == "connected"  # the session stays open


def test_server_error_event_is_raised_to_a_puller_without_callbacks(sim: Simulator) -> None:
    with model(sim).connect(timeout=5) as conn:
        assert conn.recv(timeout=5).kind == "session.created"
        conn.send(ResponseCancelEvent())
        with pytest.raises(ServerError) as info:
            for _ in conn.events(timeout=5):
                pass
        assert info.value.code == "response_cancel_not_active"


def test_wrong_api_key_is_rejected_on_upgrade(sim: Simulator) -> None:
    with pytest.raises(AuthenticationError) as info:
        model(sim, api_key="xai-wrong").connect(timeout=5)
    assert "xai-wrong" not in str(info.value)


# -- authenticate() against POST /realtime/client_secrets (wire doc §2.2) -------------------------

BASE_URL = "https://api.example.test/v1"
ENDPOINT = f"{BASE_URL}/realtime/client_secrets"


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def rest_model() -> xai.XAIRealtimeModel:
    return xai.realtime(api_key=API_KEY, base_url=BASE_URL)


def test_authenticate_posts_the_documented_request(mock: responses.RequestsMock) -> None:
    mock.post(ENDPOINT, json={"value": "xcs_opaque_secret", "expires_at": 1767230000})
    credential = rest_model().authenticate(RealtimeAuthenticateOptions(expires_in=300))
    request = mock.calls[0].request
    assert json.loads(request.body) == {"expires_after": {"seconds": 300}}
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert credential.token == "xcs_opaque_secret"
    assert credential.expires_at.timestamp() == 1767230000  # the server's expiry, not a local guess


def test_authenticate_without_expiry_leaves_the_server_default(mock: responses.RequestsMock) -> None:
    mock.post(ENDPOINT, json={"value": "xcs_1", "expires_at": 1767230000})
    rest_model().authenticate()
    assert json.loads(mock.calls[0].request.body) == {}


def test_authenticate_rejects_what_xai_cannot_mint_before_any_http(mock: responses.RequestsMock) -> None:
    with pytest.raises(ConfigurationError) as info:
        rest_model().authenticate(RealtimeAuthenticateOptions(expires_in=3601))
    assert info.value.field == "expires_in"
    with pytest.raises(ConfigurationError) as info:
        rest_model().authenticate(RealtimeAuthenticateOptions(session_config=RealtimeSessionConfig(instructions="x")))
    assert info.value.field == "session_config"
    with pytest.raises(ConfigurationError, match="XAI_API_KEY"):
        xai.realtime(base_url=BASE_URL).authenticate()
    assert len(mock.calls) == 0


@pytest.mark.parametrize(
    "reply, error",
    [
        ({"status": 401, "json": {"error": {"message": "Incorrect API key provided"}}}, AuthenticationError),
        ({"status": 429, "json": {"error": "slow down"}, "headers": {"Retry-After": "7"}}, RateLimitError),
        ({"status": 500, "body": "upstream exploded"}, ServiceUnavailableError),
        ({"status": 200, "body": "<html>not json</html>"}, ProtocolError),
        ({"status": 200, "json": {"expires_at": 1}}, ProtocolError),
        ({"body": requests.exceptions.ReadTimeout("slow")}, RequestTimeout),
    ],
)
def test_authenticate_failures_map_to_our_exceptions(mock: responses.RequestsMock, reply: Any, error: type) -> None:
    mock.post(ENDPOINT, **reply)
    with pytest.raises(error) as info:
        rest_model().authenticate()
    assert API_KEY not in str(info.value)
    if error is RateLimitError:
        assert info.value.retry_after == 7.0
    if error is AuthenticationError:
        assert info.value.status_code == 401 and "xAI" in str(info.value)
