"""Gemini Live end to end: the Google provider against the simulator's Gemini dialect."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
from typing import Any, Iterator, List

import pytest

from kernl_realtime import (
    ActivityEndEvent,
    ActivityStartEvent,
    AudioInputAppendEvent,
    AuthenticationError,
    ConnectionReconnected,
    FunctionToolSpec,
    ItemCreateEvent,
    Message,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ReconnectPolicy,
    SessionResumeConfig,
    ResponseCreateEvent,
    ServerError,
    ToolResultEvent,
    TurnDetectionConfig,
)
from kernl_realtime.providers import google
from kernl_realtime.simulator import Simulator

KEY = "sim-gemini-key"
WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=KEY, speed=0) as simulator:
        yield simulator


def model(sim: Simulator, **kwargs: Any) -> google.GoogleRealtimeModel:
    return google.realtime("gemini-3.8-live", api_key=kwargs.pop("api_key", KEY), base_url=sim.google_base_url, **kwargs)


def tone(ms: int, rate: int = 16000, amplitude: float = 0.3) -> str:
    count = rate * ms // 1000
    samples = [int(amplitude * 32767 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(count)]
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode("ascii")


def silence(ms: int, rate: int = 16000) -> str:
    return base64.b64encode(b"\x00\x00" * (rate * ms // 1000)).decode("ascii")


def until(conn: Any, kind: str, timeout: float = 10.0) -> List[Any]:
    events = []
    for event in conn.events(timeout=timeout):
        events.append(event)
        if event.kind == kind:
            return events
    raise AssertionError(f"no {kind} in {[e.kind for e in events]}")


def transcript(events: List[Any]) -> str:
    return "".join(e.text for e in events if e.kind == "transcript.output")


def test_text_turn(sim: Simulator) -> None:
    config = RealtimeSessionConfig(instructions="Be brief.")
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        assert conn.session.config.instructions == "Be brief."
        conn.send(ItemCreateEvent(item=Message.user("Tell me about the sea")))
        conn.send(ResponseCreateEvent())
        events = until(conn, "response.done")
        assert transcript(events) == "You said: Tell me about the sea."
        assert events[-1].status.value == "completed" and events[-1].usage.total_tokens > 0
        audio = b"".join(base64.b64decode(e.audio) for e in events if e.kind == "audio.output.delta")
        assert len(audio) // 48 >= 1000  # 24 kHz PCM16: 48 bytes per ms
    info = sim.session_info()
    assert info["dialect"] == "google" and info["config"]["model"] == "models/gemini-3.8-live"
    sent = sim.sent()
    assert sent[0] == {"setupComplete": {}}
    assert any("turnComplete" in m.get("serverContent", {}) for m in sent)


def test_spoken_turn_with_server_vad(sim: Simulator) -> None:
    with model(sim).connect(timeout=5) as conn:
        for chunk in [tone(600), silence(700)]:
            conn.send(AudioInputAppendEvent(audio=chunk))
        events = until(conn, "response.done")
        kinds = [e.kind for e in events]
        assert kinds.index("transcript.input.delta") < kinds.index("response.created")
        final_input = next(e for e in conn.events(timeout=5) if e.kind == "transcript.input")
        assert final_input.text == "(audio 0.6s)"
        assert transcript(events) == f"You said: {final_input.text}."
    first = sim.received()[1]
    assert first["realtimeInput"]["audio"]["mimeType"] == "audio/pcm;rate=16000"


def test_tool_call_turn_resumes_without_a_response_request(sim: Simulator) -> None:
    config = RealtimeSessionConfig(tools=[WEATHER])
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        events = until(conn, "response.done")
        call = next(e for e in events if e.kind == "tool.call")
        assert (call.tool_id, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
        conn.send(ToolResultEvent(call_id=call.call_id, result='{"temp_c": 18}'))
        conn.send(ResponseCreateEvent())  # implicit on Gemini: nothing is sent
        answer = until(conn, "response.done")
        assert transcript(answer) == 'The get_weather tool says {"temp_c": 18}.'
    received = sim.received()
    response = next(m for m in received if "toolResponse" in m)["toolResponse"]["functionResponses"][0]
    assert response["name"] == "get_weather" and response["response"] == {"output": {"temp_c": 18}}
    assert sum(1 for m in received if m.get("clientContent", {}).get("turnComplete")) == 1


def test_manual_activity_start_and_end(sim: Simulator) -> None:
    config = RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="manual"))
    with model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
        conn.send(ActivityStartEvent())
        conn.send(AudioInputAppendEvent(audio=silence(500)))  # quiet: only activityEnd ends the turn
        conn.send(ActivityEndEvent())
        events = until(conn, "response.done")
        assert transcript(events) == "You said: (audio 0.5s)."
    assert sim.session_info()["config"]["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}


def test_setup_rejected_with_1007_and_its_reason(sim: Simulator) -> None:
    config = RealtimeSessionConfig(provider_options={"google": {"bogusField": True}})
    with pytest.raises(ServerError) as caught:
        model(sim).connect(RealtimeConnectOptions(session_config=config), timeout=5)
    assert caught.value.code == "invalid_argument" and "bogusField" in str(caught.value)
    with pytest.raises(AuthenticationError, match="API key not valid"):
        model(sim, api_key="wrong").connect(timeout=5)


def test_authenticate_then_keyless_connect(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    config = RealtimeSessionConfig(instructions="Pinned by the token.")
    credential = model(sim).authenticate(RealtimeAuthenticateOptions(session_config=config, expires_in=60))
    assert credential.token.startswith("auth_tokens/") and 55 < credential.expires_in <= 61
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    keyless = google.realtime("gemini-3.8-live", base_url=sim.google_base_url)
    with keyless.connect(RealtimeConnectOptions(credential=credential), timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("Hello")))
        conn.send(ResponseCreateEvent())
        assert transcript(until(conn, "response.done")) == "You said: Hello."
    info = sim.session_info()
    assert info["client_secret"] and info["path"].endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert info["config"]["systemInstruction"] == {"parts": [{"text": "Pinned by the token."}]}
    # One use: a second session with the same token is refused.
    with pytest.raises(AuthenticationError):
        keyless.connect(RealtimeConnectOptions(credential=credential), timeout=5)


def test_barge_in_interrupts_and_cancels_pending_tool_calls() -> None:
    with Simulator(api_key=KEY, speed=1.0) as slow:
        config = RealtimeSessionConfig(tools=[WEATHER])
        with model(slow).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
            interrupted = threading.Event()
            conn.on("interrupted", interrupted.set)
            conn.send(ItemCreateEvent(item=Message.user("Tell me a long story about the sea")))
            conn.send(ResponseCreateEvent())
            until(conn, "audio.output.delta")
            conn.send(AudioInputAppendEvent(audio=tone(200)))  # the user talks over the reply
            events = until(conn, "response.done")
            assert "response.interrupted" in [e.kind for e in events]
            assert events[-1].status.value == "cancelled"
            assert interrupted.wait(5)  # the connection flushed its playback bookkeeping
        with model(slow).connect(RealtimeConnectOptions(session_config=config), timeout=5) as conn:
            conn.send(ItemCreateEvent(item=Message.user("What is the weather in Paris?")))
            conn.send(ResponseCreateEvent())
            call = until(conn, "tool.call")[-1]
            conn.send(AudioInputAppendEvent(audio=tone(200)))  # barge-in while the call is pending
            cancelled = until(conn, "tool.cancelled")
            assert cancelled[-1].call_id == call.call_id
            assert "response.interrupted" in [e.kind for e in cancelled]
        sent = slow.sent()
        assert {"serverContent": {"interrupted": True}} in sent
        assert {"toolCallCancellation": {"ids": [call.call_id]}} in sent


def test_go_away_resumes_the_conversation_on_a_new_socket() -> None:
    with Simulator(api_key=KEY, speed=2.0, gemini_go_away_after=0.3, gemini_go_away_grace=10.0) as sim:
        # A reconnect delay keeps the switch open long enough for the microphone to hit it.
        slow_switch = RealtimeConnectOptions(reconnect=ReconnectPolicy(initial_delay=0.2, jitter=0.0))
        with model(sim).connect(slow_switch, timeout=5) as conn:
            # A microphone keeps streaming (silence) right through the socket switch.
            stop, send_errors = threading.Event(), []

            def microphone() -> None:
                while not stop.wait(0.01):
                    try:
                        conn.send(AudioInputAppendEvent(audio=silence(20)))
                    except Exception as exc:  # noqa: BLE001 - the test reports it
                        send_errors.append(exc)

            mic = threading.Thread(target=microphone, name="test-microphone")
            mic.start()
            conn.send(ItemCreateEvent(item=Message.user("My name is Ada")))
            conn.send(ResponseCreateEvent())
            first: List[Any] = []
            notice = None
            for event in conn.events(timeout=10):
                if isinstance(event, ConnectionReconnected):
                    notice = event
                    break
                first.append(event)
            assert notice is not None and notice.state_lost is False
            assert conn.status.value == "connected" and sim.sessions == 2
            # Turn 1 arrived whole on the first socket, exactly once.
            kinds = [e.kind for e in first]
            assert kinds.count("response.created") == 1 and kinds.count("response.done") == 1
            assert transcript(first) == "You said: My name is Ada."
            audio = b"".join(base64.b64decode(e.audio) for e in first if e.kind == "audio.output.delta")
            assert len(audio) == 48 * 1520  # speech_ms("You said: My name is Ada.") at 24 kHz
            assert "goAway" in {e.type for e in first if e.kind == "unknown"}
            # The new socket continues the same conversation.
            conn.send(ItemCreateEvent(item=Message.user("What did I say before?")))
            conn.send(ResponseCreateEvent())
            second = until(conn, "response.done")
            assert transcript(second) == "Earlier you said: My name is Ada."
            stop.set()
            mic.join(5)
            assert send_errors == []  # no ReconnectingError: the session was resumed
            assert any("realtimeInput" in m for m in sim.received(1))
        setup = sim.received(1)[0]["setup"]
        assert setup["sessionResumption"]["handle"]


def _turn_and_handle(conn: Any, text: str) -> List[Any]:
    """Send a text turn; return its events up to the resumption update that follows it."""
    conn.send(ItemCreateEvent(item=Message.user(text)))
    conn.send(ResponseCreateEvent())
    events = until(conn, "response.done")
    for event in conn.events(timeout=5):
        events.append(event)
        if event.kind == "unknown" and event.type == "sessionResumptionUpdate":
            return events
    raise AssertionError("no sessionResumptionUpdate after the turn")


def test_a_dropped_socket_resumes_when_reconnect_is_enabled(sim: Simulator) -> None:
    options = RealtimeConnectOptions(reconnect=ReconnectPolicy(initial_delay=0.0))
    with model(sim).connect(options, timeout=5) as conn:
        _turn_and_handle(conn, "My name is Ada")
        before = sim.sessions
        sim.disconnect(code=None)  # TCP drop, no close frame
        notice = next(e for e in conn.events(timeout=10) if isinstance(e, ConnectionReconnected))
        assert notice.state_lost is False and sim.sessions == before + 1
        conn.send(ItemCreateEvent(item=Message.user("What did I say before?")))
        conn.send(ResponseCreateEvent())
        assert transcript(until(conn, "response.done")) == "Earlier you said: My name is Ada."


def test_a_new_process_resumes_a_stored_handle(sim: Simulator) -> None:
    with model(sim).connect(timeout=5) as conn:
        _turn_and_handle(conn, "My name is Grace")
        stored = conn.resume_handle
    assert stored
    resumed = RealtimeConnectOptions(resume=SessionResumeConfig(handle=stored))
    with model(sim).connect(resumed, timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("What did I say before?")))
        conn.send(ResponseCreateEvent())
        assert transcript(until(conn, "response.done")) == "Earlier you said: My name is Grace."
    with pytest.raises(ServerError, match="resumption handle"):
        model(sim).connect(RealtimeConnectOptions(resume=SessionResumeConfig(handle="not-a-handle")), timeout=5)


def test_a_recorded_gemini_session_replays_from_its_cassette(sim: Simulator, tmp_path: Any) -> None:
    from kernl_realtime.testing import Cassette

    path = str(tmp_path / "gemini.jsonl")
    with model(sim).connect(RealtimeConnectOptions(record=path), timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("Hello")))
        conn.send(ResponseCreateEvent())
        recorded = transcript(until(conn, "response.done"))
    with Cassette(path) as cassette:
        assert cassette.provider == "google"
        with cassette.model().connect(timeout=5) as conn:
            conn.send(ItemCreateEvent(item=Message.user("Hello")))
            conn.send(ResponseCreateEvent())
            assert transcript(until(conn, "response.done")) == recorded == "You said: Hello."


def test_a_socket_closed_mid_reply_ends_that_reply_and_resumes_from_the_last_handle() -> None:
    # Replies stream at twice real time: the long one outlives the socket (closed 1.2 s after
    # setup), the short one after the switch (0.4 s) does not.
    with Simulator(api_key=KEY, speed=2.0, gemini_go_away_after=0.2, gemini_go_away_grace=1.0) as slow:
        with model(slow).connect(timeout=5) as conn:
            conn.send(ItemCreateEvent(item=Message.user("Tell me a long story about the sea and its ships")))
            conn.send(ResponseCreateEvent())
            events: List[Any] = []
            for event in conn.events(timeout=10):
                events.append(event)
                if isinstance(event, ConnectionReconnected):
                    break
            kinds = [e.kind for e in events]
            done = next(e for e in events if e.kind == "response.done")
            # The reply outlived the socket: it ends failed (not silently), once, before the notice.
            assert done.status.value == "failed" and kinds.count("response.done") == 1
            assert done.provider_metadata == {"google": {"reason": "connection_lost"}}
            assert events[-1].state_lost is False
            conn.send(ItemCreateEvent(item=Message.user("Hi")))
            conn.send(ResponseCreateEvent())
            assert transcript(until(conn, "response.done")) == "You said: Hi."


def test_the_simulator_speaks_the_raw_wire_like_google(sim: Simulator) -> None:
    """python-genai's spellings (snake_case keys, ``//ws/``, ``?key=``), binary frames, strict setup."""
    from websockets.sync.client import connect as ws_connect

    path = "//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    url = sim.google_base_url.replace("http", "ws", 1) + path + f"?key={KEY}"
    with ws_connect(url) as ws:
        ws.send(json.dumps({"setup": {"model": "models/gemini-3.8-live",
                                      "generation_config": {"response_modalities": ["TEXT"]}}}))
        first = ws.recv(timeout=5)
        assert isinstance(first, bytes) and json.loads(first) == {"setupComplete": {}}  # a binary frame
        ws.send(json.dumps({"client_content": {"turns": [{"role": "user", "parts": [{"text": "Hi"}]}],
                                               "turn_complete": True}}))
        texts = []
        while True:
            message = json.loads(ws.recv(timeout=5))
            content = message.get("serverContent", {})
            texts += [part["text"] for part in content.get("modelTurn", {}).get("parts", [])]
            if content.get("turnComplete"):
                assert message["usageMetadata"]["totalTokenCount"] > 0
                break
        assert "".join(texts) == "You said: Hi."
        ws.send(json.dumps({"setup": {"model": "models/gemini-3.8-live"}}))  # a second setup
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1007 and "only once" in closed.value.rcvd.reason
    with ws_connect(url) as ws:
        ws.send(json.dumps({"realtimeInput": {"text": "too early"}}))
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1007 and "setup" in closed.value.rcvd.reason
    token = model(sim).authenticate().token
    with ws_connect(url.split("?")[0], additional_headers={"Authorization": f"Token {token}"}) as ws:
        ws.send(json.dumps({"setup": {"model": "models/gemini-3.8-live"}}))
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1008 and "unregistered callers" in closed.value.rcvd.reason
