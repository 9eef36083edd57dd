"""GeminiCodec against literal Gemini Live wire JSON (provider-wire-protocols.md §3)."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

from kernl_realtime import (
    ActivityEndEvent,
    ActivityStartEvent,
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AudioInputClearEvent,
    AudioInputCommitEvent,
    AuthenticationError,
    ConfigurationError,
    FunctionToolSpec,
    ItemCreateEvent,
    ItemTruncateEvent,
    Message,
    ProtocolError,
    RealtimeSessionConfig,
    ResponseCancelEvent,
    ResponseCreateEvent,
    ServerError,
    ToolResultEvent,
    TurnDetectionConfig,
    UnsupportedEventError,
    VoiceConfig,
)
from kernl_realtime.providers.google import GeminiCodec

WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def wire(text: str) -> Any:
    return json.loads(text)


def kinds(events: List[Any]) -> List[str]:
    return [e.kind for e in events]


def decode_all(codec: GeminiCodec, *lines: str) -> List[Any]:
    events: List[Any] = []
    for line in lines:
        events.extend(codec.decode(wire(line)))
    return events


# -- client → server ---------------------------------------------------------------------------


def test_setup_from_the_full_session_config() -> None:
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        voice=VoiceConfig(voice_id="puck"),
        tools=[WEATHER],
        turn_detection=TurnDetectionConfig(mode="server_vad", silence_duration_ms=500, prefix_padding_ms=20),
    )
    codec = GeminiCodec("gemini-3.8-live", config)
    (first,) = codec.opening_events()
    assert codec.encode(first) == (
        wire(
            '{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO"],'
            '"speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Puck"}}}},'
            '"systemInstruction":{"parts":[{"text":"Be brief."}]},'
            '"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Current weather for a city",'
            '"parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}],'
            '"realtimeInputConfig":{"automaticActivityDetection":{"disabled":false,"prefixPaddingMs":20,'
            '"silenceDurationMs":500}},'
            '"inputAudioTranscription":{},"outputAudioTranscription":{},"sessionResumption":{}}}'
        ),
    )
    # Gemini takes its config once.
    with pytest.raises(UnsupportedEventError, match="once"):
        codec.encode(first)


def test_setup_resumes_with_a_handle_and_merges_provider_options() -> None:
    config = RealtimeSessionConfig(provider_options={"google": {"contextWindowCompression": {"slidingWindow": {}}}})
    codec = GeminiCodec("models/gemini-3.8-live", config, resume_handle="CiQ4YjM3")
    (setup,) = codec.encode(codec.opening_events()[0])
    assert setup["setup"]["model"] == "models/gemini-3.8-live"
    assert setup["setup"]["sessionResumption"] == {"handle": "CiQ4YjM3"}
    assert setup["setup"]["contextWindowCompression"] == {"slidingWindow": {}}


@pytest.mark.parametrize(
    "config, field",
    [
        (RealtimeSessionConfig(voice=VoiceConfig(voice_id="alloy")), "voice.voice_id"),
        (RealtimeSessionConfig(voice=VoiceConfig(voice_id="Puck", speed=1.2)), "voice.speed"),
        (RealtimeSessionConfig(audio=AudioConfig(output_format=AudioFormat.pcm16(16000))), "audio.output_format.sample_rate"),
        (RealtimeSessionConfig(audio=AudioConfig(input_format=AudioFormat.pcmu())), "audio.input_format"),
        (RealtimeSessionConfig(modalities=[]), "modalities"),
    ],
)
def test_setup_rejects_what_gemini_cannot_take(config: RealtimeSessionConfig, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        GeminiCodec("gemini-3.8-live", config)
    assert caught.value.field == field


def test_audio_text_and_turn_encoding() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    assert codec.encode(AudioInputAppendEvent(audio="AAAAAP7/AgD9/wMA")) == (
        wire('{"realtimeInput":{"audio":{"data":"AAAAAP7/AgD9/wMA","mimeType":"audio/pcm;rate=16000"}}}'),
    )
    assert codec.encode(ItemCreateEvent(item=Message.user("Hi"))) == (
        wire('{"clientContent":{"turns":[{"role":"user","parts":[{"text":"Hi"}]}],"turnComplete":false}}'),
    )
    assert codec.encode(ResponseCreateEvent()) == (wire('{"clientContent":{"turnComplete":true}}'),)
    assert codec.encode(AudioInputCommitEvent()) == (wire('{"realtimeInput":{"audioStreamEnd":true}}'),)


def test_text_goes_as_realtime_input_on_gemini_3_1() -> None:
    codec = GeminiCodec("gemini-3.1-flash-live-preview")
    assert codec.encode(ItemCreateEvent(item=Message.user("What's the weather?"))) == (
        wire('{"realtimeInput":{"text":"What\'s the weather?"}}'),
    )
    assert codec.encode(ResponseCreateEvent()) == ()


def test_tool_result_is_an_object_response_and_the_model_resumes_by_itself() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    codec.decode(wire('{"toolCall":{"functionCalls":[{"id":"function-call-5313847126","name":"get_weather","args":{"city":"Paris"}}]}}'))
    assert codec.encode(ToolResultEvent(call_id="function-call-5313847126", result='{"temp_c":18,"sky":"cloudy"}')) == (
        wire(
            '{"toolResponse":{"functionResponses":[{"id":"function-call-5313847126","name":"get_weather",'
            '"response":{"output":{"temp_c":18,"sky":"cloudy"}}}]}}'
        ),
    )
    assert GeminiCodec.resumes_after_tool_result is True
    assert codec.encode(ResponseCreateEvent()) == ()  # implicit: nothing to send
    assert codec.encode(ResponseCreateEvent()) == (wire('{"clientContent":{"turnComplete":true}}'),)
    assert codec.encode(ToolResultEvent(call_id="x", error="no such city")) == (
        wire('{"toolResponse":{"functionResponses":[{"id":"x","response":{"error":"no such city"}}]}}'),
    )
    assert codec.encode(ToolResultEvent(call_id="y", result="plain text")) == (
        wire('{"toolResponse":{"functionResponses":[{"id":"y","response":{"output":"plain text"}}]}}'),
    )


def test_manual_activity() -> None:
    manual = RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="manual"))
    codec = GeminiCodec("gemini-3.8-live", manual)
    (setup,) = codec.encode(codec.opening_events()[0])
    assert setup["setup"]["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert codec.encode(ActivityStartEvent()) == (wire('{"realtimeInput":{"activityStart":{}}}'),)
    assert codec.encode(ActivityEndEvent()) == (wire('{"realtimeInput":{"activityEnd":{}}}'),)
    # A channel's audio + commit maps onto activity boundaries by itself.
    assert codec.encode(AudioInputAppendEvent(audio="AAAA")) == (
        wire('{"realtimeInput":{"activityStart":{}}}'),
        wire('{"realtimeInput":{"audio":{"data":"AAAA","mimeType":"audio/pcm;rate=16000"}}}'),
    )
    assert len(codec.encode(AudioInputAppendEvent(audio="AAAA"))) == 1
    assert codec.encode(AudioInputCommitEvent()) == (wire('{"realtimeInput":{"activityEnd":{}}}'),)
    # With automatic detection on, the activity events are a configuration mistake.
    with pytest.raises(ConfigurationError, match="manual") as caught:
        GeminiCodec("gemini-3.8-live").encode(ActivityStartEvent())
    assert caught.value.field == "turn_detection.mode"


@pytest.mark.parametrize(
    "event", [ResponseCancelEvent(), AudioInputClearEvent(), ItemTruncateEvent(item_id="i", audio_end_ms=5),
              ItemCreateEvent(item=Message(role="system", content=[]))],
)
def test_events_without_a_wire_form_name_the_provider(event: Any) -> None:
    with pytest.raises(UnsupportedEventError, match="Gemini"):
        GeminiCodec("gemini-3.8-live").encode(event)


# -- server → client ---------------------------------------------------------------------------


def test_setup_complete_confirms_the_session() -> None:
    codec = GeminiCodec("gemini-3.8-live", RealtimeSessionConfig(instructions="Be brief."))
    (created,) = codec.decode(wire('{"setupComplete":{}}'))
    assert created.kind == "session.created" and created.session.id
    assert created.session.config.instructions == "Be brief."
    assert created.session.config.audio.output_format.sample_rate == 24000
    assert codec.handshake_step(created).done
    (vertex,) = GeminiCodec("m").decode(wire('{"setupComplete":{"sessionId":"s-1"}}'))
    assert vertex.session.id == "s-1"


def test_a_spoken_turn_with_a_tool_call_from_the_spec_transcript() -> None:
    codec = GeminiCodec("gemini-3.1-flash-live-preview")
    events = decode_all(
        codec,
        '{"serverContent":{"inputTranscription":{"text":"What\'s the weather"}}}',
        '{"serverContent":{"inputTranscription":{"text":" in Paris?"}}}',
        '{"toolCall":{"functionCalls":[{"id":"function-call-5313847126","name":"get_weather","args":{"city":"Paris"}}]},'
        '"usageMetadata":{"promptTokenCount":412,"responseTokenCount":9,"totalTokenCount":421}}',
    )
    assert kinds(events) == [
        "transcript.input.delta", "transcript.input.delta", "response.created", "tool.call", "response.done",
    ]
    call, done = events[3], events[4]
    assert (call.call_id, call.tool_id, json.loads(call.arguments)) == ("function-call-5313847126", "get_weather", {"city": "Paris"})
    assert (done.status.value, done.usage.input_tokens, done.usage.output_tokens, done.usage.total_tokens) == ("completed", 412, 9, 421)
    assert not codec.idle  # the call awaits its result
    codec.decode(wire('{"sessionResumptionUpdate":{"newHandle":"h","resumable":true}}'))
    assert not codec.idle  # the handle does not cover the pending call's result
    codec.encode(ToolResultEvent(call_id="function-call-5313847126", result="{}"))
    assert codec.idle
    events = decode_all(
        codec,
        # One message with audio, transcription and usage together.
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"//8AAAEA/v8CAP3/"}}]},'
        '"outputTranscription":{"text":"It\'s 18 degrees"}},"usageMetadata":{"promptTokenCount":451,"totalTokenCount":500}}',
        '{"serverContent":{"outputTranscription":{"text":" and cloudy in Paris."}}}',
        '{"serverContent":{"generationComplete":true}}',
        '{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":451,"responseTokenCount":96,'
        '"totalTokenCount":547,"promptTokensDetails":[{"modality":"AUDIO","tokenCount":240}]}}',
    )
    assert kinds(events) == [
        "response.created", "audio.output.delta", "transcript.output.delta", "transcript.output.delta",
        "audio.output.done", "transcript.output", "response.done", "transcript.input",
    ]
    assert events[1].audio == "//8AAAEA/v8CAP3/"
    assert events[5].text == "It's 18 degrees and cloudy in Paris."
    assert events[6].usage.total_tokens == 547
    assert events[7].text == "What's the weather in Paris?"
    assert len({e.response_id for e in events[:7]}) == 1


def test_text_modality_and_thoughts() -> None:
    codec = GeminiCodec("gemini-2.5-flash")
    events = decode_all(
        codec,
        '{"serverContent":{"modelTurn":{"parts":[{"text":"thinking...","thought":true},{"text":"Hello"}]}}}',
        '{"serverContent":{"modelTurn":{"parts":[{"text":" there"}]},"turnComplete":true}}',
    )
    assert kinds(events) == [
        "response.created", "text.output.delta", "unknown", "text.output.delta", "text.output", "response.done",
    ]
    assert events[2].type == "serverContent.modelTurn.parts[0].thought"  # nothing dropped
    assert events[4].text == "Hello there"


def test_barge_in_interrupts_and_cancels_pending_calls() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    decode_all(codec, '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAAA"}}]}}}')
    events = decode_all(codec, '{"serverContent":{"interrupted":true}}', '{"toolCallCancellation":{"ids":["call-1","call-2"]}}')
    assert kinds(events) == ["response.interrupted", "audio.output.done", "response.done", "tool.cancelled", "tool.cancelled"]
    assert events[2].status.value == "cancelled"
    assert [e.call_id for e in events[3:]] == ["call-1", "call-2"]
    # turnComplete after the interruption has no response to end: delivered raw.
    assert kinds(codec.decode(wire('{"serverContent":{"turnComplete":true}}'))) == ["unknown"]


def test_turn_complete_reason_marks_a_failed_response() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    events = decode_all(
        codec,
        '{"serverContent":{"outputTranscription":{"text":"Hm"}}}',
        '{"serverContent":{"turnComplete":true,"turnCompleteReason":"MALFORMED_FUNCTION_CALL"}}',
    )
    done = events[-1]
    assert done.status.value == "failed"
    assert done.provider_metadata == {"google": {"turnCompleteReason": "MALFORMED_FUNCTION_CALL"}}


def test_resumption_handles_and_go_away() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    (update,) = codec.decode(wire('{"sessionResumptionUpdate":{"newHandle":"CiQ4YjM3ZGE5Ny1mMmFlLTRhN2EtODYx","resumable":true}}'))
    assert update.kind == "unknown" and update.type == "sessionResumptionUpdate"
    assert codec.resume_handle == "CiQ4YjM3ZGE5Ny1mMmFlLTRhN2EtODYx"
    codec.decode(wire('{"sessionResumptionUpdate":{"resumable":false}}'))  # mid-turn: not a handle to keep
    assert codec.resume_handle == "CiQ4YjM3ZGE5Ny1mMmFlLTRhN2EtODYx"
    assert not codec.wants_reconnect
    (go_away,) = codec.decode(wire('{"goAway":{"timeLeft":"50s"}}'))
    assert go_away.type == "goAway" and codec.wants_reconnect and codec.idle
    codec.decode(wire('{"serverContent":{"outputTranscription":{"text":"Hi"}}}'))
    assert not codec.idle  # a turn in flight, and the handle no longer covers it


def test_voice_activity_and_unknown_messages() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    start, stop = decode_all(
        codec, '{"voiceActivity":{"type":"ACTIVITY_START","audioOffset":"1.5s"}}', '{"voiceActivity":{"type":"ACTIVITY_END"}}'
    )
    assert (start.kind, start.audio_start_ms, stop.kind) == ("speech.started", 1500, "speech.stopped")
    (unknown,) = codec.decode(wire('{"somethingNew":{"x":1}}'))
    assert unknown.kind == "unknown" and unknown.type == "somethingNew" and unknown.data == {"somethingNew": {"x": 1}}


@pytest.mark.parametrize(
    "line, path",
    [
        ('{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":5}}]}}}', "serverContent.modelTurn.parts[0].inlineData.data"),
        ('{"toolCall":{"functionCalls":[{"id":"c","name":"f","args":"{}"}]}}', "toolCall.functionCalls[0].args"),
        ('{"usageMetadata":{"totalTokenCount":"many"}}', "usageMetadata.totalTokenCount"),
        ('{"goAway":{"timeLeft":"soon"}}', "goAway.timeLeft"),
        ('{"serverContent":{"turnComplete":"yes"}}', "serverContent.turnComplete"),
    ],
)
def test_bad_fields_raise_protocol_errors_naming_them_and_change_nothing(line: str, path: str) -> None:
    codec = GeminiCodec("gemini-3.8-live")
    with pytest.raises(ProtocolError, match=path.replace("[", r"\[").replace("]", r"\]")) as caught:
        codec.decode(wire(line))
    assert caught.value.field == path and caught.value.wire_type == next(iter(json.loads(line)))
    assert codec.resume_handle is None and not codec.wants_reconnect
    # The next message decodes normally (and no turn was left open by the bad one).
    assert kinds(codec.decode(wire('{"serverContent":{"outputTranscription":{"text":"ok"}}}'))) == [
        "response.created", "transcript.output.delta",
    ]


def test_int64_usage_may_arrive_as_strings() -> None:
    codec = GeminiCodec("gemini-3.8-live")
    events = decode_all(codec, '{"serverContent":{"outputTranscription":{"text":"a"},"turnComplete":true},"usageMetadata":{"totalTokenCount":"42"}}')
    assert events[-1].usage.total_tokens == 42


@pytest.mark.parametrize(
    "code, reason, error_type, error_code",
    [
        (1007, "Request contains an invalid argument.", ServerError, "invalid_argument"),
        (1007, "API key not valid. Please pass a valid API key.", AuthenticationError, "invalid_argument"),
        (1008, "Method doesn't allow unregistered callers (callers without established identity).", AuthenticationError, "policy_violation"),
        (1011, "RESOURCE_EXHAUSTED: You exceeded your current quota.", ServerError, "resource_exhausted"),
        (1008, "Quota exceeded for concurrent sessions", ServerError, "resource_exhausted"),
        (1011, "Internal error occurred.", ServerError, "internal"),
    ],
)
def test_close_codes_become_errors_carrying_the_reason(code: int, reason: str, error_type: type, error_code: str) -> None:
    error = GeminiCodec("gemini-3.8-live").close_error(code, reason)
    assert type(error) is error_type and error.code == error_code and reason in str(error)


def test_normal_closes_are_left_to_the_core() -> None:
    assert GeminiCodec("gemini-3.8-live").close_error(1000, "") is None
