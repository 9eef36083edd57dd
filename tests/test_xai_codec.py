"""XAICodec against the documented xAI Grok Voice Agent wire protocol.

Every wire message here is copied from provider-wire-protocols.md §2 (the §2.3 handshake,
§2.4 client events, §2.5 server event table, §2.7 errors, §2.8 sample transcript) or built
field by field from those tables; none is produced by our own encoder. Encoding tests
compare against the documented JSON, decoding tests feed it in.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from kernl_realtime.exceptions import ConfigurationError, ServerError, UnsupportedEventError
from kernl_realtime.protocol import (
    ActivityStartEvent,
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AudioInputClearEvent,
    AudioInputCommitEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    FunctionToolSpec,
    InputTranscriptionConfig,
    ItemCreatedEvent,
    ItemCreateEvent,
    ItemDeleteEvent,
    ItemTruncateEvent,
    Message,
    ProviderDefinedToolSpec,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RealtimeUsage,
    ResponseCancelEvent,
    ResponseCreatedEvent,
    ResponseCreateEvent,
    ResponseDoneEvent,
    ResponseStatus,
    SessionCreatedEvent,
    SessionErrorEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    ToolCall,
    ToolCallEvent,
    ToolChoice,
    ToolResultEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    TurnDetectionConfig,
    UnknownEvent,
    VoiceConfig,
)
from kernl_realtime.providers.xai import VOICES, XAICodec

WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def wire(line: str) -> Dict[str, Any]:
    """One documented line (JSON text, as in the doc) parsed."""
    return json.loads(line)


def encode(event: Any, codec: Any = None) -> Dict[str, Any]:
    messages = (codec or XAICodec()).encode(event)
    assert len(messages) == 1
    # What goes on the socket is JSON: compare after a round trip through it.
    return json.loads(json.dumps(messages[0]))


def decode_all(lines: List[str], codec: Any = None) -> List[Any]:
    codec = codec or XAICodec()
    events: List[Any] = []
    for line in lines:
        events.extend(codec.decode(wire(line)))
    return events


def decode_one(line: str, codec: Any = None) -> Any:
    events = (codec or XAICodec()).decode(wire(line))
    assert len(events) == 1
    return events[0]


# -- session.update ------------------------------------------------------------------------

# §2.8, the client's session.update.
SAMPLE_SESSION_UPDATE = (
    '{"type":"session.update","session":{"instructions":"Be brief.","voice":"eve","turn_detection":'
    '{"type":"server_vad"},"audio":{"input":{"format":{"type":"audio/pcm","rate":24000}},"output":'
    '{"format":{"type":"audio/pcm","rate":24000}}},"tools":[{"type":"function","name":"get_weather",'
    '"description":"Current weather for a city","parameters":{"type":"object","properties":{"city":'
    '{"type":"string"}},"required":["city"]}}]}}'
)

# §2.4, the session.update example (tuned VAD, transcription, a hosted tool).
FULL_SESSION_UPDATE = (
    '{"type":"session.update","session":{"instructions":"You are a helpful assistant.","voice":"eve",'
    '"turn_detection":{"type":"server_vad","threshold":0.5,"silence_duration_ms":200,"prefix_padding_ms":300},'
    '"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":{"model":"grok-transcribe"}},'
    '"output":{"format":{"type":"audio/pcm","rate":24000}}},"tools":[{"type":"function","name":"get_weather",'
    '"description":"Current weather for a city","parameters":{"type":"object","properties":{"city":'
    '{"type":"string"}},"required":["city"]}},{"type":"web_search"}]}}'
)


def test_session_update_matches_the_sample_transcript() -> None:
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        voice=VoiceConfig(voice_id="eve"),
        turn_detection=TurnDetectionConfig(mode="server_vad"),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        tools=[WEATHER],
    )
    assert encode(SessionUpdateEvent(config=config)) == wire(SAMPLE_SESSION_UPDATE)


def test_session_update_with_vad_knobs_transcription_and_hosted_tool() -> None:
    config = RealtimeSessionConfig(
        instructions="You are a helpful assistant.",
        voice=VoiceConfig(voice_id="eve"),
        turn_detection=TurnDetectionConfig(mode="server_vad", threshold=0.5, silence_duration_ms=200, prefix_padding_ms=300),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        input_transcription=InputTranscriptionConfig(model="grok-transcribe"),
        tools=[WEATHER, ProviderDefinedToolSpec(id="xai.web_search", name="web_search")],
    )
    assert encode(SessionUpdateEvent(config=config)) == wire(FULL_SESSION_UPDATE)


def test_manual_turns_are_an_explicit_null_type() -> None:
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="manual"))))
    assert session == {"type": "session.update", "session": {"turn_detection": {"type": None}}}


def test_hosted_tools_of_other_providers_are_not_sent() -> None:
    hosted = ProviderDefinedToolSpec(id="xai.x_search", name="x_search", args={"allowed_x_handles": ["xai"]})
    foreign = ProviderDefinedToolSpec(id="openai.web_search", name="web_search")
    tools = encode(SessionUpdateEvent(config=RealtimeSessionConfig(tools=[hosted, foreign])))["session"]["tools"]
    assert tools == [{"type": "x_search", "allowed_x_handles": ["xai"]}]


def test_tool_choice_only_when_given() -> None:
    assert "tool_choice" not in encode(SessionUpdateEvent(config=RealtimeSessionConfig(tools=[WEATHER])))["session"]
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(tools=[WEATHER], tool_choice=ToolChoice("required"))))
    assert session["session"]["tool_choice"] == "required"


@pytest.mark.parametrize("rate", [8000, 16000, 21050, 22050, 24000, 32000, 44100, 48000])
def test_every_documented_pcm_rate_is_sent(rate: int) -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(input_format=AudioFormat.pcm16(rate), output_format=AudioFormat.pcm16(rate)))
    audio = encode(SessionUpdateEvent(config=config))["session"]["audio"]
    assert audio == {"input": {"format": {"type": "audio/pcm", "rate": rate}}, "output": {"format": {"type": "audio/pcm", "rate": rate}}}


def test_g711_formats_carry_no_rate() -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(input_format=AudioFormat.pcmu(), output_format=AudioFormat.pcma()))
    audio = encode(SessionUpdateEvent(config=config))["session"]["audio"]
    assert audio == {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcma"}}}


@pytest.mark.parametrize(
    "audio_format, field",
    [
        (AudioFormat.pcm16(11025), "audio.output_format"),
        (AudioFormat("audio/opus"), "audio.output_format"),
        (AudioFormat("audio/pcm", sample_rate=24000, channels=2), "audio.output_format.channels"),
        (AudioFormat("audio/pcmu", sample_rate=16000), "audio.output_format"),
    ],
)
def test_formats_xai_cannot_take_raise_naming_the_field(audio_format: AudioFormat, field: str) -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(output_format=audio_format))
    with pytest.raises(ConfigurationError) as info:
        XAICodec(config)  # construction checks the config: before any network I/O
    assert info.value.field == field


def test_voices_are_case_insensitive_and_sent_as_given() -> None:
    for voice in ("Ara", "rex", "SAL", "Eve", "leo", "zenith", "Celeste"):
        session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(voice=VoiceConfig(voice_id=voice))))
        assert session["session"]["voice"] == voice
    assert {"ara", "rex", "sal", "eve", "leo"} <= VOICES and len(VOICES) == 28


def test_unknown_voice_raises_with_the_known_list() -> None:
    config = RealtimeSessionConfig(voice=VoiceConfig(voice_id="alloy"))
    with pytest.raises(ConfigurationError) as info:
        XAICodec(config)
    assert info.value.field == "voice.voice_id"
    assert "'alloy'" in str(info.value) and "ara, atlas" in str(info.value) and "eve" in str(info.value)


def test_custom_voice_and_extra_fields_go_through_provider_options() -> None:
    config = RealtimeSessionConfig(
        voice=VoiceConfig(voice_id="eve"),
        audio=AudioConfig(output_format=AudioFormat.pcm16()),
        provider_options={"xai": {"voice": "my_cloned_voice", "audio": {"output": {"speed": 1.2}}}, "openai": {"x": 1}},
    )
    session = encode(SessionUpdateEvent(config=config))["session"]
    assert session["voice"] == "my_cloned_voice"
    # Deep-merged: the extra knob does not wipe the encoded format.
    assert session["audio"] == {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "speed": 1.2}}
    assert "x" not in session


def test_speed_and_transcription_fields() -> None:
    config = RealtimeSessionConfig(
        voice=VoiceConfig(voice_id="ara", speed=1.25),
        input_transcription=InputTranscriptionConfig(model="grok-transcribe", language="fr"),
    )
    session = encode(SessionUpdateEvent(config=config))["session"]
    assert session["audio"] == {"input": {"transcription": {"model": "grok-transcribe", "language_hint": "fr"}}, "output": {"speed": 1.25}}
    with pytest.raises(ConfigurationError) as info:
        XAICodec(RealtimeSessionConfig(voice=VoiceConfig(voice_id="ara", speed=2.0)))
    assert info.value.field == "voice.speed"
    with pytest.raises(ConfigurationError) as info:
        XAICodec(RealtimeSessionConfig(input_transcription=InputTranscriptionConfig(model="grok-transcribe", prompt="names")))
    assert info.value.field == "input_transcription.prompt"


# -- other client events (§2.4) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event, documented",
    [
        (AudioInputAppendEvent(audio="AAAAAP7/AgD9/wMA"), '{"type":"input_audio_buffer.append","audio":"AAAAAP7/AgD9/wMA"}'),
        (AudioInputCommitEvent(), '{"type":"input_audio_buffer.commit"}'),
        (AudioInputClearEvent(), '{"type":"input_audio_buffer.clear"}'),
        (
            ItemCreateEvent(item=Message.user("hello")),
            '{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hello"}]}}',
        ),
        (ResponseCreateEvent(), '{"type":"response.create"}'),
        (
            ToolResultEvent(call_id="call_1", result='{"temp_c":18}'),
            '{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_1","output":"{\\"temp_c\\":18}"}}',
        ),
        (
            ResponseCreateEvent(config=RealtimeResponseConfig(modalities=["text", "audio"], instructions="Be brief.")),
            '{"type":"response.create","response":{"modalities":["text","audio"],"instructions":"Be brief."}}',
        ),
        (ResponseCancelEvent(), '{"type":"response.cancel"}'),
        (ItemDeleteEvent(item_id="msg_002"), '{"type":"conversation.item.delete","item_id":"msg_002"}'),
        (
            ItemTruncateEvent(item_id="msg_005", audio_end_ms=640),
            '{"type":"conversation.item.truncate","item_id":"msg_005","content_index":0,"audio_end_ms":640}',
        ),
    ],
)
def test_client_events(event: Any, documented: str) -> None:
    assert encode(event) == wire(documented)


def test_activity_events_have_no_wire_form() -> None:
    with pytest.raises(UnsupportedEventError):
        XAICodec().encode(ActivityStartEvent())


# -- server events: handshake (§2.3) ------------------------------------------------------------

CONVERSATION_CREATED = '{"type":"conversation.created","event_id":"event_9101","conversation":{"id":"conv_001","object":"realtime.conversation"}}'
SESSION_CREATED = (
    '{"type":"session.created","event_id":"event_9102","session":{"id":"sess_001","object":"realtime.session",'
    '"model":"grok-voice-latest","voice":"eve","turn_detection":{"type":"server_vad"}}}'
)
SESSION_UPDATED = (
    '{"type":"session.updated","event_id":"event_002","session":{"instructions":"Be brief.","voice":"eve",'
    '"turn_detection":{"type":"server_vad"}}}'
)


def test_conversation_created_is_the_session_and_a_later_session_created_is_raw() -> None:
    codec = XAICodec()
    created, again, updated = decode_all([CONVERSATION_CREATED, SESSION_CREATED, SESSION_UPDATED], codec)
    assert isinstance(created, SessionCreatedEvent) and created.session.id == "conv_001"
    assert isinstance(again, UnknownEvent) and again.type == "session.created" and again.data == wire(SESSION_CREATED)
    # session.updated has no id on the wire: it is the known session's, not the event_id.
    assert isinstance(updated, SessionUpdatedEvent) and updated.session.id == "conv_001"
    config = updated.session.config
    assert config.instructions == "Be brief." and config.voice == VoiceConfig(voice_id="eve")
    assert config.turn_detection == TurnDetectionConfig(mode="server_vad")


def test_session_created_first_wins_when_it_comes_first() -> None:
    created, later = decode_all([SESSION_CREATED, CONVERSATION_CREATED])
    assert isinstance(created, SessionCreatedEvent) and created.session.id == "sess_001"
    assert created.session.config.voice == VoiceConfig(voice_id="eve")
    assert isinstance(later, UnknownEvent) and later.type == "conversation.created"


def test_handshake_sends_the_config_once_and_waits_for_session_updated() -> None:
    codec = XAICodec(RealtimeSessionConfig(instructions="Be brief."))
    steps = [codec.handshake_step(event) for event in decode_all([CONVERSATION_CREATED, SESSION_CREATED, SESSION_UPDATED], codec)]
    assert [len(step.send) for step in steps] == [1, 0, 0]
    assert [step.done for step in steps] == [False, False, True]


def test_manual_turn_detection_decodes_from_null_type() -> None:
    codec = XAICodec()
    codec.decode(wire(CONVERSATION_CREATED))
    updated = decode_one('{"type":"session.updated","event_id":"e","session":{"turn_detection":{"type":null},"audio":'
                         '{"output":{"format":{"type":"audio/pcmu"}}},"tools":[{"type":"web_search"}]}}', codec)
    assert updated.session.config.turn_detection == TurnDetectionConfig(mode="manual")
    assert updated.session.config.audio.output_format == AudioFormat("audio/pcmu")
    assert updated.session.config.tools == [ProviderDefinedToolSpec(id="xai.web_search", name="web_search")]


# -- server events: the §2.8 sample transcript ----------------------------------------------------


def test_sample_transcript_decodes_event_by_event() -> None:
    lines = [
        CONVERSATION_CREATED,
        '{"type":"input_audio_buffer.speech_started","event_id":"event_003","item_id":"msg_002"}',
        '{"type":"input_audio_buffer.speech_stopped","event_id":"event_004","item_id":"msg_002"}',
        '{"type":"input_audio_buffer.committed","event_id":"event_005","previous_item_id":null,"item_id":"msg_002"}',
        '{"type":"conversation.item.input_audio_transcription.completed","event_id":"event_006","item_id":"msg_002",'
        '"transcript":"What\'s the weather in Paris?"}',
        '{"type":"response.created","event_id":"event_007","response":{"id":"resp_001","object":"realtime.response",'
        '"status":"in_progress","output":[]}}',
        '{"type":"response.function_call_arguments.done","event_id":"event_009","response_id":"resp_001","item_id":"msg_003",'
        '"call_id":"call_001","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}',
        '{"type":"response.done","event_id":"event_010","response":{"id":"resp_001","object":"realtime.response",'
        '"status":"completed","output":[{"id":"msg_003","object":"realtime.item","type":"function_call","status":"completed",'
        '"call_id":"call_001","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}],"usage":{"input_tokens":310,'
        '"output_tokens":12,"total_tokens":322}},"usage":{"input_tokens":310,"output_tokens":12,"total_tokens":322}}',
        '{"type":"response.output_audio.delta","event_id":"event_014","response_id":"resp_002","item_id":"msg_005",'
        '"output_index":0,"content_index":0,"delta":"//8AAAEA/v8CAP3/"}',
        '{"type":"response.done","event_id":"event_030","response":{"id":"resp_002","object":"realtime.response",'
        '"status":"completed","output":[{"id":"msg_005","object":"realtime.item","type":"message","status":"completed",'
        '"role":"assistant","content":[{"type":"output_audio","transcript":"It\'s 18 degrees and cloudy in Paris."}]}]}}',
    ]
    events = decode_all(lines)
    assert events[1:] == [
        # xAI reports no offsets: 0 stands for "not reported".
        SpeechStartedEvent(audio_start_ms=0, item_id="msg_002"),
        SpeechStoppedEvent(audio_end_ms=0, item_id="msg_002"),
        AudioInputCommittedEvent(item_id="msg_002"),
        TranscriptInputEvent(item_id="msg_002", text="What's the weather in Paris?"),
        ResponseCreatedEvent(response_id="resp_001"),
        ToolCallEvent(call_id="call_001", tool_id="get_weather", arguments='{"city":"Paris"}'),
        ResponseDoneEvent(
            response_id="resp_001",
            status=ResponseStatus.COMPLETED,
            usage=RealtimeUsage(input_tokens=310, output_tokens=12, total_tokens=322),
        ),
        AudioOutputDeltaEvent(response_id="resp_002", item_id="msg_005", audio="//8AAAEA/v8CAP3/"),
        ResponseDoneEvent(response_id="resp_002", status=ResponseStatus.COMPLETED, usage=None),
    ]


def test_function_call_arguments_done_without_ids() -> None:
    event = decode_one('{"type":"response.function_call_arguments.done","call_id":"call_7","name":"get_weather","arguments":"{}"}')
    assert event == ToolCallEvent(call_id="call_7", tool_id="get_weather", arguments="{}")


# -- server events: xAI's quirks (§2.5) -----------------------------------------------------------


def test_output_transcript_done_without_transcript_is_the_accumulated_deltas() -> None:
    events = decode_all(
        [
            '{"type":"response.output_audio_transcript.delta","response_id":"resp_002","item_id":"msg_005","delta":"It\'s 18 "}',
            '{"type":"response.output_audio_transcript.delta","response_id":"resp_002","item_id":"msg_005","delta":"degrees."}',
            '{"type":"response.output_audio_transcript.done","response_id":"resp_002","item_id":"msg_005"}',
        ]
    )
    assert events == [
        TranscriptOutputDeltaEvent(response_id="resp_002", item_id="msg_005", delta="It's 18 "),
        TranscriptOutputDeltaEvent(response_id="resp_002", item_id="msg_005", delta="degrees."),
        TranscriptOutputEvent(response_id="resp_002", item_id="msg_005", text="It's 18 degrees."),
    ]


def test_output_transcript_done_with_transcript_uses_it() -> None:
    event = decode_all(
        [
            '{"type":"response.output_audio_transcript.delta","response_id":"r","item_id":"i","delta":"draft"}',
            '{"type":"response.output_audio_transcript.done","response_id":"r","item_id":"i","transcript":"Final text."}',
        ]
    )[-1]
    assert event.text == "Final text."


def test_text_events_under_both_names_are_decoded_once() -> None:
    codec = XAICodec()
    events = decode_all(
        [
            '{"type":"response.output_text.delta","response_id":"r","item_id":"i","delta":"Hel"}',
            '{"type":"response.text.delta","response_id":"r","item_id":"i","delta":"Hel"}',
            '{"type":"response.output_text.delta","response_id":"r","item_id":"i","delta":"lo"}',
            '{"type":"response.text.delta","response_id":"r","item_id":"i","delta":"lo"}',
            '{"type":"response.output_text.done","response_id":"r","item_id":"i"}',
            '{"type":"response.text.done","response_id":"r","item_id":"i","text":"Hello"}',
        ],
        codec,
    )
    decoded = [e for e in events if not isinstance(e, UnknownEvent)]
    raw = [e.type for e in events if isinstance(e, UnknownEvent)]
    assert decoded == [
        TextOutputDeltaEvent(response_id="r", item_id="i", delta="Hel"),
        TextOutputDeltaEvent(response_id="r", item_id="i", delta="lo"),
        TextOutputEvent(response_id="r", item_id="i", text="Hello"),
    ]
    assert raw == ["response.text.delta", "response.text.delta", "response.text.done"]


def test_a_server_sending_only_the_old_text_name_loses_nothing() -> None:
    events = decode_all(
        [
            '{"type":"response.text.delta","response_id":"r","item_id":"i","delta":"Hi"}',
            '{"type":"response.text.done","response_id":"r","item_id":"i","text":"Hi"}',
        ]
    )
    assert events == [TextOutputDeltaEvent(response_id="r", item_id="i", delta="Hi"), TextOutputEvent(response_id="r", item_id="i", text="Hi")]


def test_cumulative_input_transcript_becomes_deltas() -> None:
    prefix = '{"type":"conversation.item.input_audio_transcription.updated","item_id":"msg_002","content_index":0,'
    events = decode_all(
        [
            prefix + '"transcript":"What\'s"}',
            prefix + '"transcript":"What\'s the weather"}',
            prefix + '"transcript":"What\'s the weather"}',  # nothing new
            prefix + '"transcript":"Whats the weather"}',  # a revision: not expressible as a delta
            '{"type":"conversation.item.input_audio_transcription.completed","item_id":"msg_002","transcript":"What\'s the weather?"}',
        ]
    )
    assert events[:2] == [
        TranscriptInputDeltaEvent(item_id="msg_002", delta="What's"),
        TranscriptInputDeltaEvent(item_id="msg_002", delta=" the weather"),
    ]
    assert [type(e) for e in events[2:4]] == [UnknownEvent, UnknownEvent]
    assert events[3].data["transcript"] == "Whats the weather"
    assert events[4] == TranscriptInputEvent(item_id="msg_002", text="What's the weather?")


def test_response_done_statuses_pass_through_with_top_level_usage() -> None:
    def done(status: str) -> Any:
        return decode_one(
            '{"type":"response.done","response":{"id":"resp_9","object":"realtime.response","status":"%s","output":[]},'
            '"usage":{"input_tokens":5,"output_tokens":0,"total_tokens":5}}' % status
        )

    assert done("cancelled").status == ResponseStatus.CANCELLED
    assert done("cancelled").usage == RealtimeUsage(input_tokens=5, output_tokens=0, total_tokens=5)
    assert done("failed").status == ResponseStatus.FAILED
    assert done("completed").status == ResponseStatus.COMPLETED
    empty = decode_one('{"type":"response.done","response":{"id":"r","status":"completed","usage":{}},"usage":{}}')
    assert empty.usage is None


def test_error_event_is_a_session_error() -> None:
    event = decode_one(
        '{"type":"error","event_id":"event_77","error":{"type":"invalid_request_error","code":"response_cancel_not_active",'
        '"message":"Cancellation failed: no active response found","param":null,"event_id":"evt_client_3"}}'
    )
    assert isinstance(event, SessionErrorEvent) and isinstance(event.error, ServerError)
    assert event.error.code == "response_cancel_not_active"
    assert str(event.error) == "Cancellation failed: no active response found"
    assert event.error.event_id == "evt_client_3"


def test_ping_and_unmapped_events_arrive_raw() -> None:
    ping = decode_one('{"type":"ping","timestamp":1767229800123}')
    assert ping == UnknownEvent(type="ping", data={"type": "ping", "timestamp": 1767229800123})
    dtmf = decode_one('{"type":"input_audio_buffer.dtmf_event_received","digit":"5"}')
    assert isinstance(dtmf, UnknownEvent) and dtmf.data["digit"] == "5"


def test_function_call_item_added_is_an_item_not_an_error() -> None:
    event = decode_one(
        '{"type":"conversation.item.added","previous_item_id":"msg_002","item":{"id":"msg_003","object":"realtime.item",'
        '"type":"function_call","status":"completed","call_id":"call_001","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}'
    )
    assert isinstance(event, ItemCreatedEvent) and event.previous_item_id == "msg_002"
    assert isinstance(event.item, ToolCall) and event.item.id == "msg_003" and event.item.tool_id == "get_weather"


def test_user_item_keeps_its_wire_id_and_transcript() -> None:
    event = decode_one(
        '{"type":"conversation.item.added","previous_item_id":null,"item":{"id":"msg_002","object":"realtime.item",'
        '"type":"message","role":"user","content":[{"type":"input_audio","transcript":"What\'s the weather in Paris?"}]}}'
    )
    assert isinstance(event.item, Message) and event.item.id == "msg_002"
    assert event.item.content[0].text == "What's the weather in Paris?"
