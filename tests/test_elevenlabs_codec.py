"""ElevenLabsCodec against literal wire JSON (provider-wire-protocols.md §4), both directions."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    ConfigurationError,
    ItemCreateEvent,
    ItemTruncateEvent,
    Message,
    ProtocolError,
    RealtimeSessionConfig,
    ResponseCancelEvent,
    ResponseCreateEvent,
    ServerError,
    SessionUpdateEvent,
    ToolResult,
    TurnDetectionConfig,
    UnsupportedEventError,
    VoiceConfig,
)
from kernl_realtime.protocol import (
    ActivityStartEvent,
    AudioInputAppendEvent,
    AudioInputCommitEvent,
    ToolResultEvent,
)
from kernl_realtime.providers.elevenlabs import (
    ContextualUpdateEvent,
    ElevenLabsCodec,
    FeedbackEvent,
    UserActivityEvent,
)


def decode(codec: ElevenLabsCodec, line: str) -> List[Any]:
    return list(codec.decode(json.loads(line)))


def kinds(events: List[Any]) -> List[str]:
    return [event.kind for event in events]


METADATA = (
    '{"type":"conversation_initiation_metadata","conversation_initiation_metadata_event":'
    '{"conversation_id":"conv_01k3zj6x9f","agent_output_audio_format":"pcm_16000","user_input_audio_format":"pcm_16000"}}'
)


# -- client -> server --------------------------------------------------------------------------


def test_initiation_from_a_full_config_and_provider_options() -> None:
    config = RealtimeSessionConfig(
        instructions="You are a helpful support agent.",
        voice=VoiceConfig(voice_id="21m00Tcm4TlvDq8ikWAM", speed=1.0),
        modalities=["audio"],
        provider_options={
            "elevenlabs": {
                "first_message": "Hi! How can I help?",
                "language": "en",
                "custom_llm_extra_body": {"temperature": 0.7},
                "dynamic_variables": {"user_name": "Ana", "account_type": "premium"},
                "user_id": "user_42",
                "conversation_config_override": {"tts": {"stability": 0.5, "similarity_boost": 0.8}},
            }
        },
    )
    codec = ElevenLabsCodec(config, config.provider_options["elevenlabs"])  # type: ignore[index]
    (opening,) = codec.opening_events()
    (message,) = codec.encode(opening)
    # The spec's example, with our source_info.
    expected = json.loads(
        '{"type":"conversation_initiation_client_data","conversation_config_override":{"agent":{"prompt":'
        '{"prompt":"You are a helpful support agent."},"first_message":"Hi! How can I help?","language":"en"},'
        '"tts":{"voice_id":"21m00Tcm4TlvDq8ikWAM","speed":1.0,"stability":0.5,"similarity_boost":0.8},'
        '"conversation":{"text_only":false}},"custom_llm_extra_body":{"temperature":0.7},"dynamic_variables":'
        '{"user_name":"Ana","account_type":"premium"},"user_id":"user_42","source_info":{"source":"kernl_realtime",'
        '"version":"0.1.0"}}'
    )
    assert message == expected


def test_initiation_without_config_is_just_the_type_and_source() -> None:
    (message,) = ElevenLabsCodec().encode(ElevenLabsCodec().opening_events()[0])
    assert message == {
        "type": "conversation_initiation_client_data",
        "source_info": {"source": "kernl_realtime", "version": "0.1.0"},
    }


def test_text_only_and_llm_override() -> None:
    codec = ElevenLabsCodec(RealtimeSessionConfig(modalities=["text"]), {"llm": "gpt-4o"})
    assert codec.initiation["conversation_config_override"] == {
        "conversation": {"text_only": True},
        "agent": {"prompt": {"llm": "gpt-4o"}},
    }


def test_agent_side_settings_are_accepted_but_not_sent() -> None:
    config = RealtimeSessionConfig(
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        turn_detection=TurnDetectionConfig(mode="server_vad"),
    )
    assert "conversation_config_override" not in ElevenLabsCodec(config).initiation


@pytest.mark.parametrize(
    "config, options, field",
    [
        (RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="manual")), {}, "turn_detection.mode"),
        (RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="server_vad", threshold=0.3)), {}, "turn_detection.threshold"),
        (RealtimeSessionConfig(voice=VoiceConfig(voice_id="v", speed=6.0)), {}, "voice.speed"),
        (RealtimeSessionConfig(modalities=[]), {}, "modalities"),
        (None, {"frist_message": "typo"}, "provider_options.elevenlabs.frist_message"),
        (None, {"dynamic_variables": {"when": [1]}}, "provider_options.elevenlabs.dynamic_variables.when"),
        (None, {"first_message": 3}, "provider_options.elevenlabs.first_message"),
    ],
)
def test_what_elevenlabs_cannot_take_fails_before_connecting(config: Any, options: Dict[str, Any], field: str) -> None:
    from kernl_realtime.providers.elevenlabs._initiation import merged_options

    with pytest.raises(ConfigurationError) as caught:
        ElevenLabsCodec(config, merged_options(options))
    assert caught.value.field == field


def test_client_messages() -> None:
    codec = ElevenLabsCodec()
    assert codec.encode(AudioInputAppendEvent(audio="AAAAAP7/AgD9/wMA")) == ({"user_audio_chunk": "AAAAAP7/AgD9/wMA"},)
    assert codec.encode(ToolResultEvent(call_id="toolu_01ABC", result='{"temp_c":18,"sky":"cloudy"}')) == (
        json.loads('{"type":"client_tool_result","tool_call_id":"toolu_01ABC","result":"{\\"temp_c\\":18,\\"sky\\":\\"cloudy\\"}","is_error":false}'),
    )
    assert codec.encode(ToolResultEvent(call_id="t1", result="ignored", error="city not found")) == (
        {"type": "client_tool_result", "tool_call_id": "t1", "result": "city not found", "is_error": True},
    )
    assert codec.encode(ToolResultEvent(call_id="t2")) == (
        {"type": "client_tool_result", "tool_call_id": "t2", "result": "", "is_error": False},
    )
    item = ToolResult(call_id="t3", tool_id="get_weather", result={"temp_c": 18})
    assert codec.encode(ItemCreateEvent(item=item)) == (
        {"type": "client_tool_result", "tool_call_id": "t3", "result": '{"temp_c":18}', "is_error": False},
    )
    assert codec.encode(ItemCreateEvent(item=Message.user("I'd like to upgrade"))) == (
        {"type": "user_message", "text": "I'd like to upgrade"},
    )
    assert codec.encode(ItemCreateEvent(item=Message.system("User is on the pricing page"))) == (
        {"type": "contextual_update", "text": "User is on the pricing page"},
    )
    assert codec.encode(ContextualUpdateEvent("User is on the pricing page", context_id="page")) == (
        json.loads('{"type":"contextual_update","text":"User is on the pricing page","context_id":"page"}'),
    )
    assert codec.encode(UserActivityEvent()) == ({"type": "user_activity"},)
    assert codec.encode(FeedbackEvent(event_id=5, score="like")) == ({"type": "feedback", "event_id": 5, "score": "like"},)


@pytest.mark.parametrize(
    "event",
    [
        SessionUpdateEvent(config=RealtimeSessionConfig()),
        ResponseCreateEvent(),
        ResponseCancelEvent(),
        ItemTruncateEvent(item_id="turn_4", audio_end_ms=100),
        AudioInputCommitEvent(),
        ActivityStartEvent(),
        ItemCreateEvent(item=Message.assistant("I said this")),
    ],
)
def test_events_the_wire_cannot_express_name_the_provider(event: Any) -> None:
    with pytest.raises(UnsupportedEventError, match="ElevenLabs"):
        ElevenLabsCodec().encode(event)


# -- server -> client --------------------------------------------------------------------------


def test_metadata_confirms_the_session_with_the_agents_formats() -> None:
    config = RealtimeSessionConfig(instructions="Be brief.", audio=AudioConfig(input_format=AudioFormat.pcm16()))
    codec = ElevenLabsCodec(config)
    (created,) = decode(codec, METADATA)
    assert created.kind == "session.created" and created.session.id == "conv_01k3zj6x9f"
    assert created.session.config.instructions == "Be brief."
    assert created.session.config.audio == AudioConfig(AudioFormat.pcm16(16000), AudioFormat.pcm16(16000))
    assert codec.input_format == AudioFormat.pcm16(16000) and codec.output_format == AudioFormat.pcm16(16000)
    assert codec.handshake_step(created).done
    ulaw = METADATA.replace('"agent_output_audio_format":"pcm_16000"', '"agent_output_audio_format":"ulaw_8000"')
    codec = ElevenLabsCodec()
    decode(codec, ulaw.replace('"pcm_16000"', '"pcm_44100"'))
    assert codec.output_format is not None and codec.output_format.mime_type == "audio/pcmu"
    assert codec.input_format == AudioFormat.pcm16(44100)


def test_ping_is_answered_with_its_event_id_and_delivered_raw() -> None:
    codec = ElevenLabsCodec()
    ping = json.loads('{"type":"ping","ping_event":{"event_id":2,"ping_ms":null}}')
    assert codec.auto_reply(ping) == json.loads('{"type":"pong","event_id":2}')
    assert kinds(list(codec.decode(ping))) == ["unknown"]
    assert codec.auto_reply({"type": "ping", "ping_event": {"event_id": "2"}}) is None
    assert codec.auto_reply({"type": "audio"}) is None
    with pytest.raises(ProtocolError) as caught:
        codec.decode({"type": "ping", "ping_event": {"event_id": "2"}})
    assert caught.value.field == "ping_event.event_id"


SPOKEN_TURN_WITH_TOOL = [
    '{"type":"agent_response","agent_response_event":{"agent_response":"Hi! How can I help?","event_id":1}}',
    '{"type":"audio","audio_event":{"audio_base_64":"//8AAAEA/v8CAP3/","event_id":1}}',
    '{"type":"user_transcript","user_transcription_event":{"user_transcript":"What\'s the weather in Paris?","event_id":3}}',
    '{"type":"client_tool_call","client_tool_call":{"tool_name":"get_weather","tool_call_id":"toolu_01ABC","parameters":{"city":"Paris"},"event_id":3}}',
    '{"type":"agent_response","agent_response_event":{"agent_response":"It\'s 18 degrees and cloudy in Paris.","event_id":4}}',
    '{"type":"audio","audio_event":{"audio_base_64":"AQD+/wIA/f8DAPz/","event_id":4,"alignment":{"chars":["I","t","\'","s"],"char_start_times_ms":[0,70,120,160],"char_durations_ms":[70,50,40,90]}}}',
    '{"type":"interruption","interruption_event":{"event_id":4}}',
    '{"type":"agent_response_correction","agent_response_correction_event":{"original_agent_response":"It\'s 18 degrees and cloudy in Paris.","corrected_agent_response":"It\'s 18 degrees","event_id":4}}',
    '{"type":"audio","audio_event":{"audio_base_64":"AQD+/wIA/f8DAPz/","event_id":4}}',
]


def test_the_spec_transcript_becomes_kernl_turns() -> None:
    codec = ElevenLabsCodec()
    decode(codec, METADATA)
    events = [event for line in SPOKEN_TURN_WITH_TOOL for event in decode(codec, line)]
    assert kinds(events) == [
        "response.created", "transcript.output",          # turn 1: the first message
        "audio.output.delta",
        "response.done", "transcript.input",              # the user's turn ends turn 1
        "response.created", "tool.call",                  # turn 3 calls a client tool
        "response.done", "response.created", "transcript.output",  # turn 4 answers after the result
        "audio.output.delta",
        "response.interrupted", "response.done",          # barge-in
        "unknown",                                        # agent_response_correction, raw
        "unknown",                                        # late audio of the interrupted turn, never played
    ]  # fmt: skip
    first = events[0]
    assert first.response_id == "turn_1" and first.id == "1"
    assert events[1].text == "Hi! How can I help?" and events[2].audio == "//8AAAEA/v8CAP3/"
    assert events[3].status.value == "completed" and events[4].text == "What's the weather in Paris?"
    call = events[6]
    assert (call.call_id, call.tool_id, json.loads(call.arguments)) == ("toolu_01ABC", "get_weather", {"city": "Paris"})
    assert events[10].provider_metadata == {
        "elevenlabs": {"alignment": {"chars": ["I", "t", "'", "s"], "char_start_times_ms": [0, 70, 120, 160], "char_durations_ms": [70, 50, 40, 90]}}
    }
    assert events[11].response_id == "turn_4" and events[12].status.value == "cancelled"
    assert events[13].type == "agent_response_correction"
    assert events[14].type == "audio"
    assert codec.idle


def test_tentative_transcripts_become_deltas_while_they_grow() -> None:
    codec = ElevenLabsCodec()
    lines = [
        '{"type":"tentative_user_transcript","tentative_user_transcription_event":{"user_transcript":"What\'s","event_id":3}}',
        '{"type":"tentative_user_transcript","tentative_user_transcription_event":{"user_transcript":"What\'s the","event_id":3}}',
        '{"type":"tentative_user_transcript","tentative_user_transcription_event":{"user_transcript":"Whats the","event_id":3}}',
    ]
    events = [event for line in lines for event in decode(codec, line)]
    assert [getattr(e, "delta", e.kind) for e in events] == ["What's", " the", "unknown"]


def test_chat_response_parts_stream_text() -> None:
    codec = ElevenLabsCodec()
    parts = [("start", ""), ("delta", "Hello"), ("delta", " there"), ("stop", "")]
    events = []
    for part_type, text in parts:
        message = {"type": "agent_chat_response_part", "text_response_part": {"text": text, "type": part_type, "event_id": 7}}
        events.extend(codec.decode(message))
    assert kinds(events) == ["response.created", "text.output.delta", "text.output.delta", "text.output"]
    assert events[-1].text == "Hello there"


def test_error_event_becomes_a_server_error_with_its_code() -> None:
    line = (
        '{"type":"error","error_event":{"code":1008,"message":"Override for field \'first_message\' is not allowed '
        'by the agent configuration.","error_type":"override_error","reason":"Invalid override configuration",'
        '"debug_message":null,"details":null}}'
    )
    (event,) = decode(ElevenLabsCodec(), line)
    error = event.error
    assert event.kind == "session.error" and isinstance(error, ServerError)
    assert error.code == "override_error" and error.type == "override_error"
    assert "first_message" in error.message
    assert error.details == {"close_code": 1008, "reason": "Invalid override configuration"}
    (bare,) = decode(ElevenLabsCodec(), '{"type":"error","error_event":{"code":1011}}')
    assert bare.error.code == "1011"


@pytest.mark.parametrize(
    "message, field",
    [
        ({"type": "audio", "audio_event": {"audio_base_64": 5, "event_id": 1}}, "audio_event.audio_base_64"),
        ({"type": "audio", "audio_event": {"audio_base_64": "AAAA", "event_id": "1"}}, "audio_event.event_id"),
        ({"type": "agent_response", "agent_response_event": {"event_id": 1}}, "agent_response_event.agent_response"),
        ({"type": "client_tool_call", "client_tool_call": {"tool_name": "t", "tool_call_id": "c", "parameters": "{}", "event_id": 1}}, "client_tool_call.parameters"),
        ({"type": "user_transcript", "user_transcription_event": None}, "user_transcription_event.user_transcript"),
        ({"type": "interruption", "interruption_event": {"event_id": None}}, "interruption_event.event_id"),
        ({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {"conversation_id": "c"}}, "conversation_initiation_metadata_event.agent_output_audio_format"),
        ({"type": "error", "error_event": {"code": "1008"}}, "error_event.code"),
    ],
)
def test_bad_fields_are_protocol_errors_naming_the_field_and_change_nothing(message: Dict[str, Any], field: str) -> None:
    codec = ElevenLabsCodec()
    with pytest.raises(ProtocolError) as caught:
        codec.decode(message)
    assert caught.value.field == field
    good = '{"type":"agent_response","agent_response_event":{"agent_response":"ok","event_id":1}}'
    assert kinds(decode(codec, good)) == ["response.created", "transcript.output"]


def test_unknown_and_opt_in_types_arrive_raw() -> None:
    codec = ElevenLabsCodec()
    for line in [
        '{"type":"vad_score","vad_score_event":{"vad_score":0.95}}',
        '{"type":"agent_tool_request","agent_tool_request":{"tool_name":"t","tool_call_id":"c","tool_type":"client","event_id":2}}',
        '{"type":"some_future_event","x":1}',
    ]:
        (event,) = decode(codec, line)
        assert event.kind == "unknown" and event.data == json.loads(line)


def test_silence_ends_a_turn_and_a_late_chunk_keeps_its_response() -> None:
    import time

    codec = ElevenLabsCodec(None, {"turn_end_silence": 0.5})
    line = '{"type":"agent_response","agent_response_event":{"agent_response":"Hello.","event_id":6}}'
    assert kinds(decode(codec, line)) == ["response.created", "transcript.output"]
    now = time.monotonic()
    assert list(codec.poll(now + 0.1)) == [] and not codec.idle
    (done,) = codec.poll(now + 0.6)
    assert (done.kind, done.response_id, done.status.value) == ("response.done", "turn_6", "completed")
    assert list(codec.poll(now + 5)) == [] and codec.idle
    late = decode(codec, '{"type":"audio","audio_event":{"audio_base_64":"AAAA","event_id":6}}')
    assert [(e.kind, e.response_id) for e in late] == [("audio.output.delta", "turn_6")]  # no second response.created
    nxt = decode(codec, '{"type":"agent_response","agent_response_event":{"agent_response":"Next.","event_id":7}}')
    assert kinds(nxt) == ["response.created", "transcript.output"]  # turn 6 already ended
