"""ElevenLabs: every wrong-typed field decodes to well-typed events or a ProtocolError, and
the signed URL (a bearer secret) never reaches logs, reprs or exception messages."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any, Dict, List

import pytest

from kernl_realtime import (
    ClientCredential,
    ConnectError,
    KernlRealtimeError,
    ProtocolError,
    RealtimeConnectOptions,
    enable_debug_logging,
)
from kernl_realtime.protocol import event_from_dict, event_to_dict
from kernl_realtime.providers import elevenlabs
from kernl_realtime.providers.elevenlabs import ElevenLabsCodec
from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator
from test_codec_robustness import _mutations

AUDIO = "//8AAAEA/v8CAP3/"
SAMPLES: List[Dict[str, Any]] = [
    {"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {
        "conversation_id": "conv_1", "agent_output_audio_format": "pcm_16000", "user_input_audio_format": "pcm_16000"}},
    {"type": "audio", "audio_event": {"audio_base_64": AUDIO, "event_id": 1,
                                      "alignment": {"chars": ["a"], "char_start_times_ms": [0], "char_durations_ms": [5]}}},
    {"type": "agent_response", "agent_response_event": {"agent_response": "Hi", "event_id": 1}},
    {"type": "agent_response_correction", "agent_response_correction_event": {
        "original_agent_response": "Hi there", "corrected_agent_response": "Hi", "event_id": 1}},
    {"type": "agent_chat_response_part", "text_response_part": {"text": "Hi", "type": "delta", "event_id": 2}},
    {"type": "user_transcript", "user_transcription_event": {"user_transcript": "Hello", "event_id": 3}},
    {"type": "tentative_user_transcript", "tentative_user_transcription_event": {"user_transcript": "Hel", "event_id": 3}},
    {"type": "interruption", "interruption_event": {"event_id": 4}},
    {"type": "ping", "ping_event": {"event_id": 5, "ping_ms": 30}},
    {"type": "client_tool_call", "client_tool_call": {
        "tool_name": "get_weather", "tool_call_id": "toolu_1", "parameters": {"city": "Paris"}, "event_id": 6}},
    {"type": "vad_score", "vad_score_event": {"vad_score": 0.9}},
    {"type": "error", "error_event": {"code": 1008, "message": "m", "error_type": "override_error", "reason": "r"}},
]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["type"] for s in SAMPLES])
def test_every_wrong_typed_field_decodes_to_well_typed_events_or_a_protocol_error(sample: Dict[str, Any]) -> None:
    assert ElevenLabsCodec().decode(copy.deepcopy(sample)), "the sample itself must decode"
    for mutated in _mutations(sample):
        codec = ElevenLabsCodec()
        try:
            events = codec.decode(mutated)
        except ProtocolError as error:
            assert error.field, str(error)
            assert codec.decode(copy.deepcopy(sample))  # nothing changed: the next message decodes
            continue
        for event in events:
            assert event_from_dict(event_to_dict(event)) == event, (mutated, event)
        codec.auto_reply(mutated)  # never raises, whatever the ping looks like


def test_a_bad_frame_from_the_server_is_a_protocol_error_and_the_next_event_arrives() -> None:
    with Simulator(speed=0, elevenlabs=ElevenLabsOptions(ping_interval=0)) as sim:
        with elevenlabs.realtime(agent_id="agent_x", base_url=sim.elevenlabs_base_url).connect(timeout=5) as conn:
            transport = sim._record(-1).transport
            loop = sim._loop
            assert loop is not None
            bad = {"type": "agent_response", "agent_response_event": {"agent_response": 5, "event_id": 1}}
            good = {"type": "agent_response", "agent_response_event": {"agent_response": "ok", "event_id": 1}}
            loop.call_soon_threadsafe(lambda: (transport.send_json(bad), transport.send_json(good)))
            assert conn.recv(timeout=5).kind == "session.created"
            with pytest.raises(ProtocolError) as caught:
                conn.recv(timeout=5)
            assert caught.value.field == "agent_response_event.agent_response"
            assert [conn.recv(timeout=5).kind for _ in range(2)] == ["response.created", "transcript.output"]


def test_the_signed_url_never_reaches_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    agent = ElevenLabsAgent("agent_private", private=True, first_message="Hi!")
    handler = enable_debug_logging()
    caplog.set_level(logging.DEBUG, logger="kernl_realtime")
    texts: List[str] = []
    try:
        with Simulator(api_key="xi-key", speed=0, elevenlabs=ElevenLabsOptions(agents=[agent])) as sim:
            server = elevenlabs.realtime(agent_id="agent_private", api_key="xi-key", base_url=sim.elevenlabs_base_url)
            credential = server.authenticate()
            signature = (credential.url or "").split("conversation_signature=")[1]
            with elevenlabs.realtime(agent_id="agent_private").connect(RealtimeConnectOptions(credential=credential)) as conn:
                texts += [repr(conn), repr(credential), str(credential), repr(conn.session)]
                texts += [repr(e) for e in conn.events(timeout=0.5)]
            port = sim.port
        # The same URL once the server is gone: the connect error must not quote it.
        with pytest.raises(ConnectError) as caught:
            elevenlabs.realtime(agent_id="agent_private").connect(RealtimeConnectOptions(credential=credential), timeout=2)
        error: Any = caught.value
        while error is not None:
            texts += [str(error), repr(error)]
            error = error.__cause__ or error.__context__
    finally:
        logging.getLogger("kernl_realtime").removeHandler(handler)
    texts += [record.getMessage() for record in caplog.records]
    assert any("conversation_initiation_client_data" in text for text in texts)  # debug logging was on
    assert not [text for text in texts if signature in text or "xi-key" in text]
    assert json.loads(credential.to_json())["url"].endswith(signature)  # only the explicit JSON form has it


def test_a_credential_of_the_wrong_kind_or_scheme_is_refused_before_connecting() -> None:
    from datetime import datetime, timedelta, timezone

    soon = datetime.now(timezone.utc) + timedelta(minutes=5)
    model = elevenlabs.realtime(agent_id="agent_x")
    with pytest.raises(KernlRealtimeError, match="'url' credential"):
        model.connect(RealtimeConnectOptions(credential=ClientCredential.from_token("tok_secret", soon)), timeout=2)
    with pytest.raises(KernlRealtimeError) as caught:
        model.connect(RealtimeConnectOptions(credential=ClientCredential.from_url("https://x.test/?s=SECRETSIG", soon)), timeout=2)
    assert caught.value.field == "credential.url" and "SECRETSIG" not in str(caught.value)
