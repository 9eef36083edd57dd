"""OpenAICodec against the documented OpenAI Realtime GA wire protocol.

Every wire message here is copied from provider-wire-protocols.md §1 (the §1.3 handshake,
§1.4 client events, §1.5 server event tables, §1.7 error, §1.8 sample transcript) or built
field by field from those tables; none is produced by our own encoder. Encoding tests
compare against the documented JSON, decoding tests feed it in.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List

import pytest

from kernl_realtime.exceptions import ConfigurationError, ServerError, UnsupportedEventError
from kernl_realtime.protocol import (
    ActivityEndEvent,
    ActivityStartEvent,
    AudioConfig,
    AudioFormat,
    AudioInputAppendEvent,
    AudioInputClearedEvent,
    AudioInputClearEvent,
    AudioInputCommitEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    DataPart,
    FilePart,
    FunctionToolSpec,
    InputTranscriptionConfig,
    ItemCreatedEvent,
    ItemCreateEvent,
    ItemDeletedEvent,
    ItemDeleteEvent,
    ItemTruncatedEvent,
    ItemTruncateEvent,
    Message,
    ProviderDefinedToolSpec,
    Reasoning,
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
    SessionInfo,
    SessionUpdatedEvent,
    SessionUpdateEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolCallState,
    ToolChoice,
    ToolDeltaEvent,
    ToolResult,
    ToolResultEvent,
    ToolStartEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    TurnDetectionConfig,
    UnknownEvent,
    VoiceConfig,
)
from kernl_realtime.providers.openai import OpenAICodec

# -- helpers --------------------------------------------------------------------------------


def decode(text: str, codec: "OpenAICodec | None" = None) -> Any:
    """Decode one documented wire line; it must yield exactly one protocol event."""
    events = (codec or OpenAICodec()).decode(json.loads(text))
    assert len(events) == 1, events
    return events[0]


def encode(event: Any, codec: "OpenAICodec | None" = None) -> Dict[str, Any]:
    """Encode one client event; it must yield exactly one JSON-serialisable wire message."""
    messages = (codec or OpenAICodec()).encode(event)
    assert len(messages) == 1, messages
    # What goes on the socket is json.dumps of this; it must survive the round trip unchanged.
    assert json.loads(json.dumps(messages[0])) == messages[0]
    return messages[0]


def wire(text: str) -> Dict[str, Any]:
    return json.loads(text)


WEATHER_TOOL = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

# §1.3: the server's first frame, full default GA session.
SESSION_CREATED_13 = (
    '{"type":"session.created","event_id":"event_C9a1","session":{"type":"realtime","object":"realtime.session",'
    '"id":"sess_C9abc","model":"gpt-realtime","output_modalities":["audio"],"instructions":"Your knowledge cutoff is …",'
    '"tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,'
    '"expires_at":1767233400,"include":null,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},'
    '"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,'
    '"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,"create_response":true,'
    '"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"alloy","speed":1.0}}}}'
)

# §1.8: session.updated after the client's session.update with a tool and voice marin.
SESSION_UPDATED_18 = (
    '{"type":"session.updated","event_id":"event_002","session":{"type":"realtime","object":"realtime.session",'
    '"id":"sess_001","model":"gpt-realtime","output_modalities":["audio"],"instructions":"Be brief.","tools":'
    '[{"type":"function","name":"get_weather","description":"Current weather for a city","parameters":{"type":"object",'
    '"properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":"auto","max_output_tokens":"inf",'
    '"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,'
    '"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500,'
    '"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},'
    '"voice":"marin","speed":1.0}},"expires_at":1767233400}}'
)

# §1.4: the documented complete GA session.update.
SESSION_UPDATE_14 = (
    '{"type":"session.update","session":{"type":"realtime","instructions":"Be brief.","output_modalities":["audio"],'
    '"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":{"model":"gpt-4o-mini-transcribe",'
    '"language":"en"},"noise_reduction":{"type":"near_field"},"turn_detection":{"type":"server_vad","threshold":0.5,'
    '"prefix_padding_ms":300,"silence_duration_ms":500,"create_response":true,"interrupt_response":true}},'
    '"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"tools":[{"type":"function",'
    '"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":'
    '{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":"auto","max_output_tokens":"inf"}}'
)

SERVER_VAD_500 = TurnDetectionConfig(
    mode="server_vad",
    threshold=0.5,
    prefix_padding_ms=300,
    silence_duration_ms=500,
    create_response=True,
    interrupt_response=True,
)

PCM24 = AudioConfig(input_format=AudioFormat("audio/pcm", sample_rate=24000), output_format=AudioFormat("audio/pcm", sample_rate=24000))


# ============================================================================ decoding


# -- session.created / session.updated -------------------------------------------------------


def test_session_created_decodes_the_full_ga_session() -> None:
    event = decode(SESSION_CREATED_13)
    assert event == SessionCreatedEvent(
        session=SessionInfo(
            id="sess_C9abc",
            config=RealtimeSessionConfig(
                instructions="Your knowledge cutoff is …",
                tools=[],
                tool_choice=ToolChoice("auto"),
                modalities=["audio"],
                voice=VoiceConfig("alloy", speed=1.0),
                audio=PCM24,
                turn_detection=TurnDetectionConfig(
                    mode="server_vad",
                    threshold=0.5,
                    prefix_padding_ms=300,
                    silence_duration_ms=200,
                    create_response=True,
                    interrupt_response=True,
                ),
                input_transcription=None,
            ),
        )
    )


def test_session_updated_decodes_tools_voice_and_instructions() -> None:
    event = decode(SESSION_UPDATED_18)
    assert event == SessionUpdatedEvent(
        session=SessionInfo(
            id="sess_001",
            config=RealtimeSessionConfig(
                instructions="Be brief.",
                tools=[WEATHER_TOOL],
                tool_choice=ToolChoice("auto"),
                modalities=["audio"],
                voice=VoiceConfig("marin", speed=1.0),
                audio=PCM24,
                turn_detection=SERVER_VAD_500,
            ),
        )
    )


def test_session_with_null_turn_detection_transcription_and_text_output() -> None:
    # The §1.4 session object as a server echoes it, with the documented null (manual turns),
    # G.711 formats, a custom voice object and tool_choice "required".
    session = wire(SESSION_UPDATE_14)["session"]
    session.update(id="sess_001", object="realtime.session", output_modalities=["text"], tool_choice="required")
    session["audio"]["input"]["turn_detection"] = None
    session["audio"]["input"]["format"] = {"type": "audio/pcmu"}
    session["audio"]["output"]["format"] = {"type": "audio/pcma"}
    session["audio"]["output"]["voice"] = {"id": "voice_1234"}
    event = decode(json.dumps({"type": "session.updated", "event_id": "event_9", "session": session}))
    config = event.session.config
    assert config.turn_detection == TurnDetectionConfig(mode="manual")
    assert config.input_transcription == InputTranscriptionConfig(model="gpt-4o-mini-transcribe", language="en")
    assert config.modalities == ["text"]
    assert config.tool_choice == ToolChoice("required")
    assert config.audio == AudioConfig(input_format=AudioFormat("audio/pcmu"), output_format=AudioFormat("audio/pcma"))
    assert config.voice == VoiceConfig("voice_1234", speed=1.0)
    assert config.tools == [WEATHER_TOOL]


def test_session_without_turn_detection_key_leaves_it_unset() -> None:
    # Absent is "not reported", null is "manual": the two must not be confused.
    event = decode('{"type":"session.updated","event_id":"e","session":{"type":"realtime","id":"sess_1","audio":{"input":{}}}}')
    assert event.session.config.turn_detection is None


def test_semantic_vad_decodes_as_server_side_detection() -> None:
    message = wire(SESSION_UPDATED_18)
    message["session"]["audio"]["input"]["turn_detection"] = {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": False,
    }
    config = decode(json.dumps(message)).session.config
    assert config.turn_detection == TurnDetectionConfig(mode="server_vad", create_response=True, interrupt_response=False)


def test_unrepresentable_session_values_are_dropped_not_fatal() -> None:
    # A newer server may report values our types reject; the rest of the config survives.
    message = wire(SESSION_UPDATED_18)
    message["session"]["output_modalities"] = ["audio", "video"]
    message["session"]["audio"]["input"]["format"] = {"type": "audio/pcm", "rate": "high"}
    message["session"]["tool_choice"] = {"type": "function", "name": "get_weather"}
    config = decode(json.dumps(message)).session.config
    assert config.modalities is None
    assert config.tool_choice is None
    assert config.audio == AudioConfig(output_format=AudioFormat("audio/pcm", sample_rate=24000))
    assert config.instructions == "Be brief."
    assert config.voice == VoiceConfig("marin", speed=1.0)


def test_session_updated_without_id_keeps_the_created_session_id() -> None:
    codec = OpenAICodec()
    decode(SESSION_CREATED_13, codec)
    event = decode('{"type":"session.updated","event_id":"e","session":{"type":"realtime","instructions":"x"}}', codec)
    assert event.session.id == "sess_C9abc"
    assert event.session.config.instructions == "x"


# -- error -----------------------------------------------------------------------------------


def test_error_event_from_the_docs() -> None:
    event = decode(
        '{"type":"error","event_id":"event_CdulTJ","error":{"type":"invalid_request_error",'
        '"code":"conversation_already_has_active_response","message":"Conversation already has an active response '
        'in progress: resp_Cdul. Wait until the response is finished before creating a new one.","param":null,'
        '"event_id":null}}'
    )
    assert isinstance(event, SessionErrorEvent)
    error = event.error
    assert isinstance(error, ServerError)
    assert error.code == "conversation_already_has_active_response"
    assert error.message.startswith("Conversation already has an active response in progress: resp_Cdul.")
    assert error.type == "invalid_request_error"
    assert error.event_id is None and error.param is None and error.details is None


def test_error_event_keeps_param_and_the_client_event_id() -> None:
    event = decode(
        '{"type":"error","event_id":"event_7","error":{"type":"invalid_request_error","code":"unknown_parameter",'
        '"message":"Unknown parameter: \'session.voice\'.","param":"session.voice","event_id":"client_evt_3"}}'
    )
    assert event.error == ServerError(
        "Unknown parameter: 'session.voice'.",
        code="unknown_parameter",
        type="invalid_request_error",
        param="session.voice",
        event_id="client_evt_3",
    )


def test_error_without_code_falls_back_to_type() -> None:
    event = decode('{"type":"error","event_id":"e","error":{"type":"server_error","message":"boom","code":null}}')
    assert event.error.code == "server_error"
    assert event.error.message == "boom"


# -- input audio buffer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"type":"input_audio_buffer.speech_started","event_id":"event_003","audio_start_ms":140,"item_id":"item_u1"}',
            SpeechStartedEvent(audio_start_ms=140, item_id="item_u1"),
        ),
        (
            '{"type":"input_audio_buffer.speech_stopped","event_id":"event_004","audio_end_ms":1860,"item_id":"item_u1"}',
            SpeechStoppedEvent(audio_end_ms=1860, item_id="item_u1"),
        ),
        (
            '{"type":"input_audio_buffer.committed","event_id":"event_005","previous_item_id":null,"item_id":"item_u1"}',
            AudioInputCommittedEvent(item_id="item_u1"),
        ),
        ('{"type":"input_audio_buffer.cleared","event_id":"event_006"}', AudioInputClearedEvent()),
    ],
)
def test_input_audio_buffer_events(line: str, expected: Any) -> None:
    assert decode(line) == expected


# -- conversation items ----------------------------------------------------------------------

USER_AUDIO_ITEM = (
    '{"id":"item_u1","object":"realtime.item","type":"message","role":"user","status":"completed",'
    '"content":[{"type":"input_audio","transcript":null}]}'
)
USER_TEXT_ITEM = (
    '{"id":"item_u2","object":"realtime.item","type":"message","role":"user","status":"completed",'
    '"content":[{"type":"input_text","text":"What\'s the weather in Paris?"}]}'
)
SYSTEM_ITEM = (
    '{"id":"item_s1","object":"realtime.item","type":"message","role":"system","status":"completed",'
    '"content":[{"type":"input_text","text":"Be brief."}]}'
)
ASSISTANT_ITEM = (
    '{"id":"item_a2","object":"realtime.item","type":"message","role":"assistant","status":"completed",'
    '"content":[{"type":"output_audio","transcript":"It\'s 18 degrees and cloudy in Paris."}]}'
)
ASSISTANT_IN_PROGRESS_ITEM = (
    '{"id":"item_a3","object":"realtime.item","type":"message","role":"assistant","status":"in_progress","content":[]}'
)
ASSISTANT_LEGACY_PARTS_ITEM = (
    '{"id":"item_a4","object":"realtime.item","type":"message","role":"assistant","status":"completed",'
    '"content":[{"type":"audio","transcript":"Hi."},{"type":"text","text":"there"},{"type":"output_text","text":"!"}]}'
)
FUNCTION_CALL_ITEM = (
    '{"id":"item_f1","object":"realtime.item","type":"function_call","status":"completed","name":"get_weather",'
    '"call_id":"call_1","arguments":"{\\"city\\":\\"Paris\\"}"}'
)
FUNCTION_CALL_IN_PROGRESS_ITEM = (
    '{"id":"item_f2","object":"realtime.item","type":"function_call","status":"in_progress","name":"get_weather",'
    '"call_id":"call_2","arguments":""}'
)
FUNCTION_OUTPUT_ITEM = (
    '{"id":"item_o1","object":"realtime.item","type":"function_call_output","call_id":"call_1",'
    '"output":"{\\"temp_c\\":18,\\"sky\\":\\"cloudy\\"}"}'
)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (USER_AUDIO_ITEM, Message(role="user", content=[TextPart("")], id="item_u1")),
        (USER_TEXT_ITEM, Message(role="user", content=[TextPart("What's the weather in Paris?")], id="item_u2")),
        (SYSTEM_ITEM, Message(role="system", content=[TextPart("Be brief.")], id="item_s1")),
        (ASSISTANT_ITEM, Message(role="assistant", content=[TextPart("It's 18 degrees and cloudy in Paris.")], id="item_a2")),
        (ASSISTANT_IN_PROGRESS_ITEM, Message(role="assistant", content=[], id="item_a3")),
        (
            ASSISTANT_LEGACY_PARTS_ITEM,
            Message(role="assistant", content=[TextPart("Hi."), TextPart("there"), TextPart("!")], id="item_a4"),
        ),
        (
            FUNCTION_CALL_ITEM,
            ToolCall(call_id="call_1", tool_id="get_weather", arguments='{"city":"Paris"}', state="completed", id="item_f1"),
        ),
        (
            FUNCTION_CALL_IN_PROGRESS_ITEM,
            ToolCall(call_id="call_2", tool_id="get_weather", arguments="", state="in_progress", id="item_f2"),
        ),
        (
            FUNCTION_OUTPUT_ITEM,
            ToolResult(call_id="call_1", tool_id="", result='{"temp_c":18,"sky":"cloudy"}', error=None, id="item_o1"),
        ),
    ],
)
@pytest.mark.parametrize("wire_type", ["conversation.item.added", "conversation.item.created"])
def test_item_created_keeps_wire_ids(wire_type: str, item: str, expected: Any) -> None:
    line = f'{{"type":"{wire_type}","event_id":"event_006","previous_item_id":"item_prev","item":{item}}}'
    event = decode(line)
    assert event == ItemCreatedEvent(item=expected, previous_item_id="item_prev")


def test_item_created_with_null_previous_item_id() -> None:
    event = decode(f'{{"type":"conversation.item.added","event_id":"e","previous_item_id":null,"item":{USER_AUDIO_ITEM}}}')
    assert event.previous_item_id is None
    assert event.item.id == "item_u1"


def test_item_of_an_unmapped_type_is_an_unknown_event() -> None:
    line = (
        '{"type":"conversation.item.added","event_id":"e","previous_item_id":null,"item":{"id":"item_m1",'
        '"object":"realtime.item","type":"mcp_approval_request","server_label":"s","name":"n","arguments":"{}"}}'
    )
    event = decode(line)
    assert event == UnknownEvent(type="conversation.item.added", data=json.loads(line))


def test_item_deleted_and_truncated() -> None:
    assert decode('{"type":"conversation.item.deleted","event_id":"e","item_id":"item_a2"}') == ItemDeletedEvent(
        item_id="item_a2"
    )
    truncated = decode(
        '{"type":"conversation.item.truncated","event_id":"e","item_id":"item_C9m2","content_index":0,"audio_end_ms":1530}'
    )
    assert truncated == ItemTruncatedEvent(item_id="item_C9m2", audio_end_ms=1530)


# -- transcripts -----------------------------------------------------------------------------


def test_input_transcription_delta_and_completed() -> None:
    delta = decode(
        '{"type":"conversation.item.input_audio_transcription.delta","event_id":"e","item_id":"item_u1",'
        '"content_index":0,"delta":"What\'s the","logprobs":null}'
    )
    assert delta == TranscriptInputDeltaEvent(item_id="item_u1", delta="What's the")
    completed = decode(
        '{"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"item_u1",'
        '"content_index":0,"transcript":"What\'s the weather in Paris?","usage":{"type":"duration","seconds":2},'
        '"logprobs":null}'
    )
    assert completed == TranscriptInputEvent(item_id="item_u1", text="What's the weather in Paris?")


def test_output_audio_transcript_delta_and_done() -> None:
    delta = decode(
        '{"type":"response.output_audio_transcript.delta","event_id":"e","response_id":"resp_2","item_id":"item_a2",'
        '"output_index":0,"content_index":0,"delta":"It\'s 18"}'
    )
    assert delta == TranscriptOutputDeltaEvent(response_id="resp_2", item_id="item_a2", delta="It's 18")
    done = decode(
        '{"type":"response.output_audio_transcript.done","event_id":"e","response_id":"resp_2","item_id":"item_a2",'
        '"output_index":0,"content_index":0,"transcript":"It\'s 18 degrees and cloudy in Paris."}'
    )
    assert done == TranscriptOutputEvent(response_id="resp_2", item_id="item_a2", text="It's 18 degrees and cloudy in Paris.")


# -- responses -------------------------------------------------------------------------------


def test_response_created() -> None:
    event = decode(
        '{"type":"response.created","event_id":"event_008","response":{"object":"realtime.response","id":"resp_1",'
        '"status":"in_progress","status_details":null,"output":[],"conversation_id":"conv_1","output_modalities":["audio"],'
        '"max_output_tokens":"inf","audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},'
        '"usage":null,"metadata":null}}'
    )
    assert event == ResponseCreatedEvent(response_id="resp_1")


RESPONSE_DONE_18 = (
    '{"type":"response.done","event_id":"event_016","response":{"object":"realtime.response","id":"resp_1",'
    '"status":"completed","status_details":null,"output":[{"id":"item_f1","object":"realtime.item","type":"function_call",'
    '"status":"completed","name":"get_weather","call_id":"call_1","arguments":"{\\"city\\":\\"Paris\\"}"}],'
    '"conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf","usage":{"total_tokens":431,'
    '"input_tokens":412,"output_tokens":19,"input_token_details":{"text_tokens":162,"audio_tokens":250,"image_tokens":0,'
    '"cached_tokens":0},"output_token_details":{"text_tokens":19,"audio_tokens":0}},"metadata":null}}'
)


def test_response_done_completed_with_usage() -> None:
    assert decode(RESPONSE_DONE_18) == ResponseDoneEvent(
        response_id="resp_1",
        status=ResponseStatus.COMPLETED,
        usage=RealtimeUsage(input_tokens=412, output_tokens=19, total_tokens=431),
    )


@pytest.mark.parametrize(
    ("status", "details", "expected"),
    [
        ("cancelled", {"type": "cancelled", "reason": "turn_detected"}, ResponseStatus.CANCELLED),
        ("cancelled", {"type": "cancelled", "reason": "client_cancelled"}, ResponseStatus.CANCELLED),
        (
            "failed",
            {"type": "failed", "error": {"type": "server_error", "code": "internal_error"}},
            ResponseStatus.FAILED,
        ),
        # incomplete (token limit, content filter) is not a success.
        ("incomplete", {"type": "incomplete", "reason": "max_output_tokens"}, ResponseStatus.FAILED),
        ("incomplete", {"type": "incomplete", "reason": "content_filter"}, ResponseStatus.FAILED),
    ],
)
def test_response_done_status(status: str, details: Dict[str, Any], expected: ResponseStatus) -> None:
    message = wire(RESPONSE_DONE_18)
    message["response"].update(status=status, status_details=details, usage=None)
    event = decode(json.dumps(message))
    assert event == ResponseDoneEvent(response_id="resp_1", status=expected, usage=None)


# -- output audio and text -------------------------------------------------------------------


def test_output_audio_delta_and_done() -> None:
    delta = decode(
        '{"type":"response.output_audio.delta","event_id":"event_024","response_id":"resp_2","item_id":"item_a2",'
        '"output_index":0,"content_index":0,"delta":"//8AAAEA/v8CAP3/"}'
    )
    assert delta == AudioOutputDeltaEvent(response_id="resp_2", item_id="item_a2", audio="//8AAAEA/v8CAP3/")
    done = decode(
        '{"type":"response.output_audio.done","event_id":"e","response_id":"resp_2","item_id":"item_a2",'
        '"output_index":0,"content_index":0}'
    )
    assert done == AudioOutputDoneEvent(response_id="resp_2", item_id="item_a2")


@pytest.mark.parametrize("prefix", ["response.output_text", "response.text"])
def test_output_text_delta_and_done(prefix: str) -> None:
    # GA names, and the retired beta names that OpenAI-compatible servers still send.
    delta = decode(
        f'{{"type":"{prefix}.delta","event_id":"e","response_id":"resp_3","item_id":"item_t1",'
        '"output_index":0,"content_index":0,"delta":"hel"}'
    )
    assert delta == TextOutputDeltaEvent(response_id="resp_3", item_id="item_t1", delta="hel")
    done = decode(
        f'{{"type":"{prefix}.done","event_id":"e","response_id":"resp_3","item_id":"item_t1",'
        '"output_index":0,"content_index":0,"text":"hello"}'
    )
    assert done == TextOutputEvent(response_id="resp_3", item_id="item_t1", text="hello")


# -- tool calls ------------------------------------------------------------------------------


def test_output_item_added_function_call_is_tool_start() -> None:
    event = decode(
        '{"type":"response.output_item.added","event_id":"event_010","response_id":"resp_1","output_index":0,'
        '"item":{"id":"item_f1","object":"realtime.item","type":"function_call","status":"in_progress",'
        '"name":"get_weather","call_id":"call_1","arguments":""}}'
    )
    assert event == ToolStartEvent(response_id="resp_1", call_id="call_1", tool_id="get_weather")


def test_output_item_added_message_is_unknown() -> None:
    line = (
        '{"type":"response.output_item.added","event_id":"e","response_id":"resp_2","output_index":0,'
        f'"item":{ASSISTANT_IN_PROGRESS_ITEM}}}'
    )
    assert decode(line) == UnknownEvent(type="response.output_item.added", data=json.loads(line))


def test_function_call_arguments_delta_and_done() -> None:
    delta = decode(
        '{"type":"response.function_call_arguments.delta","event_id":"e","response_id":"resp_1","item_id":"item_f1",'
        '"output_index":0,"call_id":"call_1","delta":"{\\"ci"}'
    )
    assert delta == ToolDeltaEvent(call_id="call_1", delta='{"ci')
    done = decode(
        '{"type":"response.function_call_arguments.done","event_id":"event_013","response_id":"resp_1",'
        '"item_id":"item_f1","output_index":0,"call_id":"call_1","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}'
    )
    assert done == ToolCallEvent(call_id="call_1", tool_id="get_weather", arguments='{"city":"Paris"}')
    assert json.loads(done.arguments) == {"city": "Paris"}


# -- wire types without a protocol equivalent ------------------------------------------------

UNMAPPED = [
    '{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"requests","limit":1000,"remaining":999,'
    '"reset_seconds":60},{"name":"tokens","limit":50000,"remaining":49000,"reset_seconds":1.2}]}',
    f'{{"type":"response.output_item.done","event_id":"e","response_id":"resp_1","output_index":0,"item":{FUNCTION_CALL_ITEM}}}',
    f'{{"type":"conversation.item.done","event_id":"e","previous_item_id":null,"item":{USER_AUDIO_ITEM}}}',
    '{"type":"response.content_part.added","event_id":"e","response_id":"resp_2","item_id":"item_a2","output_index":0,'
    '"content_index":0,"part":{"type":"audio","transcript":""}}',
    '{"type":"response.content_part.done","event_id":"e","response_id":"resp_2","item_id":"item_a2","output_index":0,'
    '"content_index":0,"part":{"type":"audio","transcript":"It\'s 18 degrees and cloudy in Paris."}}',
    '{"type":"conversation.created","event_id":"e","conversation":{"id":"conv_1","object":"realtime.conversation"}}',
    '{"type":"conversation.item.retrieved","event_id":"e","item":' + USER_TEXT_ITEM + "}",
    '{"type":"input_audio_buffer.timeout_triggered","event_id":"e","audio_start_ms":0,"audio_end_ms":5000,"item_id":"item_u3"}',
    '{"type":"conversation.item.input_audio_transcription.failed","event_id":"e","item_id":"item_u1","content_index":0,'
    '"error":{"type":"transcription_error","code":"audio_unintelligible","message":"x","param":null}}',
    '{"type":"conversation.item.input_audio_transcription.segment","event_id":"e","id":"seg_1","item_id":"item_u1",'
    '"content_index":0,"text":"hi","speaker":"A","start":0.0,"end":0.4}',
    '{"type":"output_audio_buffer.started","event_id":"e","response_id":"resp_2"}',
    '{"type":"response.mcp_call.completed","event_id":"e","item_id":"item_m","output_index":0}',
    '{"type":"some.future.event","event_id":"e","payload":{"a":[1,2]}}',
]


@pytest.mark.parametrize("line", UNMAPPED, ids=lambda line: json.loads(line)["type"])
def test_unmapped_wire_types_become_unknown_events_with_the_raw_json(line: str) -> None:
    message = json.loads(line)
    event = decode(line)
    assert event == UnknownEvent(type=message["type"], data=message)


def test_message_without_type_is_unknown() -> None:
    event = decode('{"event_id":"e"}')
    assert isinstance(event, UnknownEvent)
    assert event.data == {"event_id": "e"}


def test_sample_transcript_decodes_in_order() -> None:
    # The server lines of §1.8, one codec (one connection) for all of them.
    lines = [
        SESSION_CREATED_13,
        SESSION_UPDATED_18,
        '{"type":"input_audio_buffer.speech_started","event_id":"event_003","audio_start_ms":140,"item_id":"item_u1"}',
        '{"type":"input_audio_buffer.speech_stopped","event_id":"event_004","audio_end_ms":1860,"item_id":"item_u1"}',
        '{"type":"input_audio_buffer.committed","event_id":"event_005","previous_item_id":null,"item_id":"item_u1"}',
        '{"type":"response.created","event_id":"event_008","response":{"object":"realtime.response","id":"resp_1",'
        '"status":"in_progress","status_details":null,"output":[],"usage":null,"metadata":null}}',
        '{"type":"response.output_item.added","event_id":"event_010","response_id":"resp_1","output_index":0,"item":'
        '{"id":"item_f1","object":"realtime.item","type":"function_call","status":"in_progress","name":"get_weather",'
        '"call_id":"call_1","arguments":""}}',
        '{"type":"response.function_call_arguments.done","event_id":"event_013","response_id":"resp_1","item_id":'
        '"item_f1","output_index":0,"call_id":"call_1","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}',
        RESPONSE_DONE_18,
    ]
    codec = OpenAICodec()
    kinds = [decode(line, codec).kind for line in lines]
    assert kinds == [
        "session.created",
        "session.updated",
        "speech.started",
        "speech.stopped",
        "audio.input.committed",
        "response.created",
        "tool.start",
        "tool.call",
        "response.done",
    ]


# ============================================================================ encoding


# -- session.update --------------------------------------------------------------------------


def test_session_update_encodes_the_complete_documented_ga_session() -> None:
    # Everything in §1.4's sample that our config models, plus the two knobs it does not
    # (noise_reduction, max_output_tokens) through provider_options["openai"].
    config = RealtimeSessionConfig(
        instructions="Be brief.",
        modalities=["audio"],
        audio=PCM24,
        input_transcription=InputTranscriptionConfig(model="gpt-4o-mini-transcribe", language="en"),
        turn_detection=SERVER_VAD_500,
        voice=VoiceConfig("marin", speed=1.0),
        tools=[WEATHER_TOOL],
        tool_choice=ToolChoice("auto"),
        provider_options={
            "openai": {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}, "max_output_tokens": "inf"},
            "xai": {"ignored": True},
        },
    )
    assert encode(SessionUpdateEvent(config=config)) == wire(SESSION_UPDATE_14)


def test_session_update_of_the_sample_transcript() -> None:
    config = RealtimeSessionConfig(instructions="Be brief.", voice=VoiceConfig("marin"), tools=[WEATHER_TOOL])
    assert encode(SessionUpdateEvent(config=config)) == wire(
        '{"type":"session.update","session":{"type":"realtime","instructions":"Be brief.","audio":{"output":'
        '{"voice":"marin"}},"tools":[{"type":"function","name":"get_weather","description":"Current weather for a city",'
        '"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":"auto"}}'
    )


def test_session_update_with_an_empty_config_is_just_the_type() -> None:
    assert encode(SessionUpdateEvent(config=RealtimeSessionConfig())) == {
        "type": "session.update",
        "session": {"type": "realtime"},
    }


def test_manual_turn_detection_is_an_explicit_null() -> None:
    message = encode(SessionUpdateEvent(config=RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode="manual"))))
    assert message == {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}
    assert '"turn_detection": null' in json.dumps(message)


def test_server_vad_sends_only_the_knobs_that_are_set() -> None:
    detection = TurnDetectionConfig(mode="server_vad", silence_duration_ms=700)
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(turn_detection=detection)))["session"]
    assert session["audio"] == {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}}


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(["audio"], ["audio"]), (["text"], ["text"]), (["text", "audio"], ["audio"])],
)
def test_modalities_become_ga_output_modalities(modalities: List[str], expected: List[str]) -> None:
    # GA takes exactly one; "audio" includes its transcript.
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(modalities=modalities)))["session"]
    assert session == {"type": "realtime", "output_modalities": expected}
    assert "modalities" not in session


def test_empty_modalities_are_rejected() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAICodec().encode(SessionUpdateEvent(config=RealtimeSessionConfig(modalities=[])))
    assert info.value.field == "modalities"


@pytest.mark.parametrize(
    ("audio_format", "expected"),
    [
        (AudioFormat.pcm16(), {"type": "audio/pcm", "rate": 24000}),
        (AudioFormat("audio/pcm"), {"type": "audio/pcm", "rate": 24000}),
        (AudioFormat.pcmu(), {"type": "audio/pcmu"}),
        (AudioFormat.pcma(), {"type": "audio/pcma"}),
        (AudioFormat("audio/pcmu", sample_rate=8000), {"type": "audio/pcmu"}),
    ],
)
def test_audio_formats(audio_format: AudioFormat, expected: Dict[str, Any]) -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(input_format=audio_format, output_format=audio_format))
    session = encode(SessionUpdateEvent(config=config))["session"]
    assert session["audio"] == {"input": {"format": expected}, "output": {"format": expected}}


@pytest.mark.parametrize("side", ["input", "output"])
@pytest.mark.parametrize(
    ("audio_format", "field", "words"),
    [
        (AudioFormat.pcm16(16000), "", "16000"),
        (AudioFormat("audio/opus"), "", "audio/opus"),
        (AudioFormat("audio/pcmu", sample_rate=16000), "", "8000"),
        (AudioFormat("audio/pcm", sample_rate=24000, channels=2), ".channels", "mono"),
        (AudioFormat("audio/pcm", sample_rate=24000, bit_depth=24), ".bit_depth", "16-bit"),
    ],
)
def test_invalid_audio_formats_are_configuration_errors_naming_the_field(
    side: str, audio_format: AudioFormat, field: str, words: str
) -> None:
    audio = AudioConfig(**{f"{side}_format": audio_format})
    with pytest.raises(ConfigurationError) as info:
        OpenAICodec().encode(SessionUpdateEvent(config=RealtimeSessionConfig(audio=audio)))
    assert info.value.field == f"audio.{side}_format{field}"
    assert words in str(info.value)
    assert f"audio.{side}_format" in str(info.value)


def test_voice_speed_and_custom_voice() -> None:
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(voice=VoiceConfig("cedar", speed=1.25))))["session"]
    assert session["audio"] == {"output": {"voice": "cedar", "speed": 1.25}}
    custom = encode(SessionUpdateEvent(config=RealtimeSessionConfig(voice=VoiceConfig("voice_1234"))))["session"]
    assert custom["audio"] == {"output": {"voice": {"id": "voice_1234"}}}


@pytest.mark.parametrize("speed", [0.2, 1.6, 4.0])
def test_voice_speed_outside_the_ga_range_is_rejected(speed: float) -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAICodec().encode(SessionUpdateEvent(config=RealtimeSessionConfig(voice=VoiceConfig("marin", speed=speed))))
    assert info.value.field == "voice.speed"


def test_input_transcription_with_prompt() -> None:
    transcription = InputTranscriptionConfig(model="whisper-1", prompt="kernl, realtime")
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(input_transcription=transcription)))["session"]
    assert session["audio"] == {"input": {"transcription": {"model": "whisper-1", "prompt": "kernl, realtime"}}}


def test_tools_and_tool_choice() -> None:
    hosted = ProviderDefinedToolSpec(id="openai.web_search", name="web_search")
    bare = FunctionToolSpec(name="now")
    session = encode(
        SessionUpdateEvent(config=RealtimeSessionConfig(tools=[WEATHER_TOOL, hosted, bare], tool_choice=ToolChoice("required")))
    )["session"]
    assert session["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"type": "function", "name": "now", "parameters": {"type": "object", "properties": {}}},
    ]
    assert session["tool_choice"] == "required"


def test_empty_tools_clear_tools_without_tool_choice() -> None:
    # "[] clears tools" (§1.4); a tool_choice of "auto" with no tools would be meaningless.
    session = encode(SessionUpdateEvent(config=RealtimeSessionConfig(tools=[])))["session"]
    assert session == {"type": "realtime", "tools": []}
    none_choice = encode(SessionUpdateEvent(config=RealtimeSessionConfig(tool_choice=ToolChoice("none"))))["session"]
    assert none_choice == {"type": "realtime", "tool_choice": "none"}


def test_provider_options_override_and_merge() -> None:
    config = RealtimeSessionConfig(
        instructions="x",
        voice=VoiceConfig("marin"),
        turn_detection=TurnDetectionConfig(mode="server_vad", threshold=0.4),
        provider_options={
            "openai": {
                "instructions": "override",
                "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
                "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}},
            }
        },
    )
    session = encode(SessionUpdateEvent(config=config))["session"]
    assert session == {
        "type": "realtime",
        "instructions": "override",
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
        "audio": {
            "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low", "threshold": 0.4}},
            "output": {"voice": "marin"},
        },
    }


def test_encoding_leaves_the_config_untouched() -> None:
    options = {"openai": {"audio": {"input": {"noise_reduction": {"type": "far_field"}}}}}
    config = RealtimeSessionConfig(voice=VoiceConfig("marin"), provider_options=options)
    OpenAICodec().encode(SessionUpdateEvent(config=config))
    assert options == {"openai": {"audio": {"input": {"noise_reduction": {"type": "far_field"}}}}}


def test_a_decoded_session_encodes_back_to_the_same_ga_fields() -> None:
    # Round trip through the documented §1.8 session.updated: every modelled field survives.
    config = decode(SESSION_UPDATED_18).session.config
    session = encode(SessionUpdateEvent(config=config))["session"]
    original = wire(SESSION_UPDATED_18)["session"]
    for key in ("instructions", "output_modalities", "tools", "tool_choice"):
        assert session[key] == original[key]
    assert session["audio"]["output"] == original["audio"]["output"]
    assert session["audio"]["input"]["format"] == original["audio"]["input"]["format"]
    assert session["audio"]["input"]["turn_detection"] == original["audio"]["input"]["turn_detection"]


# -- audio buffer ----------------------------------------------------------------------------


def test_audio_buffer_events() -> None:
    assert encode(AudioInputAppendEvent(audio="AAAAAP7/AgD9/wMA")) == wire(
        '{"type":"input_audio_buffer.append","audio":"AAAAAP7/AgD9/wMA"}'
    )
    assert encode(AudioInputCommitEvent()) == wire('{"type":"input_audio_buffer.commit"}')
    assert encode(AudioInputClearEvent()) == wire('{"type":"input_audio_buffer.clear"}')


# -- item.create -----------------------------------------------------------------------------


def test_item_create_user_text_message() -> None:
    message = encode(ItemCreateEvent(item=Message.user("What's the weather in Paris?")))
    assert message == wire(
        '{"type":"conversation.item.create","item":{"type":"message","role":"user","content":'
        '[{"type":"input_text","text":"What\'s the weather in Paris?"}]}}'
    )


def test_item_create_assistant_and_system_messages() -> None:
    assistant = encode(ItemCreateEvent(item=Message.assistant("Sure.")))
    assert assistant["item"] == {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure."}]}
    system = encode(ItemCreateEvent(item=Message.system("Be brief.")))
    assert system["item"] == {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]}


def test_item_create_with_previous_item_id() -> None:
    message = encode(ItemCreateEvent(item=Message.user("hi"), previous_item_id="root"))
    assert message["previous_item_id"] == "root"
    assert "previous_item_id" not in encode(ItemCreateEvent(item=Message.user("hi")))


def test_item_create_audio_and_data_parts() -> None:
    pcm = b"\x00\x00\x01\x00\xff\xff"
    item = Message(
        role="user",
        content=[
            FilePart("audio/pcm", data=base64.b64encode(pcm).decode()),
            FilePart("audio/pcm", data=pcm),
            DataPart({"city": "Paris"}),
        ],
    )
    content = encode(ItemCreateEvent(item=item))["item"]["content"]
    assert content == [
        {"type": "input_audio", "audio": "AAABAP//"},
        {"type": "input_audio", "audio": "AAABAP//"},
        {"type": "input_text", "text": '{"city":"Paris"}'},
    ]


def test_item_create_rejects_parts_and_items_the_wire_cannot_carry() -> None:
    with pytest.raises(UnsupportedEventError) as info:
        OpenAICodec().encode(ItemCreateEvent(item=Message(role="user", content=[FilePart("image/png", uri="https://x/y.png")])))
    assert info.value.field == "item.content"
    with pytest.raises(UnsupportedEventError) as info:
        OpenAICodec().encode(ItemCreateEvent(item=Reasoning(text="thinking")))
    assert info.value.field == "item"


def test_item_create_tool_call() -> None:
    call = ToolCall(call_id="call_1", tool_id="get_weather", arguments='{"city":"Paris"}', id="item_f1")
    assert encode(ItemCreateEvent(item=call)) == {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
    }


@pytest.mark.parametrize(
    ("result", "error", "output"),
    [
        ({"temp_c": 18, "sky": "cloudy"}, None, '{"temp_c":18,"sky":"cloudy"}'),
        ([1, "two", None], None, '[1,"two",null]'),
        (18, None, "18"),
        (True, None, "true"),
        ("already text", None, "already text"),
        (None, None, ""),
        ({"temp_c": 18}, "weather service down", "weather service down"),
    ],
)
def test_item_create_tool_result(result: Any, error: Any, output: str) -> None:
    item = ToolResult(call_id="call_Xy12", tool_id="get_weather", result=result, error=error)
    assert encode(ItemCreateEvent(item=item)) == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_Xy12", "output": output},
    }


# -- item.delete / item.truncate --------------------------------------------------------------


def test_item_delete() -> None:
    assert encode(ItemDeleteEvent(item_id="item_a2")) == wire('{"type":"conversation.item.delete","item_id":"item_a2"}')


def test_item_truncate_uses_content_index_zero() -> None:
    assert encode(ItemTruncateEvent(item_id="item_C9m2", audio_end_ms=1530)) == wire(
        '{"type":"conversation.item.truncate","item_id":"item_C9m2","content_index":0,"audio_end_ms":1530}'
    )


# -- responses -------------------------------------------------------------------------------


def test_response_create_without_config() -> None:
    assert encode(ResponseCreateEvent()) == wire('{"type":"response.create"}')


def test_response_create_with_config_uses_ga_names() -> None:
    config = RealtimeResponseConfig(instructions="Answer in French.", modalities=["text"], tools=[WEATHER_TOOL])
    message = encode(ResponseCreateEvent(config=config))
    assert message == {
        "type": "response.create",
        "response": {
            "instructions": "Answer in French.",
            "output_modalities": ["text"],
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                }
            ],
        },
    }
    assert "modalities" not in message["response"]


def test_response_create_with_empty_modalities_is_rejected() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAICodec().encode(ResponseCreateEvent(config=RealtimeResponseConfig(modalities=[])))
    assert info.value.field == "config.modalities"


def test_response_cancel_with_and_without_id() -> None:
    assert encode(ResponseCancelEvent(response_id="resp_C9r1")) == wire(
        '{"type":"response.cancel","response_id":"resp_C9r1"}'
    )
    assert encode(ResponseCancelEvent()) == wire('{"type":"response.cancel"}')


# -- tool.result -----------------------------------------------------------------------------


def test_tool_result_event_matches_the_documented_tool_output() -> None:
    event = ToolResultEvent(call_id="call_Xy12", result='{"temp_c":18,"sky":"cloudy"}')
    assert encode(event) == wire(
        '{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_Xy12",'
        '"output":"{\\"temp_c\\":18,\\"sky\\":\\"cloudy\\"}"}}'
    )


@pytest.mark.parametrize(
    ("result", "error", "output"),
    [
        ({"temp_c": 18, "sky": "cloudy"}, None, '{"temp_c":18,"sky":"cloudy"}'),
        (None, None, ""),
        ("sunny", "Unknown tool: get_weather", "Unknown tool: get_weather"),
    ],
)
def test_tool_result_event_encodes_non_strings_as_json_and_error_wins(result: Any, error: Any, output: str) -> None:
    message = encode(ToolResultEvent(call_id="call_1", result=result, error=error))
    assert message["item"] == {"type": "function_call_output", "call_id": "call_1", "output": output}


# -- events without a wire form --------------------------------------------------------------


@pytest.mark.parametrize("event", [ActivityStartEvent(), ActivityEndEvent()], ids=lambda e: e.kind)
def test_activity_events_are_unsupported(event: Any) -> None:
    with pytest.raises(UnsupportedEventError) as info:
        OpenAICodec().encode(event)
    assert event.kind in str(info.value)
    assert "openai" in str(info.value)
