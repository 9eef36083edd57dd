"""ElevenLabs agents end to end: the provider against the simulator's ElevenLabs dialect."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, List

import pytest
import requests
import responses

from kernl_realtime import (
    AuthenticationError,
    ClientCredential,
    CredentialExpiredError,
    ItemCreateEvent,
    Message,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ReceiveTimeout,
    ServerError,
    ToolResultEvent,
)
from kernl_realtime.protocol import AudioInputAppendEvent
from kernl_realtime.providers import elevenlabs
from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator

KEY = "xi-sim-key"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
AGENTS = [
    ElevenLabsAgent("agent_public", output_format="pcm_22050", tools=[WEATHER]),
    ElevenLabsAgent("agent_private", private=True, first_message="Hi! How can I help?"),
    ElevenLabsAgent("agent_talker", first_message="Let me tell you a long story about the sea and the ships " * 3),
    ElevenLabsAgent("agent_strict", prompt="Help {{user_name}}.", allowed_overrides=["agent.prompt.prompt"]),
]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    options = ElevenLabsOptions(agents=AGENTS, ping_interval=0.3, pong_timeout=1.5)
    with Simulator(api_key=KEY, speed=0, elevenlabs=options) as simulator:
        yield simulator


def tone(ms: int, rate: int = 16000, amplitude: float = 0.0) -> str:
    """Base64 PCM16 mono: a 300 Hz tone (silence at amplitude 0)."""
    count = rate * ms // 1000
    samples = [int(amplitude * 32767 * math.sin(2 * math.pi * 300 * n / rate)) for n in range(count)]
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode("ascii")


def until(conn: Any, kind: str, timeout: float = 5.0) -> List[Any]:
    """Events up to the first of ``kind`` (pings arrive all the time, so never "until quiet")."""
    events: List[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = conn.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ReceiveTimeout:
            break
        events.append(event)
        if event.kind == kind:
            return events
    raise AssertionError(f"no {kind} in {[e.kind for e in events]}")


def drain(conn: Any, seconds: float) -> List[Any]:
    """Everything that arrives within ``seconds``."""
    events: List[Any] = []
    deadline = time.monotonic() + seconds
    while True:
        try:
            events.append(conn.recv(timeout=max(0.0, deadline - time.monotonic())))
        except ReceiveTimeout:
            return events


def test_a_full_spoken_turn_in_the_agents_formats(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    config = RealtimeSessionConfig(instructions="Be brief.")
    with model.connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        assert conn.session_id and conn.session_id.startswith("conv_")
        assert (conn.input_format.sample_rate, conn.output_format.sample_rate) == (16000, 22050)
        assert conn.session.config.instructions == "Be brief."
        conn.send(AudioInputAppendEvent(audio=tone(800, amplitude=0.3)))
        conn.send(AudioInputAppendEvent(audio=tone(700)))
        events = until(conn, "transcript.output")
        kinds = [e.kind for e in events]
        assert "transcript.input" in kinds and kinds[-2:] == ["response.created", "transcript.output"]
        heard = next(e for e in events if e.kind == "transcript.input").text
        assert heard == "(audio 1.3s)" and events[-1].text == "You said: (audio 1.3s)."
        audio = [e for e in until(conn, "audio.output.delta")]
        assert audio[-1].response_id == events[-1].response_id
        chunk = base64.b64decode(audio[-1].audio)
        assert len(chunk) == 22050 * 2 * 40 // 1000  # 40 ms at the agent's 22.05 kHz, not 24 kHz
    sent = sim.received()
    assert sent[0]["type"] == "conversation_initiation_client_data"
    assert sent[0]["conversation_config_override"] == {"agent": {"prompt": {"prompt": "Be brief."}}}
    assert "user_audio_chunk" in sent[1] and "type" not in sent[1]
    assert sim.session_info()["dialect"] == "elevenlabs"


def test_a_client_tool_turn_the_agent_answers_after_the_result(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    with model.connect(timeout=5) as conn:
        assert conn._codec.resumes_after_tool_result
        conn.send(ItemCreateEvent(item=Message.user("What's the weather in Paris?")))
        call = until(conn, "tool.call")[-1]
        assert (call.tool_id, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
        conn.send(ToolResultEvent(call_id=call.call_id, result='{"temp_c": 18}'))  # no response.create
        events = until(conn, "transcript.output")
        assert [e.kind for e in events][-3:] == ["response.done", "response.created", "transcript.output"]
        assert events[-1].text == 'The get_weather tool says {"temp_c": 18}.'
        conn.send(ItemCreateEvent(item=Message.user("And the weather in Oslo?")))
        call = until(conn, "tool.call")[-1]
        conn.send(ToolResultEvent(call_id=call.call_id, error="weather service down"))
        assert until(conn, "transcript.output")[-1].text == "The get_weather tool says an error: weather service down."
    results = [m for m in sim.received() if m.get("type") == "client_tool_result"]
    assert {k: v for k, v in results[0].items() if k != "tool_call_id"} == {
        "type": "client_tool_result", "result": '{"temp_c": 18}', "is_error": False,
    }
    assert results[1]["is_error"] is True


def test_barge_in_interrupts_the_agent_and_flushes_playback() -> None:
    options = ElevenLabsOptions(agents=AGENTS, ping_interval=0)
    with Simulator(speed=1.0, elevenlabs=options) as sim:
        model = elevenlabs.realtime(agent_id="agent_talker", base_url=sim.elevenlabs_base_url)
        with model.connect(timeout=5) as conn:
            interrupted = threading.Event()
            conn.on("interrupted", interrupted.set)
            # The agent is speaking its long first message: let some of it be spoken (the
            # simulator paces audio in real time) so that the correction keeps a part of it.
            for _ in range(4):
                until(conn, "audio.output.delta")
            conn.send(AudioInputAppendEvent(audio=tone(200, amplitude=0.3)))
            assert interrupted.wait(5)
            events = until(conn, "response.done")
            assert events[-2].kind == "response.interrupted" and events[-1].status.value == "cancelled"
            assert conn._core.playback.truncation_point(time.monotonic(), None) is None  # playback was flushed
            correction = next(e for e in drain(conn, 1.0) if e.kind == "unknown" and e.type != "ping")
            assert correction.type == "agent_response_correction"
            spoken = correction.data["agent_response_correction_event"]["corrected_agent_response"]
            assert spoken and len(spoken) < len(correction.data["agent_response_correction_event"]["original_agent_response"])
        assert not [m for m in sim.received() if m.get("type") in ("response.cancel", "conversation.item.truncate")]


def test_authenticate_then_a_keyless_connect_with_the_url_credential(sim: Simulator) -> None:
    server = elevenlabs.realtime(agent_id="agent_private", api_key=KEY, base_url=sim.elevenlabs_base_url)
    credential = server.authenticate(RealtimeAuthenticateOptions(agent_id="agent_private"))
    assert credential.kind == "url" and credential.url is not None
    assert timedelta(minutes=14) < credential.expires_at - datetime.now(timezone.utc) <= timedelta(minutes=15)
    signature = credential.url.split("conversation_signature=")[1]
    assert signature not in repr(credential) and signature not in str(credential)
    browser = elevenlabs.realtime(agent_id="agent_private", base_url="http://unused.invalid")
    with browser.connect(RealtimeConnectOptions(credential=credential), timeout=5) as conn:
        assert conn.session_id
        first = until(conn, "transcript.output")[-1]
        assert first.text == "Hi! How can I help?"
        assert signature not in repr(conn)
    info = sim.session_info()
    assert info["client_secret"] is True and info["model"] == "agent_private"


def test_a_private_agent_with_the_key_connects_through_a_fresh_signed_url(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_private", api_key=KEY, base_url=sim.elevenlabs_base_url)
    with model.connect(timeout=5) as conn:
        assert conn.session_id
    assert sim.session_info()["client_secret"] is True
    assert KEY not in json.dumps(sim.session_info()["headers"])  # the key never travels on the socket


def test_a_private_agent_without_credentials_is_refused(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_private", base_url=sim.elevenlabs_base_url)
    with pytest.raises(ServerError) as caught:
        model.connect(timeout=5)
    assert caught.value.code == "authorization_required"


def test_an_expired_signed_url_is_rejected_before_connecting(sim: Simulator) -> None:
    before = sim.sessions
    expired = ClientCredential.from_url(
        f"ws://127.0.0.1:{sim.port}/v1/convai/conversation?agent_id=agent_private&conversation_signature=sig_old",
        datetime.now(timezone.utc) - timedelta(seconds=1),
    )
    with pytest.raises(CredentialExpiredError) as caught:
        elevenlabs.realtime(agent_id="agent_private").connect(RealtimeConnectOptions(credential=expired), timeout=5)
    assert "sig_old" not in str(caught.value)
    assert sim.sessions == before  # no socket was opened


def test_the_server_refuses_a_signed_url_past_its_window() -> None:
    now = [1_000_000.0]
    with Simulator(api_key=KEY, speed=0, clock=lambda: now[0], elevenlabs=ElevenLabsOptions(agents=AGENTS)) as sim:
        server = elevenlabs.realtime(agent_id="agent_private", api_key=KEY, base_url=sim.elevenlabs_base_url)
        credential = server.authenticate()
        now[0] += 901  # the server's clock passed the 15 minutes (ours did not)
        with pytest.raises(ServerError) as caught:
            elevenlabs.realtime(agent_id="agent_private").connect(RealtimeConnectOptions(credential=credential), timeout=5)
        assert caught.value.code == "expired_signature"


def test_authenticate_errors_hide_the_key(sim: Simulator) -> None:
    with pytest.raises(AuthenticationError) as caught:
        elevenlabs.realtime(agent_id="agent_private", api_key="xi-wrong-key", base_url=sim.elevenlabs_base_url).authenticate()
    assert "xi-wrong-key" not in str(caught.value) and "Invalid API key" in str(caught.value)


@responses.activate
def test_authenticate_against_the_documented_endpoint() -> None:
    signed = "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=agent_3701k&conversation_signature=s3cr3t"
    responses.add(
        responses.GET,
        "https://api.elevenlabs.io/v1/convai/conversation/get-signed-url",
        json={"signed_url": signed},
        match=[
            responses.matchers.query_param_matcher({"agent_id": "agent_3701k"}),
            responses.matchers.header_matcher({"xi-api-key": "xi-real"}),
        ],
    )
    credential = elevenlabs.realtime(agent_id="agent_3701k", api_key="xi-real").authenticate()
    assert credential.url == signed and "s3cr3t" not in repr(credential)
    responses.replace(responses.GET, "https://api.elevenlabs.io/v1/convai/conversation/get-signed-url", json={"nope": 1})
    with pytest.raises(Exception) as caught:
        elevenlabs.realtime(agent_id="agent_3701k", api_key="xi-real").authenticate()
    assert type(caught.value).__name__ == "ProtocolError"


def test_overrides_the_agent_does_not_allow_fail_the_connect(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_strict", base_url=sim.elevenlabs_base_url)
    config = RealtimeSessionConfig(provider_options={"elevenlabs": {"first_message": "Yo", "dynamic_variables": {"user_name": "Ana"}}})
    with pytest.raises(ServerError) as caught:
        model.connect(RealtimeConnectOptions(session_config=config), timeout=5)
    assert caught.value.code == "override_error" and caught.value.details["close_code"] == 1008
    with pytest.raises(ServerError) as caught:
        model.connect(timeout=5)
    assert caught.value.code == "missing_dynamic_variable"
    vars_only = RealtimeSessionConfig(provider_options={"elevenlabs": {"dynamic_variables": {"user_name": "Ana"}}})
    with model.connect(RealtimeConnectOptions(session_config=vars_only), timeout=5) as conn:
        assert conn.session_id
    assert sim.session_info()["config"]["dynamic_variables"] == {"user_name": "Ana"}


def test_pings_are_answered_while_a_callback_blocks_for_two_seconds(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    with model.connect(RealtimeConnectOptions(pull=False), timeout=5) as conn:
        blocked = threading.Event()

        def slow(event: Any) -> None:
            blocked.set()
            time.sleep(2.0)

        conn.once("unknown", slow)  # the first ping blocks the dispatcher for 2 s
        assert blocked.wait(5)
        time.sleep(2.2)
        assert conn.status.value == "connected"  # the server's 1.5 s pong deadline (shorter than the block) was met every time
    pings = [m["ping_event"]["event_id"] for m in sim.sent() if m.get("type") == "ping"]
    pongs = [m["event_id"] for m in sim.received() if m.get("type") == "pong"]
    assert len(pings) >= 6 and set(pings[:-1]) <= set(pongs)


def test_pings_are_answered_while_nobody_calls_recv(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    with model.connect(RealtimeConnectOptions(max_queue=4), timeout=5) as conn:
        time.sleep(2.5)  # a few pings fill the queue (4), then more pings arrive; nobody reads
        assert conn.status.value == "connected"
        assert len([e for e in drain(conn, 0.5) if e.kind == "unknown"]) >= 6
    pongs = [m for m in sim.received() if m.get("type") == "pong"]
    assert len(pongs) >= 6


def test_pings_are_answered_promptly_after_the_puller_goes_busy_with_default_options() -> None:
    """The puller reads the socket itself while it waits; once it is busy elsewhere the
    reader takes over soon enough for a provider that drops late pongs (0.6 s here),
    with default options (a 1 s keepalive tick)."""
    options = ElevenLabsOptions(agents=AGENTS, ping_interval=0.2, pong_timeout=0.6)
    with Simulator(speed=0, elevenlabs=options) as sim:
        model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
        with model.connect(timeout=5) as conn:
            pings = [e for e in drain(conn, 0.5) if e.kind == "unknown" and e.type == "ping"]
            assert pings, "no ping arrived while the puller waited"
            time.sleep(1.5)  # busy elsewhere, not in recv()
            assert conn.status.value == "connected", conn.close_info
            pings += [e for e in drain(conn, 0.3) if e.kind == "unknown" and e.type == "ping"]
            assert conn.status.value == "connected", conn.close_info
        sent = [m["ping_event"]["event_id"] for m in sim.sent() if m.get("type") == "ping"]
        answered = {m["event_id"] for m in sim.received() if m.get("type") == "pong"}
    assert len(sent) >= 8 and set(sent[:-1]) <= answered, (sent, sorted(answered))


def test_an_unanswered_ping_closes_the_conversation(sim: Simulator) -> None:
    class Silent(elevenlabs.ElevenLabsCodec):
        def auto_reply(self, message: Any) -> None:
            return None

    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    model._create_codec = lambda options: Silent(options.session_config)  # type: ignore[method-assign]
    conn = model.connect(timeout=5)
    assert conn.wait_closed(5)
    assert conn.close_code == 1002


def test_requests_is_only_used_for_the_signed_url(sim: Simulator) -> None:
    reply = requests.get(
        f"{sim.elevenlabs_base_url}/v1/convai/conversation/get-signed-url",
        params={"agent_id": "agent_public"},
        headers={"xi-api-key": KEY},
        timeout=5,
    )
    assert reply.status_code == 200 and reply.json()["signed_url"].startswith("ws://")
    assert requests.get(f"{sim.elevenlabs_base_url}/v1/convai/conversation/get-signed-url", timeout=5).status_code == 401


def test_client_side_context_activity_and_feedback(sim: Simulator) -> None:
    model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
    with model.connect(timeout=5) as conn:
        conn.send(elevenlabs.ContextualUpdateEvent("User is on the pricing page", context_id="page"))
        conn.send(ItemCreateEvent(item=Message.system("User is a premium customer")))
        conn.send(elevenlabs.UserActivityEvent())
        conn.send(ItemCreateEvent(item=Message.user("Hello")))
        answer = until(conn, "transcript.output")[-1]
        conn.send(elevenlabs.FeedbackEvent(event_id=int(answer.id), score="like"))
        sim.wait_for(lambda ms: any(m.get("type") == "feedback" for m in ms))
    assert answer.text == "You said: Hello."  # context is background: no answer of its own
    assert [m.get("type") for m in sim.received()[1:]] == [
        "contextual_update", "contextual_update", "user_activity", "user_message", "feedback",
    ]  # fmt: skip
    assert sim.received()[1]["context_id"] == "page"


# -- the simulator's ElevenLabs dialect, spoken to with a plain websockets client -------------


def raw_connect(sim: Simulator, agent_id: str = "agent_public") -> Any:
    from websockets.sync.client import connect

    return connect(f"ws://127.0.0.1:{sim.port}/v1/convai/conversation?agent_id={agent_id}", open_timeout=5)


def raw_error_and_close(ws: Any) -> Any:
    from websockets.exceptions import ConnectionClosed

    message = json.loads(ws.recv(timeout=5))
    with pytest.raises(ConnectionClosed) as caught:
        ws.recv(timeout=5)
    return message, caught.value.rcvd.code if caught.value.rcvd else None


def test_the_initiation_must_come_first(sim: Simulator) -> None:
    with raw_connect(sim) as ws:
        ws.send(json.dumps({"user_audio_chunk": tone(40)}))
        message, code = raw_error_and_close(ws)
    assert message["type"] == "error" and message["error_event"]["error_type"] == "invalid_message"
    assert code == 1008


def test_a_malformed_tool_result_is_an_error_then_close(sim: Simulator) -> None:
    with raw_connect(sim) as ws:
        ws.send(json.dumps({"type": "conversation_initiation_client_data"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "conversation_initiation_metadata"
        ws.send(json.dumps({"type": "client_tool_result", "tool_call_id": "t", "result": {"a": 1}, "is_error": False}))
        while True:
            message = json.loads(ws.recv(timeout=5))
            if message["type"] != "ping":
                break
        assert message["type"] == "error" and "result (string)" in message["error_event"]["message"]


def test_silence_closes_the_conversation_after_the_inactivity_timeout() -> None:
    options = ElevenLabsOptions(ping_interval=0, inactivity_timeout=0.3)
    with Simulator(speed=0, elevenlabs=options) as sim:
        with raw_connect(sim) as ws:
            ws.send(json.dumps({"type": "conversation_initiation_client_data"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "conversation_initiation_metadata"
            message, code = raw_error_and_close(ws)
    assert message["error_event"]["error_type"] == "transport_receive_timeout" and code == 1002


def test_a_reconnect_fetches_a_fresh_signed_url_and_starts_a_new_conversation(sim: Simulator) -> None:
    from kernl_realtime import ReconnectPolicy

    model = elevenlabs.realtime(agent_id="agent_private", api_key=KEY, base_url=sim.elevenlabs_base_url)
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.0, jitter=0.0)
    with model.connect(RealtimeConnectOptions(reconnect=policy), timeout=5) as conn:
        first = conn.session_id
        reconnected = threading.Event()
        conn.on("reconnected", lambda notice: reconnected.set())
        sim.disconnect(code=None)  # the TCP connection drops (1006): recoverable
        assert reconnected.wait(10)
        assert conn.session_id and conn.session_id != first  # ElevenLabs has no resumption
        assert sim.session_info()["client_secret"] is True  # on a newly signed URL, from the reader thread
        assert sim.received()[0]["type"] == "conversation_initiation_client_data"
