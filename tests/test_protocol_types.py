"""Configs, items, tools and options of kernl_realtime.protocol: validation and JSON form."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List

import pytest

import kernl_realtime.protocol as protocol
from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol import (
    AudioConfig,
    AudioFormat,
    ClientCredential,
    DataPart,
    FilePart,
    FunctionToolSpec,
    InputTranscriptionConfig,
    Message,
    ProviderDefinedToolSpec,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    RealtimeUsage,
    Reasoning,
    ResponseStatus,
    SessionInfo,
    SessionResumeConfig,
    TextPart,
    ToolCall,
    ToolCallState,
    ToolChoice,
    ToolResult,
    TransportStatus,
    TurnDetectionConfig,
    VoiceConfig,
)
from kernl_realtime.protocol._json import JsonConvertible

FULL_SESSION_CONFIG = RealtimeSessionConfig(
    instructions="Be brief.",
    tools=[
        FunctionToolSpec(
            "get_weather",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            description="Current weather",
            provider_options={"openai": {"strict": True}},
        ),
        ProviderDefinedToolSpec(id="xai.web_search", name="web_search", args={"max_results": 3}),
    ],
    tool_choice=ToolChoice("required"),
    modalities=["audio", "text"],
    voice=VoiceConfig("alloy", speed=1.25),
    audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcmu()),
    turn_detection=TurnDetectionConfig(
        mode="server_vad",
        threshold=0.5,
        silence_duration_ms=500,
        prefix_padding_ms=300,
        create_response=True,
        interrupt_response=False,
    ),
    input_transcription=InputTranscriptionConfig("gpt-4o-mini-transcribe", language="en", prompt="names"),
    provider_options={"openai": {"max_output_tokens": "inf"}},
)

# One example per JSON-convertible protocol type; test_every_json_type_has_an_example keeps it complete.
JSON_EXAMPLES: List[Any] = [
    FULL_SESSION_CONFIG,
    RealtimeSessionConfig(),
    RealtimeResponseConfig(instructions="Shorter.", tools=[FunctionToolSpec("f")], modalities=["text"]),
    ToolChoice("auto"),
    VoiceConfig("Ara"),
    AudioFormat("audio/pcm", sample_rate=16000, bit_depth=16, channels=2),
    AudioConfig(output_format=AudioFormat.pcma()),
    TurnDetectionConfig(mode="manual"),
    InputTranscriptionConfig("whisper-1"),
    SessionResumeConfig("resume-123"),
    RealtimeUsage(input_tokens=10, output_tokens=20, total_tokens=30),
    SessionInfo("sess_1", FULL_SESSION_CONFIG),
    TextPart("hello", metadata={"lang": "en"}, provider_metadata={"openai": {"x": 1}}),
    FilePart("audio/wav", data="UklGRg==", filename="a.wav"),
    FilePart("image/png", uri="https://example.com/a.png"),
    DataPart({"answer": 42, "nested": {"list": [1, 2]}}),
    Message(
        role="assistant",
        content=[TextPart("hi"), DataPart({"a": 1}), FilePart("audio/pcm", data="AAAA")],
        metadata={"source": "test"},
    ),
    Reasoning("thinking", id="rs_1"),
    ToolCall("call_1", "get_weather", '{"city":"Paris"}', state=ToolCallState.IN_PROGRESS, id="fc_1"),
    ToolResult("call_1", "get_weather", result={"temp": 21}, state=ToolCallState.COMPLETED),
    ToolResult("call_2", "", error="Unknown tool: x", state="failed"),
    FunctionToolSpec("noop"),
    ProviderDefinedToolSpec(id="openai.file_search", name="file_search"),
]


def _json_convertible_exports() -> List[type]:
    exported = (getattr(protocol, name) for name in protocol.__all__)
    return [obj for obj in exported if isinstance(obj, type) and issubclass(obj, JsonConvertible)]


# --------------------------------------------------------------------------- enums and kinds


def test_status_enums_have_exactly_the_protocol_strings() -> None:
    assert [s.value for s in TransportStatus] == [
        "disconnected",
        "connecting",
        "connected",
        "reconnecting",
        "closed",
    ]
    assert [s.value for s in ResponseStatus] == ["completed", "interrupted", "cancelled", "failed"]
    assert [s.value for s in ToolCallState] == [
        "in_progress",
        "completed",
        "failed",
        "interruptible",
        "uninterruptible",
    ]


def test_status_enums_compare_and_print_as_their_strings() -> None:
    assert ResponseStatus.COMPLETED == "completed"
    assert TransportStatus("connected") is TransportStatus.CONNECTED
    assert str(TransportStatus.CLOSED) == "closed"
    assert f"{ToolCallState.FAILED}" == "failed"


def test_item_part_and_tool_kinds_match_upstream() -> None:
    expected = {
        TextPart: "text",
        FilePart: "file",
        DataPart: "data",
        Message: "message",
        Reasoning: "reasoning",
        ToolCall: "tool.call",
        ToolResult: "tool.result",
        FunctionToolSpec: "function",
        ProviderDefinedToolSpec: "provider-defined",
    }
    assert {cls: cls.kind for cls in expected} == expected
    assert Reasoning("x").kind == "reasoning"  # readable from instances too
    assert "kind" not in {field.name for field in dataclasses.fields(Message)}


# --------------------------------------------------------------------------- items


@pytest.mark.parametrize(
    "factory, role",
    [(Message.user, "user"), (Message.assistant, "assistant"), (Message.system, "system")],
)
def test_message_helpers_build_one_text_part(factory: Callable[[str], Message], role: str) -> None:
    message = factory("hello")
    assert message.role == role
    assert message.content == [TextPart("hello")]
    assert re.fullmatch(r"msg_[0-9a-f]{24}", message.id)


def test_message_ids_are_fresh_per_message() -> None:
    assert len({Message.user("x").id for _ in range(50)}) == 50


def test_tool_call_state_defaults_to_completed_and_accepts_strings() -> None:
    assert ToolCall("c", "t", "{}").state is ToolCallState.COMPLETED
    assert ToolResult("c", "t", state="interruptible").state is ToolCallState.INTERRUPTIBLE


def test_file_part_bytes_are_encoded_as_base64() -> None:
    part = FilePart("audio/wav", data=b"\x00\x01\xff")
    assert part.to_dict() == {"kind": "file", "mimeType": "audio/wav", "data": base64.b64encode(b"\x00\x01\xff").decode()}


def test_function_tool_defaults_to_an_empty_object_schema() -> None:
    first, second = FunctionToolSpec("a"), FunctionToolSpec("b")
    assert first.parameters == {"type": "object", "properties": {}}
    assert first.parameters is not second.parameters


# --------------------------------------------------------------------------- JSON form


def test_every_json_type_has_an_example() -> None:
    missing = set(_json_convertible_exports()) - {type(example) for example in JSON_EXAMPLES}
    assert not missing, f"add examples to JSON_EXAMPLES for: {sorted(cls.__name__ for cls in missing)}"


@pytest.mark.parametrize("example", JSON_EXAMPLES, ids=lambda example: type(example).__name__)
def test_json_round_trip(example: Any) -> None:
    wire = json.loads(json.dumps(example.to_dict()))
    assert type(example).from_dict(wire) == example


def test_session_config_json_uses_kernl_camel_case_shape() -> None:
    config = RealtimeSessionConfig(
        tool_choice=ToolChoice("auto"),
        voice=VoiceConfig("alloy"),
        audio=AudioConfig(input_format=AudioFormat.pcm16()),
        turn_detection=TurnDetectionConfig("server_vad", silence_duration_ms=200, create_response=False),
        tools=[FunctionToolSpec("f", description="d")],
    )
    assert config.to_dict() == {
        "toolChoice": {"kind": "auto"},
        "voice": {"voiceId": "alloy"},
        "audio": {"inputFormat": {"mimeType": "audio/pcm", "sampleRate": 24000, "bitDepth": 16, "channels": 1}},
        "turnDetection": {"mode": "server_vad", "silenceDurationMs": 200, "createResponse": False},
        "tools": [
            {"kind": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "description": "d"}
        ],
    }


def test_free_form_dict_keys_are_not_recased() -> None:
    tool = FunctionToolSpec("f", {"type": "object", "additional_properties": False}, provider_options={"open_ai": {"a_b": 1}})
    encoded = tool.to_dict()
    assert encoded["parameters"] == {"type": "object", "additional_properties": False}
    assert encoded["providerOptions"] == {"open_ai": {"a_b": 1}}


def test_item_json_has_kind_first_and_omits_none() -> None:
    encoded = ToolCall("call_1", "f", "{}").to_dict()
    assert list(encoded) == ["kind", "callId", "toolId", "arguments", "state"]
    assert encoded == {"kind": "tool.call", "callId": "call_1", "toolId": "f", "arguments": "{}", "state": "completed"}


def test_from_dict_ignores_unknown_keys_and_treats_null_as_absent() -> None:
    decoded = VoiceConfig.from_dict({"voiceId": "alloy", "speed": None, "futureField": 1})
    assert decoded == VoiceConfig("alloy")


def test_from_dict_rejects_a_mismatched_kind() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Message.from_dict({"kind": "reasoning", "role": "user", "content": []})
    assert caught.value.field == "kind"


@pytest.mark.parametrize(
    "data, field, message",
    [
        (
            {"turnDetection": {"mode": "server_vad", "silenceDurationMs": -5}},
            "turn_detection.silence_duration_ms",
            "session.turn_detection.silence_duration_ms must be >= 0, got -5",
        ),
        ({"tools": [{"kind": "function", "name": "a"}, {"kind": "function"}]}, "tools[1].name", "'name'"),
        ({"tools": [{"kind": "hosted", "name": "a"}]}, "tools[0].kind", "'hosted'"),
        ({"voice": {"voice_id": "alloy"}}, "voice.voice_id", "'voiceId'"),
        ({"modalities": ["text", "video"]}, "modalities[1]", "'video'"),
        ({"audio": {"inputFormat": {"mimeType": "audio/pcm", "sampleRate": "24000"}}}, "audio.input_format.sample_rate", "int"),
        ({"instructions": 42}, "instructions", "str"),
        ({"providerOptions": {"openai": 3}}, "provider_options.openai", "dict"),
    ],
)
def test_from_dict_names_the_nested_field(data: Dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RealtimeSessionConfig.from_dict(data)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_from_dict_rejects_non_objects() -> None:
    with pytest.raises(ConfigurationError, match="JSON object"):
        RealtimeSessionConfig.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validation


def test_validation_message_and_field_name_the_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        TurnDetectionConfig(mode="server_vad", silence_duration_ms=-5)
    assert str(caught.value) == "turn_detection.silence_duration_ms must be >= 0, got -5"
    assert caught.value.field == "silence_duration_ms"
    assert isinstance(caught.value, ValueError)


INVALID_CONSTRUCTIONS = [
    ("unknown modality", lambda: RealtimeSessionConfig(modalities=["text", "video"]), "modalities[1]"),
    ("negative silence", lambda: TurnDetectionConfig("server_vad", silence_duration_ms=-1), "silence_duration_ms"),
    ("negative padding", lambda: TurnDetectionConfig("server_vad", prefix_padding_ms=-1), "prefix_padding_ms"),
    ("threshold above 1", lambda: TurnDetectionConfig("server_vad", threshold=1.5), "threshold"),
    ("threshold below 0", lambda: TurnDetectionConfig("server_vad", threshold=-0.1), "threshold"),
    ("threshold NaN", lambda: TurnDetectionConfig("server_vad", threshold=float("nan")), "threshold"),
    ("unknown vad mode", lambda: TurnDetectionConfig("semantic_vad"), "mode"),  # type: ignore[arg-type]
    ("bool field as str", lambda: TurnDetectionConfig("manual", create_response="yes"), "create_response"),  # type: ignore[arg-type]
    ("voice id int", lambda: VoiceConfig(voice_id=3), "voice_id"),  # type: ignore[arg-type]
    ("voice id empty", lambda: VoiceConfig(voice_id=""), "voice_id"),
    ("speed zero", lambda: VoiceConfig("alloy", speed=0), "speed"),
    ("speed bool", lambda: VoiceConfig("alloy", speed=True), "speed"),
    ("mime empty", lambda: AudioFormat(""), "mime_type"),
    ("sample rate zero", lambda: AudioFormat("audio/pcm", sample_rate=0), "sample_rate"),
    ("sample rate float", lambda: AudioFormat("audio/pcm", sample_rate=24000.0), "sample_rate"),  # type: ignore[arg-type]
    ("bit depth bool", lambda: AudioFormat("audio/pcm", bit_depth=True), "bit_depth"),
    ("channels negative", lambda: AudioFormat("audio/pcm", channels=-1), "channels"),
    ("format as str", lambda: AudioConfig(input_format="audio/pcm"), "input_format"),  # type: ignore[arg-type]
    ("tool choice", lambda: ToolChoice("sometimes"), "kind"),  # type: ignore[arg-type]
    ("transcription model", lambda: InputTranscriptionConfig(""), "model"),
    ("resume handle", lambda: SessionResumeConfig(""), "handle"),
    ("usage negative", lambda: RealtimeUsage(input_tokens=-1), "input_tokens"),
    ("session id empty", lambda: SessionInfo("", RealtimeSessionConfig()), "id"),
    ("nested dict", lambda: RealtimeSessionConfig(voice={"voice_id": "alloy"}), "voice"),  # type: ignore[arg-type]
    ("tool as dict", lambda: RealtimeSessionConfig(tools=[{"name": "f"}]), "tools[0]"),  # type: ignore[list-item]
    ("tools not a list", lambda: RealtimeResponseConfig(tools=FunctionToolSpec("f")), "tools"),  # type: ignore[arg-type]
    ("provider options", lambda: RealtimeSessionConfig(provider_options={"openai": 1}), "provider_options.openai"),  # type: ignore[dict-item]
    ("message role", lambda: Message(role="bot", content=[]), "role"),  # type: ignore[arg-type]
    ("message content", lambda: Message(role="user", content="hi"), "content"),  # type: ignore[arg-type]
    ("message part", lambda: Message(role="user", content=[Reasoning("x")]), "content[0]"),  # type: ignore[list-item]
    ("file both", lambda: FilePart("a/b", data="AA==", uri="https://x"), "uri"),
    ("file neither", lambda: FilePart("a/b"), "data"),
    ("data part", lambda: DataPart(data=[1, 2]), "data"),  # type: ignore[arg-type]
    ("call id empty", lambda: ToolCall("", "f", "{}"), "call_id"),
    ("call arguments", lambda: ToolCall("c", "f", {"a": 1}), "arguments"),  # type: ignore[arg-type]
    ("call state", lambda: ToolCall("c", "f", "{}", state="done"), "state"),  # type: ignore[arg-type]
    ("tool name", lambda: FunctionToolSpec(""), "name"),
    ("tool parameters", lambda: FunctionToolSpec("f", parameters="{}"), "parameters"),  # type: ignore[arg-type]
    ("provider tool id", lambda: ProviderDefinedToolSpec(id="", name="x"), "id"),
    ("abort not event", lambda: RealtimeConnectOptions(abort=True), "abort"),  # type: ignore[arg-type]
    ("credential as str", lambda: RealtimeConnectOptions(credential="ek_1"), "credential"),  # type: ignore[arg-type]
    ("session config dict", lambda: RealtimeConnectOptions(session_config={}), "session_config"),  # type: ignore[arg-type]
    ("expires_in zero", lambda: RealtimeAuthenticateOptions(expires_in=0), "expires_in"),
    ("agent id empty", lambda: RealtimeAuthenticateOptions(agent_id=""), "agent_id"),
]


@pytest.mark.parametrize(
    "build, field",
    [pytest.param(build, field, id=case) for case, build, field in INVALID_CONSTRUCTIONS],
)
def test_invalid_values_raise_configuration_error_naming_the_field(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert caught.value.field == field
    assert field in str(caught.value)


def test_ints_are_accepted_where_floats_are_expected() -> None:
    assert TurnDetectionConfig("server_vad", threshold=1).threshold == 1
    assert VoiceConfig("alloy", speed=2).speed == 2


def test_tuples_are_accepted_and_stored_as_lists() -> None:
    config = RealtimeSessionConfig(modalities=("audio",), tools=(FunctionToolSpec("f"),))
    assert config.modalities == ["audio"]
    assert config.tools == [FunctionToolSpec("f")]
    assert config == RealtimeSessionConfig(modalities=["audio"], tools=[FunctionToolSpec("f")])


def test_validated_objects_do_not_alias_the_callers_list() -> None:
    modalities = ["audio"]
    config = RealtimeSessionConfig(modalities=modalities)
    modalities.append("video")
    assert config.modalities == ["audio"]


def test_configs_are_frozen_and_replace_revalidates() -> None:
    voice = VoiceConfig("alloy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        voice.voice_id = "echo"  # type: ignore[misc]
    with pytest.raises(ConfigurationError):
        dataclasses.replace(voice, speed=-1.0)


def test_audio_format_helpers() -> None:
    assert AudioFormat.pcm16() == AudioFormat("audio/pcm", sample_rate=24000, bit_depth=16, channels=1)
    assert AudioFormat.pcm16(16000).sample_rate == 16000
    assert AudioFormat.pcmu() == AudioFormat("audio/pcmu")
    assert AudioFormat.pcma() == AudioFormat("audio/pcma")


# --------------------------------------------------------------------------- options


def test_connect_options_hold_validated_values() -> None:
    abort = threading.Event()
    credential = ClientCredential.from_token("ek_1", datetime.now(timezone.utc) + timedelta(minutes=1))
    options = RealtimeConnectOptions(
        session_config=RealtimeSessionConfig(instructions="x"),
        credential=credential,
        resume=SessionResumeConfig("h"),
        abort=abort,
        provider_options={"openai": {"beta": True}},
    )
    assert options.abort is abort
    assert options.credential is credential
    assert RealtimeConnectOptions() == RealtimeConnectOptions()


def test_authenticate_options_defaults() -> None:
    options = RealtimeAuthenticateOptions()
    assert (options.agent_id, options.session_config, options.expires_in) == (None, None, None)
    assert RealtimeAuthenticateOptions(agent_id="agent_1", expires_in=60).expires_in == 60


def test_one_range_validator_for_fields_and_arguments() -> None:
    from kernl_realtime import KeepAlive, ReconnectPolicy
    from kernl_realtime.protocol._validation import PositiveFloat, check_value

    assert check_value("timeout", PositiveFloat, 2) == 2
    for bad, detail in ((0, "must be > 0, got 0"), (True, "must be float, got bool"), ("5", "must be float, got str")):
        with pytest.raises(ConfigurationError) as info:
            check_value("timeout", PositiveFloat, bad)
        assert str(info.value) == f"timeout {detail}" and info.value.field == "timeout"
    # KeepAlive and ReconnectPolicy use the same rules, labelled by their options field.
    with pytest.raises(ConfigurationError, match=r"^keepalive\.interval must be > 0, got -1$"):
        KeepAlive(interval=-1)
    with pytest.raises(ConfigurationError, match=r"^reconnect\.jitter must be <= 1, got 2$"):
        ReconnectPolicy(jitter=2)
