"""Events built with the wrong types fail at construction, naming the field and the fix."""

from __future__ import annotations

import base64
from typing import Any, Callable

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    AudioOutputDeltaEvent,
    ConfigurationError,
    ItemCreateEvent,
    ItemTruncateEvent,
    Message,
    ResponseCancelEvent,
    TextOutputDeltaEvent,
    ToolResultEvent,
)
from kernl_realtime.providers import openai
from servers import ScriptedServer


@pytest.mark.parametrize(
    "build,field,words",
    [
        (lambda: ItemCreateEvent(item="hello"), "item", "Message.user('hello')"),
        (lambda: ItemCreateEvent(item={"role": "user"}), "item", "ItemCreateEvent.item must be"),
        (lambda: ItemCreateEvent(item=Message.user("hi"), previous_item_id=3), "previous_item_id", "must be str"),
        (lambda: AudioInputAppendEvent(audio="not base64!"), "audio", "base64"),
        (lambda: AudioInputAppendEvent(audio=None), "audio", "AudioInputAppendEvent.audio"),
        (lambda: AudioInputAppendEvent(audio=[1, 2]), "audio", "AudioInputAppendEvent.audio"),
        (lambda: ItemTruncateEvent(item_id="i", audio_end_ms="100"), "audio_end_ms", "must be int"),
        (lambda: ItemTruncateEvent(item_id="i", audio_end_ms=True), "audio_end_ms", "must be int"),
        (lambda: ResponseCancelEvent(response_id=5), "response_id", "must be str"),
        (lambda: ToolResultEvent(call_id=None), "call_id", "ToolResultEvent.call_id"),
        (lambda: TextOutputDeltaEvent(response_id="r", item_id="i", delta=None), "delta", "must be str"),
        (lambda: AudioOutputDeltaEvent(response_id="r", item_id="i", audio="%%%%"), "audio", "base64"),
    ],
)
def test_wrong_types_fail_at_construction_naming_the_field(build: Callable[[], Any], field: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert caught.value.field == field
    assert words in str(caught.value)
    assert "kernl_realtime" not in str(caught.value)  # names the user's class, not our internals


@pytest.mark.parametrize("raw", [b"\x00\x01\x02\xff", bytearray(b"\x10\x20"), memoryview(b"abc")])
def test_audio_accepts_bytes_and_encodes_them(raw: Any) -> None:
    expected = base64.b64encode(bytes(raw)).decode("ascii")
    assert AudioInputAppendEvent(audio=raw).audio == expected
    assert AudioOutputDeltaEvent(response_id="r", item_id="i", audio=raw).audio == expected
    assert AudioInputAppendEvent(audio=raw) == AudioInputAppendEvent(audio=expected)


def test_bytes_audio_goes_on_the_wire_as_base64() -> None:
    with ScriptedServer() as srv:
        conn = openai.realtime("gpt-realtime", api_key="sk-test", base_url=srv.base_url).connect(timeout=5)
        try:
            peer = srv.accept()
            conn.send(AudioInputAppendEvent(audio=b"\x01\x02\x03"))
            assert peer.recv_json() == {"type": "input_audio_buffer.append", "audio": "AQID"}
        finally:
            conn.close(timeout=2)


def test_sending_a_message_says_to_wrap_it_in_item_create_event() -> None:
    with ScriptedServer() as srv:
        conn = openai.realtime("gpt-realtime", api_key="sk-test", base_url=srv.base_url).connect(timeout=5)
        try:
            with pytest.raises(ConfigurationError, match=r"ItemCreateEvent\(item=") as caught:
                conn.send(Message.user("hi"))
            assert "Message" in str(caught.value)
            with pytest.raises(ConfigurationError, match="the server sends"):
                conn.send(TextOutputDeltaEvent(response_id="r", item_id="i", delta="x"))
            with pytest.raises(ConfigurationError, match="client event"):
                conn.send({"type": "response.create"})
            conn.send(ItemCreateEvent(item=Message.user("hi")))  # the fix works
            srv.accept().recv_until("conversation.item.create")
        finally:
            conn.close(timeout=2)
