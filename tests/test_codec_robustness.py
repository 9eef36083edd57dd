"""Every decoder of the OpenAI-style codecs against every wrong-typed field.

For a valid sample of each wire type a decoder handles, each field (nested ones too) is
replaced by values of the wrong JSON type and removed. The decoder must either return
events whose fields all have their declared types, or raise a ``ProtocolError`` that
names the wire type; any other exception would be a reader-killing bug.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from kernl_realtime import ProtocolError
from kernl_realtime.protocol import event_from_dict, event_to_dict
from kernl_realtime.providers.openai import OpenAICodec
from kernl_realtime.providers.xai import XAICodec

AUDIO = base64.b64encode(b"\x01\x02" * 8).decode("ascii")
R = {"response_id": "resp_1", "item_id": "item_1"}
SAMPLES: Dict[str, Dict[str, Any]] = {
    "error": {"error": {"message": "m", "code": "c", "type": "t", "event_id": "e", "param": "p", "x": 1}},
    "session.created": {"session": {"id": "sess_1", "instructions": "hi", "audio": {"output": {"voice": "alloy"}}}},
    "conversation.created": {"conversation": {"id": "conv_1"}},
    "session.updated": {"session": {"id": "sess_1", "output_modalities": ["text"]}},
    "input_audio_buffer.committed": {"item_id": "item_1"},
    "input_audio_buffer.cleared": {},
    "input_audio_buffer.speech_started": {"audio_start_ms": 5, "item_id": "item_1"},
    "input_audio_buffer.speech_stopped": {"audio_end_ms": 9, "item_id": "item_1"},
    "conversation.item.added": {
        "item": {"id": "item_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
    },
    "conversation.item.created": {
        "item": {"id": "item_2", "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        "previous_item_id": "item_1",
    },
    "conversation.item.deleted": {"item_id": "item_1"},
    "conversation.item.truncated": {"item_id": "item_1", "audio_end_ms": 100},
    "conversation.item.input_audio_transcription.delta": {"item_id": "item_1", "delta": "he"},
    "conversation.item.input_audio_transcription.completed": {"item_id": "item_1", "transcript": "hello"},
    "conversation.item.input_audio_transcription.updated": {"item_id": "item_1", "transcript": "hel"},
    "response.created": {"response": {"id": "resp_1"}},
    "response.done": {"response": {"id": "resp_1", "status": "completed", "usage": {"input_tokens": 3}}},
    "response.output_audio.delta": {**R, "delta": AUDIO},
    "response.output_audio.done": dict(R),
    "response.output_audio_transcript.delta": {**R, "delta": "a"},
    "response.output_audio_transcript.done": {**R, "transcript": "a"},
    "response.output_text.delta": {**R, "delta": "a"},
    "response.output_text.done": {**R, "text": "a"},
    "response.text.delta": {**R, "delta": "a"},
    "response.text.done": {**R, "text": "a"},
    "response.output_item.added": {"response_id": "r", "item": {"type": "function_call", "call_id": "c", "name": "f"}},
    "response.function_call_arguments.delta": {"call_id": "c", "delta": "{"},
    "response.function_call_arguments.done": {"call_id": "c", "name": "f", "arguments": "{}"},
}
WRONG = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": 1}]


def _paths(value: Any, prefix: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _mutations(message: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    for path in list(_paths(message)):
        if path == ("type",):
            continue
        for wrong in WRONG + ["__delete__"]:
            mutated = copy.deepcopy(message)
            holder: Any = mutated
            for key in path[:-1]:
                holder = holder[key]
            if wrong == "__delete__":
                if isinstance(holder, dict):
                    del holder[path[-1]]
                else:
                    continue
            else:
                holder[path[-1]] = copy.deepcopy(wrong)
            yield mutated


def _cases() -> List[Any]:
    cases = []
    for codec_class in (OpenAICodec, XAICodec):
        for wire_type in codec_class().decoders:
            assert wire_type in SAMPLES, f"add a sample of {wire_type!r} to this test"
            cases.append(pytest.param(codec_class, wire_type, id=f"{codec_class.provider}:{wire_type}"))
    return cases


@pytest.mark.parametrize("codec_class,wire_type", _cases())
def test_every_wrong_typed_field_decodes_to_well_typed_events_or_a_protocol_error(
    codec_class: Any, wire_type: str
) -> None:
    sample = {"type": wire_type, "event_id": "event_1", **SAMPLES[wire_type]}
    assert codec_class().decode(copy.deepcopy(sample)), "the sample itself must decode"
    outcomes = {"events": 0, "errors": 0}
    for mutated in _mutations(sample):
        codec = codec_class()
        try:
            events = codec.decode(mutated)
        except ProtocolError as error:
            assert error.wire_type == wire_type and wire_type in str(error), str(error)
            outcomes["errors"] += 1
            # The codec state is untouched: the valid sample still decodes afterwards.
            assert codec.decode(copy.deepcopy(sample))
            continue
        outcomes["events"] += 1
        for event in events:
            # The JSON form re-validates every field against its declared type.
            assert event_from_dict(event_to_dict(event)) == event, (mutated, event)
    assert outcomes["events"] + outcomes["errors"] > 0


def test_the_done_event_after_a_rejected_delta_holds_only_the_good_deltas() -> None:
    codec = OpenAICodec()
    codec.decode({"type": "response.output_text.delta", **R, "delta": "a"})
    with pytest.raises(ProtocolError):
        codec.decode({"type": "response.output_text.delta", **R, "delta": 5})
    codec.decode({"type": "response.output_text.delta", **R, "delta": "b"})
    (done,) = codec.decode({"type": "response.output_text.done", **R})
    assert done.text == "ab"
