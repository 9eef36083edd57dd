"""checked_event (the decoders' per-event path) builds exactly what the validating constructor builds."""

from __future__ import annotations

import base64

import pytest

from kernl_realtime.exceptions import ProtocolError
from kernl_realtime.protocol import (
    AudioOutputDeltaEvent,
    TextOutputDeltaEvent,
    TranscriptOutputDeltaEvent,
)
from kernl_realtime.protocol._event_base import checked_event
from kernl_realtime.providers._wire import BASE64, field

AUDIO = base64.b64encode(b"\x01\x02" * 480).decode("ascii")


@pytest.mark.parametrize(
    "cls,values",
    [
        (AudioOutputDeltaEvent, {"response_id": "r1", "item_id": "i1", "audio": AUDIO}),
        (TranscriptOutputDeltaEvent, {"response_id": "r1", "item_id": "i1", "delta": "hi"}),
        (TextOutputDeltaEvent, {"response_id": "r1", "item_id": "i1", "delta": "hé"}),
    ],
)
def test_checked_event_equals_the_constructed_one(cls: type, values: dict) -> None:
    built, checked = cls(**values), checked_event(cls, **values)
    assert checked == built and type(checked) is cls
    assert repr(checked) == repr(built)
    assert (checked.id, checked.provider_metadata) == (None, None)
    assert checked.kind == built.kind


def test_field_fast_path_agrees_with_the_checked_walk() -> None:
    message = {"delta": "abc", "n": 3, "none": None, "nested": {"id": "x"}, "audio": AUDIO}
    assert field(message, "delta") == "abc"
    assert field(message, "nested.id") == "x"
    assert field(message, "missing", str, "default") == "default"
    assert field(message, "none", str, "") == ""
    assert field(message, "audio", BASE64) == AUDIO
    for path in ("n", "missing", "none", "nested"):
        with pytest.raises(ProtocolError) as caught:
            field(message, path)
        assert caught.value.field == path
    with pytest.raises(ProtocolError):
        field(["not", "an", "object"], "delta")  # type: ignore[arg-type]
