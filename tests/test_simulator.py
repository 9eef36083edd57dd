"""The offline simulator, driven by raw websocket-client + requests (not our providers)."""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator, List, Optional
from unittest.mock import ANY

import pytest
import requests
import websocket

from kernl_realtime.simulator import Simulator

KEY = "sk-test-key"
RECV_TIMEOUT = 5.0


# --- helpers --------------------------------------------------------------------------------


def connect(
    sim: Simulator,
    *,
    dialect: str = "openai",
    key: Optional[str] = KEY,
    subprotocols: Optional[List[str]] = None,
    model: str = "gpt-realtime",
) -> websocket.WebSocket:
    """Open a raw socket to the simulator (header auth unless subprotocols are given)."""
    url = f"{sim.ws_url}?model={model}" if dialect == "openai" else sim.xai_ws_url
    header = [f"Authorization: Bearer {key}"] if key is not None and not subprotocols else None
    return websocket.create_connection(url, header=header, subprotocols=subprotocols,
                                       timeout=RECV_TIMEOUT)


def finish(sock: websocket.WebSocket) -> None:
    """Close politely, then make sure the TCP socket is released even if the peer left."""
    sock.close(timeout=1)
    sock.shutdown()


def recv(ws: websocket.WebSocket) -> Dict[str, Any]:
    return json.loads(ws.recv())


def send(ws: websocket.WebSocket, event: Dict[str, Any]) -> None:
    ws.send(json.dumps(event))


def recv_until(ws: websocket.WebSocket, type_: str, limit: int = 5000) -> List[Dict[str, Any]]:
    """Events up to and including the first of ``type_`` (each recv has a timeout)."""
    events = []
    for _ in range(limit):
        event = recv(ws)
        events.append(event)
        if event["type"] == type_:
            return events
    raise AssertionError(f"no {type_} in {limit} events")


def user_text(text: str) -> Dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": text}]}}


def pcm(ms: int, amplitude: float = 0.0, rate: int = 24000) -> bytes:
    """PCM16 mono: a 440 Hz tone (or silence when amplitude is 0)."""
    count = rate * ms // 1000
    peak = amplitude * 32767
    return b"".join(
        int(peak * math.sin(2 * math.pi * 440 * n / rate)).to_bytes(2, "little", signed=True)
        for n in range(count)
    )


def append(ws: websocket.WebSocket, data: bytes, chunk_ms: int = 100) -> None:
    step = 24000 * 2 * chunk_ms // 1000
    for i in range(0, len(data), step):
        send(ws, {"type": "input_audio_buffer.append",
                  "audio": base64.b64encode(data[i:i + step]).decode()})


GA_SESSION = {
    "type": "realtime",
    "instructions": "Be brief.",
    "audio": {"output": {"voice": "marin"}},
    "tools": [{"type": "function", "name": "get_weather",
               "description": "Current weather for a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}}],
    "tool_choice": "auto",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def paced() -> Iterator[Simulator]:
    """Real-time pacing: a reply lasts long enough to be cancelled or barged into."""
    with Simulator(speed=1.0) as simulator:
        yield simulator


@pytest.fixture
def ws(sim: Simulator) -> Iterator[websocket.WebSocket]:
    sock = connect(sim)
    assert recv(sock)["type"] == "session.created"
    yield sock
    finish(sock)


# --- OpenAI dialect -------------------------------------------------------------------------


def test_session_created_first_then_updated(sim: Simulator) -> None:
    sock = connect(sim)
    try:
        created = recv(sock)
        assert created["type"] == "session.created"
        session = created["session"]
        assert session["id"].startswith("sess_") and session["type"] == "realtime"
        assert session["object"] == "realtime.session" and session["model"] == "gpt-realtime"
        assert session["audio"]["output"]["voice"] == "alloy"
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert isinstance(session["expires_at"], int)

        send(sock, {"type": "session.update", "session": GA_SESSION})
        updated = recv(sock)
        assert updated["type"] == "session.updated"
        new = updated["session"]
        assert new["id"] == session["id"]
        assert new["audio"]["output"]["voice"] == "marin"
        assert new["instructions"] == "Be brief."
        assert new["tools"][0]["name"] == "get_weather"
        assert new["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert sim.session_info()["config"]["audio"]["output"]["voice"] == "marin"
        assert sim.received()[-1]["type"] == "session.update"
    finally:
        finish(sock)


def test_beta_shaped_update_is_an_error(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "session.update", "event_id": "evt_1",
              "session": {"type": "realtime", "voice": "marin"}})
    error = recv(ws)
    assert error["type"] == "error"
    assert error["error"]["code"] == "unknown_parameter"
    assert error["error"]["param"] == "session.voice"
    assert error["error"]["event_id"] == "evt_1"
    send(ws, {"type": "session.update", "session": {"modalities": ["text", "audio"]}})
    assert recv(ws)["error"]["code"] == "missing_required_parameter"


def test_text_turn_streams_the_ga_event_order(ws: websocket.WebSocket) -> None:
    send(ws, user_text("Hello there!"))
    assert [recv(ws)["type"] for _ in range(2)] == ["conversation.item.added",
                                                   "conversation.item.done"]
    send(ws, {"type": "response.create"})
    events = recv_until(ws, "response.done")
    kinds = [e["type"] for e in events]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert collapsed[:6] == [
        "response.created", "rate_limits.updated", "response.output_item.added",
        "conversation.item.added", "response.content_part.added",
        "response.output_audio_transcript.delta",
    ]
    assert kinds[-6:] == [
        "response.output_audio.done", "response.output_audio_transcript.done",
        "response.content_part.done", "response.output_item.done", "conversation.item.done",
        "response.done",
    ]
    deltas = set(kinds[5:-6])
    assert deltas == {"response.output_audio_transcript.delta", "response.output_audio.delta"}

    expected = "You said: Hello there."
    transcript = "".join(e["delta"] for e in events
                         if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == expected
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == expected

    chunks = [base64.b64decode(e["delta"]) for e in events
              if e["type"] == "response.output_audio.delta"]
    assert all(len(c) % 2 == 0 and len(c) == 1920 for c in chunks)  # 40 ms at 24 kHz
    audio = b"".join(chunks)
    assert len(audio) / 2 / 24000 == pytest.approx(math.ceil(60 * len(expected) / 40) * 0.04)
    assert any(audio[i:i + 2] != b"\x00\x00" for i in range(0, 200, 2))  # not silence

    final = events[-1]["response"]
    assert final["status"] == "completed" and final["status_details"] is None
    assert final["output"][0]["content"][0] == {"type": "output_audio", "transcript": expected}
    usage = final["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert set(usage["input_token_details"]) >= {"text_tokens", "audio_tokens", "cached_tokens"}
    assert usage["output_token_details"]["audio_tokens"] > 0


def test_text_output_modality(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "session.update",
              "session": {"type": "realtime", "output_modalities": ["text"]}})
    assert recv(ws)["type"] == "session.updated"
    send(ws, user_text("ping"))
    send(ws, {"type": "response.create"})
    events = recv_until(ws, "response.done")
    kinds = {e["type"] for e in events}
    assert "response.output_audio.delta" not in kinds
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: ping."
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"] == text


def test_tool_call_then_output_then_reply(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "session.update", "session": GA_SESSION})
    assert recv(ws)["type"] == "session.updated"
    send(ws, user_text("What's the weather in Paris?"))
    send(ws, {"type": "response.create"})
    events = recv_until(ws, "response.done")
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call"
    assert added["item"]["name"] == "get_weather"
    deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert call["call_id"].startswith("call_") and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert "".join(d["delta"] for d in deltas) == call["arguments"]
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["arguments"] == call["arguments"]

    output = json.dumps({"temp_c": 18})
    send(ws, {"type": "conversation.item.create",
              "item": {"type": "function_call_output", "call_id": call["call_id"],
                       "output": output}})
    # Nothing but the item acknowledgements until the client asks for a response.
    assert [recv(ws)["type"] for _ in range(2)] == ["conversation.item.added",
                                                   "conversation.item.done"]
    send(ws, {"type": "response.create"})
    assert recv(ws)["type"] == "response.created"
    events = recv_until(ws, "response.done")
    transcript = next(e for e in events
                      if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert transcript == f"The get_weather tool says {output}."


def test_cancel_mid_stream(paced: Simulator) -> None:
    sock = connect(paced)
    try:
        recv(sock)
        send(sock, user_text("Tell me a long story about the sea and the ships upon it."))
        send(sock, {"type": "response.create"})
        events = recv_until(sock, "response.output_audio.delta")
        item_id = events[-1]["item_id"]
        send(sock, {"type": "response.cancel"})
        events = recv_until(sock, "response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert done["output"][0]["status"] == "incomplete"
        played = 40 * (1 + sum(e["type"] == "response.output_audio.delta" for e in events))
        send(sock, {"type": "conversation.item.truncate", "item_id": item_id,
                    "content_index": 0, "audio_end_ms": played + 1000})
        error = recv(sock)["error"]
        assert error["code"] == "invalid_value"
        assert f"Audio content of {played}ms is already shorter than {played + 1000}ms" \
            in error["message"]
        send(sock, {"type": "conversation.item.truncate", "item_id": item_id,
                    "content_index": 0, "audio_end_ms": 40})
        truncated = recv(sock)
        assert truncated["type"] == "conversation.item.truncated"
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 40)
    finally:
        finish(sock)


def test_second_response_while_active_is_an_error(paced: Simulator) -> None:
    sock = connect(paced)
    try:
        recv(sock)
        send(sock, user_text("Say something rather long so that it keeps streaming."))
        send(sock, {"type": "response.create"})
        recv_until(sock, "response.output_audio.delta")
        send(sock, {"type": "response.create", "event_id": "evt_again"})
        error = recv_until(sock, "error")[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["event_id"] == "evt_again"
        send(sock, {"type": "response.cancel"})
        assert recv_until(sock, "response.done")[-1]["response"]["status"] == "cancelled"
    finally:
        finish(sock)


def test_cancel_when_idle_is_an_error(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "response.cancel", "event_id": "evt_cancel"})
    error = recv(ws)
    assert error["type"] == "error"
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["event_id"] == "evt_cancel"


def test_commit_empty_buffer_is_an_error(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "input_audio_buffer.commit"})
    assert recv(ws)["error"]["code"] == "input_audio_buffer_commit_empty"


def test_malformed_and_unknown_events_keep_the_session(ws: websocket.WebSocket) -> None:
    ws.send("{not json")
    error = recv(ws)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"
    send(ws, {"type": "response.explode", "event_id": "evt_x"})
    error = recv(ws)["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "type",
                                                                  "evt_x")
    send(ws, {"type": "conversation.item.create"})
    assert recv(ws)["error"]["code"] == "missing_required_parameter"
    send(ws, user_text("still here?"))
    assert recv(ws)["type"] == "conversation.item.added"


def test_item_insert_retrieve_delete(ws: websocket.WebSocket) -> None:
    send(ws, user_text("first"))
    first = recv(ws)["item"]["id"]
    recv(ws)
    event = user_text("zeroth")
    event["previous_item_id"] = "root"
    send(ws, event)
    added = recv(ws)
    assert added["previous_item_id"] is None
    recv(ws)
    send(ws, {"type": "conversation.item.retrieve", "item_id": added["item"]["id"]})
    assert recv(ws)["item"]["content"][0]["text"] == "zeroth"
    send(ws, {"type": "conversation.item.delete", "item_id": first})
    assert recv(ws) == {"type": "conversation.item.deleted", "event_id": ANY, "item_id": first}
    send(ws, {"type": "conversation.item.delete", "item_id": first})
    assert recv(ws)["error"]["code"] == "item_delete_invalid_item_id"


def test_manual_commit_and_truncate_errors(ws: websocket.WebSocket) -> None:
    send(ws, {"type": "session.update",
              "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    assert recv(ws)["session"]["audio"]["input"]["turn_detection"] is None
    append(ws, pcm(300, 0.3))
    send(ws, {"type": "input_audio_buffer.commit"})
    committed = recv(ws)
    assert committed["type"] == "input_audio_buffer.committed"
    added = recv(ws)
    assert added["type"] == "conversation.item.added"
    assert added["item"]["content"][0]["type"] == "input_audio"
    assert recv(ws)["type"] == "conversation.item.done"
    send(ws, {"type": "conversation.item.truncate", "item_id": "item_nope",
              "content_index": 0, "audio_end_ms": 10})
    assert recv(ws)["error"]["code"] == "item_truncate_invalid_item_id"
    send(ws, {"type": "input_audio_buffer.clear"})
    assert recv(ws)["type"] == "input_audio_buffer.cleared"
    send(ws, {"type": "response.create"})
    events = recv_until(ws, "response.done")
    transcript = next(e for e in events
                      if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert transcript == "You said: (audio 0.3s)."


def test_server_vad_turn(sim: Simulator) -> None:
    sock = connect(sim)
    try:
        recv(sock)
        send(sock, {"type": "session.update", "session": {
            "type": "realtime",
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
        recv(sock)
        append(sock, pcm(500) + pcm(600, 0.3) + pcm(600))
        events = recv_until(sock, "response.done")
        kinds = [e["type"] for e in events]
        assert kinds[:5] == ["input_audio_buffer.speech_started",
                             "input_audio_buffer.speech_stopped",
                             "input_audio_buffer.committed", "conversation.item.added",
                             "conversation.item.done"]
        started, stopped = events[0], events[1]
        assert started["audio_start_ms"] == 200  # speech at 500 ms minus 300 ms padding
        assert stopped["audio_end_ms"] == 1600  # 500 ms of silence after the tone
        assert started["item_id"] == stopped["item_id"] == events[2]["item_id"]
        completed = next(e for e in events if e["type"] ==
                         "conversation.item.input_audio_transcription.completed")
        assert completed["transcript"] == "(audio 1.4s)"
        transcript = next(e for e in events
                          if e["type"] == "response.output_audio_transcript.done")
        assert transcript["transcript"] == "You said: (audio 1.4s)."
    finally:
        finish(sock)


def test_barge_in_cancels_with_turn_detected(paced: Simulator) -> None:
    sock = connect(paced)
    try:
        recv(sock)
        send(sock, user_text("Please talk for a while about anything you like."))
        send(sock, {"type": "response.create"})
        recv_until(sock, "response.output_audio.delta")
        append(sock, pcm(100, 0.3))
        events = recv_until(sock, "response.done")
        assert "input_audio_buffer.speech_started" in [e["type"] for e in events]
        assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
    finally:
        finish(sock)


def test_received_shows_what_the_client_sent(sim: Simulator) -> None:
    sock = connect(sim)
    try:
        recv(sock)
        send(sock, user_text("muted"))
        msgs = sim.wait_for(lambda m: any(x["type"] == "conversation.item.create" for x in m))
        assert not any(m["type"] == "input_audio_buffer.append" for m in msgs)
        assert sim.session_info()["headers"]["authorization"].startswith("Bearer ")
        assert KEY not in json.dumps(sim.session_info())
    finally:
        finish(sock)
    with pytest.raises(TimeoutError):
        sim.wait_for(lambda m: False, timeout=0.05)


# --- auth and REST --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def locked() -> Iterator[Any]:
    clock = FakeClock()
    with Simulator(api_key="sk-right", speed=0, clock=clock) as simulator:
        yield simulator, clock


def test_bad_key_is_401(locked: Any) -> None:
    sim, _ = locked
    for kwargs in ({"key": "sk-wrong"}, {"key": None},
                   {"subprotocols": ["realtime", "openai-insecure-api-key.sk-wrong"]}):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            connect(sim, **kwargs)
        assert info.value.status_code == 401
        body = json.loads(info.value.resp_body)
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert "sk-wrong" not in body["error"]["message"]


def test_good_key_over_subprotocol_selects_realtime(locked: Any) -> None:
    sim, _ = locked
    sock = connect(sim, subprotocols=["realtime", "openai-insecure-api-key.sk-right"])
    try:
        assert sock.getsubprotocol() == "realtime"
        assert recv(sock)["type"] == "session.created"
    finally:
        finish(sock)


def test_client_secret_mint_use_and_expiry(locked: Any) -> None:
    sim, clock = locked
    url = f"{sim.base_url}/realtime/client_secrets"
    auth = {"Authorization": "Bearer sk-right"}
    reply = requests.post(url, headers=auth, timeout=5, json={
        "session": {"type": "realtime", "instructions": "From the token."}})
    assert reply.status_code == 200
    body = reply.json()
    assert body["value"].startswith("ek_")
    assert body["expires_at"] == int(clock.now) + 600
    assert body["session"]["instructions"] == "From the token."

    sock = connect(sim, subprotocols=["realtime", f"openai-insecure-api-key.{body['value']}"])
    try:
        assert recv(sock)["session"]["instructions"] == "From the token."
    finally:
        finish(sock)

    short = requests.post(url, headers=auth, timeout=5,
                          json={"expires_after": {"anchor": "created_at", "seconds": 10}}).json()
    clock.now += 11
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(sim, subprotocols=["realtime", f"openai-insecure-api-key.{short['value']}"])
    assert info.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(sim, key=short["value"])


def test_rest_errors(locked: Any) -> None:
    sim, _ = locked
    url = f"{sim.base_url}/realtime/client_secrets"
    assert requests.post(url, timeout=5, json={}).status_code == 401
    wrong = requests.post(url, headers={"Authorization": "Bearer sk-nope"}, timeout=5, json={})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    auth = {"Authorization": "Bearer sk-right"}
    bad = requests.post(url, headers=auth, timeout=5, json={"expires_after": {"seconds": 5}})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "expires_after.seconds"
    garbage = requests.post(url, headers={**auth, "Content-Type": "application/json"},
                            data="{nope", timeout=5)
    assert garbage.status_code == 400
    assert requests.post(f"{sim.base_url}/nothing", headers=auth, timeout=5).status_code == 404
    xai = requests.post(f"{sim.xai_base_url}/realtime/client_secrets", headers=auth,
                        timeout=5, json={"expires_after": {"seconds": 4000}})
    assert xai.status_code == 400


# --- xAI dialect ----------------------------------------------------------------------------


def test_xai_dialect(locked: Any) -> None:
    sim, _ = locked
    token = requests.post(f"{sim.xai_base_url}/realtime/client_secrets",
                          headers={"Authorization": "Bearer sk-right"}, timeout=5,
                          json={"expires_after": {"seconds": 300}}).json()
    assert set(token) == {"value", "expires_at"}
    protocol = f"xai-client-secret.{token['value']}"
    sock = connect(sim, dialect="xai", subprotocols=[protocol])
    try:
        assert sock.getsubprotocol() == protocol
        first = recv(sock)
        assert first["type"] == "conversation.created"
        assert first["conversation"]["object"] == "realtime.conversation"
        send(sock, {"type": "session.update", "session": {
            "instructions": "Be brief.", "voice": "Ara", "turn_detection": {"type": None},
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}})
        updated = recv(sock)
        assert updated["type"] == "session.updated"
        assert "id" not in updated["session"]
        assert updated["session"]["voice"] == "Ara"

        send(sock, user_text("hello grok"))
        assert recv(sock)["type"] == "conversation.item.added"  # no .done in this dialect
        send(sock, {"type": "response.create", "response": {"modalities": ["text"]}})
        events = recv_until(sock, "response.done")
        new_names = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        old_names = [e["delta"] for e in events if e["type"] == "response.text.delta"]
        assert new_names == old_names and "".join(new_names) == "You said: hello grok."
        assert events[-1]["usage"] == events[-1]["response"]["usage"]
        assert "rate_limits.updated" not in [e["type"] for e in events]

        send(sock, {"type": "response.create"})
        events = recv_until(sock, "response.done")
        done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
        assert "transcript" not in done
        audio = [base64.b64decode(e["delta"]) for e in events
                 if e["type"] == "response.output_audio.delta"]
        assert len(audio[0]) == 16000 * 2 * 40 // 1000  # the configured 16 kHz
    finally:
        finish(sock)


def test_xai_vad_events_and_ping() -> None:
    with Simulator(speed=0, xai_session_created=True, xai_ping_interval=0.05) as sim:
        sock = connect(sim, dialect="xai")
        try:
            assert recv(sock)["type"] == "conversation.created"
            created = recv(sock)
            assert created["type"] == "session.created" and created["session"]["id"]
            append(sock, pcm(300) + pcm(400, 0.3) + pcm(400))
            events = recv_until(sock, "response.done")
            started = next(e for e in events
                           if e["type"] == "input_audio_buffer.speech_started")
            stopped = next(e for e in events
                           if e["type"] == "input_audio_buffer.speech_stopped")
            assert "audio_start_ms" not in started and "audio_end_ms" not in stopped
            assert any(e["type"] == "conversation.item.input_audio_transcription.completed"
                       for e in events)
            ping = recv_until(sock, "ping")[-1]
            assert isinstance(ping["timestamp"], int)
        finally:
            finish(sock)


def test_xai_accepts_the_openai_style_subprotocol_pair(sim: Simulator) -> None:
    sock = connect(sim, dialect="xai", subprotocols=["realtime", "openai-insecure-api-key.k"])
    try:
        assert sock.getsubprotocol() == "realtime"
        assert recv(sock)["type"] == "conversation.created"
    finally:
        finish(sock)


# --- closes ---------------------------------------------------------------------------------


def close_frame(sock: websocket.WebSocket) -> Any:
    """Read until the server's close frame; return (code, reason)."""
    for _ in range(100):
        opcode, data = sock.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode()
    raise AssertionError("no close frame")


def test_openai_beta_header_gets_error_and_close_4000(sim: Simulator) -> None:
    url = f"{sim.ws_url}?model=gpt-realtime"
    sock = websocket.create_connection(
        url, header=[f"Authorization: Bearer {KEY}", "OpenAI-Beta: realtime=v1"],
        timeout=RECV_TIMEOUT)
    try:
        assert recv(sock)["error"]["code"] == "beta_api_shape_disabled"
        assert close_frame(sock)[0] == 4000
    finally:
        finish(sock)


def test_fault_injection_and_session_time_limit() -> None:
    with Simulator(speed=0, max_session_seconds=0.2) as sim:
        sock = connect(sim)
        try:
            recv(sock)
            assert close_frame(sock) == (
                1001, "Your session hit the maximum duration of 0.2 seconds.")
        finally:
            finish(sock)
    with Simulator(speed=0) as sim:
        sock = connect(sim)
        try:
            recv(sock)
            sim.disconnect(code=1011, reason="injected")
            assert close_frame(sock) == (1011, "injected")
        finally:
            finish(sock)
        sock = connect(sim)
        try:
            recv(sock)
            sim.disconnect(code=None)
            with pytest.raises(websocket.WebSocketConnectionClosedException):
                sock.recv()
        finally:
            finish(sock)


# --- lifecycle ------------------------------------------------------------------------------


def test_many_sessions_and_quick_cycles_do_not_leak() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    with Simulator(speed=0) as sim:
        socks = [connect(sim) for _ in range(100)]
        for sock in socks:
            assert recv(sock)["type"] == "session.created"
        for sock in socks:
            finish(sock)
        for _ in range(300):
            finish(connect(sim))
        sim.wait_for_sessions(0, active=True, timeout=10)
        assert sim.sessions == 400
        name = f"kernl-realtime-simulator-{sim.port}"
        assert [t.name for t in threading.enumerate()].count(name) == 1
    assert name not in [t.name for t in threading.enumerate()]
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2
    sim.close()  # idempotent


def test_cli_prints_urls_and_stops() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernl_realtime", "simulate", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    lines: "queue.Queue[str]" = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=15)
        assert "http://127.0.0.1:" in first and first.rstrip().endswith("/v1")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0
