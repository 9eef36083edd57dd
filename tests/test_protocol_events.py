"""Realtime protocol events: kinds, field layout, and the JSON form."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, get_args

import pytest

from kernl_realtime.exceptions import ConfigurationError, ProtocolError, ServerError
from kernl_realtime.protocol import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    ActivityEndEvent,
    ActivityStartEvent,
    AudioFormat,
    AudioInputAppendEvent,
    AudioInputClearedEvent,
    AudioInputClearEvent,
    AudioInputCommitEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    AudioConfig,
    ClientEvent,
    FunctionToolSpec,
    ItemCreatedEvent,
    ItemCreateEvent,
    ItemDeletedEvent,
    ItemDeleteEvent,
    ItemTruncatedEvent,
    ItemTruncateEvent,
    Message,
    RealtimeClientEvent,
    RealtimeResponseConfig,
    RealtimeServerEvent,
    RealtimeSessionConfig,
    RealtimeUsage,
    ResponseCancelEvent,
    ResponseCreatedEvent,
    ResponseCreateEvent,
    ResponseDoneEvent,
    ResponseInterruptedEvent,
    ResponseStatus,
    ServerEvent,
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
    ToolCancelledEvent,
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
    event_from_dict,
    event_to_dict,
)

# Spec §2.6 and §2.7, copied by hand: class name -> kind.
EXPECTED_CLIENT_KINDS = {
    "SessionUpdateEvent": "session.update",
    "ItemCreateEvent": "item.create",
    "ItemDeleteEvent": "item.delete",
    "ItemTruncateEvent": "item.truncate",
    "AudioInputAppendEvent": "audio.input.append",
    "AudioInputCommitEvent": "audio.input.commit",
    "AudioInputClearEvent": "audio.input.clear",
    "ActivityStartEvent": "activity.start",
    "ActivityEndEvent": "activity.end",
    "ResponseCreateEvent": "response.create",
    "ResponseCancelEvent": "response.cancel",
    "ToolResultEvent": "tool.result",
}
EXPECTED_SERVER_KINDS = {
    "SessionCreatedEvent": "session.created",
    "SessionUpdatedEvent": "session.updated",
    "SessionErrorEvent": "session.error",
    "ItemCreatedEvent": "item.created",
    "ItemDeletedEvent": "item.deleted",
    "ItemTruncatedEvent": "item.truncated",
    "AudioInputCommittedEvent": "audio.input.committed",
    "AudioInputClearedEvent": "audio.input.cleared",
    "SpeechStartedEvent": "speech.started",
    "SpeechStoppedEvent": "speech.stopped",
    "AudioOutputDeltaEvent": "audio.output.delta",
    "AudioOutputDoneEvent": "audio.output.done",
    "TextOutputDeltaEvent": "text.output.delta",
    "TextOutputEvent": "text.output",
    "TranscriptInputDeltaEvent": "transcript.input.delta",
    "TranscriptInputEvent": "transcript.input",
    "TranscriptOutputDeltaEvent": "transcript.output.delta",
    "TranscriptOutputEvent": "transcript.output",
    "ResponseCreatedEvent": "response.created",
    "ResponseInterruptedEvent": "response.interrupted",
    "ResponseDoneEvent": "response.done",
    "ToolStartEvent": "tool.start",
    "ToolDeltaEvent": "tool.delta",
    "ToolCallEvent": "tool.call",
    "ToolCancelledEvent": "tool.cancelled",
}

SESSION = SessionInfo(
    "sess_1",
    RealtimeSessionConfig(
        instructions="Be brief.",
        voice=VoiceConfig("alloy"),
        turn_detection=TurnDetectionConfig("server_vad", threshold=0.5),
        audio=AudioConfig(AudioFormat.pcm16(), AudioFormat.pcm16()),
        tools=[FunctionToolSpec("get_weather", description="Weather")],
    ),
)

# One or more examples per kind; test_every_registered_kind_has_an_example keeps it complete.
EXAMPLES = [
    SessionUpdateEvent(SESSION.config),
    ItemCreateEvent(Message.user("hello"), previous_item_id="item_0"),
    ItemCreateEvent(ToolResult("call_1", "f", result=[1, {"a": None}])),
    ItemDeleteEvent("item_1"),
    ItemTruncateEvent("item_1", 1500),
    AudioInputAppendEvent("AAAA"),
    AudioInputCommitEvent(),
    AudioInputClearEvent(id="evt_1"),
    ActivityStartEvent(),
    ActivityEndEvent(),
    ResponseCreateEvent(),
    ResponseCreateEvent(RealtimeResponseConfig(instructions="Now.", modalities=["text"])),
    ResponseCancelEvent(),
    ResponseCancelEvent("resp_1"),
    ToolResultEvent("call_1", result="42"),
    ToolResultEvent("call_1", error="boom", provider_metadata={"openai": {"x": 1}}),
    SessionCreatedEvent(SESSION),
    SessionUpdatedEvent(SessionInfo("sess_1", RealtimeSessionConfig())),
    SessionErrorEvent(ServerError("No active response", code="response_cancel_not_active")),
    SessionErrorEvent(
        ServerError("bad", code="invalid", type="invalid_request_error", event_id="e1", param="p", details={"k": 1})
    ),
    ItemCreatedEvent(Message("assistant", [TextPart("hi")], id="msg_1"), previous_item_id="item_0"),
    ItemCreatedEvent(ToolCall("call_1", "get_weather", '{"city":"Paris"}')),
    ItemDeletedEvent("item_1"),
    ItemTruncatedEvent("item_1", 640),
    AudioInputCommittedEvent("item_2"),
    AudioInputClearedEvent(),
    SpeechStartedEvent(1200, "item_3"),
    SpeechStoppedEvent(2400, "item_3"),
    AudioOutputDeltaEvent("resp_1", "item_4", "UklGRg=="),
    AudioOutputDoneEvent("resp_1", "item_4"),
    TextOutputDeltaEvent("resp_1", "item_4", "Hel"),
    TextOutputEvent("resp_1", "item_4", "Hello"),
    TranscriptInputDeltaEvent("item_3", "wha"),
    TranscriptInputEvent("item_3", "what time is it"),
    TranscriptOutputDeltaEvent("resp_1", "item_4", "It is"),
    TranscriptOutputEvent("resp_1", "item_4", "It is noon."),
    ResponseCreatedEvent("resp_1"),
    ResponseInterruptedEvent("resp_1"),
    ResponseDoneEvent("resp_1", ResponseStatus.COMPLETED, RealtimeUsage(10, 20, 30)),
    ResponseDoneEvent("resp_2", ResponseStatus.FAILED),
    ToolStartEvent("resp_1", "call_1", "get_weather"),
    ToolDeltaEvent("call_1", '{"ci'),
    ToolCallEvent("call_1", "get_weather", '{"city":"Paris"}'),
    ToolCancelledEvent("call_1"),
    UnknownEvent("rate_limits.updated", {"type": "rate_limits.updated", "rate_limits": []}),
]

ALL_EVENT_TYPES: Dict[str, type] = {**CLIENT_EVENT_TYPES, **SERVER_EVENT_TYPES}


# --------------------------------------------------------------------------- kinds


def test_client_event_kinds_match_spec() -> None:
    assert {cls.__name__: kind for kind, cls in CLIENT_EVENT_TYPES.items()} == EXPECTED_CLIENT_KINDS


def test_server_event_kinds_match_spec_plus_unknown() -> None:
    expected = {**EXPECTED_SERVER_KINDS, "UnknownEvent": "unknown"}
    assert {cls.__name__: kind for kind, cls in SERVER_EVENT_TYPES.items()} == expected


def test_registries_match_the_union_aliases_and_do_not_overlap() -> None:
    assert set(get_args(RealtimeClientEvent)) == set(CLIENT_EVENT_TYPES.values())
    assert set(get_args(RealtimeServerEvent)) == set(SERVER_EVENT_TYPES.values())
    assert not set(CLIENT_EVENT_TYPES) & set(SERVER_EVENT_TYPES)
    assert all(issubclass(cls, ClientEvent) for cls in CLIENT_EVENT_TYPES.values())
    assert all(issubclass(cls, ServerEvent) for cls in SERVER_EVENT_TYPES.values())


@pytest.mark.parametrize("kind, cls", sorted(ALL_EVENT_TYPES.items()))
def test_event_classes_share_the_base_layout(kind: str, cls: type) -> None:
    assert cls.kind == kind
    fields = dataclasses.fields(cls)
    assert [field.name for field in fields[-2:]] == ["id", "provider_metadata"]
    assert all(field.default is None for field in fields[-2:])
    assert "kind" not in {field.name for field in fields}
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_events_are_frozen_and_validated_on_construction_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match=r"SpeechStartedEvent\.audio_start_ms must be int, got str") as caught:
        SpeechStartedEvent(audio_start_ms="not an int", item_id="item_1")  # type: ignore[arg-type]
    assert caught.value.field == "audio_start_ms"
    event = SpeechStartedEvent(audio_start_ms=5, item_id="item_1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.item_id = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- JSON round trip


def test_every_registered_kind_has_an_example() -> None:
    missing = set(ALL_EVENT_TYPES) - {event.kind for event in EXAMPLES}
    assert not missing, f"add examples to EXAMPLES for: {sorted(missing)}"


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.kind)
def test_json_round_trip(event: Any) -> None:
    wire = json.loads(json.dumps(event_to_dict(event)))
    assert wire["kind"] == event.kind
    decoded = event_from_dict(wire)
    assert type(decoded) is type(event)
    assert decoded == event


def test_event_json_uses_camel_case_and_omits_none() -> None:
    assert event_to_dict(ItemTruncateEvent("item_1", 1500)) == {
        "kind": "item.truncate",
        "itemId": "item_1",
        "audioEndMs": 1500,
    }
    assert event_to_dict(ResponseCreateEvent()) == {"kind": "response.create"}
    assert event_to_dict(AudioInputCommitEvent(id="evt_1", provider_metadata={"xai": {}})) == {
        "kind": "audio.input.commit",
        "id": "evt_1",
        "providerMetadata": {"xai": {}},
    }


def test_nested_items_and_errors_are_encoded_by_their_own_form() -> None:
    created = event_to_dict(ItemCreateEvent(Message("user", [TextPart("hi")], id="msg_1")))
    assert created == {
        "kind": "item.create",
        "item": {"kind": "message", "role": "user", "content": [{"kind": "text", "text": "hi"}], "id": "msg_1"},
    }
    error = event_to_dict(SessionErrorEvent(ServerError("boom", code="server_error")))
    assert error == {"kind": "session.error", "error": {"message": "boom", "code": "server_error"}}


def test_decoding_restores_enums_and_nested_types() -> None:
    done = event_from_dict({"kind": "response.done", "responseId": "r", "status": "cancelled"})
    assert isinstance(done, ResponseDoneEvent)
    assert done.status is ResponseStatus.CANCELLED
    error = event_from_dict({"kind": "session.error", "error": {"code": "c", "message": "m"}})
    assert isinstance(error, SessionErrorEvent)
    assert isinstance(error.error, ServerError)
    assert (error.error.code, error.error.message) == ("c", "m")


def test_decoding_ignores_unknown_keys_and_null() -> None:
    decoded = event_from_dict({"kind": "item.deleted", "itemId": "i", "id": None, "extra": [1]})
    assert decoded == ItemDeletedEvent("i")


# --------------------------------------------------------------------------- decode errors


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"kind": "item.warped"}, "'item.warped'"),
        ({"itemId": "i"}, "None"),
        ({"kind": "speech.started", "audioStartMs": 1}, "item_id"),
        ({"kind": "speech.started", "audioStartMs": "1", "itemId": "i"}, "audio_start_ms"),
        ({"kind": "speech.started", "audioStartMs": True, "itemId": "i"}, "audio_start_ms"),
        ({"kind": "response.done", "responseId": "r", "status": "paused"}, "'paused'"),
        ({"kind": "item.created", "item": {"kind": "audio"}}, "item.kind"),
        ({"kind": "item.created", "item": {"kind": "message", "role": "user", "content": [{"kind": "text"}]}}, "item.content[0].text"),
        ({"kind": "item.create", "item": {"kind": "message", "role": "robot", "content": []}}, "item.role"),
        ({"kind": "session.created", "session": {"id": "s"}}, "session.config"),
        ({"kind": "session.updated", "session": {"id": "s", "config": {"turnDetection": {"mode": "server_vad", "threshold": 2}}}}, "session.config.turn_detection.threshold"),
        ({"kind": "session.error", "error": {"code": "c"}}, "error.message"),
        ({"kind": "response.create", "config": "fast"}, "config"),
    ],
)
def test_event_from_dict_errors_name_the_problem(data: Dict[str, Any], fragment: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        event_from_dict(data)
    assert fragment in str(caught.value)


def test_event_from_dict_rejects_non_objects() -> None:
    with pytest.raises(ProtocolError, match="JSON object"):
        event_from_dict([])  # type: ignore[arg-type]


def test_event_to_dict_rejects_non_events() -> None:
    with pytest.raises(ConfigurationError):
        event_to_dict(Message.user("hi"))  # type: ignore[arg-type]
