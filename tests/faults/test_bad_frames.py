"""Class 4: one bad frame never kills the reader or loses the next event.

A real local server sends frames whose fields have the wrong type (a ``delta`` of
``null`` or ``123``, audio that is not base64, a missing ``response``), JSON nested
100,000 deep, and frames that only the DEBUG logger and the barge-in bookkeeping look
at. Each bad frame must become one ``ProtocolError`` naming the wire type and the field,
and every event after it, including the ``done`` event that follows a bad delta, must
arrive intact.
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any, Dict, List

import pytest

from kernl_realtime import KernlRealtimeError, ProtocolError, RealtimeConnectOptions, ServerError
from kernl_realtime.providers import openai, xai
from servers import ScriptedServer, text_delta, wire

AUDIO = base64.b64encode(b"\x00\x01" * 480).decode("ascii")


def _bad_frames() -> List[Any]:
    """(wire message, wire type, field path) for frames a decoder must refuse."""
    r = {"response_id": "resp_1", "item_id": "item_1"}
    cases = [
        (wire("response.output_text.delta", **r, delta=None), "delta"),
        (wire("response.output_text.delta", **r, delta=123), "delta"),
        (wire("response.output_text.delta", response_id=["x"], item_id="item_1", delta="a"), "response_id"),
        (wire("response.output_audio_transcript.delta", **r, delta={"text": "hi"}), "delta"),
        (wire("response.output_audio.delta", **r, delta="this is not base64!"), "delta"),
        (wire("response.output_audio.delta", **r, delta="QUJD="), "delta"),  # bad padding
        (wire("response.output_audio.delta", **r, delta=None), "delta"),
        (wire("response.output_audio.done", response_id="resp_1", item_id=7), "item_id"),
        (wire("response.output_text.done", **r, text=5), "text"),
        (wire("response.done"), "response"),
        (wire("response.done", response=None), "response"),
        (wire("response.done", response=["resp_1"]), "response"),
        (wire("response.done", response={"id": 9, "status": "completed"}), "response.id"),
        (wire("response.created", response={}), "response.id"),
        (wire("response.created", response="resp_1"), "response"),
        (wire("input_audio_buffer.speech_started", audio_start_ms="soon", item_id="item_1"), "audio_start_ms"),
        (wire("input_audio_buffer.speech_stopped", audio_end_ms=1.5, item_id="item_1"), "audio_end_ms"),
        (wire("input_audio_buffer.committed", item_id=False), "item_id"),
        (wire("conversation.item.added", item="hello"), "item"),
        (wire("conversation.item.added", item={"type": "message", "role": "robot", "content": []}), "item.role"),
        (wire("conversation.item.added", item={"type": "message", "role": "user", "content": "hi"}), "item.content"),
        (wire("conversation.item.added", item={"type": "function_call", "call_id": 7, "name": "f"}), "item.call_id"),
        (wire("conversation.item.added", item={"type": "message", "role": "user", "id": 3}), "item.id"),
        (wire("conversation.item.deleted", item_id=None), "item_id"),
        (wire("conversation.item.truncated", item_id="item_1", audio_end_ms="1s"), "audio_end_ms"),
        (wire("conversation.item.input_audio_transcription.delta", item_id="item_1", delta=[]), "delta"),
        (wire("conversation.item.input_audio_transcription.completed", item_id="item_1", transcript=1), "transcript"),
        (wire("response.function_call_arguments.delta", call_id="c", delta=None), "delta"),
        (wire("response.function_call_arguments.done", call_id="c", name=None, arguments="{}"), "name"),
        (wire("response.output_item.added", response_id="r", item={"type": "function_call", "name": 1}), "name"),
        (wire("session.updated", session=[1, 2]), "session"),
        (wire("error", error={"message": {"nested": True}}), "error.message"),
        (wire("error", error="boom"), "error"),
    ]
    return [pytest.param(message, message["type"], path, id=f"{message['type']}:{path}") for message, path in cases]


def _connect(server: ScriptedServer, **options: Any) -> Any:
    model = openai.realtime("gpt-realtime", api_key="sk-test-bad-frames", base_url=server.base_url)
    return model.connect(RealtimeConnectOptions(**options), timeout=5)


def _next_event(conn: Any) -> Any:
    return conn.recv(timeout=5)


@pytest.mark.parametrize("message,wire_type,path", _bad_frames())
def test_a_bad_field_is_a_protocol_error_naming_type_and_field_and_the_next_event_arrives(
    message: Dict[str, Any], wire_type: str, path: str
) -> None:
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            peer.send(message)
            peer.send(text_delta(1))
            with pytest.raises(ProtocolError) as caught:
                _next_event(conn)
            error = caught.value
            assert wire_type in str(error) and repr(path) in str(error), str(error)
            assert error.wire_type == wire_type and error.field == path
            assert "event skipped" in str(error)
            assert _next_event(conn).delta == "1"
        finally:
            conn.close(timeout=2)


@pytest.mark.parametrize("bad_delta", [None, 123, ["a"], {"a": 1}])
@pytest.mark.parametrize("stream", ["response.output_text", "response.output_audio_transcript"])
def test_the_done_event_after_a_bad_delta_arrives_with_the_good_text(stream: str, bad_delta: Any) -> None:
    r = {"response_id": "resp_1", "item_id": "item_1"}
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            peer.send(wire(f"{stream}.delta", **r, delta="a"))
            peer.send(wire(f"{stream}.delta", **r, delta=bad_delta))
            peer.send(wire(f"{stream}.delta", **r, delta="b"))
            peer.send(wire(f"{stream}.done", **r))  # no full text: the deltas are the text
            peer.send(wire("response.done", response={"id": "resp_1", "status": "completed"}))
            assert _next_event(conn).delta == "a"
            with pytest.raises(ProtocolError, match="delta"):
                _next_event(conn)
            assert _next_event(conn).delta == "b"
            done = _next_event(conn)
            assert done.kind.endswith("output") and getattr(done, "text") == "ab", done
            assert _next_event(conn).kind == "response.done"
        finally:
            conn.close(timeout=2)


def test_bad_frames_reach_error_callbacks_in_order_and_later_events_reach_event_callbacks() -> None:
    delivered: List[str] = []
    done = threading.Event()

    def on_event(event: Any) -> None:
        delivered.append(getattr(event, "delta", event.kind))
        if getattr(event, "delta", None) == "3":
            done.set()

    with ScriptedServer() as srv:
        conn = _connect(srv, pull=False)
        try:
            conn.on("event", on_event)
            conn.on("error", lambda exc: delivered.append(f"error:{type(exc).__name__}"))
            peer = srv.accept()
            peer.send(text_delta(1))
            peer.send(wire("response.output_text.delta", response_id="r", item_id="i", delta=None))
            peer.send(text_delta(2))
            peer.send(wire("response.output_audio.delta", response_id="r", item_id="i", delta="%%%"))
            peer.send(text_delta(3))
            assert done.wait(5), delivered
            assert delivered[-5:] == ["1", "error:ProtocolError", "2", "error:ProtocolError", "3"]
        finally:
            conn.close(timeout=2)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="arrays"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, id="objects"),
        pytest.param('{"type":"x","data":' + "[" * 100_000 + "]" * 100_000 + "}", id="inside-an-event"),
    ],
)
def test_json_nested_100000_deep_is_a_protocol_error_not_a_dead_reader(frame: str) -> None:
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            peer.send(frame)
            peer.send(text_delta(1))
            with pytest.raises(ProtocolError, match="nested too deeply"):
                _next_event(conn)
            assert _next_event(conn).delta == "1"
        finally:
            conn.close(timeout=2)


def test_debug_logging_of_odd_frames_runs_inside_the_guard(caplog: Any) -> None:
    """Logging a deep (but parseable) frame at DEBUG must neither crash nor recurse without bound."""
    nested: Any = "leaf"
    for _ in range(300):
        nested = {"k": [nested]}
    odd = [
        wire("x.deep", data=nested),
        {"type": 12, 3: "not a str key"},  # json keys are always strings; a number type is odd
        wire("x.audio.delta", delta=None, audio=7, token=["s"]),
        {"no_type": True},
    ]
    caplog.set_level(logging.DEBUG, logger="kernl_realtime")
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            for message in odd:
                peer.send(message)
            peer.send(text_delta(1))
            kinds = [_next_event(conn) for _ in range(len(odd) + 1)]
            assert [event.kind for event in kinds[:-1]] == ["unknown"] * len(odd)
            assert kinds[-1].delta == "1"
        finally:
            conn.close(timeout=2)
    assert any("nested deeper than" in record.getMessage() for record in caplog.records)


def test_barge_in_bookkeeping_ignores_a_bad_audio_delta_and_still_truncates() -> None:
    """The playback estimate counts only audio that decoded; speech still truncates the item."""
    two_seconds = base64.b64encode(b"\x00\x00" * 48_000).decode("ascii")
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            peer.send(wire("response.created", response={"id": "resp_1"}))
            peer.send(wire("response.output_audio.delta", response_id="resp_1", item_id="item_a", delta=two_seconds))
            peer.send(wire("response.output_audio.delta", response_id="resp_1", item_id="item_b", delta=12345))
            assert _next_event(conn).kind == "response.created"
            assert _next_event(conn).kind == "audio.output.delta"
            with pytest.raises(ProtocolError, match="'delta'"):
                _next_event(conn)
            # Some of item_a must have "played" (by the arrival-time estimate) to be truncated.
            threading.Event().wait(0.1)
            peer.send(wire("input_audio_buffer.speech_started", audio_start_ms=10, item_id="item_u"))
            # Read at once (a consumer waiting in recv() reads it), while item_a still plays.
            assert _next_event(conn).kind == "speech.started"
            truncate = peer.recv_until("conversation.item.truncate")
            assert truncate["item_id"] == "item_a" and 0 < truncate["audio_end_ms"] < 2000
        finally:
            conn.close(timeout=2)


def test_a_server_error_with_odd_fields_is_still_delivered() -> None:
    """Numbers where text is expected are read as text; unknown keys land in details."""
    with ScriptedServer() as srv:
        conn = _connect(srv)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            peer.send(wire("error", error={"message": "bad", "code": 400, "extra": [1]}))
            with pytest.raises(ServerError) as caught:
                _next_event(conn)
            assert caught.value.code == "400" and caught.value.details == {"extra": [1]}
        finally:
            conn.close(timeout=2)


def test_xai_cumulative_transcript_with_a_bad_field_is_skipped_and_the_next_one_decodes() -> None:
    greeting = [wire("conversation.created", conversation={"id": "conv_1"})]
    with ScriptedServer(greeting=greeting) as srv:
        model = xai.realtime("grok-voice", api_key="xai-test-bad-frames", base_url=srv.base_url)
        conn = model.connect(timeout=5)
        try:
            peer = srv.accept()
            assert _next_event(conn).kind == "session.created"
            update = "conversation.item.input_audio_transcription.updated"
            peer.send(wire(update, item_id="item_1", transcript="hel"))
            peer.send(wire(update, item_id="item_1", transcript=5))
            peer.send(wire(update, item_id=None, transcript="hello"))
            peer.send(wire(update, item_id="item_1", transcript="hello"))
            assert _next_event(conn).delta == "hel"
            for path in ("transcript", "item_id"):
                with pytest.raises(KernlRealtimeError) as caught:
                    _next_event(conn)
                assert isinstance(caught.value, ProtocolError) and caught.value.field == path
            assert _next_event(conn).delta == "lo"
        finally:
            conn.close(timeout=2)
